from django.apps import AppConfig


class ContributionsConfig(AppConfig):
    verbose_name = "Contributions and wins"
    name = "contributions"
    default_auto_field = "django.db.models.BigAutoField"
