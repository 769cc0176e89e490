# Excluded players (issue 15, item 6): a self-exclusion or a cool-off until a date on the
# player, set through the service API or taken from the wallet's auth answer, with History.
# Written by hand. `exclusion` and `excluded_until` have database defaults so that the
# contribution batch's player upsert returns them (players.services.players_touch).
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

EXCLUSIONS = [('', 'Not excluded'), ('self_excluded', 'Self-excluded'), ('cool_off', 'In a cool-off')]
SOURCES = [('service', "The operator's service API"), ('wallet', "The wallet's auth answer")]
UNTIL_HELP = 'A cool-off (or a fixed-term self-exclusion) ends by itself at this time; empty: until lifted.'


class Migration(migrations.Migration):
    dependencies = [
        ('players', '0001_initial'),
        ('portal', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='player',
            name='exclusion',
            field=models.CharField(blank=True, choices=EXCLUSIONS, db_default='', default='', max_length=16),
        ),
        migrations.AddField(
            model_name='player',
            name='excluded_until',
            field=models.DateTimeField(blank=True, db_default=None, help_text=UNTIL_HELP, null=True),
        ),
        migrations.AddField(
            model_name='player',
            name='exclusion_source',
            field=models.CharField(blank=True, choices=SOURCES, max_length=8),
        ),
        migrations.AddField(
            model_name='player',
            name='exclusion_changed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='HistoricalPlayer',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('player_id', models.CharField(max_length=128)),
                ('exclusion', models.CharField(blank=True, choices=EXCLUSIONS, db_default='', default='', max_length=16)),
                ('excluded_until', models.DateTimeField(blank=True, db_default=None, help_text=UNTIL_HELP, null=True)),
                ('exclusion_source', models.CharField(blank=True, choices=SOURCES, max_length=8)),
                ('exclusion_changed_at', models.DateTimeField(blank=True, null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('brand', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='portal.brand')),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical player',
                'verbose_name_plural': 'historical players',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
    ]
