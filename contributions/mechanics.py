"""Pot mechanics: does this contribution trigger this pot? Every draw returns its evidence.

The only source of randomness is `secrets` (the operating system's CSPRNG). Probabilities
are exact rationals: amounts are scaled to integers at ledger precision, so a hit rate of
c / (cost * max_magic_number) is drawn as `randbelow(den) < num`, with no float anywhere.
"""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from sources.models import Pot

SCALE = 10 ** settings.MONEY_DECIMAL_PLACES


def scaled(amount: Decimal) -> int:
    """An amount at ledger precision as an integer number of 1e-8 units."""
    return int(amount * SCALE)


@dataclass
class Draw:
    hit: bool
    evidence: dict


def hit_rate(*, contribution_base: Decimal, cost_per_attempt: Decimal, max_magic_number: int,
             randbelow=secrets.randbelow) -> Draw:
    """SPEC 5.1: triggers with probability min(1, c / (cost_per_attempt * max_magic_number))."""
    num = scaled(contribution_base)
    den = scaled(cost_per_attempt) * max_magic_number
    if num <= 0:
        return Draw(False, {"mechanic": "HitRate", "num": num, "den": den, "draw": None, "hit": False})
    draw = randbelow(den)
    hit = draw < num
    return Draw(hit, {"mechanic": "HitRate", "num": num, "den": den, "draw": draw, "hit": hit})


def must_drop_amount(*, value_after: Decimal, commitment) -> Draw:
    """SPEC 5.2: the contribution that brings the pot to the committed drop value wins."""
    hit = value_after >= commitment.drop_amount
    return Draw(hit, {"mechanic": "MustDropAmount", "commitment": commitment.commitment, "hit": hit})


def must_drop_time(*, now, commitment) -> Draw:
    """SPEC 5.3: the first contribution at or after the committed drop time wins."""
    hit = now >= commitment.drop_at
    return Draw(hit, {"mechanic": "MustDropTime", "commitment": commitment.commitment, "hit": hit})


def draw_for(pot: Pot, *, contribution_base: Decimal, value_after: Decimal, commitment=None, now=None) -> Draw | None:
    """The draw of one pot for one contribution, or None when the pot has no per-contribution
    trigger (raffle prizes). Evidence never carries a hidden drop value before the win."""
    if pot.mechanic == Pot.Mechanic.HIT_RATE:
        return hit_rate(
            contribution_base=contribution_base,
            cost_per_attempt=pot.cost_per_attempt,
            max_magic_number=pot.max_magic_number,
        )
    if commitment is None:
        return None
    if pot.mechanic == Pot.Mechanic.MUST_DROP_AMOUNT:
        return must_drop_amount(value_after=value_after, commitment=commitment)
    if pot.mechanic == Pot.Mechanic.MUST_DROP_TIME:
        return must_drop_time(now=now, commitment=commitment)
    return None
