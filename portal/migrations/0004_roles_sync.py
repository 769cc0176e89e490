from django.db import migrations

from portal.roles import roles_sync


class Migration(migrations.Migration):
    """Give the roles the webhook permissions added with the delivery outbox."""

    dependencies = [
        ("portal", "0003_webhook_outbox"),
        ("contributions", "0003_webhook_outbox"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
