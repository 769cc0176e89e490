"""Issue 16: clock-deadline must-drops, schedules in local time, linked jackpots."""

import django.db.models.deletion
from django.db import migrations, models

import sources.models

MECHANICS = [
    ('HitRate', 'Random hit (HitRate)'), ('MustDropAmount', 'Must drop by amount'),
    ('MustDropTime', 'Must drop by time'),
    ('MustDropClock', 'Must drop before a clock time (every hour, day or week)'),
    ('Prize', 'Raffle prize (drawn at the end of the period)'),
    ('Closed', 'Closed (retired: won for the last time, takes nothing more)'),
]
TIME_ZONE = models.CharField(
    default='UTC', max_length=64, validators=[sources.models.time_zone_validator],
    help_text='IANA time zone (e.g. Europe/London) of the start and end, the schedule windows and the clock-deadline '
              'drops; daylight-saving changes follow the zone.')
LINKED_HELP = ("Linked jackpots (contribution v2): every v2 contribution to that instance also feeds this one, "
               "under this instance's own rules. Direct links only.")
DROP_EVERY = dict(blank=True, choices=[('hour', 'Every hour'), ('day', 'Every day'), ('week', 'Every week')],
                  help_text='Must drop before a clock time: how often the deadline comes.', max_length=8)
DROP_BEFORE = dict(blank=True, null=True, help_text=(
    "Must drop before a clock time: the deadline, on the instance's wall clock (e.g. 22:00). "
    "Every hour: minutes past the hour only (00:00 = before every full hour)."))
DROP_WEEKDAY = dict(blank=True, null=True, help_text="Must drop before a clock time, every week: the deadline's weekday.",
                    choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'),
                             (5, 'Saturday'), (6, 'Sunday')])


class Migration(migrations.Migration):
    dependencies = [('sources', '0005_templates')]

    operations = [
        # Local time: the instance's zone, its start/end entered on that clock, windows read on it.
        migrations.AddField(model_name='jackpotinstance', name='time_zone', field=TIME_ZONE),
        migrations.AddField(model_name='historicaljackpotinstance', name='time_zone', field=TIME_ZONE),
        *[migrations.AlterField(model_name=model, name=name, field=models.DateTimeField(
            blank=True, null=True, help_text="In the instance's time zone."))
          for model in ('jackpotinstance', 'historicaljackpotinstance') for name in ('timestamp_start', 'timestamp_end')],
        *[migrations.AlterField(model_name=model, name='start_time', field=models.TimeField(
            help_text="Local time (the instance's time zone)."))
          for model in ('schedulewindow', 'historicalschedulewindow')],
        *[migrations.AlterField(model_name=model, name='end_time', field=models.TimeField(
            help_text='Local time. Before the start: the window runs past midnight.'))
          for model in ('schedulewindow', 'historicalschedulewindow')],

        # Linked jackpots.
        migrations.AddField(
            model_name='jackpotinstance', name='linked_instance',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name='linked', to='sources.jackpotinstance', help_text=LINKED_HELP)),
        migrations.AddField(
            model_name='historicaljackpotinstance', name='linked_instance',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                    on_delete=django.db.models.deletion.DO_NOTHING, related_name='+',
                                    to='sources.jackpotinstance', help_text=LINKED_HELP)),

        # Clock-deadline must-drops.
        *[migrations.AlterField(model_name=model, name='mechanic', field=models.CharField(
            choices=MECHANICS, default='HitRate', max_length=16)) for model in ('pot', 'historicalpot')],
        *[migrations.AddField(model_name=model, name='drop_every', field=models.CharField(**DROP_EVERY))
          for model in ('pot', 'historicalpot')],
        *[migrations.AddField(model_name=model, name='drop_before', field=models.TimeField(**DROP_BEFORE))
          for model in ('pot', 'historicalpot')],
        *[migrations.AddField(model_name=model, name='drop_weekday', field=models.PositiveSmallIntegerField(
            **DROP_WEEKDAY)) for model in ('pot', 'historicalpot')],
        migrations.AlterField(
            model_name='dropcommitment', name='kind',
            field=models.CharField(choices=[('amount', 'Must drop by amount'), ('time', 'Must drop by time'),
                                            ('clock', 'Must drop before a clock time')], max_length=8)),
        migrations.AddField(
            model_name='dropcommitment', name='drop_deadline',
            field=models.DateTimeField(blank=True, null=True, help_text=(
                'Clock drops: the generation drops before this (public, unlike drop_at).'))),
        migrations.AddIndex(
            model_name='dropcommitment',
            index=models.Index(condition=models.Q(('kind', 'clock'), ('revealed_at__isnull', True)),
                               fields=['drop_deadline'], name='commitment_clock_due_idx')),
    ]
