# Jackpot templates (issue 16): versioned definitions, and the instance's record of the
# version it was made from. Source constraints get readable violation messages (shown by the
# admin and the configuration API alike).

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sources', '0004_live_changes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalJackpotTemplate',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True)),
                ('current_version', models.PositiveIntegerField(default=0, editable=False, help_text='The version new instances are made from.')),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('updated_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical jackpot template',
                'verbose_name_plural': 'historical jackpot templates',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='JackpotTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True)),
                ('current_version', models.PositiveIntegerField(default=0, editable=False, help_text='The version new instances are made from.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['operator_id', 'name'],
            },
        ),
        migrations.CreateModel(
            name='JackpotTemplateVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('definition', models.JSONField()),
                ('note', models.CharField(blank=True, help_text='What changed in this version.', max_length=500)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['template_id', '-version'],
            },
        ),
        migrations.AlterConstraint(
            model_name='source',
            name='source_brand_unique',
            constraint=models.UniqueConstraint(condition=models.Q(('brand__isnull', False)), fields=('operator', 'brand', 'source_id'), name='source_brand_unique', violation_error_message='This brand already has a source with this id.'),
        ),
        migrations.AlterConstraint(
            model_name='source',
            name='source_operator_unique',
            constraint=models.UniqueConstraint(condition=models.Q(('brand__isnull', True)), fields=('operator', 'source_id'), name='source_operator_unique', violation_error_message='This operator already has an operator-wide source with this id.'),
        ),
        migrations.AddField(
            model_name='historicaljackpottemplate',
            name='brand',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='Leave empty for an operator-wide object.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='portal.brand'),
        ),
        migrations.AddField(
            model_name='historicaljackpottemplate',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicaljackpottemplate',
            name='operator',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='portal.operator'),
        ),
        migrations.AddField(
            model_name='jackpottemplate',
            name='brand',
            field=models.ForeignKey(blank=True, help_text='Leave empty for an operator-wide object.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.brand'),
        ),
        migrations.AddField(
            model_name='jackpottemplate',
            name='operator',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.operator'),
        ),
        migrations.AddField(
            model_name='jackpottemplateversion',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='jackpottemplateversion',
            name='template',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='versions', to='sources.jackpottemplate'),
        ),
        migrations.AddField(
            model_name='historicaljackpotinstance',
            name='template_version',
            field=models.ForeignKey(blank=True, db_constraint=False, editable=False, help_text='The template version this instance was created from.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sources.jackpottemplateversion'),
        ),
        migrations.AddField(
            model_name='jackpotinstance',
            name='template_version',
            field=models.ForeignKey(blank=True, editable=False, help_text='The template version this instance was created from.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='instances', to='sources.jackpottemplateversion'),
        ),
        migrations.AddConstraint(
            model_name='jackpottemplate',
            constraint=models.UniqueConstraint(fields=('operator', 'name'), name='template_operator_name_unique', violation_error_message='A template of this name already exists.'),
        ),
        migrations.AddConstraint(
            model_name='jackpottemplateversion',
            constraint=models.UniqueConstraint(fields=('template', 'version'), name='template_version_unique'),
        ),
    ]
