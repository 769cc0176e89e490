"""ASGI entry point: HTTP through Django, WebSockets through Channels.

The gateway API (token-authenticated JSON for operators' backends and front ends) goes to a
lean Django handler without the session, CSRF, auth and messages middleware it never uses:
under ASGI each classic middleware costs two thread hops per request. Staff pages, the
admin and the docs keep the full middleware stack.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402

from players.routing import staff_websocket_urlpatterns, token_websocket_urlpatterns  # noqa: E402
from portal.middleware import api_headers  # noqa: E402

GATEWAY_PREFIXES = ("/jackpots/contribute", "/authenticate/", "/v1/", "/health", "/openapi.json")


class GatewayHandler(ASGIHandler):
    """Django's ASGI handler with no middleware chain but the API's headers."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = api_headers(convert_exception_to_response(self._get_response_async))


gateway_app = GatewayHandler()
staff_sockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns)))
token_sockets = URLRouter(token_websocket_urlpatterns)


async def http_router(scope, receive, send):
    app = gateway_app if scope.get("path", "").startswith(GATEWAY_PREFIXES) else django_asgi_app
    return await app(scope, receive, send)


async def websocket_router(scope, receive, send):
    """The staff socket (session cookie) checks Origin against ALLOWED_HOSTS; token sockets
    are called from operators' front ends on their own origins."""
    path = scope.get("path", "").lstrip("/")
    app = staff_sockets if path == "v1/events/staff" else token_sockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": http_router, "websocket": websocket_router})
