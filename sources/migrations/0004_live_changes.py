from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('sources', '0003_rules_disclosure')]

    operations = []
