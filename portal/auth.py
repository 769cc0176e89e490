"""Tokens for machines: service accounts (operators' backends) and players.

Both are signed with the project's secret (django.core.signing), carry their expiry, and
need no database read to verify. A service token also carries a mark of the account's
password hash; the account's current mark (empty when it is disabled, or its operator is)
is re-read through a short in-process cache, so a password reset or a deactivation ends
every token issued before it within `ACTIVE_CACHE_SECONDS`.
"""

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signing
from django.db import close_old_connections, connection
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from ninja.security import HttpBearer

from portal.cache import TTLStore
from portal.errors import DomainError
from portal.models import Brand, ServiceAccount

SERVICE_SALT = "portal.service-token"
PLAYER_SALT = "portal.player-token"
ACTIVE_CACHE_SECONDS = 10


@dataclass(frozen=True)
class ServicePrincipal:
    account_id: int
    username: str
    operator_id: str
    kind = "service"


@dataclass(frozen=True)
class PlayerPrincipal:
    operator_id: str
    brand_code: str
    player_id: str
    currency: str = ""
    country: str = ""
    kind = "player"

    @property
    def brand_key(self) -> str:
        return f"{self.operator_id}:{self.brand_code}"


@dataclass(frozen=True)
class StaffPrincipal:
    """A portal user on the staff socket; permissions and scope are re-read per request."""

    user_id: int
    username: str
    kind = "staff"


def unauthorized(message: str = "Missing, invalid or expired token") -> DomainError:
    return DomainError("UNAUTHORIZED", message)


def forbidden(message: str) -> DomainError:
    return DomainError("FORBIDDEN", message)


def service_authenticate(*, username: str, password: str) -> str:
    """Check a service account's password and issue a token (SPEC 2.1)."""
    account = ServiceAccount.objects.select_related("operator").filter(username=username).first()
    if account is None:
        # Same work as a real check, so timing does not reveal which usernames exist.
        ServiceAccount(password="").check_password(password)
        raise unauthorized("Invalid username or password")
    if not account.check_password(password) or not account.is_active or not account.operator.enabled:
        raise unauthorized("Invalid username or password")
    ServiceAccount.objects.filter(pk=account.pk).update(last_authenticated_at=timezone.now())
    return signing.dumps({"a": account.pk, "u": account.username, "o": account.operator_id,
                          "p": password_mark(account.password)}, salt=SERVICE_SALT)


def password_mark(password_hash: str) -> str:
    """A short keyed digest of the account's password hash: changes with every new password,
    and tells a reader of the (signed, not encrypted) token nothing about the hash."""
    return salted_hmac(SERVICE_SALT, password_hash).hexdigest()[:20]


def _service_principal(token: str) -> tuple[ServicePrincipal, str]:
    """The signed part of the check: pure computation, no I/O. Returns the password mark too."""
    try:
        data = signing.loads(token, salt=SERVICE_SALT, max_age=settings.SERVICE_TOKEN_TTL_SECONDS)
        principal = ServicePrincipal(account_id=data["a"], username=data["u"], operator_id=data["o"])
        mark = data["p"]
    except signing.SignatureExpired as exc:
        raise unauthorized("Token expired") from exc
    except (signing.BadSignature, ValueError, TypeError, KeyError) as exc:
        raise unauthorized() from exc
    return principal, mark


def service_token_signed(token: str) -> bool:
    """Whether `token` is an unexpired service token this portal signed: the signature alone,
    no I/O (the public reads' rate limit leaves operators' backends alone with it)."""
    try:
        _service_principal(token)
    except DomainError:
        return False
    return True


def _check_mark(current: str, mark: str) -> None:
    if not current:
        raise unauthorized("Service account disabled")
    if not constant_time_compare(current, mark):
        raise unauthorized("Token issued before the account's password changed")


def service_verify(token: str) -> ServicePrincipal:
    principal, mark = _service_principal(token)
    _check_mark(_account_mark(principal.account_id), mark)
    return principal


async def service_verify_async(token: str) -> ServicePrincipal:
    """The same check from async code: the database is asked only when the short cache misses."""
    principal, mark = _service_principal(token)
    current = _account_marks.get(principal.account_id)
    if current is None:
        current = await sync_to_async(_account_mark_pooled)(principal.account_id)
    _check_mark(current, mark)
    return principal


def _account_mark_pooled(account_id: int) -> str:
    """`_account_mark` from async code: the connection goes back to the pool afterwards, or the
    thread would keep one of the pool's connections for good (unless the caller's thread is
    inside a transaction, e.g. a synchronous caller's)."""
    try:
        return _account_mark(account_id)
    finally:
        if not connection.in_atomic_block:
            close_old_connections()


def _active_seconds() -> float:
    return ACTIVE_CACHE_SECONDS if settings.CATALOGUE_CACHE_SECONDS > 0 else 0.0


_account_marks = TTLStore(_active_seconds)


def _account_mark(account_id: int) -> str:
    """The mark of the account's current password, or "" when it may not authenticate."""
    current = _account_marks.get(account_id)
    if current is None:
        password = (ServiceAccount.objects.filter(pk=account_id, is_active=True, operator__enabled=True)
                    .values_list("password", flat=True).first())
        current = password_mark(password) if password else ""
        _account_marks.set(account_id, current)
    return current


@receiver(post_save, sender=ServiceAccount, dispatch_uid="portal.auth.service_account_saved")
def _service_account_saved(sender, instance: ServiceAccount, **kwargs) -> None:
    """A saved account (new password, deactivated) is re-read at once by this process; other
    processes re-read it within ACTIVE_CACHE_SECONDS."""
    _account_marks.forget(instance.pk)


def player_token_issue(*, brand: Brand, player_id: str) -> str:
    """A player session token for brands without a wallet (`POST /v1/players/token`)."""
    return signing.dumps({"o": brand.operator_id, "b": brand.code, "p": player_id}, salt=PLAYER_SALT)


def player_token_verify(token: str) -> PlayerPrincipal:
    try:
        data = signing.loads(token, salt=PLAYER_SALT, max_age=settings.PLAYER_TOKEN_TTL_SECONDS)
    except signing.SignatureExpired as exc:
        raise unauthorized("Player token expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise unauthorized("Invalid player token") from exc
    return PlayerPrincipal(operator_id=data["o"], brand_code=data["b"], player_id=data["p"])


def brand_in_scope(principal: ServicePrincipal | PlayerPrincipal, brand_key: str) -> Brand:
    """The enabled brand `operator:brand` if the principal may act for it (else 403/400)."""
    operator_id, _, brand_code = brand_key.partition(":")
    if operator_id != principal.operator_id:
        raise forbidden(f"Brand {brand_key} belongs to another operator")
    if isinstance(principal, PlayerPrincipal) and brand_code != principal.brand_code:
        raise forbidden(f"A player of {principal.brand_key} cannot act for brand {brand_key}")
    brand = Brand.objects.filter(operator_id=operator_id, code=brand_code, enabled=True).first()
    if brand is None:
        raise DomainError("UNSUPPORTED_BRAND", f"Unknown or disabled brand {brand_key}")
    return brand


class ServiceBearer(HttpBearer):
    """`Authorization: Bearer <service token>` on gateway endpoints."""

    openapi_description = "A service token from POST /authenticate/service."

    def authenticate(self, request, token: str) -> ServicePrincipal:
        return service_verify(token)


class AsyncServiceBearer(ServiceBearer):
    """The service bearer for async endpoints (the contribution gateway)."""

    is_async = True

    async def authenticate(self, request, token: str) -> ServicePrincipal:
        return await service_verify_async(token)


class ServiceOrPlayerBearer(HttpBearer):
    """Read endpoints accept a service token or a player token (scoped to the player's brand)."""

    openapi_description = "A service token, or a player token from POST /v1/players/token."

    def authenticate(self, request, token: str) -> ServicePrincipal | PlayerPrincipal:
        try:
            return service_verify(token)
        except DomainError:
            return player_token_verify(token)
