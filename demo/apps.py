from django.apps import AppConfig


class DemoConfig(AppConfig):
    verbose_name = "Demo (not installed in production)"
    name = "demo"
