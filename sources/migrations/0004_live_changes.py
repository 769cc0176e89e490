"""Changes to live jackpots (PotChange, scheduled for a pot's next generation), four-eyes decreases
(AdjustmentRequest), retirement of funded instances (Retirement, PotTransfer) and the ledger rows
they book (PotAdjustment: approved_by, transfer, retirement, new kinds)."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

import portal.money


class Migration(migrations.Migration):

    dependencies = [
        ('sources', '0003_rules_disclosure'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='pot',
            options={'ordering': ['jackpot_id', 'tier', 'pot_id'], 'permissions': [('adjust_pot', 'Can boost seeds and adjust pot values (with a reason)'), ('approve_pot_decrease', "Can approve another user's pot decrease or payout (four eyes)")]},
        ),
        migrations.AddField(
            model_name='potadjustment',
            name='approved_by',
            field=models.ForeignKey(blank=True, help_text='The second person, for a decrease or a payout.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='potadjustment',
            name='kind',
            field=models.CharField(choices=[('initial_seed', 'Initial seed'), ('seed_boost', 'Seed boost'), ('adjustment', 'Adjustment'), ('win_return', 'Returned from a rejected win'), ('transfer_out', 'Transferred to another pot'), ('transfer_in', 'Transferred from another pot'), ('payout', 'Paid out under a retirement decision'), ('reserve_release', 'Reserve released into the final win')], max_length=16),
        ),
        migrations.CreateModel(
            name='AdjustmentRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('value_delta', portal.money.MoneyField(help_text='Negative: the decrease asked for (instance currency).')),
                ('reason', models.CharField(max_length=500)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('status', models.CharField(choices=[('pending', 'Waiting for approval'), ('approved', 'Approved and booked'), ('rejected', 'Rejected')], db_index=True, default='pending', max_length=16)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.CharField(blank=True, max_length=500)),
                ('adjustment', models.OneToOneField(blank=True, help_text='The ledger row booked on approval.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='request', to='sources.potadjustment')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('pot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='adjustment_requests', to='sources.pot')),
                ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalAdjustmentRequest',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('value_delta', portal.money.MoneyField(help_text='Negative: the decrease asked for (instance currency).')),
                ('reason', models.CharField(max_length=500)),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('status', models.CharField(choices=[('pending', 'Waiting for approval'), ('approved', 'Approved and booked'), ('rejected', 'Rejected')], db_index=True, default='pending', max_length=16)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.CharField(blank=True, max_length=500)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('adjustment', models.ForeignKey(blank=True, db_constraint=False, help_text='The ledger row booked on approval.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sources.potadjustment')),
                ('decided_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('pot', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sources.pot')),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical adjustment request',
                'verbose_name_plural': 'historical adjustment requests',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalPotChange',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('changes', models.JSONField(help_text='The new values by field (decimals as strings).')),
                ('previous', models.JSONField(help_text='The values in force when the change was scheduled.')),
                ('status', models.CharField(choices=[('pending', 'Pending (takes effect after the next win)'), ('applied', 'Applied'), ('superseded', 'Superseded by a later change'), ('cancelled', 'Cancelled')], db_index=True, default='pending', max_length=16)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('scheduled_generation', models.PositiveIntegerField(help_text="The pot's generation when it was scheduled.")),
                ('applied_generation', models.PositiveIntegerField(blank=True, help_text='The first generation played with it.', null=True)),
                ('decided_at', models.DateTimeField(blank=True, help_text='Applied, superseded or cancelled at.', null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('pot', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sources.pot')),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical pot change',
                'verbose_name_plural': 'historical pot changes',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalRetirement',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('disposition', models.CharField(choices=[('transfer', 'Transfer to other pots'), ('run_until_won', 'Keep running until won'), ('payout', 'Pay out under a recorded decision')], max_length=16)),
                ('status', models.CharField(choices=[('awaiting_approval', "Waiting for a second person's approval"), ('running', 'Running until every pot is won'), ('done', 'Done: terminated'), ('rejected', 'Rejected'), ('withdrawn', 'Replaced by another disposition')], db_index=True, max_length=20)),
                ('reason', models.CharField(max_length=500)),
                ('reference', models.CharField(blank=True, help_text="Payouts: the decision's reference (board minute, regulator letter...).", max_length=200)),
                ('liability', portal.money.MoneyField(help_text='What the pots held (values + seed funds) when it was decided.')),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.CharField(blank=True, max_length=500)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('decided_by', models.ForeignKey(blank=True, db_constraint=False, help_text='Payouts: who approved or rejected it.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('jackpot', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sources.jackpotinstance')),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical retirement',
                'verbose_name_plural': 'historical retirements',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='PotChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('changes', models.JSONField(help_text='The new values by field (decimals as strings).')),
                ('previous', models.JSONField(help_text='The values in force when the change was scheduled.')),
                ('status', models.CharField(choices=[('pending', 'Pending (takes effect after the next win)'), ('applied', 'Applied'), ('superseded', 'Superseded by a later change'), ('cancelled', 'Cancelled')], db_index=True, default='pending', max_length=16)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('scheduled_generation', models.PositiveIntegerField(help_text="The pot's generation when it was scheduled.")),
                ('applied_generation', models.PositiveIntegerField(blank=True, help_text='The first generation played with it.', null=True)),
                ('decided_at', models.DateTimeField(blank=True, help_text='Applied, superseded or cancelled at.', null=True)),
                ('pot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='changes', to='sources.pot')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='pot',
            name='pending_change',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='sources.potchange'),
        ),
        migrations.CreateModel(
            name='PotTransfer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('value_out', portal.money.MoneyField(help_text="Taken from the source's value (source currency).")),
                ('seed_out', portal.money.MoneyField(help_text="Taken from the source's seed fund (source currency).")),
                ('value_in', portal.money.MoneyField(help_text="Added to the target's value (target currency).")),
                ('seed_in', portal.money.MoneyField(help_text="Added to the target's seed fund (target currency).")),
                ('source_currency', models.CharField(max_length=3)),
                ('target_currency', models.CharField(max_length=3)),
                ('source_multiplier', portal.money.RateField()),
                ('target_multiplier', portal.money.RateField()),
                ('reason', models.CharField(max_length=500)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('source', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='transfers_out', to='sources.pot')),
                ('target', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='transfers_in', to='sources.pot')),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='potadjustment',
            name='transfer',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='legs', to='sources.pottransfer'),
        ),
        migrations.CreateModel(
            name='Retirement',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('disposition', models.CharField(choices=[('transfer', 'Transfer to other pots'), ('run_until_won', 'Keep running until won'), ('payout', 'Pay out under a recorded decision')], max_length=16)),
                ('status', models.CharField(choices=[('awaiting_approval', "Waiting for a second person's approval"), ('running', 'Running until every pot is won'), ('done', 'Done: terminated'), ('rejected', 'Rejected'), ('withdrawn', 'Replaced by another disposition')], db_index=True, max_length=20)),
                ('reason', models.CharField(max_length=500)),
                ('reference', models.CharField(blank=True, help_text="Payouts: the decision's reference (board minute, regulator letter...).", max_length=200)),
                ('liability', portal.money.MoneyField(help_text='What the pots held (values + seed funds) when it was decided.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.CharField(blank=True, max_length=500)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('decided_by', models.ForeignKey(blank=True, help_text='Payouts: who approved or rejected it.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('jackpot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='retirements', to='sources.jackpotinstance')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='pottransfer',
            name='retirement',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='transfers', to='sources.retirement'),
        ),
        migrations.AddField(
            model_name='potadjustment',
            name='retirement',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='adjustments', to='sources.retirement'),
        ),
        migrations.AddConstraint(
            model_name='potchange',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'pending')), fields=('pot',), name='pot_change_one_pending'),
        ),
        migrations.AddConstraint(
            model_name='retirement',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['awaiting_approval', 'running'])), fields=('jackpot',), name='retirement_one_open'),
        ),
    ]
