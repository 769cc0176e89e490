"""Pot mechanics: one class each, in one registry (SPEC 5).

A mechanic owns everything that differs between kinds of pot: its configuration check, its
effective cap, the hidden drop point it commits to at every (re)seed, its draw for a
contribution, and how a win is verified against the commitment. The engine, the admin, the
catalogue services and `verify_drop` loop over the registry; a new mechanic is one class here.

Randomness comes only from `secrets` (the operating system's CSPRNG), through `randomness()`,
which tests replace with `use_randomness(...)` to decide outcomes instead of relying on odds.
Time comes from the callers' `now`, read from `portal.clock` (tests set it with `use_clock`).
Probabilities are exact rationals: amounts are scaled to integers at ledger precision, so a
hit rate of c / (cost * max_magic_number) is drawn as `randbelow(den) < num`, no float anywhere.
"""

import contextlib
import hashlib
import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from django.conf import settings

from portal.clock import EPOCH, epoch_ms
from portal.money import plain

SCALE = 10 ** settings.MONEY_DECIMAL_PLACES
QUANTUM = Decimal(1).scaleb(-settings.MONEY_DECIMAL_PLACES)


class Randomness(Protocol):
    def randbelow(self, n: int) -> int: ...

    def token_hex(self, nbytes: int) -> str: ...


class SystemRandomness:
    """The production source: the operating system's CSPRNG."""

    randbelow = staticmethod(secrets.randbelow)
    token_hex = staticmethod(secrets.token_hex)


_randomness: Randomness = SystemRandomness()


def randomness() -> Randomness:
    return _randomness


@contextlib.contextmanager
def use_randomness(source: Randomness):
    """Tests: draw from `source` instead of the CSPRNG for the duration of the block."""
    global _randomness
    previous, _randomness = _randomness, source
    try:
        yield source
    finally:
        _randomness = previous


def scaled(amount: Decimal) -> int:
    """An amount at ledger precision as an integer number of 1e-8 units."""
    return int(amount * SCALE)


def commitment_digest(secret_text: str) -> str:
    return hashlib.sha256(secret_text.encode()).hexdigest()


@dataclass
class Draw:
    hit: bool
    evidence: dict
    random: bool = False  # a random trigger: `Highest` decides between random hits only


@dataclass
class Commitment:
    """A hidden drop point: what is stored (`fields`) and the text whose SHA-256 is published."""

    secret_text: str
    fields: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return commitment_digest(self.secret_text)


@dataclass
class Verdict:
    consistent: bool
    where: str
    rule: str = "the contribution that reached the committed point"  # who had to win, in words


@dataclass
class Reference:
    """What a rules disclosure states odds at (sources/rules.py): one contribution of
    `contribution` (instance currency), from a base wager of `stake` when the contribution is a
    `wager_rate` fraction of it (None for a fixed contribution)."""

    currency: str
    contribution: Decimal
    stake: Decimal | None = None
    wager_rate: Decimal | None = None


def amount_text(value: Decimal) -> str:
    """An amount in a sentence: exact, without trailing zeros (0.1, 10, 0.00000001)."""
    return format(plain(value), "f")


class Mechanic:
    key: str = ""
    commits = False  # draws a hidden drop point at every (re)seed
    per_contribution = True  # may trigger on a contribution (raffle prizes do not)
    value_may_jump = True  # money may be added to the value by hand (a transfer); see MustDropAmount

    def check(self, pot) -> dict[str, str]:
        """Configuration errors by field name (the admin shows them on the field)."""
        return {}

    def cap(self, pot) -> Decimal | None:
        """The most the pot's visible value may reach; overflow goes to its seed fund."""
        return pot.cap

    def commit(self, pot, *, now: datetime, rng: Randomness, dropped_at: datetime | None = None
               ) -> Commitment | None:
        """The hidden drop point of the pot's next generation; `dropped_at` is when the
        generation before it dropped (None for a new pot or one whose period ended undropped)."""
        return None

    def draw(self, pot, *, contribution_base: Decimal, value_before: Decimal, value_after: Decimal,
             commitment, now: datetime, rng: Randomness) -> Draw | None:
        return None

    def verify(self, *, commitment, value_before: Decimal | None, value_after: Decimal,
               at: datetime | None, previous_at: datetime | None, ceiling: Decimal | None,
               following_at: datetime | None = None, settled_at: datetime | None = None) -> Verdict:
        """`at`: the winning contribution's time; `previous_at` / `following_at`: the pot's
        contributions just before and after it in the same generation; `settled_at`: when a
        deadline drop was settled."""
        return Verdict(False, "this mechanic makes no commitment")

    def disclose(self, pot, reference: Reference) -> dict:
        """How this pot is won, for the public rules document: the mechanic's parameters (exact
        decimals) and a `description` a player reads. Every mechanic states its own."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its pot is won")


class HitRate(Mechanic):
    """SPEC 5.1: triggers with probability min(1, c / (cost_per_attempt * max_magic_number))."""

    key = "HitRate"

    def check(self, pot) -> dict[str, str]:
        errors = {}
        if not pot.cost_per_attempt:
            errors["cost_per_attempt"] = "A HitRate pot needs a cost per attempt."
        if not pot.max_magic_number:
            errors["max_magic_number"] = "A HitRate pot needs a max magic number."
        return errors

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw:
        return hit_rate(contribution_base=contribution_base, cost_per_attempt=pot.cost_per_attempt,
                        max_magic_number=pot.max_magic_number, randbelow=rng.randbelow)

    def disclose(self, pot, reference: Reference) -> dict:
        """The chance per contribution exactly as `hit_rate` draws it (a reduced fraction of
        integers at ledger precision), "one in N" rounded for reading, and for a contribution
        that is a share of the wager, the amount wagered per hit on average."""
        cost, magic, currency = pot.cost_per_attempt, pot.max_magic_number, reference.currency
        num, den = scaled(reference.contribution), scaled(cost) * magic
        num = min(num, den)
        divisor = math.gcd(num, den) or 1
        one_in = (Decimal(den) / Decimal(num)).quantize(Decimal("0.01")) if num else None
        at = (f"a base wager of {amount_text(reference.stake)} {currency} (a contribution of "
              f"{amount_text(reference.contribution)} {currency})" if reference.stake is not None
              else f"a contribution of {amount_text(reference.contribution)} {currency}")
        text = (f"Random hit: every contribution hits this pot with probability contribution / "
                f"{amount_text(cost * magic)} {currency} (at most 1), so a bigger contribution has a proportionally "
                f"bigger chance. At {at} the chance is " + (f"1 in {amount_text(one_in)}." if one_in else "nil."))
        disclosed = {"cost_per_attempt": cost, "max_magic_number": magic,
                     "chance": {"numerator": num // divisor, "denominator": den // divisor},
                     "one_in": one_in, "wagered_per_hit": None}
        if reference.wager_rate:
            per_hit = (cost * magic / reference.wager_rate).quantize(Decimal("0.01"))
            disclosed["wagered_per_hit"] = per_hit
            text += f" On average the pot is hit once per {amount_text(per_hit)} {currency} wagered."
        return {**disclosed, "description": text}


def hit_rate(*, contribution_base: Decimal, cost_per_attempt: Decimal, max_magic_number: int,
             randbelow=None) -> Draw:
    randbelow = randbelow or randomness().randbelow
    num = scaled(contribution_base)
    den = scaled(cost_per_attempt) * max_magic_number
    if num <= 0:
        return Draw(False, {"mechanic": "HitRate", "num": num, "den": den, "draw": None, "hit": False}, random=True)
    draw = randbelow(den)
    hit = draw < num
    return Draw(hit, {"mechanic": "HitRate", "num": num, "den": den, "draw": draw, "hit": hit}, random=True)


class MustDropAmount(Mechanic):
    """SPEC 5.2: a drop value drawn uniformly in [seed, ceiling) at every (re)seed; the
    contribution that brings the pot to it wins, whatever else triggers."""

    key = "MustDropAmount"
    commits = True
    # Only a contribution may bring the value to the hidden drop point (that is what
    # `verify` checks), so money added by hand goes to the seed fund instead.
    value_may_jump = False

    def check(self, pot) -> dict[str, str]:
        if pot.drop_ceiling is None:
            return {"drop_ceiling": "A must-drop-by-amount pot needs a ceiling."}
        if pot.initial_seed is not None and pot.drop_ceiling <= pot.initial_seed:
            return {"drop_ceiling": "The ceiling must be above the initial seed."}
        if pot.cap is not None and pot.drop_ceiling > pot.cap:
            return {"drop_ceiling": "The ceiling is above the cap: the pot could never reach it."}
        return {}

    def cap(self, pot) -> Decimal | None:
        if pot.drop_ceiling is None:
            return pot.cap
        return pot.drop_ceiling if pot.cap is None else min(pot.cap, pot.drop_ceiling)  # never past the ceiling

    def commit(self, pot, *, now, rng, dropped_at=None) -> Commitment:
        span = int((pot.drop_ceiling - pot.initial_seed) * SCALE)
        amount = (pot.initial_seed + Decimal(rng.randbelow(span)) / SCALE).quantize(QUANTUM)
        return Commitment(f"{amount:.{settings.MONEY_DECIMAL_PLACES}f}:{rng.token_hex(16)}",
                          {"kind": "amount", "drop_amount": amount})

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw | None:
        if commitment is None:
            return None
        hit = value_after >= commitment.drop_amount
        return Draw(hit, {"mechanic": self.key, "commitment": commitment.commitment, "hit": hit})

    def disclose(self, pot, reference: Reference) -> dict:
        currency = reference.currency
        return {"drop_ceiling": pot.drop_ceiling, "description": (
            f"Must drop by amount: at every (re)seed a drop amount is drawn at random between the seed "
            f"({amount_text(pot.initial_seed)} {currency}) and {amount_text(pot.drop_ceiling)} {currency}, and the "
            f"contribution that brings the pot to it wins, so the pot always drops before it reaches "
            f"{amount_text(pot.drop_ceiling)} {currency}. The drop amount is fixed in advance: its SHA-256 "
            f"commitment is published at once and revealed with the win, for anyone to check.")}

    def verify(self, *, commitment, value_before, value_after, at, previous_at, ceiling, following_at=None,
               settled_at=None) -> Verdict:
        drop = commitment.drop_amount
        # The first contribution that finds the pot at or past its point: the one that crossed
        # it, or the generation's first when the point is the seed itself.
        crossed = value_before is not None and drop <= value_after and (value_before < drop or previous_at is None)
        below_ceiling = ceiling is None or value_after <= ceiling
        where = (f"this contribution took the pot from {value_before} to {value_after}: "
                 f"{'it crossed' if crossed else 'it did not cross'} the committed drop value {drop}"
                 + (f" (ceiling {ceiling})" if ceiling is not None else ""))
        return Verdict(crossed and below_ceiling, where)


class MustDropTime(Mechanic):
    """SPEC 5.3: a drop time drawn in the window after every (re)seed; the first contribution
    at or after it wins, whatever else triggers."""

    key = "MustDropTime"
    commits = True

    def check(self, pot) -> dict[str, str]:
        if not pot.drop_window_hours:
            return {"drop_window_hours": "A must-drop-by-time pot needs a drop window."}
        return {}

    def commit(self, pot, *, now, rng, dropped_at=None) -> Commitment:
        drop_ms = epoch_ms(now) + rng.randbelow(pot.drop_window_hours * 3600 * 1000)
        return Commitment(f"{drop_ms}:{rng.token_hex(16)}",
                          {"kind": "time", "drop_at": EPOCH + timedelta(milliseconds=drop_ms)})

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw | None:
        if commitment is None:
            return None
        hit = now >= commitment.drop_at
        return Draw(hit, {"mechanic": self.key, "commitment": commitment.commitment, "hit": hit})

    def disclose(self, pot, reference: Reference) -> dict:
        hours = pot.drop_window_hours
        return {"drop_window_hours": hours, "description": (
            f"Must drop by time: at every (re)seed a drop time is drawn at random within the next {hours} "
            f"hour{'s' if hours != 1 else ''}; the first contribution at or after it wins. If none arrives "
            f"by then, the next contribution wins, however late. The drop time is fixed in advance: its "
            f"SHA-256 commitment is published at once and revealed with the win, for anyone to check.")}

    def verify(self, *, commitment, value_before, value_after, at, previous_at, ceiling, following_at=None,
               settled_at=None) -> Verdict:
        if at is None:
            return Verdict(False, "no contribution")
        first = previous_at is None or previous_at < commitment.drop_at
        where = (f"the winning contribution came at {at:%Y-%m-%d %H:%M:%S.%f} UTC, the committed drop time is "
                 f"{commitment.drop_at:%Y-%m-%d %H:%M:%S.%f} UTC; the pot's previous contribution came "
                 + (f"at {previous_at:%Y-%m-%d %H:%M:%S.%f} UTC" if previous_at else "never"))
        return Verdict(at >= commitment.drop_at and first, where)


def next_deadline(*, every: str, before: time, weekday: int | None, zone: ZoneInfo, after: datetime) -> datetime:
    """The first deadline strictly after `after`, in UTC. Deadlines are on the wall clock of
    `zone`, so a daily 22:00 Europe/London deadline is 21:00 UTC in summer and 22:00 UTC in
    winter. A wall time that a spring-forward change skips falls an hour later that day; a
    time that a fall-back change repeats means its first occurrence (PEP 495, fold=0)."""
    local = after.astimezone(zone)
    if every == "hour":
        # On the hour's minutes; stepping in UTC keeps each hour exactly once across DST changes.
        deadline = local.replace(minute=before.minute, second=0, microsecond=0).astimezone(UTC)
        while deadline <= after:
            deadline += timedelta(hours=1)
        return deadline
    for days in range(9):
        day = local.date() + timedelta(days=days)
        if every == "week" and day.weekday() != weekday:
            continue
        deadline = datetime.combine(day, before, tzinfo=zone).astimezone(UTC)
        if deadline > after:
            return deadline
    raise ValueError(f"no {every} deadline after {after}")  # unreachable for a checked pot


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class MustDropClock(Mechanic):
    """Must drop before a clock time: "every day before 22:00", "every hour", "every Sunday
    before 20:00", on the instance's wall clock (its IANA time zone).

    At every (re)seed a drop time is drawn uniformly in [period start, deadline) and committed
    like MustDropTime's (SHA-256 of "epoch ms:salt"); the first contribution at or after it
    wins. If none comes before the deadline, the last contribution before the deadline wins:
    the pot is settled at the deadline (`contributions.services.drops`), so it always drops
    before its deadline. It drops once per period: after a drop, the next generation's drop
    time lies in the next period ([this deadline, the next one))."""

    key = "MustDropClock"
    commits = True

    def check(self, pot) -> dict[str, str]:
        if pot.drop_every not in ("hour", "day", "week"):
            return {"drop_every": "A clock drop needs a period: every hour, every day or every week."}
        if pot.drop_before is None:
            return {"drop_before": "A clock drop needs the time it drops before (e.g. 22:00)."}
        errors = {}
        if pot.drop_every == "hour" and (pot.drop_before.hour or pot.drop_before.second):
            errors["drop_before"] = "An hourly drop names minutes past the hour only: 00:00 (the full hour) to 00:59."
        if pot.drop_every == "week" and pot.drop_weekday is None:
            errors["drop_weekday"] = "A weekly drop needs the weekday of its deadline."
        return errors

    def deadline(self, pot, *, after: datetime) -> datetime:
        return next_deadline(every=pot.drop_every, before=pot.drop_before, weekday=pot.drop_weekday,
                             zone=pot.jackpot.zone, after=after)

    def commit(self, pot, *, now, rng, dropped_at=None) -> Commitment:
        start, deadline = now, self.deadline(pot, after=now)
        if dropped_at is not None and self.deadline(pot, after=dropped_at) == deadline:
            start, deadline = deadline, self.deadline(pot, after=deadline)  # this period has had its drop
        start_ms = epoch_ms(start)
        drop_ms = start_ms + rng.randbelow(epoch_ms(deadline) - start_ms)
        return Commitment(f"{drop_ms}:{rng.token_hex(16)}", {
            "kind": "clock", "drop_at": EPOCH + timedelta(milliseconds=drop_ms), "drop_deadline": deadline})

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw | None:
        if commitment is None:
            return None
        # Past the deadline the generation belongs to its settlement, never to a later contribution.
        hit = commitment.drop_at <= now < commitment.drop_deadline
        return Draw(hit, {"mechanic": self.key, "commitment": commitment.commitment, "hit": hit})

    def disclose(self, pot, reference: Reference) -> dict:
        zone, before = pot.jackpot.time_zone, pot.drop_before
        if pot.drop_every == "hour":
            when = "every hour, before the full hour" if not before.minute else f"every hour, before {before:%M} past"
        elif pot.drop_every == "week":
            when = f"every {WEEKDAYS[pot.drop_weekday]} before {before:%H:%M}"
        else:
            when = f"every day before {before:%H:%M}"
        return {"drop_every": pot.drop_every, "drop_before": f"{before:%H:%M}", "drop_weekday": pot.drop_weekday,
                "time_zone": zone, "description": (
                    f"Must drop {when} ({zone} time): at every (re)seed a drop time is drawn at random before "
                    f"the next deadline, and the first contribution at or after it wins. If none arrives before "
                    f"the deadline, the last contribution before the deadline wins, so the pot always drops in "
                    f"time; after a drop the next one is due by the following deadline. The drop time is fixed "
                    f"in advance: its SHA-256 commitment is published at once and revealed with the win, for "
                    f"anyone to check.")}

    def verify(self, *, commitment, value_before, value_after, at, previous_at, ceiling, following_at=None,
               settled_at=None) -> Verdict:
        if at is None:
            return Verdict(False, "no contribution")
        zone = commitment.pot.jackpot.zone
        drop, deadline = commitment.drop_at, commitment.drop_deadline

        def when(moment: datetime) -> str:
            return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S.%f} {zone.key}"

        if at >= drop:
            first = previous_at is None or previous_at < drop
            where = (f"the winning contribution came at {when(at)}, the committed drop time is {when(drop)}, "
                     f"the deadline {when(deadline)}; the pot's previous contribution came "
                     + (f"at {when(previous_at)}" if previous_at else "never"))
            return Verdict(at < deadline and first, where)
        last = following_at is None and at < deadline
        settled = settled_at is not None and settled_at >= deadline
        where = (f"no contribution came between the committed drop time {when(drop)} and the deadline "
                 f"{when(deadline)}: the pot's last contribution before the deadline came at {when(at)}"
                 + ("" if following_at is None else f", but another followed it at {when(following_at)}")
                 + (f"; settled at {when(settled_at)}" if settled_at else "; never settled"))
        return Verdict(last and settled, where, rule="the last contribution before the deadline")


class Prize(Mechanic):
    """SPEC 5.4: a raffle prize, drawn at the end of the period (contributions never trigger it)."""

    key = "Prize"
    per_contribution = False

    def disclose(self, pot, reference: Reference) -> dict:
        return {"description": "Raffle prize: drawn among the period's tickets when the period ends "
                               "(see the raffle rules); contributions never win it directly."}


class Closed(Mechanic):
    """A retired pot after its final win: it never triggers and holds nothing (share 0)."""

    key = "Closed"
    per_contribution = False

    def cap(self, pot) -> Decimal | None:
        return Decimal(0)

    def disclose(self, pot, reference: Reference) -> dict:
        return {"description": "Closed: this pot was retired after its final win; it takes nothing more and "
                               "cannot be won."}


REGISTRY: dict[str, Mechanic] = {m.key: m for m in (HitRate(), MustDropAmount(), MustDropTime(), MustDropClock(),
                                                    Prize(), Closed())}


def mechanic_of(pot) -> Mechanic:
    return REGISTRY[pot.mechanic]
