from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('players', '0001_initial')]

    operations = []
