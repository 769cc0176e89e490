"""Writes to the portal's own tables."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.errors import invalid_configuration, validation_messages
from portal.models import (
    Brand,
    BrandCurrencyMultiplier,
    Currency,
    Operator,
    ServiceAccount,
    new_webhook_secret,
)
from portal.money import iso_exponent


@transaction.atomic
def service_account_save(*, operator: Operator, username: str, password: str,
                         can_configure: bool | None = None) -> tuple[ServiceAccount, bool]:
    """Create the account, or set a new password on an existing one of the same operator
    (and grant or withdraw the configuration permission when `can_configure` is given)."""
    account = ServiceAccount.objects.select_for_update().filter(username=username).first()
    created = account is None
    if created:
        account = ServiceAccount(operator=operator, username=username)
    elif account.operator_id != operator.pk:
        return account, False
    account.set_password(password)
    if can_configure is not None:
        account.can_configure = can_configure
    account.save()
    return account, created


@transaction.atomic
def operator_rotate_webhook_secret(*, operator: Operator, actor, via: str = "") -> str:
    """A new webhook secret; the old one keeps signing (alongside) for a grace period.
    `via` names where it was done when no user did it (a management command)."""
    operator = Operator.objects.select_for_update().get(pk=operator.pk)
    operator.webhook_secret_previous = operator.webhook_secret
    operator.webhook_secret = new_webhook_secret()
    operator.webhook_secret_rotated_at = timezone.now()
    operator._history_user = actor
    operator._change_reason = f"webhook secret rotated ({via})" if via else "webhook secret rotated"
    operator.save(update_fields=["webhook_secret", "webhook_secret_previous", "webhook_secret_rotated_at"])
    return operator.webhook_secret


# --- configuration writes (the admin and the configuration API) ---------------------------


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def checked_save(obj, *, actor, reason: str = "") -> None:
    """Save a configuration object after the checks its admin form makes (`full_clean`: field
    rules, the model's `clean`, unique constraints), refused as INVALID_CONFIGURATION with the
    admin's words. History names `actor`, set on the object as simple-history documents for
    changes made outside a request its middleware saw (the configuration API's)."""
    try:
        obj.full_clean()
    except ValidationError as error:
        raise invalid_configuration(error) from error
    obj._history_user = _user(actor)
    obj._change_reason = reason or None
    obj.save()


def checked_delete(obj, *, actor, reason: str = "") -> None:
    obj._history_user = _user(actor)
    obj._change_reason = reason or None
    obj.delete()


def service_account_user(account: ServiceAccount):
    """The user that names a service account in History, `api:<username>` (a name no staff
    login can take: usernames have no colon). Made on first use; inactive and without a
    usable password, so nobody can log in as it."""
    if account.user_id:
        return account.user
    with transaction.atomic():
        locked = ServiceAccount.objects.select_for_update().get(pk=account.pk)
        if locked.user_id is None:
            User = get_user_model()
            username = f"api:{account.username}"[:150]
            if User.objects.filter(username=username).exists():
                username = f"api:{account.pk}:{account.username}"[:150]
            user = User(username=username, is_active=False, last_name=f"service account of {account.operator_id}")
            user.set_unusable_password()
            user.save()
            ServiceAccount.objects.filter(pk=account.pk).update(user=user)  # bookkeeping, not a change to audit
            locked.user = user
    account.user = locked.user
    return account.user


@transaction.atomic
def brand_save(*, brand: Brand, actor) -> Brand:
    checked_save(brand, actor=actor)
    return brand


@transaction.atomic
def currency_rates_set(*, rates: dict[str, Decimal | None], brand: Brand | None, actor,
                       reason: str = "rates feed") -> dict[str, int]:
    """Multipliers from the base currency, as a rates feed posts them: the system's (`brand`
    None; a new ISO code is added with its ISO 4217 exponent) or a brand's own overrides (None
    removes an override). All or nothing; an unchanged rate writes nothing (a feed may post
    the same table every minute); History names `actor`."""
    errors: dict[str, list[str]] = {}
    updated = removed = 0
    for code, rate in sorted(rates.items()):
        try:
            if brand is None:
                updated += _system_rate_set(code, rate, actor=actor, reason=reason)
            else:
                changed = _brand_rate_set(brand, code, rate, actor=actor, reason=reason)
                updated += changed == "updated"
                removed += changed == "removed"
        except ValidationError as error:
            errors[f"rates.{code}"] = validation_messages(error)
    if errors:
        raise invalid_configuration(ValidationError(errors))
    return {"updated": updated, "removed": removed, "unchanged": len(rates) - updated - removed}


def _system_rate_set(code: str, rate: Decimal | None, *, actor, reason: str) -> bool:
    if rate is None:
        raise ValidationError("The system rate of a currency cannot be removed.")
    currency = Currency.objects.select_for_update().filter(code=code).first()
    if currency is None:
        currency = Currency(code=code, exponent=iso_exponent(code))
    elif currency.multiplier == rate:
        return False
    currency.multiplier = rate
    currency.full_clean()  # the refusal goes to the caller, which collects every code's
    checked_save(currency, actor=actor, reason=reason)
    return True


def _brand_rate_set(brand: Brand, code: str, rate: Decimal | None, *, actor, reason: str) -> str:
    override = BrandCurrencyMultiplier.objects.select_for_update().filter(brand=brand, currency_id=code).first()
    if rate is None:
        if override is None:
            return "unchanged"
        checked_delete(override, actor=actor, reason=reason)
        return "removed"
    if not Currency.objects.filter(code=code).exists():
        raise ValidationError(f"Unknown currency {code}: the system rates name it first.")
    if override is not None and override.multiplier == rate:
        return "unchanged"
    override = override or BrandCurrencyMultiplier(brand=brand, currency_id=code)
    override.multiplier = rate
    override.full_clean()
    checked_save(override, actor=actor, reason=reason)
    return "updated"
