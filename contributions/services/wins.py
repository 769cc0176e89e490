"""Wins decided after the contribution: raffle draws (SPEC 5.4) and withheld wins (SPEC 2.4.7)."""

import logging
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from contributions import tasks
from contributions.models import RaffleDraw, Win
from contributions.services import payments
from players.models import RaffleTicket
from portal import live
from portal.clock import epoch_ms
from portal.errors import DomainError
from portal.money import ledger, payout, plain
from portal.selectors import currency_rates
from sources import services as catalogue
from sources.models import JackpotInstance, Pot, PotAdjustment
from sources.selectors import instance_brand_codes

logger = logging.getLogger(__name__)


# --- raffles ------------------------------------------------------------------------------


def weighted_pick(entries: list[tuple[object, int]], randbelow=secrets.randbelow) -> tuple[object, dict]:
    """Pick one entry with probability proportional to its tickets; returns it and the evidence."""
    total = sum(count for _, count in entries)
    drawn = randbelow(total)
    running = 0
    for entry, count in entries:
        running += count
        if drawn < running:
            return entry, {"tickets": total, "drawn": drawn}
    raise AssertionError("unreachable")


def raffles_due(now=None) -> list[str]:
    """Active raffles whose period has ended (and raffles that never opened one: opened now)."""
    now = now or timezone.now()
    for instance in JackpotInstance.objects.filter(jackpot_type=JackpotInstance.Type.RAFFLE,
                                                   state=JackpotInstance.State.ACTIVE, raffle_period_end__isnull=True):
        catalogue.raffle_period_open(instance, start=instance.timestamp_start or instance.created_at)
        JackpotInstance.objects.filter(pk=instance.pk).update(raffle_period_start=instance.raffle_period_start,
                                                              raffle_period_end=instance.raffle_period_end)
    return [str(pk) for pk in JackpotInstance.objects.filter(
        jackpot_type=JackpotInstance.Type.RAFFLE, state=JackpotInstance.State.ACTIVE, raffle_period_end__lte=now,
    ).values_list("pk", flat=True)]


def raffle_draw(instance_id, *, now=None, randbelow=secrets.randbelow) -> RaffleDraw | None:
    """Draw the ended period of a raffle: each prize pot (biggest tier first) goes to a
    different player, weighted by tickets; prizes are reseeded, credited through the wallet
    (one Credit per winner, written together, sent in parallel), announced with
    RaffleWinEvent; a recurring raffle opens its next period (tickets start from zero),
    a one-off raffle ends. Drawn once per period, whatever runs it."""
    now = now or timezone.now()
    with transaction.atomic():
        instance = JackpotInstance.objects.select_for_update().select_related("currency").get(pk=instance_id)
        if (not instance.is_raffle or instance.state != JackpotInstance.State.ACTIVE
                or instance.raffle_period_end is None or instance.raffle_period_end > now):
            return None
        period = instance.raffle_period
        tickets = list(RaffleTicket.objects.filter(jackpot=instance, period=period, ticket_count__gt=0)
                       .select_related("player__brand").order_by("player_id"))
        try:
            with transaction.atomic():
                draw = RaffleDraw.objects.create(
                    jackpot=instance, period=period, period_start=instance.raffle_period_start,
                    period_end=instance.raffle_period_end, players=len(tickets),
                    tickets=sum(t.ticket_count for t in tickets))
        except IntegrityError:
            return None  # drawn already
        if not _has_next_period(instance):
            catalogue.raffle_final_draw(instance=instance, reason=f"raffle ended: period {period} drawn")
        pots = list(Pot.objects.select_for_update().filter(jackpot=instance).order_by("-tier", "pk"))
        remaining = [(t, t.ticket_count) for t in tickets]
        wins, credits = [], []
        for pot in pots:
            if not remaining:
                draw.evidence.append({"pot": pot.pot_id, "rolled_over": True})
                continue
            ticket, evidence = weighted_pick(remaining, randbelow)
            remaining = [(t, c) for t, c in remaining if t is not ticket]
            win = _raffle_win(instance, pot, ticket.player, draw, evidence, now=now)
            wins.append(win)
            draw.evidence.append({"pot": pot.pot_id, **evidence, "player_id": ticket.player.player_id,
                                  "brand_id": ticket.player.brand.code, "ticket_count": ticket.ticket_count})
            if not win.withheld:
                credit = payments.credit_prepare(win=win, contribution=None, brand=ticket.player.brand,
                                                 player_ref=ticket.player.player_id)
                if credit is not None:
                    credits.append(credit.pk)
        draw.save(update_fields=["evidence"])
        _next_period(instance, now)


        for credit_id in credits:
            tasks.enqueue_credit(credit_id)
        payload = {
            "instance_id": str(instance.pk), "jackpot_name": instance.name,
            "jackpot_currency": instance.currency_id, "timestamp": epoch_ms(now),
            "winners": [{"player_id": w.player.player_id, "brand_id": w.player.brand.code, "currency": w.currency,
                         "win_amount": plain(w.amount)} for w in wins],
            "win_withheld": any(w.withheld for w in wins),
        }
        brands = instance_brand_codes(instance)

        def announce() -> None:
            live.instance_changed(instance.pk)
            live.publish_raffle_win(operator_id=instance.operator_id, brand_codes=brands, data=payload)

        transaction.on_commit(announce, robust=True)
    return draw


def _raffle_win(instance: JackpotInstance, pot: Pot, player, draw: RaffleDraw, evidence: dict, *, now) -> Win:
    # Its scheduled change takes effect with the next generation; a closing prize pays its reserve too.
    catalogue.pot_next_generation(pot, now=now)
    currency = player.currency or instance.currency_id
    try:
        rates = currency_rates(currency, instance.currency_id, brand=player.brand)
    except DomainError:
        currency = instance.currency_id
        rates = currency_rates(currency, brand=player.brand)
    rate = rates[currency][0] / rates[instance.currency_id][0]
    exact = ledger(pot.current_value * rate)
    paid = payout(exact, rates[currency][1])
    seed_used = min(pot.seed_fund, pot.initial_seed)
    withheld = instance.withhold_limit is not None and pot.current_value > instance.withhold_limit
    proof = {"raffle": evidence}
    if player.excluded_at(now):  # excluded since earning the tickets: staff decide (SPEC 2.4.7)
        withheld = True
        proof["withheld_because"] = f"PlayerExcluded: player {player.player_id} is {player.exclusion_text()}"
    win = Win.objects.create(
        jackpot=instance, pot=pot, player=player, generation=pot.generation, amount_base=pot.current_value,
        amount=paid, payout_remainder=exact - paid, currency=currency, rate=rate, reseed_value=pot.initial_seed,
        seed_used=seed_used, seed_deficit=pot.initial_seed - seed_used, withheld=withheld,
        status=Win.Status.WITHHELD if withheld else Win.Status.RECORDED, evidence=proof, draw=draw,
    )
    Pot.objects.filter(pk=pot.pk).update(
        current_value=pot.initial_seed, seed_fund=F("seed_fund") - seed_used,
        seed_deficit=F("seed_deficit") + (pot.initial_seed - seed_used), generation=F("generation") + 1,
        updated_at=timezone.now())
    return win


def _has_next_period(instance: JackpotInstance) -> bool:
    return bool(instance.raffle_recurring and instance.raffle_period_seconds and (
        not instance.timestamp_end or instance.raffle_period_end < instance.timestamp_end))


def _next_period(instance: JackpotInstance, now) -> None:
    if JackpotInstance.objects.filter(pk=instance.pk, state=JackpotInstance.State.TERMINATED).exists():
        return  # its last prize was won by a raffle retiring (kept running until won)
    if _has_next_period(instance):
        start = instance.raffle_period_end
        # A draw that ran late still keeps the rhythm: skip periods that already passed.
        while start + timedelta(seconds=instance.raffle_period_seconds) <= now:
            start += timedelta(seconds=instance.raffle_period_seconds)
        instance.raffle_period += 1
        catalogue.raffle_period_open(instance, start=start)
        JackpotInstance.objects.filter(pk=instance.pk).update(
            raffle_period=instance.raffle_period, raffle_period_start=instance.raffle_period_start,
            raffle_period_end=instance.raffle_period_end)
    else:
        catalogue.raffle_ended(instance=instance, reason=f"raffle ended: period {instance.raffle_period} drawn")


# --- withheld wins ------------------------------------------------------------------------


def _decide(win: Win, *, actor, reason: str) -> Win:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise DomainError("REASON_REQUIRED", "Give a reason (it is kept in the win's History)")
    locked = Win.objects.select_for_update().select_related("player__brand", "jackpot").get(pk=win.pk)
    if locked.status != Win.Status.WITHHELD:
        raise DomainError("NOT_WITHHELD", f"Win {win.pk} is {locked.get_status_display().lower()}")
    locked.decision_reason = reason[:500]
    locked._history_user = actor
    return locked


def win_approve(*, win: Win, actor, reason: str) -> Win:
    """Release a withheld win: credited through the wallet (or left to the operator to pay)."""
    with transaction.atomic():
        locked = _decide(win, actor=actor, reason=reason)
        locked.status = Win.Status.RECORDED
        locked._change_reason = f"approved: {locked.decision_reason}"
        locked.save()
        contribution = locked.contribution
        credit = payments.credit_prepare(
            win=locked, contribution=contribution, brand=locked.player.brand, player_ref=locked.player.player_id,
            token="",  # the session token is not kept; Credits after the fact go without one
            gameround_id=contribution.gameround_id if contribution else "",
            metadata_json=contribution.metadata_json if contribution else None)
        if credit is not None:
            tasks.enqueue_credit(credit.pk)
    locked.refresh_from_db()
    return locked


def win_reject(*, win: Win, actor, reason: str) -> Win:
    """Refuse a withheld win. The amount goes back to the pot's seed fund (it funds the next
    reseed rather than making the visible pot jump), booked as an adjustment with the reason."""
    with transaction.atomic():
        locked = _decide(win, actor=actor, reason=reason)
        locked.status = Win.Status.REJECTED
        locked._change_reason = f"rejected: {locked.decision_reason}"
        locked.save()
        Pot.objects.select_for_update().get(pk=locked.pot_id)
        Pot.objects.filter(pk=locked.pot_id).update(seed_fund=F("seed_fund") + locked.amount_base,
                                                    updated_at=timezone.now())
        PotAdjustment.objects.create(
            pot_id=locked.pot_id, kind=PotAdjustment.Kind.WIN_RETURN, seed_delta=locked.amount_base,
            reason=f"win {locked.pk} rejected: {locked.decision_reason}",
            actor=actor if getattr(actor, "is_authenticated", False) else None)
    return locked
