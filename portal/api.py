"""The portal's own operations: a service account's token (`/authenticate/service`), the
currency table (`/v1/currencies`) and `/health`. A router like every app's; the glue
(`portal/api_glue.py`) mounts it."""

from django.conf import settings
from django.db import DatabaseError, connection
from ninja import Query, Router, Schema

from portal import runtime
from portal.auth import PlayerPrincipal, brand_in_scope, service_authenticate
from portal.clock import epoch_ms
from portal.http import ErrorOut, json_response
from portal.money import plain
from portal.public import is_anonymous, public_get
from portal.selectors import brand_for_operator, currencies_last_updated, currency_table
from portal.throttle import service_login_guard

API_VERSION = "1.0"

router = Router()


class CredentialsIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str


@router.post(
    "/authenticate/service",
    response={200: TokenOut, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    tags=["auth"],
    summary="Exchange a service account's credentials for a bearer token",
)
def authenticate_service(request, credentials: CredentialsIn):
    """Tokens expire after `SERVICE_TOKEN_TTL_SECONDS` (default 1800 s). Repeated failures from
    one address answer 429 `RATE_LIMITED` for a cool-off period (portal/throttle.py)."""
    with service_login_guard(request, credentials.username):
        return {"token": service_authenticate(username=credentials.username, password=credentials.password)}


class CurrenciesOut(Schema):
    last_updated: int | None
    base_currency: str
    multipliers: dict[str, float]


class CurrencyQuery(Schema):
    brand_id: str | None = None


def _currency_operators(request, **path) -> list[str] | None:
    """CORS: the brand's operator's origins, or any operator's for the system table."""
    brand_key = request.GET.get("brand_id")
    return [brand_key.partition(":")[0]] if brand_key else None


@public_get(router, "/v1/currencies", operators=_currency_operators, tags=["currencies"],
            response={200: CurrenciesOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
            summary="Multipliers from the base currency (with the brand's overrides when brand_id is given)",
            description="Public: no token needed (a casino's front end converts pot values with it); cached for a "
                        "few seconds (Cache-Control, ETag), limited per client address (429 RATE_LIMITED), CORS "
                        "for the operators' allowed origins. A service token may name only its own brands, as "
                        "before; a player token reads its own brand's table.")
def currencies(request, filters: Query[CurrencyQuery]):
    principal = request.auth
    if is_anonymous(principal):
        brand_key = filters.brand_id
        brand = brand_for_operator(brand_key=brand_key, operator_id=brand_key.partition(":")[0]) if brand_key else None
    else:
        brand_key = filters.brand_id or (principal.brand_key if isinstance(principal, PlayerPrincipal) else None)
        brand = brand_in_scope(principal, brand_key) if brand_key else None
    table = currency_table(brand)
    latest = currencies_last_updated(brand)
    return json_response({
        "last_updated": epoch_ms(latest),
        "base_currency": settings.BASE_CURRENCY,
        "multipliers": {code: plain(multiplier) for code, (multiplier, _) in sorted(table.items())},
    })


@router.get("/health", auth=None, tags=["system"], summary="Liveness and dependencies")
def health(request):
    checks = {"database": "ok", "redis": runtime.redis_health()}  # "not configured" in the embedded runtime
    status = 503 if checks["redis"] == "unavailable" else 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        checks["database"] = "unavailable"
        status = 503
    return json_response({"status": "ok" if status == 200 else "degraded", "version": API_VERSION, **checks},
                         status=status)
