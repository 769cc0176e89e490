"""Public reads (SPEC 2.9): what a casino's front end may call from a browser, without a token.

`public_get(router, path, operators=...)` registers a django-ninja GET operation (and a hidden
OPTIONS one for CORS preflights) wrapped, outermost first, in:

1. **CORS** -- django-cors-headers' `CorsMiddleware` around the operation. It answers the
   preflight and adds the headers; whether the request's `Origin` is allowed is decided by
   our `check_request_enabled` receiver from the allowed origins (admin: Operators) of the
   operator(s) the request names -- `operators(request, **path parameters)` says which
   (None: any operator, for reads that belong to none). Origins are cached per process for
   `CATALOGUE_CACHE_SECONDS`, and dropped at once when an operator is saved here.
2. **A rate limit per client address** (django-ratelimit's counter in the shared cache) on
   every call without a service token: `429 RATE_LIMITED` with `Retry-After`.
3. The operation itself (auth `PublicBearer`: no token is fine, a bad token is still 401).
4. On a 200: `Cache-Control` (public and short for anonymous callers, private otherwise),
   an `ETag`, and `304 Not Modified` for a matching `If-None-Match`.

All of it happens inside the operation rather than in middleware, so the same code runs
under the ASGI server, the in-process ASGI client and the test client, and the origin lookup
(ORM) runs on the view's thread, never on the event loop.
"""

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from corsheaders.middleware import CorsMiddleware
from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    patch_vary_headers,
    set_response_etag,
)
from django.utils.http import is_same_domain
from django_ratelimit.core import get_usage
from ninja.decorators import decorate_view

from portal import jsonutil
from portal.auth import ServiceOrPlayerBearer, service_token_signed
from portal.cache import TTLStore, catalogue_seconds
from portal.errors import DomainError
from portal.models import Operator, origin_entries

RATE_GROUP = "public-read"


@dataclass(frozen=True)
class AnonymousPrincipal:
    """A caller without a token: sees what the world may see, never player data."""

    kind = "anonymous"


ANONYMOUS = AnonymousPrincipal()


class PublicBearer(ServiceOrPlayerBearer):
    """No `Authorization` header: anonymous. A service or player token: as on every read
    endpoint. A bad or expired token is refused (401), never read as anonymous."""

    openapi_description = ("Optional. Without it the answer is public (no player data); a service token "
                           "sees what it always did; a player token from POST /v1/players/token adds the "
                           "player's own view (`player_id`).")

    def __call__(self, request: HttpRequest):
        if "authorization" not in request.headers:
            return ANONYMOUS
        return super().__call__(request)


def is_anonymous(principal) -> bool:
    return isinstance(principal, AnonymousPrincipal)


# --- allowed origins ----------------------------------------------------------------------

_origins = TTLStore(catalogue_seconds)
EVERY_OPERATOR = "*"


def operator_origins(operator_ids: list[str] | None) -> frozenset[str]:
    """The allowed origins of these (enabled) operators; None: of every enabled operator."""
    keys = [EVERY_OPERATOR] if operator_ids is None else operator_ids
    found: set[str] = set()
    for key in keys:
        entries = _origins.get(key)
        if entries is None:
            operators = Operator.objects.filter(enabled=True)
            if key != EVERY_OPERATOR:
                operators = operators.filter(pk=key)
            entries = frozenset(e for text in operators.values_list("allowed_origins", flat=True)
                                for e in origin_entries(text))
            _origins.set(key, entries)
        found |= entries
    return frozenset(found)


def origin_allowed(origin: str, entries: frozenset[str]) -> bool:
    """`origin` is one of `entries`, or under one of its `scheme://*.domain` entries (the
    domain itself and its subdomains, as Django reads CSRF_TRUSTED_ORIGINS)."""
    origin = origin.strip().lower()
    if not origin or origin == "null":
        return False
    if origin in entries:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    for entry in entries:
        scheme, _, netloc = entry.partition("://")
        if netloc.startswith("*.") and scheme == parts.scheme and is_same_domain(parts.netloc, netloc[1:]):
            return True
    return False


@receiver(check_request_enabled, dispatch_uid="portal.public.origin_allowed")
def _origin_allowed(sender, request: HttpRequest, **kwargs) -> bool:
    """django-cors-headers asks this for requests whose origin is in no static list: allowed
    when the operator the public read names lists it."""
    operators = getattr(request, "public_operators", None)
    if operators is None:  # not a public read
        return False
    return origin_allowed(request.headers.get("origin", ""), operator_origins(operators()))


@receiver(post_save, sender=Operator, dispatch_uid="portal.public.operator_saved")
def _operator_saved(sender, instance: Operator, **kwargs) -> None:
    """New origins count at once in this process; others re-read within CATALOGUE_CACHE_SECONDS."""
    _origins.clear()


# --- rate limit, caching ------------------------------------------------------------------


def _service_caller(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and service_token_signed(token.strip())


def _rate_text(rate: str) -> str:
    count, _, period = rate.partition("/")
    units = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
    return f"{count} requests per {units.get(period.lower(), period)}"


def rate_limited(request: HttpRequest) -> HttpResponse | None:
    """`429 RATE_LIMITED` once a client address has made `PUBLIC_READ_RATE` public reads in
    the current window (service tokens are not counted: operators' backends)."""
    if _service_caller(request):
        return None
    usage = get_usage(request, group=RATE_GROUP, key="ip", rate=settings.PUBLIC_READ_RATE, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    retry = max(1, usage["time_left"])
    error = DomainError(
        "RATE_LIMITED", f"Too many requests from this address: the public reads allow "
        f"{_rate_text(settings.PUBLIC_READ_RATE)}; try again in {retry} s")
    response = HttpResponse(jsonutil.dumps(error.as_body()), status=error.status, content_type="application/json")
    response["Retry-After"] = str(retry)
    return response


def cache_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Short public caching for anonymous answers, revalidation for token callers (their
    answer may carry the player's view); an ETag, and 304 when the client has it already.
    An operation that set its own Cache-Control keeps it."""
    if response.status_code != 200:
        return response
    if not response.has_header("Cache-Control"):
        if is_anonymous(getattr(request, "auth", None)):
            patch_cache_control(response, public=True, max_age=settings.PUBLIC_READ_MAX_AGE_SECONDS)
        else:
            patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ("Authorization",))
    set_response_etag(response)
    return get_conditional_response(request, etag=response["ETag"], response=response)


def public_read(operators):
    """Wrap a ninja operation's `run` (see the module docstring)."""

    def decorate(run):
        @wraps(run)
        def wrapped(request: HttpRequest, *args, **kwargs):
            request.public_operators = lambda: operators(request, **kwargs)

            def respond(request: HttpRequest) -> HttpResponse:
                if request.method == "OPTIONS":  # an OPTIONS that is no preflight
                    return HttpResponse(status=204, headers={"Allow": "GET, OPTIONS"})
                return rate_limited(request) or cache_headers(request, run(request, *args, **kwargs))

            return CorsMiddleware(respond)(request)

        return wrapped

    return decorate


PUBLIC_SECURITY = {"security": [{"PublicBearer": []}, {}]}  # OpenAPI: the token is optional


def public_get(router, path: str, *, operators, **kwargs):
    """`router.get(path, ...)` as a public read, plus its hidden OPTIONS (the CORS preflight)."""

    def register(view):
        view = decorate_view(public_read(operators))(view)
        router.get(path, auth=PublicBearer(), openapi_extra=PUBLIC_SECURITY, **kwargs)(view)
        router.api_operation(["OPTIONS"], path, auth=None, include_in_schema=False)(view)
        return view

    return register


def any_operator(request: HttpRequest, **path) -> None:
    """For reads that belong to no operator (the system's currencies): any operator's origins."""
    return None


def brand_operator(request: HttpRequest, *, brand_id: str = "", **path) -> list[str]:
    """The operator of `operator:brand` in the path."""
    return [brand_id.partition(":")[0]]
