"""The hot path's catalogue reads, kept a short while in each process (cachetools).

Brands, routes, instance configuration and currency rates are read on every contribution
and change rarely; each web or worker process keeps them for `CATALOGUE_CACHE_SECONDS`
(2 s by default, 0 turns the cache off). What must be exact is never taken from here: the
instance's state and raffle period are read again inside the contribution's transaction.

A cache's lifetime is read when a value is stored (so a changed setting counts at once, and
0 stores nothing: cachetools' `TLRUCache` keeps no value that is already expired);
`clear_all()` empties every cache of this process (a catalogue save, sources/apps.py).
"""

import threading
import time
from collections.abc import Callable

import cachetools
from django.conf import settings

MAX_ENTRIES = 10_000  # per cache; the least recently used go first (the catalogue is small)

_registry_lock = threading.Lock()
_caches: list[tuple[cachetools.Cache, threading.Lock]] = []


class TTLStore:
    """Values kept for `seconds()` seconds in this process (0: nothing is kept); thread-safe."""

    def __init__(self, seconds: Callable[[], float], *, timer: Callable[[], float] = time.monotonic) -> None:
        self.cache = cachetools.TLRUCache(maxsize=MAX_ENTRIES, ttu=lambda _key, _value, now: now + seconds(),
                                          timer=timer)
        self.lock = threading.Lock()
        with _registry_lock:
            _caches.append((self.cache, self.lock))

    def get(self, key):
        with self.lock:
            return self.cache.get(key)

    def set(self, key, value) -> None:
        with self.lock:
            self.cache[key] = value

    def forget(self, key) -> None:
        with self.lock:
            self.cache.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.cache.clear()


def ttl_cached(seconds: Callable[[], float]):
    """Cache a function's results by its (hashable) arguments for `seconds()` seconds
    (`cachetools.cached`; exceptions are not cached). `function.cache_clear()` forgets them."""

    def decorate(function):
        store = TTLStore(seconds)
        return cachetools.cached(store.cache, lock=store.lock)(function)

    return decorate


def catalogue_seconds() -> float:
    return settings.CATALOGUE_CACHE_SECONDS


def clear_all() -> None:
    with _registry_lock:
        caches = list(_caches)
    for cache, lock in caches:
        with lock:
            cache.clear()
