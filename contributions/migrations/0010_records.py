# Records (issue 15, item 7), written by hand:
# - the ledger's two big tables get `created_month` and, on PostgreSQL, become partitioned by it
#   (contributions/partitions.py says why and what it costs); rows that point at a contribution
#   lose their database constraint (a key to a partitioned table needs the month too);
# - a boundary-key table and its trigger keep idempotency exact across a month's boundary;
# - archived months and the totals they carry forward (reconcile stays exact);
# - raw player session tokens are no longer kept: the ones already stored are cleared.
# The conversion is one-way (no reverse): un-partitioning is a restore, not a migration.
import django.db.models.deletion
from datetime import UTC
from decimal import Decimal

from django.db import migrations, models
from django.db.models import DateField, OuterRef, Subquery
from django.db.models.functions import TruncMonth

import contributions.models
import portal.money


def months_fill(apps, schema_editor):
    Contribution = apps.get_model('contributions', 'Contribution')
    PotIncrement = apps.get_model('contributions', 'PotIncrement')
    Contribution.objects.update(created_month=TruncMonth('created_at', output_field=DateField(), tzinfo=UTC))
    PotIncrement.objects.update(created_month=Subquery(
        Contribution.objects.filter(pk=OuterRef('contribution_id')).values('created_month')[:1]))
    _checks_now(schema_editor)


def _checks_now(schema_editor):
    """Deferred key checks run now: PostgreSQL alters no table with pending trigger events."""
    if schema_editor.connection.vendor == 'postgresql':
        schema_editor.execute('SET CONSTRAINTS ALL IMMEDIATE')


def tokens_clear(apps, schema_editor):
    """A session token is kept only while an async contribution waits (and while a wallet
    transaction may still be sent): every other stored token goes."""
    Contribution = apps.get_model('contributions', 'Contribution')
    WalletTransaction = apps.get_model('contributions', 'WalletTransaction')
    Contribution.objects.exclude(status='accepted').exclude(token='').update(token='')
    WalletTransaction.objects.filter(status__in=['succeeded', 'failed', 'cancelled']).exclude(token='').update(
        token='')
    _checks_now(schema_editor)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != 'postgresql':
        return  # SQLite (the embedded mode) keeps plain tables
    from django.utils import timezone

    from contributions.partitions import BOUNDARY_TRIGGER, PARTITIONED, add_months, month_of, partition_table

    this_month = month_of(timezone.now())
    with schema_editor.connection.cursor() as cursor:
        for table in PARTITIONED:
            partition_table(cursor, table, [add_months(this_month, n) for n in range(4)])
        cursor.execute(BOUNDARY_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ('contributions', '0009_transfers'),
        ('sources', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='potincrement',
            name='contribution',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='increments', to='contributions.contribution'),
        ),
        migrations.AlterField(
            model_name='wallettransaction',
            name='contribution',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='wallet_transactions', to='contributions.contribution'),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='contribution',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='delivery', to='contributions.contribution'),
        ),
        migrations.AlterField(
            model_name='win',
            name='contribution',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='wins', to='contributions.contribution'),
        ),
        migrations.AlterField(
            model_name='contribution',
            name='token',
            field=models.CharField(blank=True, help_text="The player's session token: kept only while an async contribution waits for its wallet calls.", max_length=512),
        ),
        migrations.AddField(
            model_name='contribution',
            name='created_month',
            field=contributions.models.MonthField(null=True),
        ),
        migrations.AddField(
            model_name='potincrement',
            name='created_month',
            field=models.DateField(null=True, editable=False),
        ),
        migrations.RunPython(months_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='contribution',
            name='created_month',
            field=contributions.models.MonthField(),
        ),
        migrations.AlterField(
            model_name='potincrement',
            name='created_month',
            field=models.DateField(default=contributions.models.this_month, editable=False),
        ),
        migrations.RunPython(tokens_clear, migrations.RunPython.noop),
        migrations.CreateModel(
            name='BoundaryKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('brand_id', models.BigIntegerField()),
                ('player_ref', models.CharField(max_length=128)),
                ('gameround_id', models.CharField(max_length=128)),
                ('target_kind', models.CharField(max_length=8)),
                ('target_id', models.CharField(max_length=128)),
                ('created_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('brand_id', 'player_ref', 'gameround_id', 'target_kind', 'target_id'), name='boundary_key_unique')],
            },
        ),
        migrations.CreateModel(
            name='ArchivedMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text="The month's first day (UTC).", unique=True)),
                ('archived_at', models.DateTimeField()),
                ('archived_by', models.CharField(help_text='Who ran the archive (user or command).', max_length=150)),
                ('directory', models.CharField(help_text='Where the export files were written.', max_length=1024)),
                ('manifest', models.JSONField(default=dict, help_text='Each file with its rows and SHA-256.')),
                ('contributions', models.PositiveBigIntegerField(default=0)),
                ('increments', models.PositiveBigIntegerField(default=0)),
                ('wins_unlinked', models.PositiveIntegerField(default=0, help_text='Wins kept, their contribution archived.')),
            ],
            options={
                'ordering': ['-month'],
            },
        ),
        migrations.CreateModel(
            name='ArchivedTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rows', models.PositiveBigIntegerField(default=0, help_text='Processed contributions, or increments of the pot.')),
                ('amount_base', portal.money.MoneyField(default=Decimal('0'))),
                ('house_amount', portal.money.MoneyField(default=Decimal('0'))),
                ('value_delta', portal.money.MoneyField(default=Decimal('0'))),
                ('seed_delta', portal.money.MoneyField(default=Decimal('0'))),
                ('overflow', portal.money.MoneyField(default=Decimal('0'))),
                ('archive', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='totals', to='contributions.archivedmonth')),
                ('jackpot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sources.jackpotinstance')),
                ('pot', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sources.pot')),
            ],
            options={
                'ordering': ['archive_id', 'jackpot_id', 'pot_id'],
                'constraints': [models.UniqueConstraint(fields=('archive', 'jackpot', 'pot'), name='archived_total_unique')],
            },
        ),
        migrations.RunPython(partition),
    ]
