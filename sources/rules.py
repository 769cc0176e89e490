"""The rules of a jackpot as a player may read them (UKGC RTS 9A), generated from its configuration.

`rules_document(instance)` states, from the configuration alone (never live values): who funds
the jackpot and how much each contribution is (rate, or value per currency), each pot's share,
seed, cap and how it is won (the mechanic's own words, `Mechanic.disclose`, with the odds at a
reference stake), who may take part (brands, countries, currencies, opt-in, wagers, schedule),
what happens when several pots trigger on one contribution, and how wins are paid. Amounts are
exact decimals, in the instance's currency unless a currency is named.

The same configuration always gives the same document, key order included, so its SHA-256
tells versions apart (`sources.services.rules_publish`).
"""

from decimal import Decimal

from django.conf import settings

from portal.clock import epoch_ms
from portal.money import ledger, plain
from sources.mechanics import Reference, amount_text, mechanic_of
from sources.models import JackpotInstance, Pot, PotChange, ScheduleWindow

Fixed = JackpotInstance.ContributionType.FIXED

SIMULTANEOUS = (
    "On one contribution, every must-drop pot whose drop point is reached drops: a drop promised in "
    "advance is always honoured. Of the pots hit at random (HitRate) on that contribution, only the one "
    "worth most after it is won (Highest; on a tie, the higher tier), and the other randomly hit pots keep "
    "their value. One contribution can so win a must-drop pot and one random pot together.")
RAFFLE_DRAW = (
    "Prizes are drawn when the period ends: each prize, highest tier first, goes to a different player, "
    "drawn with a chance proportional to the player's tickets. A prize with no player left to draw rolls "
    "over to the next period.")


def _exact(value):
    """Decimals as exact plain numbers (0.1, 10), all the way down."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact(item) for item in value]
    return value


def reference_for(instance: JackpotInstance) -> Reference:
    """The contribution the odds are stated at: the fixed contribution itself, or the
    percentage of a `RULES_REFERENCE_STAKE` wager (the minimum base wager when higher)."""
    currency = instance.currency_id
    if instance.contribution_type == Fixed:
        return Reference(currency=currency, contribution=instance.contribution_value)
    stake = max(settings.RULES_REFERENCE_STAKE, instance.min_base_wager or Decimal(0))
    return Reference(currency=currency, contribution=ledger(stake * instance.contribution_value), stake=stake,
                     wager_rate=instance.contribution_value)


def funding(instance: JackpotInstance) -> dict:
    currency = instance.currency_id
    rate, value = instance.contribution_value, instance.contribution_value
    limits = [{"currency": limit.currency_id, "default_value": limit.default_value, "min_value": limit.min_value,
               "max_value": limit.max_value} for limit in sorted(instance.currency_limits.all(),
                                                                 key=lambda lim: lim.currency_id)]
    fixed = instance.contribution_type == Fixed
    each = (f"{amount_text(value)} {currency} per qualifying bet (other currencies: the value set for that "
            "currency, else this one converted at the current rate and rounded to the currency's minor unit)"
            if fixed else f"{amount_text(rate * 100)}% of each qualifying base wager")
    if instance.opt_in_required:
        text = (f"Funded by the players who opt in: each qualifying bet of an opted-in player adds a side bet of "
                f"{each}, debited from the player's balance." + (
                    " A player may choose their own value when opting in, within the limits per currency."
                    if fixed else ""))
    else:
        text = f"Funded by the operator: {each} goes to the jackpot, at no extra cost to the player."
    pots_share = sum((pot.share for pot in instance.pots.all()), Decimal(0))
    text += (f" Of each contribution, {amount_text(pots_share * 100)}% goes to the pots (shares below) and "
             f"{amount_text(instance.house_share * 100)}% is kept by the operator.")
    return {
        "funded_by": "player" if instance.opt_in_required else "operator",
        "contribution_type": instance.contribution_type,
        "percentage_of_base_wager": None if fixed else rate * 100,
        "fixed_value": value if fixed else None,
        "currency_values": limits,
        "player_chooses_value": fixed and instance.opt_in_required,
        "pots_share": pots_share,
        "house_share": instance.house_share,
        "description": text,
    }


def pot_rules(pot, reference: Reference) -> dict:
    currency = reference.currency
    mechanic = mechanic_of(pot)
    cap = mechanic.cap(pot)
    share = f"{amount_text(pot.share * 100)}% of each contribution"
    if not pot.is_progressive:
        value_text = (f"A fixed prize of {amount_text(pot.initial_seed)} {currency}: it does not grow; its {share} "
                      f"goes to its seed fund.")
    else:
        grows = (f"{amount_text((1 - pot.seed_share) * 100)}% of that grows the pot and "
                 f"{amount_text(pot.seed_share * 100)}% goes to its seed fund" if pot.seed_share
                 else "all of it grows the pot")
        value_text = (f"Starts at {amount_text(pot.initial_seed)} {currency} and receives {share}: {grows}."
                      + (f" It never exceeds {amount_text(cap)} {currency}; anything above goes to its seed fund."
                         if cap is not None else ""))
    scheduled = scheduled_change(pot)
    return {
        "id": pot.pot_id,
        "tier": pot.tier,
        "share": pot.share,
        "seed_fund_share": pot.seed_share,
        "initial_seed": pot.initial_seed,
        "is_progressive": pot.is_progressive,
        "cap": cap,
        "mechanic": pot.mechanic,
        "mechanic_name": pot.get_mechanic_display(),
        "how_won": mechanic.disclose(pot, reference),
        "scheduled_change": scheduled,
        "description": f"{value_text} After a win it restarts at {amount_text(pot.initial_seed)} {currency}, "
                       f"paid from its seed fund." + (f" {scheduled['description']}" if scheduled else ""),
    }


def scheduled_change(pot) -> dict | None:
    """A change of a live pot waits for its next win (sources.services.pots_update): players are
    told in advance, with the values that will then apply."""
    change = pot.pending_change if pot.pending_change_id else None
    if change is None or change.status != PotChange.Status.PENDING:
        return None
    if change.closes:
        return {"takes_effect": "after the pot's next win", "closes": True, "changes": {},
                "description": "Scheduled: this pot is being retired and closes after its next win."}
    values = change.values()
    said = "; ".join(f"its {Pot._meta.get_field(name).verbose_name} becomes {_said(value)}"
                     for name, value in values.items())
    return {"takes_effect": "after the pot's next win", "closes": False, "changes": values,
            "description": f"Scheduled: after this pot's next win, {said}."}


def _said(value) -> str:
    if isinstance(value, Decimal):
        return amount_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


def window_rules(window: ScheduleWindow, time_zone: str) -> dict:
    return {"days": [ScheduleWindow.Day(d).label for d in sorted(window.day_set)] or "every day",
            "start": f"{window.start_time:%H:%M}", "end": f"{window.end_time:%H:%M}", "time_zone": time_zone}


def eligibility(instance: JackpotInstance) -> dict:
    """Lists that are null allow everything: every brand of the operator, every country, every currency."""
    brands = sorted(brand.key for brand in instance.allowed_brands.all())
    if not brands and instance.brand_id is not None:
        brands = [instance.brand.key]
    return {
        "brands": brands or None,
        "countries": sorted(instance.country_set) or None,
        "currencies": sorted(instance.currency_set) or None,
        "opt_in_required": instance.opt_in_required,
        "min_base_wager": instance.min_base_wager,
        "max_base_wager": instance.max_base_wager,
        "timestamp_start": epoch_ms(instance.timestamp_start),
        "timestamp_end": epoch_ms(instance.timestamp_end),
        "time_zone": instance.time_zone,
        "windows": [window_rules(w, instance.time_zone)
                    for w in sorted(instance.windows.all(), key=lambda w: (w.start_time, w.days))],
        "also_fed_by": None if instance.linked_instance_id is None else {
            "instance_id": str(instance.linked_instance_id), "name": instance.linked_instance.name,
            "description": f"Every contribution to {instance.linked_instance.name} through the linked "
                           "contribution API also feeds this jackpot, under this jackpot's own rules."},
    }


def payout(instance: JackpotInstance) -> dict:
    currency = instance.currency_id
    text = ("A win is the pot's value when it is won, paid in the player's currency at the current rate and "
            "rounded down to that currency's minor unit.")
    if instance.withhold_limit is not None:
        text += f" Wins above {amount_text(instance.withhold_limit)} {currency} are checked by staff before payment."
    return {"withhold_limit": instance.withhold_limit, "description": text}


def raffle(instance: JackpotInstance) -> dict:
    currency = instance.currency_id
    basis = "contribution" if instance.ticket_basis == JackpotInstance.TicketBasis.CONTRIBUTION else "base wager"
    seconds = instance.raffle_period_seconds
    period = (f"Each period lasts {_duration(seconds)}" if seconds
              else "The raffle has one period, until its end time")
    text = (f"One ticket per {amount_text(instance.ticket_cost)} {currency} of {basis}, counted per player and "
            f"period. {period}. {RAFFLE_DRAW} "
            + ("A new period starts after each draw, with no tickets carried over." if instance.raffle_recurring
               else "The raffle ends with its draw."))
    return {"ticket_cost": instance.ticket_cost, "ticket_basis": instance.ticket_basis,
            "period_seconds": seconds, "recurring": instance.raffle_recurring, "description": text}


def _duration(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def rules_document(instance: JackpotInstance) -> dict:
    """The rules of `instance` (load it with `sources.selectors.rules_queryset`)."""
    reference = reference_for(instance)
    document = {
        "instance_id": str(instance.pk),
        "name": instance.name,
        "jackpot_type": instance.jackpot_type,
        "operator": {"id": instance.operator_id, "name": instance.operator.name},
        "currency": instance.currency_id,
        "funding": funding(instance),
        "pots": [pot_rules(pot, reference) for pot in instance.pots.all()],
        "odds_reference": None if instance.is_raffle else {
            "currency": reference.currency, "base_wager": reference.stake, "contribution": reference.contribution},
        "simultaneous_triggers": None if instance.is_raffle else {
            "win_selector": instance.win_selector, "description": SIMULTANEOUS},
        "raffle": raffle(instance) if instance.is_raffle else None,
        "eligibility": eligibility(instance),
        "payout": payout(instance),
    }
    return _exact(document)
