from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('portal', '0006_public_reads')]

    operations = []
