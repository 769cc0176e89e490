"""The ledger: contributions, pot increments and wins. Rows are appended, never edited,
except for a status and the fields that record how that status was reached."""

import hashlib
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from contributions.partitions import month_of
from players.models import Player
from portal.models import Brand
from portal.money import ZERO, MoneyField, RateField
from sources.models import JackpotInstance, Pot, Source


def this_month():
    return month_of(timezone.now())


class MonthField(models.DateField):
    """The first day (UTC) of the month of another date-time field of the row (`of`), set when
    the row is inserted: the partition key of the ledger's big tables (contributions.partitions)."""

    def __init__(self, *args, of: str = "created_at", **kwargs):
        self.of = of
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        if self.of != "created_at":
            kwargs["of"] = self.of
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        if add:  # `of` is declared earlier, so an auto_now_add time is already set
            value = month_of(getattr(model_instance, self.of) or timezone.now())
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)


class Contribution(models.Model):
    db_partitioned = True  # by month on PostgreSQL (contributions.partitions; portal/postgresql)

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
    token = models.CharField(max_length=512, blank=True, help_text=(
        "The player's session token: kept only while an async contribution waits for its wallet calls."))
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
    # The month partition (PostgreSQL) the row lives in; archived a month at a time.
    created_month = MonthField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Idempotency: one contribution per key; concurrent duplicates wait on this index.
            # On PostgreSQL the table is partitioned by month and this key also holds
            # created_month (see contributions.partitions for how repeats across months are caught).
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

    db_partitioned = True  # by its contribution's month on PostgreSQL

    # Rows pointing at a contribution have no database constraint: on PostgreSQL contributions
    # are partitioned, and a key to them would need the month too (contributions.partitions).
    contribution = models.ForeignKey(Contribution, on_delete=models.PROTECT, related_name="increments",
                                     db_constraint=False)
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="increments")
    value_delta = MoneyField()
    seed_delta = MoneyField()
    overflow = MoneyField(default=ZERO, help_text="The part of seed_delta that passed the pot's cap "
                                                  "(the overflow meter).")
    value_after = MoneyField()
    generation = models.PositiveIntegerField()
    draw = models.JSONField(null=True, blank=True, help_text="RNG evidence: inputs and outcome.")
    # Its contribution's month: the two are partitioned (and archived) together.
    created_month = models.DateField(default=this_month, editable=False)

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
                                     related_name="wins", db_constraint=False)
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
    contribution = models.OneToOneField(Contribution, on_delete=models.PROTECT, related_name="delivery",
                                        db_constraint=False)
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
        self.secret_fingerprint = hashlib.sha256(self.secret_key.encode()).hexdigest()[:12]
        super().save(*args, **kwargs)

    def clean(self) -> None:
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
                                     related_name="wallet_transactions", db_constraint=False)
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


# --- the daily close (reports) ------------------------------------------------------------


class DailyClose(models.Model):
    """One jackpot instance's business day, closed: each pot's opening and closing liability
    and everything that moved it (`DailyClosePot`), and the day's contributions and wins by
    brand, currency, country and source (`DailyCloseLine`).

    A close is final: the schedule and `close_day` only add days. `close_day --force` (naming
    who and why) computes a day again as a new revision; the revision it replaces is kept with
    its figures, marked superseded, and equal digests say whether anything differs."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "The nightly schedule"
        COMMAND = "command", "The close_day command"
        RECOMPUTE = "recompute", "A forced recompute"

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="daily_closes")
    business_date = models.DateField()
    time_zone = models.CharField(max_length=64, help_text="The business time zone the day was cut in.")
    window_start = models.DateTimeField(help_text="The day's first instant (inclusive).")
    window_end = models.DateTimeField(help_text="The next day's first instant (exclusive).")
    revision = models.PositiveSmallIntegerField(default=1)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    computed_at = models.DateTimeField()
    computed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", help_text="Who asked for a recompute (empty: the schedule).")
    reason = models.CharField(max_length=500, blank=True, help_text="Why the day was computed again.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the figures: equal digests, equal figures.")
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="supersedes")

    class Meta:
        ordering = ["-business_date", "jackpot_id", "-revision"]
        constraints = [
            # A day is closed once: a second scheduler run or command finds it taken.
            models.UniqueConstraint(fields=["jackpot", "business_date"], condition=Q(superseded_at__isnull=True),
                                    name="daily_close_current_unique"),
            # Revisions of a day, in order (also the index of an instance's days).
            models.UniqueConstraint(fields=["jackpot", "business_date", "revision"],
                                    name="daily_close_revision_unique"),
        ]
        indexes = [
            # The report page and the API read a day, or a range of days, across instances.
            models.Index(fields=["business_date"], name="daily_close_date_idx"),
        ]
        permissions = [("recompute_dailyclose", "Can compute a closed day again (as a new revision)")]

    def __str__(self) -> str:
        return f"{self.jackpot} {self.business_date} (revision {self.revision})"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


class DailyClosePot(models.Model):
    """One pot's day, in the instance currency at ledger precision:

    value:        opening + contributed + adjusted - won + reseeded = closing
    seed fund:    opening + contributed + adjusted - used at reseeds = closing
    seed deficit: opening + added at reseeds = closing

    Wins are split by their status when the day was closed."""

    close = models.ForeignKey(DailyClose, on_delete=models.PROTECT, related_name="pots")
    pot = models.ForeignKey(Pot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    pot_key = models.CharField(max_length=64, help_text="The pot's id (minor, major ...) at the close.")
    tier = models.PositiveSmallIntegerField(default=0)
    opening_value = MoneyField()
    opening_seed_fund = MoneyField()
    opening_seed_deficit = MoneyField()
    increments = models.PositiveIntegerField(default=0, help_text="Contributions that reached the pot.")
    contributed_value = MoneyField(default=ZERO)
    contributed_seed = MoneyField(default=ZERO, help_text="Into the seed fund: its share, and any overflow.")
    overflow = MoneyField(default=ZERO, help_text="Of contributed_seed: what passed the cap.")
    player_funded = MoneyField(default=ZERO, help_text="Value and seed fund from player-funded (opt-in) contributions.")
    operator_funded = MoneyField(default=ZERO, help_text="Value and seed fund from operator-funded contributions.")
    adjusted_value = MoneyField(default=ZERO)
    adjusted_seed = MoneyField(default=ZERO)
    adjustments = models.JSONField(default=dict, blank=True,
                                   help_text='By kind: {"seed_boost": {"count": 1, "value": "0", "seed": "50"}}.')
    wins = models.PositiveIntegerField(default=0)
    won = MoneyField(default=ZERO, help_text="Taken from the pot by the day's wins.")
    reseeded = MoneyField(default=ZERO)
    seed_used = MoneyField(default=ZERO)
    deficit_added = MoneyField(default=ZERO)
    won_paid = MoneyField(default=ZERO)
    won_recorded = MoneyField(default=ZERO, help_text="No wallet: the operator pays.")
    won_withheld = MoneyField(default=ZERO)
    won_pending_credit = MoneyField(default=ZERO)
    won_rejected = MoneyField(default=ZERO)
    unpaid_wins = MoneyField(default=ZERO, help_text="Every win of the pot up to the day's end still withheld or "
                                                     "waiting for its credit when the day was closed.")
    closing_value = MoneyField()
    closing_seed_fund = MoneyField()
    closing_seed_deficit = MoneyField()

    class Meta:
        ordering = ["close_id", "-tier", "pot_key"]
        constraints = [
            models.UniqueConstraint(fields=["close", "pot_key"], name="daily_close_pot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pot_key} on {self.close}"

    @property
    def opening_liability(self):
        return self.opening_value + self.opening_seed_fund

    @property
    def closing_liability(self):
        return self.closing_value + self.closing_seed_fund

    @property
    def balanced(self) -> bool:
        """The day adds up: opening + what moved = closing, for the value, seed fund and deficit."""
        return (self.closing_value == self.opening_value + self.contributed_value + self.adjusted_value - self.won
                + self.reseeded
                and self.closing_seed_fund == self.opening_seed_fund + self.contributed_seed + self.adjusted_seed
                - self.seed_used
                and self.closing_seed_deficit == self.opening_seed_deficit + self.deficit_added)


class DailyCloseLine(models.Model):
    """The day's contributions and wins of one instance for one brand, currency, country and
    source: the grain every total adds up from, and what a brand-scoped user is shown.
    Contributions count in the request currency, wins in the player's."""

    close = models.ForeignKey(DailyClose, on_delete=models.PROTECT, related_name="lines")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    country = models.CharField(max_length=2, blank=True)
    source = models.CharField(max_length=128, blank=True,
                              help_text="The source id; empty: addressed by instance id, or a raffle draw.")
    contributions = models.PositiveIntegerField(default=0)
    wagers = MoneyField(default=ZERO, help_text="Base wagers, in the currency of the line.")
    contributed = MoneyField(default=ZERO, help_text="As charged, in the currency of the line.")
    contributed_base = MoneyField(default=ZERO, help_text="In the instance currency.")
    player_funded_base = MoneyField(default=ZERO)
    operator_funded_base = MoneyField(default=ZERO)
    house_base = MoneyField(default=ZERO)
    wins = models.PositiveIntegerField(default=0)
    won_base = MoneyField(default=ZERO, help_text="Taken from the pots, in the instance currency.")
    won = MoneyField(default=ZERO, help_text="As paid (rounded down), in the currency of the line.")

    class Meta:
        ordering = ["close_id", "brand_id", "currency", "country", "source"]
        constraints = [
            models.UniqueConstraint(fields=["close", "brand", "currency", "country", "source"],
                                    name="daily_close_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.currency} {self.country} {self.source} on {self.close}"


# --- records: partitions and the archive ------------------------------------------------------


class BoundaryKey(models.Model):
    """Idempotency keys of contributions created within minutes of a month's boundary, filled
    by a trigger on PostgreSQL (contributions.partitions): its unique key catches concurrent
    duplicates that would land in two months' partitions. Pruned after a day."""

    brand_id = models.BigIntegerField()
    player_ref = models.CharField(max_length=128)
    gameround_id = models.CharField(max_length=128)
    target_kind = models.CharField(max_length=8)
    target_id = models.CharField(max_length=128)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand_id", "player_ref", "gameround_id", "target_kind", "target_id"],
                                    name="boundary_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.player_ref}/{self.gameround_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ArchivedMonth(models.Model):
    """A month of the ledger moved out of the database by `archive_contributions`: its rows are
    in export files (Django's JSON Lines, loadable with `loaddata`), its totals stay here."""

    month = models.DateField(unique=True, help_text="The month's first day (UTC).")
    archived_at = models.DateTimeField()
    archived_by = models.CharField(max_length=150, help_text="Who ran the archive (user or command).")
    directory = models.CharField(max_length=1024, help_text="Where the export files were written.")
    manifest = models.JSONField(default=dict, help_text="Each file with its rows and SHA-256.")
    contributions = models.PositiveBigIntegerField(default=0)
    increments = models.PositiveBigIntegerField(default=0)
    wins_unlinked = models.PositiveIntegerField(default=0, help_text="Wins kept, their contribution archived.")

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} archived"


class ArchivedTotal(models.Model):
    """What an archived month carried forward for one instance (pot empty: its contributions)
    or one pot (its increments): `reconcile` adds these to the rows still in the database,
    so it stays exact after archiving."""

    archive = models.ForeignKey(ArchivedMonth, on_delete=models.PROTECT, related_name="totals")
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="+")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rows = models.PositiveBigIntegerField(default=0, help_text="Processed contributions, or increments of the pot.")
    amount_base = MoneyField(default=ZERO)
    house_amount = MoneyField(default=ZERO)
    value_delta = MoneyField(default=ZERO)
    seed_delta = MoneyField(default=ZERO)
    overflow = MoneyField(default=ZERO)

    class Meta:
        ordering = ["archive_id", "jackpot_id", "pot_id"]
        constraints = [
            # One line per instance and pot and month (reconcile sums them per instance / pot).
            models.UniqueConstraint(fields=["archive", "jackpot", "pot"], name="archived_total_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.archive}: {self.pot or self.jackpot}"
