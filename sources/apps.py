from django.apps import AppConfig


class SourcesConfig(AppConfig):
    verbose_name = "Jackpot catalogue"
    name = "sources"
    default_auto_field = "django.db.models.BigAutoField"
