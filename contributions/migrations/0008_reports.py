# The daily close (issue 15, items 1-2): stored closes of each instance's business day, and
# the overflow of each pot increment (the overflow meter). Written by hand.
import django.db.models.deletion
from decimal import Decimal

from django.conf import settings
from django.db import migrations, models

import portal.money


class Migration(migrations.Migration):
    dependencies = [
        ('contributions', '0007_verbose_names'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='potincrement',
            name='overflow',
            field=portal.money.MoneyField(default=Decimal('0'), help_text="The part of seed_delta that passed the pot's cap (the overflow meter)."),
        ),
        migrations.CreateModel(
            name='DailyClose',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('business_date', models.DateField()),
                ('time_zone', models.CharField(help_text='The business time zone the day was cut in.', max_length=64)),
                ('window_start', models.DateTimeField(help_text="The day's first instant (inclusive).")),
                ('window_end', models.DateTimeField(help_text="The next day's first instant (exclusive).")),
                ('revision', models.PositiveSmallIntegerField(default=1)),
                ('trigger', models.CharField(choices=[('schedule', 'The nightly schedule'), ('command', 'The close_day command'), ('recompute', 'A forced recompute')], max_length=10)),
                ('computed_at', models.DateTimeField()),
                ('reason', models.CharField(blank=True, help_text='Why the day was computed again.', max_length=500)),
                ('digest', models.CharField(help_text='SHA-256 of the figures: equal digests, equal figures.', max_length=64)),
                ('superseded_at', models.DateTimeField(blank=True, null=True)),
                ('computed_by', models.ForeignKey(blank=True, help_text='Who asked for a recompute (empty: the schedule).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('jackpot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='daily_closes', to='sources.jackpotinstance')),
                ('superseded_by', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='supersedes', to='contributions.dailyclose')),
            ],
            options={
                'ordering': ['-business_date', 'jackpot_id', '-revision'],
                'permissions': [('recompute_dailyclose', 'Can compute a closed day again (as a new revision)')],
            },
        ),
        migrations.CreateModel(
            name='DailyCloseLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3)),
                ('country', models.CharField(blank=True, max_length=2)),
                ('source', models.CharField(blank=True, help_text='The source id; empty: addressed by instance id, or a raffle draw.', max_length=128)),
                ('contributions', models.PositiveIntegerField(default=0)),
                ('wagers', portal.money.MoneyField(default=Decimal('0'), help_text='Base wagers, in the currency of the line.')),
                ('contributed', portal.money.MoneyField(default=Decimal('0'), help_text='As charged, in the currency of the line.')),
                ('contributed_base', portal.money.MoneyField(default=Decimal('0'), help_text='In the instance currency.')),
                ('player_funded_base', portal.money.MoneyField(default=Decimal('0'))),
                ('operator_funded_base', portal.money.MoneyField(default=Decimal('0'))),
                ('house_base', portal.money.MoneyField(default=Decimal('0'))),
                ('wins', models.PositiveIntegerField(default=0)),
                ('won_base', portal.money.MoneyField(default=Decimal('0'), help_text='Taken from the pots, in the instance currency.')),
                ('won', portal.money.MoneyField(default=Decimal('0'), help_text='As paid (rounded down), in the currency of the line.')),
                ('brand', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.brand')),
                ('close', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='contributions.dailyclose')),
            ],
            options={
                'ordering': ['close_id', 'brand_id', 'currency', 'country', 'source'],
            },
        ),
        migrations.CreateModel(
            name='DailyClosePot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('pot_key', models.CharField(help_text="The pot's id (minor, major ...) at the close.", max_length=64)),
                ('tier', models.PositiveSmallIntegerField(default=0)),
                ('opening_value', portal.money.MoneyField()),
                ('opening_seed_fund', portal.money.MoneyField()),
                ('opening_seed_deficit', portal.money.MoneyField()),
                ('increments', models.PositiveIntegerField(default=0, help_text='Contributions that reached the pot.')),
                ('contributed_value', portal.money.MoneyField(default=Decimal('0'))),
                ('contributed_seed', portal.money.MoneyField(default=Decimal('0'), help_text='Into the seed fund: its share, and any overflow.')),
                ('overflow', portal.money.MoneyField(default=Decimal('0'), help_text='Of contributed_seed: what passed the cap.')),
                ('player_funded', portal.money.MoneyField(default=Decimal('0'), help_text='Value and seed fund from player-funded (opt-in) contributions.')),
                ('operator_funded', portal.money.MoneyField(default=Decimal('0'), help_text='Value and seed fund from operator-funded contributions.')),
                ('adjusted_value', portal.money.MoneyField(default=Decimal('0'))),
                ('adjusted_seed', portal.money.MoneyField(default=Decimal('0'))),
                ('adjustments', models.JSONField(blank=True, default=dict, help_text='By kind: {"seed_boost": {"count": 1, "value": "0", "seed": "50"}}.')),
                ('wins', models.PositiveIntegerField(default=0)),
                ('won', portal.money.MoneyField(default=Decimal('0'), help_text="Taken from the pot by the day's wins.")),
                ('reseeded', portal.money.MoneyField(default=Decimal('0'))),
                ('seed_used', portal.money.MoneyField(default=Decimal('0'))),
                ('deficit_added', portal.money.MoneyField(default=Decimal('0'))),
                ('won_paid', portal.money.MoneyField(default=Decimal('0'))),
                ('won_recorded', portal.money.MoneyField(default=Decimal('0'), help_text='No wallet: the operator pays.')),
                ('won_withheld', portal.money.MoneyField(default=Decimal('0'))),
                ('won_pending_credit', portal.money.MoneyField(default=Decimal('0'))),
                ('won_rejected', portal.money.MoneyField(default=Decimal('0'))),
                ('unpaid_wins', portal.money.MoneyField(default=Decimal('0'), help_text="Every win of the pot up to the day's end still withheld or waiting for its credit when the day was closed.")),
                ('closing_value', portal.money.MoneyField()),
                ('closing_seed_fund', portal.money.MoneyField()),
                ('closing_seed_deficit', portal.money.MoneyField()),
                ('close', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='pots', to='contributions.dailyclose')),
                ('pot', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='sources.pot')),
            ],
            options={
                'ordering': ['close_id', '-tier', 'pot_key'],
            },
        ),
        migrations.AddIndex(
            model_name='dailyclose',
            index=models.Index(fields=['business_date'], name='daily_close_date_idx'),
        ),
        migrations.AddConstraint(
            model_name='dailyclose',
            constraint=models.UniqueConstraint(condition=models.Q(('superseded_at__isnull', True)), fields=('jackpot', 'business_date'), name='daily_close_current_unique'),
        ),
        migrations.AddConstraint(
            model_name='dailyclose',
            constraint=models.UniqueConstraint(fields=('jackpot', 'business_date', 'revision'), name='daily_close_revision_unique'),
        ),
        migrations.AddConstraint(
            model_name='dailycloseline',
            constraint=models.UniqueConstraint(fields=('close', 'brand', 'currency', 'country', 'source'), name='daily_close_line_unique'),
        ),
        migrations.AddConstraint(
            model_name='dailyclosepot',
            constraint=models.UniqueConstraint(fields=('close', 'pot_key'), name='daily_close_pot_unique'),
        ),
    ]
