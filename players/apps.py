from django.apps import AppConfig


class PlayersConfig(AppConfig):
    verbose_name = "Players"
    name = "players"
    default_auto_field = "django.db.models.BigAutoField"
