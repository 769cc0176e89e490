"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Contributions (`POST /jackpots/contribute[/source|/instance]`) go to their own plain ASGI
application (`contributions.gateway`): no Django request handling, no thread per request.
Everything else -- the rest of the gateway API, the public reads, staff pages, the admin, the
docs -- goes through Django's ASGI handler with the one middleware stack of settings.MIDDLEWARE
(a lean stack of its own for the API saved about 1.5 ms of a 6-7 ms public read, not worth a
second request path built on Django's private handler attributes). The ASGI lifespan is the
runtime's (portal/runtime.py: the embedded worker and beat start and stop with the server).
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
from django.http.request import split_domain_port, validate_host  # noqa: E402
from django.utils.http import is_same_domain  # noqa: E402

from contributions import gateway as contribution_gateway  # noqa: E402
from players.routing import staff_websocket_urlpatterns, token_websocket_urlpatterns  # noqa: E402
from portal import runtime  # noqa: E402


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


staff_sockets = TrustedOriginValidator(AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns)))
token_sockets = URLRouter(token_websocket_urlpatterns)


async def http_router(scope, receive, send):
    path = scope.get("path", "")
    if path in contribution_gateway.PATHS and scope.get("method") == "POST":
        return await contribution_gateway.application(scope, receive, send)
    return await django_asgi_app(scope, receive, send)


async def websocket_router(scope, receive, send):
    """The staff socket (session cookie) checks Origin (`trusted_origin`); token sockets are
    called from operators' front ends on their own origins. Any other path is refused with a
    403 (players.routing ends with a catch-all), never a 500."""
    path = scope.get("path", "").lstrip("/")
    app = staff_sockets if path == "v1/events/staff" else token_sockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": http_router, "websocket": websocket_router, "lifespan": runtime.lifespan})
