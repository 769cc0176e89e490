from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('contributions', '0008_reports')]

    operations = []
