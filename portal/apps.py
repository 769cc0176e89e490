from django.apps import AppConfig
from django.db.models.signals import post_migrate

from portal.roles import roles_after_migrate


class PortalConfig(AppConfig):
    verbose_name = "Operators, brands and access"
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Once per migrate, when the portal's turn comes; roles_sync creates the permissions
        # of the apps migrated after it itself.
        post_migrate.connect(roles_after_migrate, sender=self, dispatch_uid="portal.roles_after_migrate")
