from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('sources', '0002_mechanics')]

    operations = []
