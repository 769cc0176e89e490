# The configuration API (issue 16): service accounts get a configuration permission and a
# permission for the system currency rates (both off by default), and a user that names
# them in History.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0006_public_reads'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalserviceaccount',
            name='can_configure',
            field=models.BooleanField(default=False, help_text="May change its operator's configuration through /v1/config/ (brands, sources, games, templates, instances, seed boosts, its brands' currency multipliers).", verbose_name='configuration API'),
        ),
        migrations.AddField(
            model_name='historicalserviceaccount',
            name='can_feed_system_rates',
            field=models.BooleanField(default=False, help_text="May post the system-wide currency rates (every operator converts with them): for the platform's own rates feed only.", verbose_name='system currency rates'),
        ),
        migrations.AddField(
            model_name='historicalserviceaccount',
            name='user',
            field=models.ForeignKey(blank=True, db_constraint=False, editable=False, help_text='Names this account in History (api:<username>); it cannot log in.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='serviceaccount',
            name='can_configure',
            field=models.BooleanField(default=False, help_text="May change its operator's configuration through /v1/config/ (brands, sources, games, templates, instances, seed boosts, its brands' currency multipliers).", verbose_name='configuration API'),
        ),
        migrations.AddField(
            model_name='serviceaccount',
            name='can_feed_system_rates',
            field=models.BooleanField(default=False, help_text="May post the system-wide currency rates (every operator converts with them): for the platform's own rates feed only.", verbose_name='system currency rates'),
        ),
        migrations.AddField(
            model_name='serviceaccount',
            name='user',
            field=models.OneToOneField(blank=True, editable=False, help_text='Names this account in History (api:<username>); it cannot log in.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='service_account', to=settings.AUTH_USER_MODEL),
        ),
    ]
