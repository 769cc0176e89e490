"""Money: one place that decides precision, conversion and rounding.

* Amounts are `Decimal`; nothing here accepts or produces a float.
* Base-currency amounts, pot values and ledger rows keep `MONEY_DECIMAL_PLACES` (8).
* Amounts paid or charged in a currency are rounded to its ISO 4217 minor unit with an
  explicit rounding mode; whoever rounds books the remainder.
* Multipliers: value_in_X = value_in_base * multiplier[X].
"""

from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal

from babel.numbers import get_currency_precision
from django.conf import settings
from django.db import models

PLACES = Decimal(1).scaleb(-settings.MONEY_DECIMAL_PLACES)  # Decimal("0.00000001")
ZERO = Decimal(0)


class MoneyField(models.DecimalField):
    """A ledger amount: fixed precision from settings."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", settings.MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", settings.MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs


class RateField(models.DecimalField):
    """A currency multiplier or a share (fraction)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", settings.RATE_MAX_DIGITS)
        kwargs.setdefault("decimal_places", settings.RATE_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs


def iso_exponent(code: str) -> int:
    """ISO 4217 minor unit of a currency code (2 when the code is not known)."""
    try:
        return get_currency_precision(code)
    except Exception:  # noqa: BLE001 - babel raises several error types for unknown codes
        return 2


def ledger(amount: Decimal) -> Decimal:
    """Round to ledger precision (8 places), half-even."""
    return amount.quantize(PLACES, rounding=settings.MONEY_ROUNDING)


def ledger_down(amount: Decimal) -> Decimal:
    """Round towards zero at ledger precision: used for shares, the remainder is booked by the caller."""
    return amount.quantize(PLACES, rounding=ROUND_DOWN)


def minor_unit(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


def to_currency(amount: Decimal, exponent: int, rounding: str | None = None) -> Decimal:
    """Round an amount to a currency's minor unit (charges: half-even by default)."""
    return amount.quantize(minor_unit(exponent), rounding=rounding or settings.MONEY_ROUNDING)


def payout(amount: Decimal, exponent: int) -> Decimal:
    """Round a payout down to the minor unit: we never pay a fraction of a cent we do not hold."""
    return amount.quantize(minor_unit(exponent), rounding=ROUND_FLOOR)


def convert(amount: Decimal, from_multiplier: Decimal, to_multiplier: Decimal) -> Decimal:
    """Convert between currencies through the base currency, at ledger precision."""
    if from_multiplier == to_multiplier:
        return amount
    return ledger(amount * to_multiplier / from_multiplier)


def plain(amount: Decimal) -> Decimal:
    """The same value without exponent or trailing zeros, for JSON output (0.1, 0, 12.5)."""
    if amount == 0:
        return Decimal(0)
    normalized = amount.normalize()
    sign, digits, exponent = normalized.as_tuple()
    if exponent > 0:  # 1E+1 -> 10
        return normalized.quantize(Decimal(1))
    return normalized
