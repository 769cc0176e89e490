"""Pot mechanics: one class each, in one registry (SPEC 5).

A mechanic owns everything that differs between kinds of pot: its configuration check, its
effective cap, the hidden drop point it commits to at every (re)seed, its draw for a
contribution, and how a win is verified against the commitment. The engine, the admin, the
catalogue services and `verify_drop` loop over the registry; a new mechanic is one class here.

Randomness comes only from `secrets` (the operating system's CSPRNG), through `randomness()`,
which tests replace with `use_randomness(...)` to decide outcomes instead of relying on odds.
Probabilities are exact rationals: amounts are scaled to integers at ledger precision, so a
hit rate of c / (cost * max_magic_number) is drawn as `randbelow(den) < num`, no float anywhere.
"""

import contextlib
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings

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


class Mechanic:
    key: str = ""
    commits = False  # draws a hidden drop point at every (re)seed
    per_contribution = True  # may trigger on a contribution (raffle prizes do not)

    def check(self, pot) -> dict[str, str]:
        """Configuration errors by field name (the admin shows them on the field)."""
        return {}

    def cap(self, pot) -> Decimal | None:
        """The most the pot's visible value may reach; overflow goes to its seed fund."""
        return pot.cap

    def commit(self, pot, *, now: datetime, rng: Randomness) -> Commitment | None:
        return None

    def draw(self, pot, *, contribution_base: Decimal, value_before: Decimal, value_after: Decimal,
             commitment, now: datetime, rng: Randomness) -> Draw | None:
        return None

    def verify(self, *, commitment, value_before: Decimal | None, value_after: Decimal,
               at: datetime | None, previous_at: datetime | None, ceiling: Decimal | None) -> Verdict:
        return Verdict(False, "this mechanic makes no commitment")


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

    def commit(self, pot, *, now, rng) -> Commitment:
        span = int((pot.drop_ceiling - pot.initial_seed) * SCALE)
        amount = (pot.initial_seed + Decimal(rng.randbelow(span)) / SCALE).quantize(QUANTUM)
        return Commitment(f"{amount:.{settings.MONEY_DECIMAL_PLACES}f}:{rng.token_hex(16)}",
                          {"kind": "amount", "drop_amount": amount})

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw | None:
        if commitment is None:
            return None
        hit = value_after >= commitment.drop_amount
        return Draw(hit, {"mechanic": self.key, "commitment": commitment.commitment, "hit": hit})

    def verify(self, *, commitment, value_before, value_after, at, previous_at, ceiling) -> Verdict:
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

    def commit(self, pot, *, now, rng) -> Commitment:
        drop_ms = int(now.timestamp() * 1000) + rng.randbelow(pot.drop_window_hours * 3600 * 1000)
        return Commitment(f"{drop_ms}:{rng.token_hex(16)}",
                          {"kind": "time", "drop_at": datetime.fromtimestamp(drop_ms / 1000, tz=UTC)})

    def draw(self, pot, *, contribution_base, value_before, value_after, commitment, now, rng) -> Draw | None:
        if commitment is None:
            return None
        hit = now >= commitment.drop_at
        return Draw(hit, {"mechanic": self.key, "commitment": commitment.commitment, "hit": hit})

    def verify(self, *, commitment, value_before, value_after, at, previous_at, ceiling) -> Verdict:
        if at is None:
            return Verdict(False, "no contribution")
        first = previous_at is None or previous_at < commitment.drop_at
        where = (f"the winning contribution came at {at:%Y-%m-%d %H:%M:%S.%f} UTC, the committed drop time is "
                 f"{commitment.drop_at:%Y-%m-%d %H:%M:%S.%f} UTC; the pot's previous contribution came "
                 + (f"at {previous_at:%Y-%m-%d %H:%M:%S.%f} UTC" if previous_at else "never"))
        return Verdict(at >= commitment.drop_at and first, where)


class Prize(Mechanic):
    """SPEC 5.4: a raffle prize, drawn at the end of the period (contributions never trigger it)."""

    key = "Prize"
    per_contribution = False


REGISTRY: dict[str, Mechanic] = {m.key: m for m in (HitRate(), MustDropAmount(), MustDropTime(), Prize())}


def mechanic_of(pot) -> Mechanic:
    return REGISTRY[pot.mechanic]
