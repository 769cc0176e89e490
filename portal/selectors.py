"""Reads of the portal's own tables that are worth a name."""

from decimal import Decimal

from django.db.models import Max

from portal.cache import catalogue_seconds, ttl_cached
from portal.errors import DomainError
from portal.models import Brand, BrandCurrencyMultiplier, Currency


def split_brand_key(key: str) -> tuple[str, str]:
    """`operator:brand` -> (operator, brand). Format errors are the caller's INVALID_PROPERTY_VALUE."""
    operator_id, _, brand_code = key.partition(":")
    return operator_id, brand_code


@ttl_cached(catalogue_seconds)
def _brand(operator_id: str, brand_code: str) -> Brand | None:
    return Brand.objects.select_related("operator").filter(operator_id=operator_id, code=brand_code).first()


def brand_for_operator(*, brand_key: str, operator_id: str) -> Brand:
    """The enabled brand named by `operator:brand`, for a caller acting for `operator_id`.

    Another operator's brand is FORBIDDEN (403); an unknown or disabled brand is
    UNSUPPORTED_BRAND (400).
    """
    brand_operator, brand_code = split_brand_key(brand_key)
    if brand_operator != operator_id:
        raise DomainError("FORBIDDEN", f"Brand {brand_key} belongs to another operator")
    brand = _brand(brand_operator, brand_code)
    if brand is None or not brand.enabled or not brand.operator.enabled:
        raise DomainError("UNSUPPORTED_BRAND", f"Unknown or disabled brand {brand_key}")
    return brand


def currency_table(brand: Brand | None = None) -> dict[str, tuple[Decimal, int]]:
    """{code: (multiplier, exponent)}: system multipliers with the brand's overrides applied."""
    table = {c.code: (c.multiplier, c.exponent) for c in Currency.objects.all()}
    if brand is not None:
        for override in BrandCurrencyMultiplier.objects.filter(brand=brand):
            if override.currency_id in table:
                table[override.currency_id] = (override.multiplier, table[override.currency_id][1])
    return table


@ttl_cached(catalogue_seconds)
def _rates_of_brand(brand_id: int) -> dict[str, tuple[Decimal, int]]:
    return currency_table(Brand(pk=brand_id))


def currency_rates(*codes: str, brand: Brand) -> dict[str, tuple[Decimal, int]]:
    """Multiplier and exponent of each code, or CURRENCY_MULTIPLIERS_NOT_FOUND naming the missing ones."""
    table = _rates_of_brand(brand.pk)
    missing = sorted(set(codes) - table.keys())
    if missing:
        raise DomainError(
            "CURRENCY_MULTIPLIERS_NOT_FOUND", f"No multiplier for {', '.join(missing)}"
        )
    return {code: table[code] for code in codes}


def currencies_last_updated(brand: Brand | None = None):
    latest = Currency.objects.aggregate(m=Max("updated_at"))["m"]
    if brand is not None:
        override = BrandCurrencyMultiplier.objects.filter(brand=brand).aggregate(m=Max("updated_at"))["m"]
        if override and (latest is None or override > latest):
            latest = override
    return latest

