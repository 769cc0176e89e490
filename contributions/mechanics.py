"""The engine's side of the pot mechanics: one pot's draw for one contribution. What each
mechanic does lives in its class in `sources.mechanics` (the registry)."""

from datetime import datetime
from decimal import Decimal

from sources.mechanics import Draw, hit_rate, mechanic_of, randomness

__all__ = ["Draw", "draw_for", "hit_rate"]


def draw_for(pot, *, contribution_base: Decimal, value_after: Decimal, commitment=None,
             now: datetime | None = None, value_before: Decimal | None = None) -> Draw | None:
    """The draw of one pot for one contribution, or None when the pot has no per-contribution
    trigger (raffle prizes) or no commitment yet. Evidence never carries a hidden drop value
    before the win."""
    mechanic = mechanic_of(pot)
    if not mechanic.per_contribution:
        return None
    return mechanic.draw(pot, contribution_base=contribution_base, value_before=value_before,
                         value_after=value_after, commitment=commitment, now=now, rng=randomness())
