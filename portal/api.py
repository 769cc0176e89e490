"""The HTTP API: one NinjaAPI for the gateway and the read endpoints, its OpenAPI document
(`/openapi.json`) and browsable docs (`/docs`), and the one place where errors become the
spec's body `{"status_code", "code", "message"}`."""

import logging
from functools import wraps

import redis
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpResponse
from ninja import NinjaAPI, Query, Schema, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from portal import jsonutil
from portal.auth import PlayerPrincipal, brand_in_scope, service_authenticate
from portal.errors import DomainError, refusal_log
from portal.money import plain
from portal.public import is_anonymous, public_get
from portal.selectors import brand_for_operator, currencies_last_updated, currency_table
from portal.throttle import service_login_guard
from portal.validation import storable

logger = logging.getLogger(__name__)


def json_response(body: str | dict | list, status: int = 200, headers: dict | None = None) -> HttpResponse:
    text = body if isinstance(body, str) else jsonutil.dumps(body)
    response = HttpResponse(text, status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_response(error: DomainError) -> HttpResponse:
    response = json_response(error.as_body(), status=error.status)
    if error.status < 500:
        # Logged at INFO instead of django.request's WARNING "Bad Request", which Django skips
        # for a response marked as logged. 5xx still log as errors.
        refusal_log(error)
        response._has_been_logged = True
    return response


class ErrorOut(Schema):
    status_code: int
    code: str
    message: str


class CredentialsIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str


class StrictParser(jsonutil.NinjaParser):
    """Bodies read by jsonutil's rules, and any text PostgreSQL cannot store (NUL) refused with
    INVALID_PROPERTY_VALUE before a view runs a query."""

    def parse_body(self, request):
        data = super().parse_body(request)
        storable(data, "body")
        return data


def _storable_parameters(run):
    """Path and query parameters get the same check, on every operation, before auth and
    before any query (a NUL in an owner or brand id would otherwise be a DB_ERROR 500)."""

    def refused(request, kw) -> HttpResponse | None:
        try:
            storable(kw, "a path parameter")
            storable(list(request.GET.lists()), "a query parameter")
        except DomainError as error:
            return error_response(error)
        return None

    if iscoroutinefunction(run):
        @wraps(run)
        async def checked_async(request, *args, **kw):
            return refused(request, kw) or await run(request, *args, **kw)

        return checked_async

    @wraps(run)
    def checked(request, *args, **kw):
        return refused(request, kw) or run(request, *args, **kw)

    return checked


class PortalDocs(Swagger):
    """Swagger UI from django-ninja's bundled assets (no CDN) under a bar linking the
    WebSocket API's AsyncAPI document (templates/portal/api_docs.html)."""

    template = "portal/api_docs.html"


api = NinjaAPI(
    title="Jackpot portal API",
    version="1.0",
    description=(
        "Gateway for operators' backends: authenticate a service account, contribute to jackpots "
        "(synchronously, or asynchronously with a webhook), and read instances, sources and currencies. "
        "Every error has the body {status_code, code, message}.\n\n"
        "The WebSocket API (live values, wins, opt-ins) is described by an AsyncAPI document: "
        "[/asyncapi.json](/asyncapi.json), readable at [/docs/websockets/](/docs/websockets/)."
    ),
    urls_namespace="api",
    docs_url="/docs",
    docs=PortalDocs(),
    openapi_url="/openapi.json",
    parser=StrictParser(),
)
api.add_decorator(_storable_parameters, mode="view")


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return error_response(exc)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(DomainError("UNAUTHORIZED", "Missing, invalid or expired token", status=401))


@api.exception_handler(AuthorizationError)
def _forbidden(request, exc):
    return error_response(DomainError("FORBIDDEN", str(exc.message), status=403))


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    parts = []
    for error in exc.errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "payload"))
        parts.append(f"{loc} {error.get('msg', 'is invalid')}".strip())
    return error_response(DomainError("INVALID_STRUCTURE", "; ".join(parts) or "Invalid request", status=400))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, DomainError):  # raised while parsing the body (StrictParser)
        return error_response(exc.__cause__)
    if isinstance(exc.__cause__, jsonutil.NonFiniteNumber):
        return error_response(DomainError("INVALID_PROPERTY_VALUE", f"{exc.__cause__} is not a number we accept"))
    if isinstance(exc.__cause__, jsonutil.JSONDecodeError):
        return error_response(DomainError("INVALID_STRUCTURE", f"Body is not valid JSON: {exc.__cause__}"))
    code = {400: "INVALID_STRUCTURE", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(
        exc.status_code, "SYSTEM_ERROR"
    )
    return error_response(DomainError(code, str(exc.message), status=exc.status_code))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(DomainError("INVALID_PROPERTY_VALUE", "Body too large", status=400))


@api.exception_handler(DatabaseError)
def _database_error(request, exc):
    logger.exception("database error on %s", request.path)
    return error_response(DomainError("DB_ERROR", "A database error occurred; nothing was recorded", status=500))


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("unexpected error on %s", request.path)
    return error_response(DomainError("SYSTEM_ERROR", "An unexpected error occurred", status=500))


@api.post(
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


@public_get(api, "/v1/currencies", operators=_currency_operators, tags=["currencies"],
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
        "last_updated": int(latest.timestamp() * 1000) if latest else None,
        "base_currency": settings.BASE_CURRENCY,
        "multipliers": {code: plain(multiplier) for code, (multiplier, _) in sorted(table.items())},
    })


@api.get("/health", auth=None, tags=["system"], summary="Liveness and dependencies")
def health(request):
    checks = {"database": "ok", "redis": "not configured"}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        checks["database"] = "unavailable"
        status = 503
    if settings.REDIS_URL:
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
            checks["redis"] = "ok"
        except redis.RedisError:
            checks["redis"] = "unavailable"
            status = 503
    return json_response({"status": "ok" if status == 200 else "degraded", "version": api.version, **checks},
                         status=status)


def register_routers() -> None:
    from contributions.api import router as contributions_router
    from contributions.api_v2 import router as contributions_v2_router
    from contributions.report_api import router as reports_router
    from players.api import router as players_router
    from sources.api import router as sources_router
    from sources.config_api import router as config_router

    api.add_router("", contributions_router)
    api.add_router("", contributions_v2_router)
    api.add_router("", sources_router)
    api.add_router("", config_router)
    api.add_router("", players_router)
    api.add_router("", reports_router)


register_routers()
