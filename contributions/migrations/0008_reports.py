from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('contributions', '0007_verbose_names')]

    operations = []
