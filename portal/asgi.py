"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Contributions (`POST /jackpots/contribute[/source|/instance]`) go to their own plain ASGI
application (`contributions.gateway`): no Django request handling, no thread per request. The
rest of the gateway API (token-authenticated JSON for operators' backends and front ends) goes to a
lean Django handler without the session, CSRF, auth and messages middleware it never uses:
under ASGI each classic middleware costs two thread hops per request. Staff pages, the
admin and the docs keep the full middleware stack.
"""

import os
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402
from django.utils.http import is_same_domain  # noqa: E402

from contributions import gateway as contribution_gateway  # noqa: E402
from players.routing import staff_websocket_urlpatterns, token_websocket_urlpatterns  # noqa: E402
from portal.metrics import gateway_metrics  # noqa: E402
from portal.middleware import api_headers  # noqa: E402

GATEWAY_PREFIXES = ("/jackpots/contribute", "/authenticate/", "/v1/", "/health", "/openapi.json")


class GatewayHandler(ASGIHandler):
    """Django's ASGI handler with no middleware chain but the API's headers and the metrics."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = gateway_metrics(api_headers(convert_exception_to_response(self._get_response_async)))


def trusted_origin(scope) -> bool:
    """Whether a staff socket's Origin is one the portal trusts. The socket rides on the
    session cookie, so any page a logged-in user visits could otherwise open it (cross-site
    WebSocket hijacking). Trusted, as for Django's CSRF check: an origin listed in
    CSRF_TRUSTED_ORIGINS (`https://*.example.com` for subdomains), or the request's own
    scheme://host when that host is in ALLOWED_HOSTS -- never with ALLOWED_HOSTS '*', which
    trusts any Host header, so that setup must list its origins. No Origin, `null` or any
    other origin is refused."""
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin or origin == "null":
        return False
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for entry in trusted:
        scheme, _, netloc = entry.partition("://")
        if netloc.startswith("*.") and scheme == parsed.scheme and is_same_domain(parsed.netloc, netloc[1:]):
            return True
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _ = split_domain_port(host)
    if not domain or "*" in settings.ALLOWED_HOSTS or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    secure = scope.get("scheme") in ("wss", "https")
    return origin == f"{'https' if secure else 'http'}://{host}"


deny_socket = WebsocketDenier.as_asgi()  # closes before accepting: the client sees HTTP 403


class TrustedOriginValidator:
    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        app = self.application if trusted_origin(scope) else deny_socket
        return await app(scope, receive, send)


gateway_app = GatewayHandler()
staff_sockets = TrustedOriginValidator(AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns)))
token_sockets = URLRouter(token_websocket_urlpatterns)


async def http_router(scope, receive, send):
    path = scope.get("path", "")
    if path in contribution_gateway.PATHS and scope.get("method") == "POST":
        return await contribution_gateway.application(scope, receive, send)
    app = gateway_app if path.startswith(GATEWAY_PREFIXES) else django_asgi_app
    return await app(scope, receive, send)


async def websocket_router(scope, receive, send):
    """The staff socket (session cookie) checks Origin (`trusted_origin`); token sockets are
    called from operators' front ends on their own origins. Any other path is refused with a
    403 (players.routing ends with a catch-all), never a 500."""
    path = scope.get("path", "").lstrip("/")
    app = staff_sockets if path == "v1/events/staff" else token_sockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": http_router, "websocket": websocket_router})
