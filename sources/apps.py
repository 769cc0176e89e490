from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from portal import live
from portal.cache import clear_all


class SourcesConfig(AppConfig):
    verbose_name = "Jackpot catalogue"
    name = "sources"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models and what imports them load once the registry is ready, not with this module.
        from portal.models import Brand, BrandCurrencyMultiplier, Currency, Operator
        from sources import models
        from sources.selectors import jackpot_update_audiences

        # Live JackpotUpdates read their snapshots from the catalogue.
        live.audiences_register(jackpot_update_audiences)

        def forget(**kwargs) -> None:
            """A saved catalogue row: this process forgets its cached catalogue at once and again
            when the change commits (a read in between may have cached the old rows); other
            processes within CATALOGUE_CACHE_SECONDS."""
            clear_all()
            transaction.on_commit(clear_all)

        catalogue = (Operator, Brand, Currency, BrandCurrencyMultiplier, models.Source, models.GameGroup,
                     models.Game, models.JackpotInstance, models.InstanceCurrencyLimit, models.SourceMapping,
                     models.Pot, models.ScheduleWindow)
        for model in catalogue:
            post_save.connect(forget, sender=model, weak=False, dispatch_uid=f"catalogue-forget-save-{model._meta.label}")
            post_delete.connect(forget, sender=model, weak=False, dispatch_uid=f"catalogue-forget-delete-{model._meta.label}")
        m2m_changed.connect(forget, sender=models.JackpotInstance.allowed_brands.through, weak=False,
                            dispatch_uid="catalogue-forget-allowed-brands")
