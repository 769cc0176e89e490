"""Apply: the ledger side of contributions (SPEC 2.4.4-2.4.8), one batch per instance.

The only apply path: a single contribution is a batch of one. Inside the caller's transaction:

1. lock the instance's pots in primary-key order and read its state and raffle period;
2. decide per contribution what cannot be applied: the instance is not Active, the
   idempotency key is already stored (or earlier in this batch), the wallet Debit no longer
   stands -- one contribution never fails its batch-mates;
3. for each remaining contribution in arrival order, in memory: split the amount between
   pots, seed funds and house, draw every pot's mechanic on the current values, award (a
   must-drop pot whose committed point is reached always drops; `Highest` decides between
   random hits), reseed the winners and open their next drop commitment, accrue tickets;
4. write every row in bulk and each pot once.

Each contribution gets exactly the outcome it would get applied alone in the same order: the
state carried from one to the next (pots, commitments, tickets) is held in memory here.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DatabaseError
from django.db.models import F

from contributions.models import Contribution, PotIncrement, WalletTransaction, Win
from contributions.services import payments
from contributions.services.drops import settle_due
from contributions.services.outcome import announce, result_payload
from contributions.services.plan import Plan, contributions_stored, highest, key_of
from players.models import OptIn
from players.services import TicketBook, players_touch
from portal import clock, jsonutil
from portal.db import bulk_insert, bulk_update, ids_reserve
from portal.errors import DomainError, rejected
from portal.money import ZERO, convert, ledger, ledger_down, payout
from sources import services as catalogue
from sources.mechanics import Draw, mechanic_of, randomness
from sources.models import DropCommitment, JackpotInstance, Pot

logger = logging.getLogger(__name__)


@dataclass
class Item:
    """One planned contribution: `contribution` is new (sync) or an accepted async row."""

    plan: Plan
    contribution: Contribution
    debit: WalletTransaction | None = None


@dataclass
class Applied:
    """What became of one item: stored (`wins`), refused (`error`) or a repeat (`duplicate_of`)."""

    contribution: Contribution
    wins: list[Win] = field(default_factory=list)
    error: DomainError | None = None
    duplicate_of: Contribution | None = None
    credits: list[int] = field(default_factory=list)

    @property
    def win(self) -> Win | None:
        """The highest win: the one the SPEC 2.5 answer reports."""
        return highest(self.wins)


@dataclass
class PotLine:
    pot: Pot
    value_delta: Decimal
    seed_delta: Decimal
    value_before: Decimal
    value_after: Decimal
    generation: int
    draw: Draw | None = None
    overflow: Decimal = ZERO  # the part of seed_delta that passed the cap (the overflow meter)


def split(amount_base: Decimal, pots: list[Pot]) -> tuple[list[PotLine], Decimal]:
    """Pot shares (rounded down), each divided between value and seed fund; the house gets
    the rest, so the parts always add up to the amount exactly. A pot never passes its
    mechanic's cap: the overflow goes to its seed fund."""
    lines = []
    for pot in pots:
        pot_share = ledger_down(amount_base * pot.share)
        seed = ledger_down(pot_share * pot.seed_share)
        value = pot_share - seed
        if not pot.is_progressive:
            seed, value = seed + value, ZERO
        cap = mechanic_of(pot).cap(pot)
        overflow = ZERO
        if cap is not None and pot.current_value + value > cap:
            overflow = min(pot.current_value + value - cap, value)
            value, seed = value - overflow, seed + overflow
        lines.append(PotLine(pot=pot, value_delta=value, seed_delta=seed, value_before=pot.current_value,
                             value_after=pot.current_value + value, generation=pot.generation, overflow=overflow))
    house = amount_base - sum((line.value_delta + line.seed_delta for line in lines), ZERO)
    return lines, house


def winners(lines: list[PotLine]) -> list[PotLine]:
    """SPEC 2.4.5: every must-drop pot whose point is reached drops (a promise made in
    advance); of the random hits, only the pot worth most after this contribution (ties:
    higher tier) wins, and the other random pots keep their value."""
    hits = [line for line in lines if line.draw and line.draw.hit]
    promised = [line for line in hits if not line.draw.random]
    random_hits = [line for line in hits if line.draw.random]
    if random_hits:
        promised.append(max(random_hits, key=lambda line: (line.value_after, line.pot.tier, line.pot.pk)))
    return promised


def batch_apply(instance: JackpotInstance, items: list[Item], *, now=None, players: dict | None = None
                ) -> list[Applied]:
    """Apply `items` (all routed to `instance`) in the caller's transaction; see the module.
    `players`: the batch's players as `players_batch_touch` made them before the transaction
    (the synchronous path, so their upsert is not part of what the instance's locks wait
    for); without it they are upserted here, under the locks."""
    now = now or clock.now()
    results = [Applied(contribution=item.contribution) for item in items]
    # Repeats of stored contributions, read before the locks (one stored meanwhile by another
    # process meets the unique key on insert: then each contribution goes alone).
    stored = contributions_stored(key_of(item.contribution) for item in items if item.contribution.pk is None)
    ids = ids_reserve(Contribution, sum(item.contribution.pk is None for item in items))  # one query less locked
    # The instance row first (a pause waits for the batch, the batch for a pause), then its pots
    # in primary-key order: every writer takes them in this order, so none deadlocks.
    state, raffle_period = JackpotInstance.objects.select_for_update(no_key=True).filter(
        pk=instance.pk).values_list("state", "raffle_period").get()
    pots = list(Pot.objects.select_for_update().filter(jackpot_id=instance.pk).order_by("pk"))
    for pot in pots:
        pot.jackpot = instance  # the mechanics read the instance's clock (time zone) without a query

    live_items = _admissible(instance, state, items, results, stored)
    if not live_items:
        return results

    if players is None:
        players = players_batch_touch([item for _, item in live_items])
    live_items = _not_excluded(live_items, players, results, now)
    if not live_items:
        return results
    commitments = _current_commitments(pots)
    # A clock drop whose deadline has passed is won by the last contribution before it, first:
    # no contribution after a deadline joins the generation it ended (no query when none is due).
    touched, retired = settle_due(instance, pots, commitments, now=now)
    new_commitments: list[DropCommitment] = []
    increments: list[PotIncrement] = []
    tickets = TicketBook(instance, raffle_period) if instance.is_raffle else None
    optin_counts: Counter = Counter()
    by_pk = {pot.pk: pot for pot in pots}
    applied: list[tuple[int, Item]] = []
    # `retired`: a retiring instance's last open pot was won (maybe at its deadline, just
    # above): what follows is refused.

    for index, item in live_items:
        plan, contribution, result = item.plan, item.contribution, results[index]
        if retired:
            result.error = rejected("InstanceNotActive", f"instance {instance.pk} is Terminated")
            for later in results:  # a repeat of it in this batch gets the same answer
                if later.duplicate_of is contribution:
                    later.duplicate_of, later.error = None, result.error
            continue
        applied.append((index, item))
        player = players[(plan.brand.pk, plan.request.player_id)]
        lines, house = split(plan.amount_base, pots)
        if not instance.is_raffle:
            for line in lines:
                mechanic = mechanic_of(line.pot)
                line.draw = mechanic.draw(
                    line.pot, contribution_base=plan.amount_base, value_before=line.value_before,
                    value_after=line.value_after, commitment=commitments.get(line.pot.pk), now=now,
                    rng=randomness()) if mechanic.per_contribution else None
        won = winners(lines)
        ticket_count = None
        if tickets is not None:
            cost = plan.amount_base
            if instance.ticket_basis == JackpotInstance.TicketBasis.BASE_WAGER:
                cost = convert(plan.request.base_wager, plan.request_multiplier, plan.instance_multiplier)
            ticket_count = tickets.accrue(player, cost)

        for line in lines:
            pot = line.pot
            pot.current_value += line.value_delta
            pot.seed_fund += line.seed_delta
            if line.value_delta or line.seed_delta:
                touched.add(pot.pk)
            increments.append(PotIncrement(
                contribution=contribution, pot=pot, value_delta=line.value_delta, seed_delta=line.seed_delta,
                overflow=line.overflow, value_after=line.value_after, generation=line.generation,
                draw=line.draw.evidence if line.draw else None))
        for line in won:
            pot = by_pk[line.pot.pk]
            # The pot's scheduled parameter change takes effect with its next generation (this
            # reseed); a retiring pot closes, its final win taking its reserve too.
            following = catalogue.pot_next_generation(pot, now=now)
            line.value_after += following.released
            retired = retired or following.ended
            win = _award(plan, line, contribution=contribution, player=player,
                         commitment=commitments.pop(line.pot.pk, None))
            result.wins.append(win)
            pot.current_value = pot.initial_seed
            pot.seed_fund -= win.seed_used
            pot.seed_deficit += win.seed_deficit
            pot.generation += 1
            touched.add(pot.pk)
            opened = _commitment_next(pot, now, dropped_at=now)
            if opened is not None:
                commitments[pot.pk] = opened
                new_commitments.append(opened)

        _fill(contribution, plan, player, house=house, tickets=ticket_count, now=now)
        highest = result.win
        contribution.result_json = jsonutil.dumps(result_payload(
            contribution, win=highest, pot_id=highest.pot.pot_id if highest else None))
        if plan.optin is not None and plan.optin.opted_in:
            optin_counts[plan.optin.pk] += 1

    _write(instance, applied, results, increments=increments, new_commitments=new_commitments,
           pots=[by_pk[pk] for pk in sorted(touched)], tickets=tickets, optin_counts=optin_counts, now=now, ids=ids)
    return results


def players_batch_touch(items: list[Item]) -> dict:
    """The items' players, inserted or refreshed (`players_touch`), with their exclusion as it
    stands now."""
    return players_touch([(item.plan.brand, item.plan.request, item.contribution.player_id) for item in items])


def _admissible(instance, state: str, items: list[Item], results: list[Applied],
                stored: dict[tuple, Contribution]) -> list[tuple[int, Item]]:
    """Step 2: the items that can be applied, in order; the others get their error or duplicate."""
    if state != JackpotInstance.State.ACTIVE:
        for result in results:
            result.error = rejected("InstanceNotActive", f"instance {instance.pk} is {state}")
        return []
    debits = _standing_debits([item for item in items if item.debit is not None])
    seen: dict[tuple, int] = {}
    admitted = []
    for index, item in enumerate(items):
        contribution, result = item.contribution, results[index]
        key = key_of(contribution)
        if contribution.pk is None and key in stored:
            result.duplicate_of = stored[key]
        elif key in seen:
            result.duplicate_of = items[seen[key]].contribution  # replayed once the first is stored
        elif item.debit is not None and item.debit.pk not in debits:
            result.error = DomainError(
                "WALLET_DEBIT_CANCELLED", "The debit was cancelled before the contribution was recorded; "
                "send it again")
        else:
            seen[key] = index
            admitted.append((index, item))
    return admitted


def _not_excluded(live_items, players, results: list[Applied], now) -> list[tuple[int, Item]]:
    """Players excluded at `now` (the upsert read their status back, under the row lock it
    took) are refused, rule PlayerExcluded, with any repeat of theirs in this batch."""
    kept, refused = [], {}
    for index, item in live_items:
        player = players[(item.plan.brand.pk, item.plan.request.player_id)]
        if player.excluded_at(now):
            results[index].error = rejected("PlayerExcluded", f"player {player.player_id} is {player.exclusion_text()}")
            refused[id(item.contribution)] = results[index].error
        else:
            kept.append((index, item))
    for result in results if refused else ():
        if result.duplicate_of is not None and id(result.duplicate_of) in refused:
            result.duplicate_of, result.error = None, refused[id(result.duplicate_of)]
    return kept


def _standing_debits(items: list[Item]) -> set[int]:
    """Lock the Debits of the batch; those still standing (succeeded, not another's) may be linked."""
    if not items:
        return set()
    mine = {item.debit.pk: item.contribution.pk for item in items}
    rows = WalletTransaction.objects.select_for_update().filter(
        pk__in=list(mine), status=WalletTransaction.Status.SUCCEEDED).values_list("pk", "contribution_id")
    return {pk for pk, owner in rows if owner is None or owner == mine[pk]}


def _current_commitments(pots: list[Pot]) -> dict[int, DropCommitment]:
    committing = {p.pk: p.generation for p in pots if mechanic_of(p).commits}
    if not committing:
        return {}
    return {c.pot_id: c for c in DropCommitment.objects.filter(pot_id__in=list(committing))
            .filter(revealed_at__isnull=True) if c.generation == committing[c.pot_id]}


def _commitment_next(pot: Pot, now, *, dropped_at=None) -> DropCommitment | None:
    """The reseeded pot commits to its next drop at once (written with the batch)."""
    commitment = mechanic_of(pot).commit(pot, now=now, rng=randomness(), dropped_at=dropped_at)
    if commitment is None:
        return None
    return DropCommitment(pot=pot, generation=pot.generation, commitment=commitment.digest,
                          secret_text=commitment.secret_text, **commitment.fields)


def _award(plan, line: PotLine, *, contribution: Contribution, player, commitment: DropCommitment | None) -> Win:
    pot, instance, request = line.pot, plan.instance, plan.request
    exact = ledger(line.value_after * plan.rate)
    paid = payout(exact, plan.request_exponent)
    seed_used = min(pot.seed_fund, pot.initial_seed)  # the split of this contribution is already in
    withheld = instance.withhold_limit is not None and line.value_after > instance.withhold_limit
    win = Win(
        contribution=contribution, jackpot=instance, pot=pot, player=player, generation=line.generation,
        amount_base=line.value_after, amount=paid, payout_remainder=exact - paid,
        currency=request.currency, rate=plan.rate, reseed_value=pot.initial_seed,
        seed_used=seed_used, seed_deficit=pot.initial_seed - seed_used, withheld=withheld,
        status=Win.Status.WITHHELD if withheld else Win.Status.RECORDED,
        evidence={"draw": line.draw.evidence if line.draw else None},
    )
    if commitment is not None:  # the hidden drop point becomes public with the win
        win.commitment = commitment
        win.evidence["revealed"] = {"commitment": commitment.commitment, "secret": commitment.secret_text}
    return win


def _fill(contribution: Contribution, plan, player, *, house: Decimal, tickets, now) -> None:
    contribution.jackpot = plan.instance
    contribution.source = plan.route.source
    contribution.player = player
    contribution.amount = plan.amount
    contribution.amount_base = plan.amount_base
    contribution.house_amount = house
    contribution.rate = plan.rate
    contribution.player_funded = plan.player_funded
    contribution.tickets_awarded = tickets
    contribution.status = Contribution.Status.PROCESSED
    contribution.processed_at = now
    contribution.token = ""  # an async row's session token, kept until now for its wallet calls


def _write(instance, live_items, results, *, increments, new_commitments, pots, tickets, optin_counts, now,
           ids) -> None:
    """Step 4: every row in bulk, each pot once (in one statement)."""
    new = [item.contribution for _, item in live_items if item.contribution.pk is None]
    accepted = [item.contribution for _, item in live_items if item.contribution.pk is not None]
    bulk_insert(new, ids=ids)
    # Accepted async rows get their outcome, in one statement.
    updated = bulk_update(accepted, ["jackpot", "source", "player", "amount", "amount_base", "house_amount", "rate",
                                     "player_funded", "tickets_awarded", "status", "processed_at", "result_json",
                                     "token"], match=("created_month",))
    if updated != len(accepted):  # locked by the worker, so every one must be there
        raise DatabaseError(f"{len(accepted) - updated} accepted contributions were not found to update")
    for _, item in live_items:
        if item.debit is not None:
            WalletTransaction.objects.filter(pk=item.debit.pk).update(contribution=item.contribution)
    for increment in increments:  # partitioned (and archived) with its contribution: the same month
        increment.created_month = increment.contribution.created_month
    bulk_insert(increments)
    DropCommitment.objects.bulk_create(new_commitments)
    wins = [win for result in results for win in result.wins]
    Win.objects.bulk_create(wins)
    revealed = [win.commitment.pk for win in wins if win.commitment is not None]
    if revealed:
        DropCommitment.objects.filter(pk__in=revealed).update(revealed_at=now)
    for pot in pots:
        pot.updated_at = now
    bulk_update(pots, ["current_value", "seed_fund", "seed_deficit", "generation", "updated_at"])
    if tickets is not None:
        tickets.save(now)
    try:
        for count, pks in _grouped(optin_counts).items():
            OptIn.objects.filter(pk__in=pks).update(contribution_count=F("contribution_count") + count)
    except DatabaseError as exc:  # the batch's transaction is lost with it
        logger.exception("opt-in counters %s could not be updated", dict(optin_counts))
        raise DomainError("OPTIN_ERROR", "The player's opt-in record could not be updated") from exc

    for index, item in live_items:
        result, plan = results[index], item.plan
        for win in result.wins:
            if not win.withheld:
                credit = payments.credit_prepare(
                    win=win, contribution=item.contribution, brand=plan.brand, player_ref=plan.request.player_id,
                    token=plan.request.token, gameround_id=plan.request.gameround_id,
                    metadata_json=item.contribution.metadata_json)
                if credit is not None:
                    result.credits.append(credit.pk)
        if item.debit is not None and not result.wins:
            close = payments.round_close_prepare(contribution=item.contribution, brand=plan.brand,
                                                 token=plan.request.token)
            if close is not None:
                result.credits.append(close.pk)
    announce(instance, [(item.contribution, results[index].wins) for index, item in live_items])


def _grouped(counts: Counter) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for pk, count in counts.items():
        grouped.setdefault(count, []).append(pk)
    return grouped
