"""The ledger: contributions, pot increments and wins. Rows are appended, never edited,
except for a status and the fields that record how that status was reached."""

import uuid

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from players.models import Player
from portal.models import Brand
from portal.money import ZERO, MoneyField, RateField
from sources.models import JackpotInstance, Pot, Source


class Contribution(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted (async, waiting for processing)"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected (async, error sent to the webhook)"

    class Target(models.TextChoices):
        SOURCE = "source"
        INSTANCE = "instance"

    trace_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="contributions")
    # The idempotency key: (brand, player_ref, gameround_id, target_kind, target_id) as sent.
    player_ref = models.CharField(max_length=128)
    gameround_id = models.CharField(max_length=128)
    target_kind = models.CharField(max_length=8, choices=Target.choices)
    target_id = models.CharField(max_length=128)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROCESSED)
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="contributions")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    player_country = models.CharField(max_length=2)
    token = models.CharField(max_length=512, blank=True)
    currency = models.CharField(max_length=3)
    base_wager = MoneyField()
    amount = MoneyField(default=ZERO, help_text="In the request currency.")
    amount_base = MoneyField(default=ZERO, help_text="In the instance currency.")
    house_amount = MoneyField(default=ZERO, help_text="In the instance currency.")
    rate = RateField(null=True, blank=True,
                     help_text="Request-currency units per instance-currency unit at the time.")
    player_funded = models.BooleanField(default=False)
    tickets_awarded = models.PositiveIntegerField(null=True, blank=True)
    metadata_json = models.TextField(null=True, blank=True, help_text="The caller's metadata, as JSON text.")
    result_json = models.TextField(blank=True, help_text="The answer sent (sync) or to send (async).")

    # Asynchronous contributions
    is_async = models.BooleanField(default=False)
    callback_url = models.CharField(max_length=2048, blank=True)
    win_result_only = models.BooleanField(default=False)
    error_code = models.CharField(max_length=64, blank=True)
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    process_attempts = models.PositiveSmallIntegerField(default=0, help_text="Async: times a worker took it up.")

    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Idempotency: one contribution per key; concurrent duplicates wait on this index.
            models.UniqueConstraint(
                fields=["brand", "player_ref", "gameround_id", "target_kind", "target_id"],
                name="contribution_idempotency_key",
            ),
        ]
        indexes = [
            # Jackpot detail: recent contributions of an instance.
            models.Index(fields=["jackpot", "-id"], name="contribution_jackpot_idx"),
            # The sweeper finds accepted async contributions that were never processed.
            models.Index(fields=["created_at"], condition=Q(status="accepted"), name="contribution_accepted_idx"),
            # Contribution search by gameround and by date.
            models.Index(fields=["gameround_id"], name="contribution_gameround_idx"),
            models.Index(fields=["created_at"], name="contribution_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} {self.player_ref}/{self.gameround_id}"


class PotIncrement(models.Model):
    """One pot's part of one contribution, with the evidence of the pot's draw."""

    contribution = models.ForeignKey(Contribution, on_delete=models.PROTECT, related_name="increments")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="increments")
    value_delta = MoneyField()
    seed_delta = MoneyField()
    value_after = MoneyField()
    generation = models.PositiveIntegerField()
    draw = models.JSONField(null=True, blank=True, help_text="RNG evidence: inputs and outcome.")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["pot", "-id"], name="increment_pot_idx")]

    def __str__(self) -> str:
        return f"{self.pot} +{self.value_delta} (+{self.seed_delta} seed)"


class Win(models.Model):
    class Status(models.TextChoices):
        RECORDED = "recorded", "Recorded (no wallet: the operator pays)"
        WITHHELD = "withheld", "Withheld: waiting for staff approval"
        PENDING_CREDIT = "pending_credit", "Credit pending at the wallet"
        PAID = "paid", "Credited to the wallet"
        REJECTED = "rejected", "Rejected by staff"

    contribution = models.ForeignKey(Contribution, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="wins")
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="wins")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="wins")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="wins")
    generation = models.PositiveIntegerField(help_text="The pot generation that was won.")
    amount_base = MoneyField(help_text="Taken from the pot, in the instance currency.")
    amount = MoneyField(help_text="Paid to the player, in their currency (rounded down to the minor unit).")
    payout_remainder = MoneyField(default=ZERO, help_text="The fraction of a minor unit not paid (player currency), kept by the house.")
    currency = models.CharField(max_length=3)
    rate = RateField(null=True, blank=True)
    reseed_value = MoneyField(default=ZERO)
    seed_used = MoneyField(default=ZERO)
    seed_deficit = MoneyField(default=ZERO)
    withheld = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDED, db_index=True)
    evidence = models.JSONField(default=dict, blank=True)
    commitment = models.OneToOneField("sources.DropCommitment", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="win", help_text="Must-drop pots: the commitment this win reveals.")
    draw = models.ForeignKey("RaffleDraw", on_delete=models.PROTECT, null=True, blank=True, related_name="wins")
    decision_reason = models.CharField(max_length=500, blank=True, help_text="Withheld wins: why approved or rejected.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Staff decisions (approve, reject, retry) show in the admin History with their reason.
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["jackpot", "-id"], name="win_jackpot_idx")]
        constraints = [
            # A pot is won at most once per generation (between two reseeds), whatever the concurrency.
            models.UniqueConstraint(fields=["pot", "generation"], name="win_pot_generation_unique"),
        ]
        permissions = [
            ("decide_win", "Can approve or reject withheld wins"),
            ("retry_credit", "Can retry pending wallet credits"),
        ]

    def __str__(self) -> str:
        return f"{self.pot} {self.amount} {self.currency}"


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookDelivery(models.Model):
    """The outbox row of one callback: written with the outcome, sent and retried until
    delivered or failed. One per contribution, so an outcome is never announced twice."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        DATA = "data"
        ERROR = "error"

    webhook_id = models.CharField(max_length=64, unique=True, default=new_webhook_id, editable=False,
                                  help_text="Sent as webhook-id; the same on every attempt.")
    contribution = models.OneToOneField(Contribution, on_delete=models.PROTECT, related_name="delivery")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    url = models.CharField(max_length=2048)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    payload = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Staff resends show in History with the user; machine progress is not history.
    history = HistoricalRecords(excluded_fields=["payload", "claimed_until", "last_error"])

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweeper picks due pending deliveries and expired claims.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
            models.Index(fields=["claimed_until"], condition=Q(status="delivering"), name="delivery_claimed_idx"),
            # Staff list of deliveries by status.
            models.Index(fields=["status", "-id"], name="delivery_status_idx"),
        ]
        permissions = [("resend_webhookdelivery", "Can resend webhook deliveries")]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField(help_text="Given when the attempt is claimed: 1, 2, 3 ...")
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_excerpt = models.TextField(blank=True, help_text="The first 1 KiB of the answer.")
    error = models.TextField(blank=True)
    success = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            # Each claim numbers its attempt; two attempts of a delivery never share a number
            # (also the index of a delivery's attempts in order).
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error[:40]}"


def default_error_rules() -> dict:
    return {}


class WalletConfig(models.Model):
    """A brand's Standard Wallet: where it is, how to sign for it, how hard to try."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="wallet")
    enabled = models.BooleanField(default=True)
    base_url = models.URLField(help_text="e.g. https://wallet.operator.example (paths below are appended).")
    auth_path = models.CharField(max_length=200, default="/wallet/authenticate")
    balance_path = models.CharField(max_length=200, default="/wallet/balance")
    transaction_path = models.CharField(max_length=200, default="/wallet/transaction")
    cancel_path = models.CharField(max_length=200, default="/wallet/cancel")
    secret_key = models.CharField(max_length=256, help_text="Shared HMAC secret. Never shown back.")
    secret_fingerprint = models.CharField(max_length=16, editable=False,
                                          help_text="First hex digits of SHA-256 of the secret, so History shows when it changed.")
    timeout_seconds = models.FloatField(default=10.0)
    retry_limit = models.PositiveSmallIntegerField(default=3)
    backoff_factor = models.FloatField(default=2.0)
    error_rules = models.JSONField(
        default=default_error_rules, blank=True,
        help_text='Keyed "<status>:<CODE>", e.g. {"403:FORBIDDEN": {"must_retry": false, "must_cancel": true}}. '
                  "Both default to true.")
    authenticate_contributions = models.BooleanField(
        default=False, help_text="Check the player's session token with the wallet before debiting a side bet.")
    close_rounds_without_win = models.BooleanField(
        default=False, help_text="Send a zero Credit to close rounds that did not win (must_close_gamerounds).")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["secret_key"])

    class Meta:
        verbose_name = "wallet"

    def __str__(self) -> str:
        return f"wallet of {self.brand}"

    def save(self, *args, **kwargs):
        import hashlib

        self.secret_fingerprint = hashlib.sha256(self.secret_key.encode()).hexdigest()[:12]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        rules = self.error_rules or {}
        if not isinstance(rules, dict):
            raise ValidationError({"error_rules": 'A JSON object keyed "<status>:<CODE>".'})
        for key, rule in rules.items():
            status, _, code = str(key).partition(":")
            if not status.isdigit() or not code:
                raise ValidationError({"error_rules": f'{key!r}: keys look like "403:FORBIDDEN".'})
            if not isinstance(rule, dict) or set(rule) - {"must_retry", "must_cancel"} or not all(
                    isinstance(v, bool) for v in rule.values()):
                raise ValidationError({"error_rules": f"{key!r}: only must_retry and must_cancel, true or false."})

    def rule(self, status: int, code: str) -> dict:
        rule = (self.error_rules or {}).get(f"{status}:{code}", {})
        return {"must_retry": rule.get("must_retry", True), "must_cancel": rule.get("must_cancel", True)}


class WalletTransaction(models.Model):
    """One Debit or Credit at an operator's wallet, by its transaction id (reused on retries)."""

    class Kind(models.TextChoices):
        DEBIT = "Debit"
        CREDIT = "Credit"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (not confirmed yet)"
        SENDING = "sending", "Being sent"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Refused by the wallet (nothing charged)"
        CANCELLING = "cancelling", "Being cancelled"
        CANCELLED = "cancelled", "Cancelled"
        CANCEL_FAILED = "cancel_failed", "Cancel failed (retried)"

    transaction_id = models.CharField(max_length=100, unique=True)
    round_key = models.CharField(max_length=64, db_index=True,
                                 help_text="The contribution's idempotency key, hashed: a Debit's round.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    player_ref = models.CharField(max_length=128)
    token = models.CharField(max_length=512, blank=True)
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    gameround_id = models.CharField(max_length=128)
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="+")
    contribution = models.ForeignKey(Contribution, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="wallet_transactions")
    win = models.ForeignKey(Win, on_delete=models.PROTECT, null=True, blank=True, related_name="wallet_transactions")
    round_closed = models.BooleanField(default=False)
    metadata_json = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="HTTP calls made for it, retries included.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Sweepers: pending credits to retry, debits left without a contribution.
            models.Index(fields=["kind", "status", "created_at"], name="wallet_tx_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.transaction_id} ({self.status})"


class RaffleDraw(models.Model):
    """The draw that closed one period of a raffle: who held tickets, what was drawn."""

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="draws")
    period = models.PositiveIntegerField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    drawn_at = models.DateTimeField(auto_now_add=True)
    players = models.PositiveIntegerField(help_text="Players holding tickets.")
    tickets = models.PositiveBigIntegerField(help_text="Tickets in the draw.")
    evidence = models.JSONField(default=list, blank=True, help_text="Each prize's draw: tickets, number drawn, winner.")

    class Meta:
        ordering = ["-drawn_at"]
        constraints = [
            # A period is drawn once, whatever the number of workers running the schedule.
            models.UniqueConstraint(fields=["jackpot", "period"], name="raffle_draw_period_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.jackpot} period {self.period}"
