from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ContributionsConfig(AppConfig):
    verbose_name = "Contributions and wins"
    name = "contributions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Models and what imports them load once the registry is ready, not with this module.
        from contributions.models import WalletConfig
        from contributions.wallet import wallet_config_forget

        # A wallet changed in this process (the admin) is not served from its cache.
        post_save.connect(wallet_config_forget, sender=WalletConfig, dispatch_uid="wallet-config-forget")
        post_delete.connect(wallet_config_forget, sender=WalletConfig, dispatch_uid="wallet-config-forget-delete")
