import portal.models
from django.db import migrations, models

ORIGINS_HELP = ("Web pages that may read this operator's jackpots from a browser (CORS on the public reads): "
                "one origin per line, e.g. https://casino.example or https://*.example.com.")


class Migration(migrations.Migration):
    dependencies = [('portal', '0005_wallet')]

    operations = [
        migrations.AddField(
            model_name='historicaloperator',
            name='allowed_origins',
            field=models.TextField(blank=True, help_text=ORIGINS_HELP, validators=[portal.models.validate_origins]),
        ),
        migrations.AddField(
            model_name='operator',
            name='allowed_origins',
            field=models.TextField(blank=True, help_text=ORIGINS_HELP, validators=[portal.models.validate_origins]),
        ),
    ]
