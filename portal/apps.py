from django.apps import AppConfig


class PortalConfig(AppConfig):
    verbose_name = "Operators, brands and access"
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"
