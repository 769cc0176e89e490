"""A small in-process TTL cache for the hot path's catalogue reads.

Brands, routes, instance configuration and currency rates are read on every contribution
and change rarely; each web or worker process keeps them for `CATALOGUE_CACHE_SECONDS`
(2 s by default, 0 turns the cache off). What must be exact is never taken from here: the
instance's state and raffle period are read again inside the contribution's transaction.
"""

import threading
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings

_lock = threading.Lock()
_stores: list[dict] = []


class TTLStore:
    """Values kept for `seconds()` seconds in this process (0: nothing is kept)."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        self.seconds = seconds
        self.values: dict = {}
        with _lock:
            _stores.append(self.values)

    def get(self, key):
        hit = self.values.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def set(self, key, value) -> None:
        ttl = self.seconds()
        if ttl <= 0:
            return
        if len(self.values) > 10_000:  # a bound, not an LRU: the catalogue is small
            self.values.clear()
        self.values[key] = (time.monotonic() + ttl, value)


def ttl_cached(seconds: Callable[[], float]):
    """Cache a function's results by its (hashable) arguments for `seconds()` seconds.
    Exceptions are not cached."""

    def decorate(function):
        store = TTLStore(seconds)

        @wraps(function)
        def wrapper(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            value = store.get(key)
            if value is None:
                value = function(*args, **kwargs)
                store.set(key, value)
            return value

        wrapper.cache_clear = store.values.clear
        return wrapper

    return decorate


def catalogue_seconds() -> float:
    return settings.CATALOGUE_CACHE_SECONDS


def clear_all() -> None:
    with _lock:
        for store in _stores:
            store.clear()
