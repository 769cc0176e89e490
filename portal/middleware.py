"""Middleware of our own."""

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


def _not_static(request) -> None:
    return None


@sync_and_async_middleware
def static_files(get_response):
    """WhiteNoise for /static/, without making the chain sync.

    WhiteNoise's middleware is sync-only; under ASGI that makes Django wrap everything
    inside it in async_to_sync -- a new event loop and two thread hops on every request,
    static or not. Here WhiteNoise's own middleware answers the static paths, called the way
    Django calls any middleware (public API only): its next step answers None ("not one of
    mine"), and every other request goes straight on, sync or async as the chain is.
    """
    whitenoise = WhiteNoiseMiddleware(_not_static)
    prefix = "/" + settings.STATIC_URL.lstrip("/")

    def static_response(request):
        return whitenoise(request) if request.path_info.startswith(prefix) else None

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return static_response(request) or await get_response(request)

    else:

        def middleware(request):
            return static_response(request) or get_response(request)

    return middleware
