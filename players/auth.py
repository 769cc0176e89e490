"""Who is on a player socket. The check is pluggable: `PLAYER_AUTHENTICATORS` lists
functions tried in order; each returns a PlayerPrincipal, None (refused), or raises
NotResponsible to let the next one decide. A token the portal signed is decided locally,
for any brand; any other token of a brand with a wallet goes to the wallet's `auth` (SPEC 3).

Sockets authenticate on a pool of threads of their own (`SOCKET_AUTH_THREADS`), larger than
the wallet calls that may be in flight (`WALLET_AUTH_MAX_CALLS`): a slow wallet never holds
the thread other sockets' connects need, nor Channels' single thread-sensitive thread.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.core import signing
from django.utils.module_loading import import_string

from portal.auth import PLAYER_SALT, PlayerPrincipal
from portal.models import Brand


class NotResponsible(Exception):
    pass


def portal_token(*, brand: Brand, token: str, currency: str) -> PlayerPrincipal | None:
    """Player session tokens the portal issued to a service account (POST /v1/players/token)."""
    try:
        data = signing.loads(token, salt=PLAYER_SALT, max_age=settings.PLAYER_TOKEN_TTL_SECONDS)
    except signing.SignatureExpired:
        return None  # ours, but expired: no one else is asked about it
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise NotResponsible from exc  # not a token the portal signed
    if not isinstance(data, dict) or (data.get("o"), data.get("b")) != (brand.operator_id, brand.code):
        return None  # a token of another brand is a bad token for this one
    return PlayerPrincipal(operator_id=brand.operator_id, brand_code=brand.code, player_id=str(data.get("p")),
                           currency=currency)


def player_authenticate(*, operator_id: str, brand_code: str, token: str, currency: str) -> PlayerPrincipal | None:
    brand = Brand.objects.filter(operator_id=operator_id, code=brand_code, enabled=True,
                                 operator__enabled=True).first()
    if brand is None or not token:
        return None
    for path in settings.PLAYER_AUTHENTICATORS:
        try:
            return import_string(path)(brand=brand, token=token, currency=currency)
        except NotResponsible:
            continue
    return None


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _socket_auth_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.SOCKET_AUTH_THREADS, thread_name_prefix="socket-auth")
        return _executor


async def player_authenticate_async(**kwargs) -> PlayerPrincipal | None:
    """`player_authenticate` from a consumer, on the socket-auth threads."""
    return await database_sync_to_async(player_authenticate, thread_sensitive=False,
                                        executor=_socket_auth_executor())(**kwargs)
