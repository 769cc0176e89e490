"""Players, their opt-ins and their raffle tickets."""

from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.models import Brand
from portal.money import ZERO, MoneyField
from sources.models import JackpotInstance


class Player(models.Model):
    """An operator's player, known by (brand, player_id); country and currency as last seen;
    and whether they are excluded from jackpots (responsible gambling)."""

    class Exclusion(models.TextChoices):
        NONE = "", "Not excluded"
        SELF_EXCLUDED = "self_excluded", "Self-excluded"
        COOL_OFF = "cool_off", "In a cool-off"

    class ExclusionSource(models.TextChoices):
        SERVICE = "service", "The operator's service API"
        WALLET = "wallet", "The wallet's auth answer"

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="players")
    player_id = models.CharField(max_length=128)
    country = models.CharField(max_length=2, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    # The two fields a contribution batch must know have a database default, so the batch's
    # player upsert (INSERT ... ON CONFLICT ... RETURNING) reads them back with the ids:
    # no extra query (players.services.players_touch).
    exclusion = models.CharField(max_length=16, choices=Exclusion.choices, blank=True, default="", db_default="")
    excluded_until = models.DateTimeField(
        null=True, blank=True, db_default=None,
        help_text="A cool-off (or a fixed-term self-exclusion) ends by itself at this time; empty: until lifted.")
    exclusion_source = models.CharField(max_length=8, choices=ExclusionSource.choices, blank=True)
    exclusion_changed_at = models.DateTimeField(null=True, blank=True)
    # Exclusions set or lifted: who (service account, wallet) and why, in History.
    history = HistoricalRecords(excluded_fields=["country", "currency", "created_at", "last_seen_at"])

    class Meta:
        ordering = ["brand_id", "player_id"]
        constraints = [
            # Every contribution upserts the player by this key.
            models.UniqueConstraint(fields=["brand", "player_id"], name="player_brand_player_id_unique"),
        ]
        indexes = [
            # Staff player search by id across brands.
            models.Index(fields=["player_id"], name="player_player_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id} ({self.brand})"

    def get_absolute_url(self) -> str:
        """The staff player page (the admin's "View on site")."""
        return reverse("portal:player", args=[self.pk])

    def excluded_at(self, moment) -> bool:
        """Excluded at `moment`: a status is set and its end (if any) has not come yet."""
        return bool(self.exclusion) and (self.excluded_until is None or moment < self.excluded_until)

    def exclusion_text(self) -> str:
        """How a refusal names the status: "self-excluded", "in a cool-off until 2025-03-01 00:00 UTC"."""
        text = self.get_exclusion_display().lower()
        return f"{text} until {self.excluded_until:%Y-%m-%d %H:%M} UTC" if self.excluded_until else text


class OptIn(models.Model):
    """A player's opt-in to one instance, with the contribution value they chose."""

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="optins")
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.CASCADE, related_name="optins")
    opted_in = models.BooleanField(default=False)
    preferred_contribution_value = MoneyField(
        null=True, blank=True, help_text="Chosen by the player, in the currency below; empty = the default.")
    currency = models.CharField(max_length=3, blank=True, help_text="Currency of the preferred value.")
    contribution_count = models.PositiveBigIntegerField(default=0, editable=False)
    last_updated = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["contribution_count", "last_updated"])

    class Meta:
        ordering = ["-last_updated"]
        constraints = [
            # The contribution path reads the opt-in by (player, instance).
            models.UniqueConstraint(fields=["player", "jackpot"], name="optin_player_instance_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.player} {'in' if self.opted_in else 'out'} {self.jackpot}"


class RaffleTicket(models.Model):
    """Tickets a player earned in one period of a raffle (accumulated cost in instance currency)."""

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="tickets")
    period = models.PositiveIntegerField()
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="tickets")
    accumulated_cost = MoneyField(default=ZERO)
    ticket_count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["jackpot_id", "period", "-ticket_count"]
        constraints = [
            # Tickets accrue by upsert on this key; draws read a period's rows.
            models.UniqueConstraint(fields=["jackpot", "period", "player"], name="ticket_instance_period_player_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.player}: {self.ticket_count} tickets"
