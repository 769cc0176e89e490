"""The jackpot catalogue: sources, game groups and games, jackpot instances and their pots."""

import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.models import Brand, Currency, Operator
from portal.money import ZERO, MoneyField, RateField
from portal.validation import normalise_country
from sources.mechanics import REGISTRY

ONE = Decimal(1)
UTC_ZONE = ZoneInfo("UTC")
fraction_validators = [MinValueValidator(ZERO), MaxValueValidator(ONE)]
non_negative = [MinValueValidator(ZERO)]
country_list_validator = RegexValidator(
    r"^\s*([A-Za-z]{2}\s*(,\s*[A-Za-z]{2}\s*)*)?$",
    "Comma-separated ISO 3166 alpha-2 codes, e.g. MT, GB, SE.",
)


def time_zone_validator(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London, America/New_York, UTC).") from exc


class OwnedModel(models.Model):
    """Owned by an operator, or by one brand of it (owner id `operator` or `operator:brand`)."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    brand = models.ForeignKey(
        Brand, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Leave empty for an operator-wide object.",
    )

    class Meta:
        abstract = True

    @property
    def owner_id(self) -> str:
        return f"{self.operator_id}:{self.brand.code}" if self.brand_id else self.operator_id

    def clean(self) -> None:
        super().clean()
        if self.brand_id and self.operator_id and self.brand.operator_id != self.operator_id:
            raise ValidationError({"brand": "The brand must belong to the owning operator."})


class Source(OwnedModel):
    source_id = models.CharField(
        max_length=128, help_text="The id operators send, e.g. casino-sitewide, deposit, egyptian-games."
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["operator_id", "source_id"]
        constraints = [
            # Routing looks a source up by (operator, brand, source_id), brand first.
            models.UniqueConstraint(
                fields=["operator", "brand", "source_id"], condition=Q(brand__isnull=False),
                name="source_brand_unique",
                violation_error_message="This brand already has a source with this id.",
            ),
            models.UniqueConstraint(
                fields=["operator", "source_id"], condition=Q(brand__isnull=True),
                name="source_operator_unique",
                violation_error_message="This operator already has an operator-wide source with this id.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ({self.owner_id})"

    @property
    def source_name(self) -> str:
        return self.name or self.source_id


class GameGroup(OwnedModel):
    """A named set of games mapped to one source, so a game code can be sent as `source_id`."""

    name = models.CharField(max_length=200)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="game_groups")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["operator_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "name"], name="game_group_operator_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.source_id and self.operator_id and self.source.operator_id != self.operator_id:
            raise ValidationError({"source": "The source must belong to the same operator."})


class Game(models.Model):
    group = models.ForeignKey(GameGroup, on_delete=models.CASCADE, related_name="games")
    provider = models.CharField(max_length=100)
    game_code = models.CharField(max_length=128, db_index=True,
                                 help_text="Sent as source_id to reach the group's jackpot.")
    name = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["group_id", "provider", "game_code"]
        constraints = [
            models.UniqueConstraint(fields=["group", "provider", "game_code"], name="game_group_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.game_code}"


class JackpotInstance(OwnedModel):
    class Type(models.TextChoices):
        JACKPOT = "Jackpot"
        RAFFLE = "Raffle"

    class State(models.TextChoices):
        PENDING = "Pending"
        ACTIVE = "Active"
        PAUSED = "Paused"
        TERMINATED = "Terminated"

    class ContributionType(models.TextChoices):
        FIXED = "Fixed", "Fixed amount per contribution"
        PERCENTAGE = "Percentage", "Percentage of the base wager"

    class TicketBasis(models.TextChoices):
        CONTRIBUTION = "contribution", "Contribution amount"
        BASE_WAGER = "base_wager", "Base wager"

    class WinSelector(models.TextChoices):
        HIGHEST = "Highest"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    jackpot_type = models.CharField(max_length=16, choices=Type.choices, default=Type.JACKPOT)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+",
                                 help_text="Base currency of the pots and the ledger.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    timestamp_start = models.DateTimeField(null=True, blank=True, help_text="In the instance's time zone.")
    timestamp_end = models.DateTimeField(null=True, blank=True, help_text="In the instance's time zone.")
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[time_zone_validator],
        help_text="IANA time zone (e.g. Europe/London) of the start and end, the schedule windows and the "
                  "clock-deadline drops; daylight-saving changes follow the zone.")
    linked_instance = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="linked",
        help_text="Linked jackpots (contribution v2): every v2 contribution to that instance also feeds this one, "
                  "under this instance's own rules. Direct links only.")
    allowed_brands = models.ManyToManyField(Brand, blank=True, related_name="+",
                                            help_text="Empty: every brand of the operator.")
    allowed_countries = models.CharField(max_length=1000, blank=True, validators=[country_list_validator],
                                         help_text="Comma-separated ISO codes. Empty: every country.")
    allowed_currencies = models.CharField(max_length=1000, blank=True,
                                          help_text="Comma-separated ISO 4217 codes. Empty: every currency.")

    # Contribution rules: the instance's own copy, also when it was made from a JackpotTemplate
    # (a later version of the template changes nothing here; `template_version` says which one).
    opt_in_required = models.BooleanField(
        default=False, help_text="Player-funded: only opted-in players contribute, and they are debited.")
    contribution_type = models.CharField(max_length=16, choices=ContributionType.choices,
                                         default=ContributionType.PERCENTAGE)
    contribution_value = RateField(
        validators=non_negative,
        help_text="Fixed: amount in the instance currency. Percentage: fraction of the base wager (0.01 = 1%).")
    house_share = RateField(default=ZERO, validators=fraction_validators,
                            help_text="Fraction of each contribution kept by the house. Pots + house = 1.")
    min_base_wager = MoneyField(null=True, blank=True, validators=non_negative,
                                help_text="In the instance currency.")
    max_base_wager = MoneyField(null=True, blank=True, validators=non_negative,
                                help_text="In the instance currency.")
    withhold_limit = MoneyField(null=True, blank=True, validators=non_negative,
                                help_text="Wins above this (instance currency) wait for staff approval.")
    win_selector = models.CharField(max_length=16, choices=WinSelector.choices, default=WinSelector.HIGHEST)

    # Raffles
    ticket_cost = MoneyField(null=True, blank=True, validators=[MinValueValidator(Decimal("0.00000001"))],
                             help_text="Raffles: one ticket per this much (instance currency).")
    ticket_basis = models.CharField(max_length=16, choices=TicketBasis.choices, default=TicketBasis.CONTRIBUTION)
    raffle_recurring = models.BooleanField(
        default=False, help_text="Raffles: open the next period after each draw (else the raffle ends).")
    raffle_period_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(60)],
        help_text="Raffles: length of a period. Empty: one period from the start to the end timestamp.")
    raffle_period = models.PositiveIntegerField(default=1, editable=False,
                                                help_text="Current raffle period number.")
    raffle_period_start = models.DateTimeField(null=True, blank=True, editable=False)
    raffle_period_end = models.DateTimeField(null=True, blank=True, editable=False,
                                             help_text="When the current period is drawn.")

    template_version = models.ForeignKey(
        "JackpotTemplateVersion", on_delete=models.PROTECT, null=True, blank=True, editable=False,
        related_name="instances", help_text="The template version this instance was created from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[allowed_brands])

    class Meta:
        ordering = ["name"]
        permissions = [("change_instance_state", "Can pause, resume or terminate instances")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        """The staff page (the admin's "View on site")."""
        return reverse("portal:instance", args=[self.pk])

    @property
    def is_raffle(self) -> bool:
        return self.jackpot_type == self.Type.RAFFLE

    @property
    def country_set(self) -> frozenset[str]:
        return frozenset(normalise_country(c) for c in self.allowed_countries.split(",") if c.strip())

    @property
    def currency_set(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.allowed_currencies.split(",") if c.strip())

    @property
    def zone(self) -> ZoneInfo:
        """The instance's clock: its windows, start and end, and deadlines are on this wall clock."""
        return ZoneInfo(self.time_zone)

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.timestamp_start and self.timestamp_end and self.timestamp_end <= self.timestamp_start:
            errors["timestamp_end"] = "The end must come after the start."
        if (self.contribution_type == self.ContributionType.PERCENTAGE and self.contribution_value is not None
                and self.contribution_value > ONE):
            errors["contribution_value"] = "A percentage contribution is a fraction between 0 and 1."
        if self.jackpot_type == self.Type.RAFFLE and not self.ticket_cost:
            errors["ticket_cost"] = "A raffle needs a ticket cost."
        if self.jackpot_type == self.Type.RAFFLE and not (self.raffle_period_seconds or self.timestamp_end):
            errors["raffle_period_seconds"] = "A raffle needs a period length or an end timestamp to be drawn."
        if self.raffle_recurring and not self.raffle_period_seconds:
            errors["raffle_period_seconds"] = "A recurring raffle needs a period length."
        if (self.min_base_wager is not None and self.max_base_wager is not None
                and self.min_base_wager > self.max_base_wager):
            errors["max_base_wager"] = "The maximum base wager is below the minimum."
        bad = [c for c in self.currency_set if len(c) != 3 or not c.isalpha()]
        if bad:
            errors["allowed_currencies"] = f"Not ISO 4217 codes: {', '.join(sorted(bad))}."
        if self.linked_instance_id is not None:
            if self.pk is not None and self.linked_instance_id == self.pk:
                errors["linked_instance"] = "An instance cannot be linked to itself."
            elif self.operator_id and self.linked_instance.operator_id != self.operator_id:
                errors["linked_instance"] = "A linked instance must belong to the same operator."
        if errors:
            raise ValidationError(errors)


class InstanceCurrencyLimit(models.Model):
    """'Always fair' per-currency contribution values: natural amounts such as SEK 1 or JPY 10."""

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.CASCADE, related_name="currency_limits")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    min_value = MoneyField(null=True, blank=True, validators=non_negative)
    max_value = MoneyField(null=True, blank=True, validators=non_negative)
    default_value = MoneyField(null=True, blank=True, validators=non_negative,
                               help_text="Fixed contributions in this currency when the player chose none.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["jackpot_id", "currency_id"]
        constraints = [
            models.UniqueConstraint(fields=["jackpot", "currency"], name="instance_currency_limit_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.currency_id} limits"

    def clean(self) -> None:
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValidationError({"max_value": "The maximum is below the minimum."})
        if self.default_value is not None:
            if self.min_value is not None and self.default_value < self.min_value:
                raise ValidationError({"default_value": "The default is below the minimum."})
            if self.max_value is not None and self.default_value > self.max_value:
                raise ValidationError({"default_value": "The default is above the maximum."})


class SourceMapping(models.Model):
    """A source feeds an instance; among the eligible instances the lowest priority number wins."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="mappings")
    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.CASCADE, related_name="source_mappings")
    priority = models.PositiveIntegerField(default=100, help_text="1 is tried first.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["source_id", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["source", "jackpot"], name="source_mapping_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source.source_id} -> {self.jackpot.name} (priority {self.priority})"


class Pot(models.Model):
    class Mechanic(models.TextChoices):
        HIT_RATE = "HitRate", "Random hit (HitRate)"
        MUST_DROP_AMOUNT = "MustDropAmount", "Must drop by amount"
        MUST_DROP_TIME = "MustDropTime", "Must drop by time"
        MUST_DROP_CLOCK = "MustDropClock", "Must drop before a clock time (every hour, day or week)"
        PRIZE = "Prize", "Raffle prize (drawn at the end of the period)"
        CLOSED = "Closed", "Closed (retired: won for the last time, takes nothing more)"

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.CASCADE, related_name="pots")
    pot_id = models.CharField(max_length=64, help_text="minor, major, mega ...")
    tier = models.PositiveSmallIntegerField(default=0, help_text="Higher tiers win ties between pots.")
    share = RateField(validators=fraction_validators, help_text="Fraction of each contribution.")
    seed_share = RateField(default=ZERO, validators=fraction_validators,
                           help_text="Fraction of this pot's share set aside in its seed fund.")
    initial_seed = MoneyField(default=ZERO, validators=non_negative)
    is_progressive = models.BooleanField(
        default=True, help_text="Non-progressive pots keep a fixed value; their share goes to the seed fund.")
    cap = MoneyField(null=True, blank=True, validators=non_negative,
                     help_text="Maximum value; overflow goes to the seed fund.")
    mechanic = models.CharField(max_length=16, choices=Mechanic.choices, default=Mechanic.HIT_RATE)
    cost_per_attempt = MoneyField(null=True, blank=True, validators=[MinValueValidator(Decimal("0.00000001"))],
                                  help_text="HitRate: base-currency cost of one attempt.")
    max_magic_number = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                                   help_text="HitRate: one attempt wins with 1/max_magic_number.")
    drop_ceiling = MoneyField(null=True, blank=True, validators=non_negative,
                              help_text="Must drop by amount: the pot drops before reaching this value.")
    drop_window_hours = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                                    help_text="Must drop by time: drops within this many hours of each (re)seed.")
    drop_every = models.CharField(
        max_length=8, blank=True, choices=[("hour", "Every hour"), ("day", "Every day"), ("week", "Every week")],
        help_text="Must drop before a clock time: how often the deadline comes.")
    drop_before = models.TimeField(
        null=True, blank=True,
        help_text="Must drop before a clock time: the deadline, on the instance's wall clock (e.g. 22:00). "
                  "Every hour: minutes past the hour only (00:00 = before every full hour).")
    drop_weekday = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=[(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"),
                                        (4, "Friday"), (5, "Saturday"), (6, "Sunday")],
        help_text="Must drop before a clock time, every week: the deadline's weekday.")

    # Cached totals, moved only by the engine with F() on locked rows; the ledger explains them.
    current_value = MoneyField(default=ZERO, editable=False)
    seed_fund = MoneyField(default=ZERO, editable=False)
    seed_deficit = MoneyField(default=ZERO, editable=False)
    generation = models.PositiveIntegerField(default=1, editable=False,
                                             help_text="Incremented at every reseed.")
    # The parameter change waiting for this pot's next generation (see PotChange); read by the
    # engine with the locked pot row, so a win costs no extra query when nothing is pending.
    pending_change = models.ForeignKey("PotChange", on_delete=models.SET_NULL, null=True, blank=True,
                                       editable=False, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["current_value", "seed_fund", "seed_deficit",
                                                 "generation", "pending_change", "updated_at"])

    class Meta:
        ordering = ["jackpot_id", "tier", "pot_id"]
        permissions = [("adjust_pot", "Can boost seeds and adjust pot values (with a reason)"),
                       ("approve_pot_decrease", "Can approve another user's pot decrease or payout (four eyes)")]
        constraints = [
            models.UniqueConstraint(fields=["jackpot", "pot_id"], name="pot_instance_pot_id_unique"),
            models.CheckConstraint(condition=Q(share__gte=0) & Q(share__lte=1), name="pot_share_fraction"),
            models.CheckConstraint(condition=Q(cap__isnull=True) | Q(initial_seed__lte=models.F("cap")),
                                   name="pot_seed_not_above_cap"),
        ]

    def __str__(self) -> str:
        return self.pot_id

    def clean(self) -> None:
        errors = {}
        if self.cap is not None and self.initial_seed is not None and self.initial_seed > self.cap:
            errors["initial_seed"] = "The initial seed is above the cap."
        mechanic = REGISTRY.get(self.mechanic)
        if mechanic is not None:
            errors.update(mechanic.check(self))
        if errors:
            raise ValidationError(errors)


# A pot's mechanic parameters: on a live (Active or Paused) instance a change to any of them
# waits for the pot's next generation (PotChange); on a draft it applies at once.
POT_PARAMETERS = ("share", "seed_share", "initial_seed", "is_progressive", "cap", "mechanic", "cost_per_attempt",
                  "max_magic_number", "drop_ceiling", "drop_window_hours", "drop_every", "drop_before", "drop_weekday")


class PotAdjustment(models.Model):
    """Money moved into or out of a pot by people or by setup, never by contributions or wins.

    Kinds: the initial seed when the pot is created, a seed boost (into the seed fund), a
    manual adjustment of the value (a decrease only once a second person approved it, see
    AdjustmentRequest), the two legs of a transfer between pots (PotTransfer), a payout under a
    recorded retirement decision, and a retiring pot's reserve released into its final win.
    Every row names who and why.
    """

    class Kind(models.TextChoices):
        INITIAL_SEED = "initial_seed", "Initial seed"
        SEED_BOOST = "seed_boost", "Seed boost"
        ADJUSTMENT = "adjustment", "Adjustment"
        WIN_RETURN = "win_return", "Returned from a rejected win"
        TRANSFER_OUT = "transfer_out", "Transferred to another pot"
        TRANSFER_IN = "transfer_in", "Transferred from another pot"
        PAYOUT = "payout", "Paid out under a retirement decision"
        RESERVE_RELEASE = "reserve_release", "Reserve released into the final win"

    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="adjustments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value_delta = MoneyField(default=ZERO)
    seed_delta = MoneyField(default=ZERO)
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", help_text="The second person, for a decrease or a payout.")
    transfer = models.ForeignKey("PotTransfer", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="legs")
    retirement = models.ForeignKey("Retirement", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="adjustments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value_delta}/{self.seed_delta} on {self.pot}"


class ScheduleWindow(models.Model):
    """A daily or weekly window in which an instance accepts contributions: happy hours,
    weekends. Times and weekdays are on the instance's wall clock (its time zone), so a
    17:00-18:00 Europe/London window opens at 17:00 in London in summer and in winter.
    An instance with windows is closed outside all of them."""

    class Day(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.CASCADE, related_name="windows")
    days = models.CharField(
        max_length=20, blank=True, validators=[RegexValidator(r"^\s*([0-6](\s*,\s*[0-6])*)?\s*$",
                                                              "Weekday numbers 0 (Monday) to 6 (Sunday), comma-separated.")],
        help_text="Weekdays, 0 = Monday ... 6 = Sunday, comma-separated. Empty: every day (a daily window).")
    start_time = models.TimeField(help_text="Local time (the instance's time zone).")
    end_time = models.TimeField(help_text="Local time. Before the start: the window runs past midnight.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["jackpot_id", "start_time"]

    def __str__(self) -> str:
        days = ", ".join(self.Day(d).label[:3] for d in self.day_set) if self.day_set else "daily"
        zone = self.jackpot.time_zone if self.jackpot_id else "local time"
        return f"{days} {self.start_time:%H:%M}-{self.end_time:%H:%M} {zone}"

    @property
    def day_set(self) -> frozenset[int]:
        return frozenset(int(d) for d in self.days.split(",") if d.strip())

    def contains(self, moment, zone: ZoneInfo = UTC_ZONE) -> bool:
        """Is this moment inside the window, read on the wall clock of `zone` (the instance's)?
        (A window past midnight belongs to its start day.)"""
        moment = moment.astimezone(zone)
        t = moment.time()
        days = self.day_set
        if self.start_time <= self.end_time:
            return self.start_time <= t < self.end_time and (not days or moment.weekday() in days)
        if t >= self.start_time:
            return not days or moment.weekday() in days
        if t < self.end_time:
            return not days or (moment.weekday() - 1) % 7 in days
        return False


class DropCommitment(models.Model):
    """A must-drop pot's hidden drop point for one generation: the SHA-256 of "value:salt" is
    published at (re)seed; value and salt are revealed with the win, so anyone can check the
    drop was fixed in advance. The secret never leaves the database before the win."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", "Must drop by amount"
        TIME = "time", "Must drop by time"
        CLOCK = "clock", "Must drop before a clock time"

    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="commitments")
    generation = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    commitment = models.CharField(max_length=64, help_text="SHA-256 hex of the secret text.")
    secret_text = models.CharField(max_length=200, help_text='"value:salt", revealed with the win only.')
    drop_amount = MoneyField(null=True, blank=True)
    drop_at = models.DateTimeField(null=True, blank=True)
    drop_deadline = models.DateTimeField(
        null=True, blank=True, help_text="Clock drops: the generation drops before this (public, unlike drop_at).")
    created_at = models.DateTimeField(auto_now_add=True)
    revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pot_id", "-generation"]
        constraints = [
            # One commitment per pot generation: the engine reads the current one by this key.
            models.UniqueConstraint(fields=["pot", "generation"], name="commitment_pot_generation_unique"),
        ]
        indexes = [
            # `drops_due`: open clock commitments whose deadline has passed (settled every few seconds).
            models.Index(fields=["drop_deadline"], condition=Q(kind="clock", revealed_at__isnull=True),
                         name="commitment_clock_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.pot} generation {self.generation}: {self.commitment[:12]}…"


class JackpotTemplate(OwnedModel):
    """A reusable jackpot definition (pots and their mechanics, rules, currency limits, schedule
    windows) from which instances are created. Each change of the definition publishes a new,
    immutable `JackpotTemplateVersion`; an instance copies the version it is made from."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    current_version = models.PositiveIntegerField(default=0, editable=False,
                                                  help_text="The version new instances are made from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["operator_id", "name"]
        constraints = [
            # Templates are picked by name in the admin and the configuration API.
            models.UniqueConstraint(fields=["operator", "name"], name="template_operator_name_unique",
                                    violation_error_message="A template of this name already exists."),
        ]

    def __str__(self) -> str:
        return self.name


class JackpotTemplateVersion(models.Model):
    """One published definition of a template, never changed afterwards (instances point at it).

    `definition` is the configuration as JSON: the instance's rule fields, and lists `pots`,
    `currency_limits` and `windows` (see sources/jackpot_templates.py), decimals as strings."""

    template = models.ForeignKey(JackpotTemplate, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    note = models.CharField(max_length=500, blank=True, help_text="What changed in this version.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["template_id", "-version"]
        constraints = [
            # A template's version by number (instances record it; the API reads it).
            models.UniqueConstraint(fields=["template", "version"], name="template_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"


class RulesVersion(models.Model):
    """One published version of an instance's rules document (UKGC RTS 9A): the text
    generated from its configuration by `sources.rules`, kept for good. A new version is
    written only when the generated text changes (`digest`), so every version a player may
    have read stays retrievable by its number."""

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="rules_versions")
    version = models.PositiveIntegerField()
    document = models.TextField(help_text="The rules as JSON, amounts as exact decimals.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the document.")
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["jackpot_id", "-version"]
        constraints = [
            # Versions are numbered per instance; two writers racing for the next number meet here.
            models.UniqueConstraint(fields=["jackpot", "version"], name="rules_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.jackpot} rules v{self.version}"


# --- changes to live jackpots and their retirement (regulated money operations) -------------


class PotChange(models.Model):
    """A change of a live pot's parameters (POT_PARAMETERS: share, seed, cap, ceiling, odds...),
    scheduled for the pot's next generation: it takes effect when the pot is reseeded after
    its next win, so the odds a player plays against never change under them. One pending
    change per pot; editing again replaces it (the old one is kept as superseded)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (takes effect after the next win)"
        APPLIED = "applied", "Applied"
        SUPERSEDED = "superseded", "Superseded by a later change"
        CANCELLED = "cancelled", "Cancelled"

    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="changes")
    changes = models.JSONField(help_text="The new values by field (decimals as strings).")
    previous = models.JSONField(help_text="The values in force when the change was scheduled.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    scheduled_generation = models.PositiveIntegerField(help_text="The pot's generation when it was scheduled.")
    applied_generation = models.PositiveIntegerField(null=True, blank=True,
                                                     help_text="The first generation played with it.")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Applied, superseded or cancelled at.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The engine follows Pot.pending_change; this keeps it to one per pot.
            models.UniqueConstraint(fields=["pot"], condition=Q(status="pending"), name="pot_change_one_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.pot} change #{self.pk}: {self.summary}"

    def values(self) -> dict:
        """The new values as the model holds them (Decimals, ints, booleans)."""
        return {name: Pot._meta.get_field(name).to_python(value) for name, value in self.changes.items()}

    @property
    def closes(self) -> bool:
        return self.changes.get("mechanic") == Pot.Mechanic.CLOSED

    @property
    def summary(self) -> str:
        if self.closes:
            return "closes at its next win (retirement)"
        return "; ".join(f"{name} {self.previous.get(name)} → {value}" for name, value in self.changes.items())


class AdjustmentRequest(models.Model):
    """A decrease of a pot's value, asked by one person and booked only when a second person
    with `sources.approve_pot_decrease` approves it (four eyes). A pot never goes below its
    reset value (its seed): checked when asked and again when approved."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved and booked"
        REJECTED = "rejected", "Rejected"

    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="adjustment_requests")
    value_delta = MoneyField(help_text="Negative: the decrease asked for (instance currency).")
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    adjustment = models.OneToOneField(PotAdjustment, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="request", help_text="The ledger row booked on approval.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.pot} {self.value_delta} ({self.get_status_display().lower()})"


class Retirement(models.Model):
    """What becomes of the money still in an instance's pots when it is terminated (the
    liability): transferred to named pots (PotTransfer), kept running until each pot is won
    once more, or paid out under a recorded decision (who, why, reference; approved by a
    second person). An instance whose pots hold nothing terminates without one."""

    class Disposition(models.TextChoices):
        TRANSFER = "transfer", "Transfer to other pots"
        RUN_UNTIL_WON = "run_until_won", "Keep running until won"
        PAYOUT = "payout", "Pay out under a recorded decision"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second person's approval"
        RUNNING = "running", "Running until every pot is won"
        DONE = "done", "Done: terminated"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Replaced by another disposition"

    OPEN = (Status.AWAITING_APPROVAL, Status.RUNNING)

    jackpot = models.ForeignKey(JackpotInstance, on_delete=models.PROTECT, related_name="retirements")
    disposition = models.CharField(max_length=16, choices=Disposition.choices)
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    reason = models.CharField(max_length=500)
    reference = models.CharField(max_length=200, blank=True,
                                 help_text="Payouts: the decision's reference (board minute, regulator letter...).")
    liability = MoneyField(help_text="What the pots held (values + seed funds) when it was decided.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", help_text="Payouts: who approved or rejected it.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One open disposition per instance: opt-ins and termination read it.
            models.UniqueConstraint(fields=["jackpot"], condition=Q(status__in=["awaiting_approval", "running"]),
                                    name="retirement_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.jackpot}: {self.get_disposition_display().lower()} ({self.get_status_display().lower()})"


class PotTransfer(models.Model):
    """Money moved from a retiring pot to another pot: two ledger rows (PotAdjustment legs,
    `transfer_out` on the source and `transfer_in` on the target) that `reconcile` pairs. The
    value goes to the target's value (up to its cap; for a must-drop-by-amount target, whose
    hidden drop point must not be passed by anything but a contribution, to its seed fund) and
    the seed fund to its seed fund. Across currencies both are converted at the multipliers of
    the moment, recorded here."""

    retirement = models.ForeignKey(Retirement, on_delete=models.PROTECT, related_name="transfers")
    source = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="transfers_out")
    target = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="transfers_in")
    value_out = MoneyField(help_text="Taken from the source's value (source currency).")
    seed_out = MoneyField(help_text="Taken from the source's seed fund (source currency).")
    value_in = MoneyField(help_text="Added to the target's value (target currency).")
    seed_in = MoneyField(help_text="Added to the target's seed fund (target currency).")
    source_currency = models.CharField(max_length=3)
    target_currency = models.CharField(max_length=3)
    source_multiplier = RateField()
    target_multiplier = RateField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}: {self.amount_out} {self.source_currency}"

    @property
    def amount_out(self) -> Decimal:
        return self.value_out + self.seed_out

    @property
    def amount_in(self) -> Decimal:
        return self.value_in + self.seed_in
