"""Middleware of our own."""

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


@sync_and_async_middleware
def static_files(get_response):
    """WhiteNoise for /static/, without making the chain sync.

    WhiteNoise's middleware is sync-only; under ASGI that makes Django wrap everything
    inside it in async_to_sync -- a new event loop and two thread hops on every request,
    static or not. Here WhiteNoise only looks at static paths (an in-memory lookup) and every
    other request goes straight on, sync or async as the chain is.
    """
    whitenoise = WhiteNoiseMiddleware(get_response)
    prefix = "/" + settings.STATIC_URL.lstrip("/")

    def static_response(request):
        if not request.path_info.startswith(prefix):
            return None
        if whitenoise.autorefresh:
            static_file = whitenoise.find_file(request.path_info)
        else:
            static_file = whitenoise.files.get(request.path_info)
        return whitenoise.serve(static_file, request) if static_file is not None else None

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return static_response(request) or await get_response(request)

    else:

        def middleware(request):
            return static_response(request) or get_response(request)

    return middleware


def api_headers(get_response):
    """The headers SecurityMiddleware would add to a JSON answer, without a thread hop."""

    async def middleware(request):
        response = await get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        hsts = getattr(settings, "SECURE_HSTS_SECONDS", 0)
        if hsts and request.is_secure():
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains; preload")
        return response

    return middleware
