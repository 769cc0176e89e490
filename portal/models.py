"""Who the platform serves: operators, their brands, currencies, service accounts and staff scope."""

import base64
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from portal.money import RateField

slug_validator = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Use letters, digits, '-', '_' or '.' only.")
currency_code_validator = RegexValidator(r"^[A-Z]{3}$", "An ISO 4217 code: three capital letters.")


def origin_entries(text: str) -> list[str]:
    """An operator's allowed origins, one per line (blank lines ignored), lower-cased."""
    return [line.strip().rstrip("/").lower() for line in (text or "").splitlines() if line.strip()]


def validate_origins(text: str) -> None:
    """Each line a web origin: `https://casino.example`, `http://localhost:8080`, or
    `https://*.example.com` for the domain and its subdomains -- no path, query or user."""
    bad = []
    for entry in origin_entries(text):
        parts = urlsplit(entry)
        host = parts.hostname or ""
        if host.startswith("*."):
            host = host[2:]
        try:
            parts.port  # noqa: B018 -- raises on a port that is not a number
        except ValueError:
            bad.append(entry)
            continue
        if (parts.scheme not in ("http", "https") or not host or "*" in host or parts.path or parts.query
                or parts.fragment or "@" in parts.netloc):
            bad.append(entry)
    if bad:
        raise ValidationError(
            f"Not web origins: {', '.join(bad)}. Write one per line as scheme://host[:port], "
            "e.g. https://casino.example or https://*.example.com.")


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# After a secret rotation the previous secret keeps signing for this long.
WEBHOOK_SECRET_GRACE = timedelta(hours=24)


class Operator(models.Model):
    id = models.CharField(primary_key=True, max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    webhook_secret = models.CharField(
        max_length=128,
        default=new_webhook_secret,
        help_text="Signs every webhook sent to this operator (HMAC-SHA256). Rotate from the list action.",
    )
    webhook_secret_previous = models.CharField(
        max_length=128, blank=True, editable=False,
        help_text="Still signs webhooks for a grace period after a rotation, so receivers can switch over.")
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_origins = models.TextField(
        blank=True, validators=[validate_origins],
        help_text="Web pages that may read this operator's jackpots from a browser (CORS on the public "
                  "reads): one origin per line, e.g. https://casino.example or https://*.example.com.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["webhook_secret", "webhook_secret_previous"])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a webhook sent at `now`: the current one, and the previous one
        during a rotation's grace period."""
        signing = [self.webhook_secret]
        if self.webhook_secret_previous and self.webhook_secret_rotated_at and (
                now - self.webhook_secret_rotated_at < WEBHOOK_SECRET_GRACE):
            signing.append(self.webhook_secret_previous)
        return signing


class Brand(models.Model):
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="brands")
    code = models.CharField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    side_bets_without_wallet = models.BooleanField(
        default=False,
        help_text="Without a wallet, player-funded (opt-in) jackpots are refused. Tick to record such side bets "
                  "anyway, without debiting anyone: the operator settles them outside this platform.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["operator_id", "code"]
        constraints = [
            # Serves the lookup of "operator:brand" on every gateway request.
            models.UniqueConstraint(fields=["operator", "code"], name="brand_operator_code_unique"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        """The `operator:brand` form used in requests."""
        return f"{self.operator_id}:{self.code}"


class Currency(models.Model):
    """A currency with its multiplier from the system base currency.

    value_in_this_currency = value_in_base * multiplier
    """

    code = models.CharField(primary_key=True, max_length=3, validators=[currency_code_validator])
    name = models.CharField(max_length=100, blank=True)
    exponent = models.PositiveSmallIntegerField(
        help_text="ISO 4217 minor unit: amounts paid or charged are rounded to this many decimals."
    )
    multiplier = RateField(validators=[MinValueValidator(Decimal("0.0000000001"))])
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.code == settings.BASE_CURRENCY and self.multiplier != 1:
            raise ValidationError({"multiplier": f"{self.code} is the base currency: its multiplier must be 1."})


class BrandCurrencyMultiplier(models.Model):
    """A brand's own multiplier for a currency, overriding the system one."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="currency_multipliers")
    currency = models.ForeignKey(Currency, on_delete=models.CASCADE, related_name="+")
    multiplier = RateField(validators=[MinValueValidator(Decimal("0.0000000001"))])
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["brand_id", "currency_id"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "currency"], name="brand_currency_multiplier_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand} {self.currency_id} x{self.multiplier}"

    def clean(self) -> None:
        if self.currency_id == settings.BASE_CURRENCY and self.multiplier != 1:
            raise ValidationError({"multiplier": "The base currency's multiplier is always 1."})


class ServiceAccount(models.Model):
    """An integration account of one operator's backend (the gateway's API user)."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="service_accounts")
    username = models.CharField(max_length=150, unique=True)
    password = models.CharField(max_length=256, editable=False)
    is_active = models.BooleanField(default=True)
    can_configure = models.BooleanField(
        default=False, verbose_name="configuration API",
        help_text="May change its operator's configuration through /v1/config/ (brands, sources, games, "
                  "templates, instances, seed boosts, its brands' currency multipliers).")
    can_feed_system_rates = models.BooleanField(
        default=False, verbose_name="system currency rates",
        help_text="May post the system-wide currency rates (every operator converts with them): "
                  "for the platform's own rates feed only.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False,
        related_name="service_account",
        help_text="Names this account in History (api:<username>); it cannot log in.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_authenticated_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["password", "last_authenticated_at"])

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return f"{self.username} ({self.operator_id})"

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class StaffScope(models.Model):
    """What a staff user may see: every operator, or the listed operators and brands.

    A staff user without a scope sees nothing; superusers see everything.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scope")
    all_operators = models.BooleanField(default=False)
    operators = models.ManyToManyField(Operator, blank=True, related_name="+",
                                       help_text="Every brand of these operators.")
    brands = models.ManyToManyField(Brand, blank=True, related_name="+",
                                    help_text="Single brands (of other operators).")
    history = HistoricalRecords(m2m_fields=[operators, brands])

    def __str__(self) -> str:
        return f"scope of {self.user}"
