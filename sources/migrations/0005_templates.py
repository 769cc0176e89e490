from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('sources', '0004_live_changes')]

    operations = []
