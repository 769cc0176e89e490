"""The per-process catalogue cache (portal/cache.py, cachetools): kept for its lifetime, off at 0,
forgotten by `clear_all()` (what a catalogue save calls)."""

from portal.cache import TTLStore, clear_all, ttl_cached


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_lives_for_its_lifetime_then_is_read_again():
    clock = Clock()
    store = TTLStore(lambda: 2.0, timer=clock)

    store.set("brand", "thrilltech:brand1")
    clock.now += 1.9
    kept = store.get("brand")
    clock.now += 0.2

    assert kept == "thrilltech:brand1"
    assert store.get("brand") is None


def test_zero_seconds_keeps_nothing_and_the_setting_counts_at_once():
    seconds = [0.0]
    calls = []

    @ttl_cached(lambda: seconds[0])
    def routes(source_id: str) -> list[str]:
        calls.append(source_id)
        return [source_id]

    routes("casino-sitewide")
    routes("casino-sitewide")
    seconds[0] = 60.0
    routes("casino-sitewide")
    routes("casino-sitewide")

    assert calls == ["casino-sitewide"] * 3  # twice with the cache off, once when it is on


def test_clear_all_forgets_every_cache_of_the_process():
    calls = []

    @ttl_cached(lambda: 60.0)
    def brand(key: str, *, enabled: bool = True) -> str:
        calls.append(key)
        return key

    store = TTLStore(lambda: 60.0)
    store.set("origins", frozenset({"https://casino.example"}))
    brand("thrilltech:brand1")
    brand("thrilltech:brand1")

    clear_all()
    brand("thrilltech:brand1")

    assert calls == ["thrilltech:brand1"] * 2
    assert store.get("origins") is None
