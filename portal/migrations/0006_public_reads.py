from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('portal', '0005_wallet')]

    operations = []
