from django.db import migrations

from portal.roles import roles_sync


class Migration(migrations.Migration):
    """Staff roles as groups: Ops staff, Game-mapping admins, Auditors (SPEC 6)."""

    dependencies = [
        ("portal", "0001_initial"),
        ("sources", "0001_initial"),
        ("players", "0001_initial"),
        ("contributions", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
