"""Tokens for machines: service accounts (operators' backends) and players.

Both are signed with the project's secret (django.core.signing), carry their expiry, and
need no database read to verify. A service account's active flag is re-checked through a
short in-process cache, so disabling an account locks it out within `ACTIVE_CACHE_SECONDS`.
"""

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signing
from django.utils import timezone
from ninja.security import HttpBearer

from portal.cache import TTLStore
from portal.errors import DomainError
from portal.models import Brand, ServiceAccount

SERVICE_SALT = "portal.service-token"
PLAYER_SALT = "portal.player-token"
ACTIVE_CACHE_SECONDS = 30


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
    return DomainError("UNAUTHORIZED", message, status=401)


def forbidden(message: str) -> DomainError:
    return DomainError("FORBIDDEN", message, status=403)


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
    return signing.dumps({"a": account.pk, "u": account.username, "o": account.operator_id}, salt=SERVICE_SALT)


def _service_principal(token: str) -> ServicePrincipal:
    """The signed part of the check: pure computation, no I/O."""
    try:
        data = signing.loads(token, salt=SERVICE_SALT, max_age=settings.SERVICE_TOKEN_TTL_SECONDS)
    except signing.SignatureExpired as exc:
        raise unauthorized("Token expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise unauthorized() from exc
    return ServicePrincipal(account_id=data["a"], username=data["u"], operator_id=data["o"])


def service_verify(token: str) -> ServicePrincipal:
    principal = _service_principal(token)
    if not _account_active(principal.account_id):
        raise unauthorized("Service account disabled")
    return principal


async def service_verify_async(token: str) -> ServicePrincipal:
    """The same check from async code: the database is asked only when the short cache misses."""
    principal = _service_principal(token)
    active = _active_accounts.get(principal.account_id)
    if active is None:
        active = await sync_to_async(_account_active, thread_sensitive=not settings.GATEWAY_POOLED_THREADS)(
            principal.account_id)
    if not active:
        raise unauthorized("Service account disabled")
    return principal


def _active_seconds() -> float:
    return ACTIVE_CACHE_SECONDS if settings.CATALOGUE_CACHE_SECONDS > 0 else 0.0


_active_accounts = TTLStore(_active_seconds)


def _account_active(account_id: int) -> bool:
    active = _active_accounts.get(account_id)
    if active is None:
        active = ServiceAccount.objects.filter(pk=account_id, is_active=True, operator__enabled=True).exists()
        _active_accounts.set(account_id, active)
    return active


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
        raise DomainError("UNSUPPORTED_BRAND", f"Unknown or disabled brand {brand_key}", status=400)
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
