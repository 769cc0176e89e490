"""Writes to the portal's own tables."""

from django.db import transaction
from django.utils import timezone

from portal.models import Operator, ServiceAccount, new_webhook_secret


@transaction.atomic
def service_account_save(*, operator: Operator, username: str, password: str) -> tuple[ServiceAccount, bool]:
    """Create the account, or set a new password on an existing one of the same operator."""
    account = ServiceAccount.objects.select_for_update().filter(username=username).first()
    created = account is None
    if created:
        account = ServiceAccount(operator=operator, username=username)
    elif account.operator_id != operator.pk:
        return account, False
    account.set_password(password)
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
