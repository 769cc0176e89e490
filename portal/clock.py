"""The clock: "now" for everything whose outcome depends on the time of day -- schedules and
windows, must-drop times and deadlines, the time a contribution is recorded at.

Production reads `django.utils.timezone.now()`; tests set the time with `use_clock(...)`
instead of waiting for it or relying on when they run (as `sources.mechanics.use_randomness`
decides draws). The clock is process-wide, so a test's server threads see it too.
"""

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.utils import timezone


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The production clock (looked up at each call, so `timezone.now` stays the one source)."""

    def now(self) -> datetime:
        return timezone.now()


class FixedClock:
    """A clock standing at `moment` until moved (`advance`, or assign `moment`)."""

    def __init__(self, moment: datetime) -> None:
        if timezone.is_naive(moment):
            raise ValueError("a clock tells aware times")
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


_clock: Clock = SystemClock()


def now() -> datetime:
    return _clock.now()


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime | None) -> int | None:
    """Milliseconds since 1970 (floor), exact: no float in between. None stays None (an open
    start or end). The one conversion of the API's timestamps."""
    return None if moment is None else (moment - EPOCH) // timedelta(milliseconds=1)


@contextlib.contextmanager
def use_clock(source: Clock):
    """Tests: read the time from `source` for the duration of the block."""
    global _clock
    previous, _clock = _clock, source
    try:
        yield source
    finally:
        _clock = previous
