"""The contribution engine (SPEC 2.3-2.5, 2.8).

A contribution reads like the spec:

1. resolve the brand (FORBIDDEN / UNSUPPORTED_BRAND) and replay a known idempotency key;
2. route to an instance (by source or by instance);
3. apply the rules, each failing as CONTRIBUTION_REJECTED naming the rule;
4. compute the amount in the request currency and in the instance currency;
5. in one transaction: upsert the player, lock the instance's pots in primary-key order,
   split the amount between pots, seed funds and house, draw each pot's mechanic, award
   the highest triggered pot and reseed it, accrue raffle tickets, and write the ledger
   rows (contribution, increments, win) with the answer;
6. after commit, publish live events.

No network call happens inside the transaction.
"""

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from contributions import mechanics
from contributions.models import Contribution, PotIncrement, Win
from contributions.schemas import ContributionIn
from contributions.services import payments
from players.models import OptIn, Player, RaffleTicket
from portal import jsonutil, live
from portal.cache import TTLStore
from portal.db import insert_new, insert_parts
from portal.errors import DomainError, rejected
from portal.logs import log_bind
from portal.models import Brand
from portal.money import ZERO, convert, ledger, ledger_down, payout, plain, to_currency
from portal.selectors import brand_for_operator, currency_rates
from sources import services as catalogue
from sources.models import DropCommitment, JackpotInstance, Pot
from sources.selectors import (
    Route,
    fixed_contribution_value,
    in_schedule,
    in_window,
    instance_brand_codes,
    route_by_instance,
    route_by_source,
)

logger = logging.getLogger(__name__)

MUST_DROP = (Pot.Mechanic.MUST_DROP_AMOUNT, Pot.Mechanic.MUST_DROP_TIME)


@dataclass
class Plan:
    """Everything decided before the transaction: where the money goes and how much."""

    brand: Brand
    request: ContributionIn
    route: Route
    optin: OptIn | None
    amount: Decimal  # request currency
    amount_base: Decimal  # instance currency
    request_multiplier: Decimal
    instance_multiplier: Decimal
    request_exponent: int
    player_funded: bool

    @property
    def instance(self) -> JackpotInstance:
        return self.route.instance

    @property
    def rate(self) -> Decimal:
        return self.request_multiplier / self.instance_multiplier


@dataclass
class Outcome:
    contribution: Contribution
    body: str
    replayed: bool = False
    win: Win | None = None
    events: list = field(default_factory=list)


def epoch_ms(moment) -> int:
    return int(moment.timestamp() * 1000)


# --- 1. brand and idempotency -----------------------------------------------------------


def contribution_find(*, brand: Brand, request: ContributionIn) -> Contribution | None:
    return Contribution.objects.filter(
        brand=brand,
        player_ref=request.player_id,
        gameround_id=request.gameround_id,
        target_kind=request.target_kind,
        target_id=request.target_id,
    ).first()


def replay(existing: Contribution, request: ContributionIn) -> Outcome:
    """The first outcome again, or DUPLICATE_GAMEROUND if the repeat is not the same contribution."""
    if existing.currency != request.currency or existing.base_wager != request.base_wager:
        raise DomainError(
            "DUPLICATE_GAMEROUND",
            f"Gameround {request.gameround_id} was already contributed with "
            f"{plain(existing.base_wager)} {existing.currency}",
            status=409,
        )
    body = jsonutil.dumps({"trace_id": str(existing.trace_id)}) if existing.is_async else existing.result_json
    log_bind(trace_id=existing.trace_id)
    return Outcome(contribution=existing, body=body, replayed=True)


# --- 2-4. route, rules, amount ----------------------------------------------------------


def contribution_plan(*, brand: Brand, request: ContributionIn) -> Plan:
    if request.source_id is not None:
        route = route_by_source(brand=brand, source_id=request.source_id, country=request.player_country)
    else:
        route = route_by_instance(brand=brand, instance_id=request.instance_id)
    instance = route.instance

    optin = (
        OptIn.objects.filter(player__brand=brand, player__player_id=request.player_id, jackpot=instance).first()
        if instance.opt_in_required or instance.contribution_type == JackpotInstance.ContributionType.FIXED
        else None
    )

    # Rules, in the order of SPEC 2.4.1.
    if request.base_wager < 0:
        raise rejected("NegativeBaseWager", "base_wager must not be negative")
    if instance.opt_in_required and not (optin and optin.opted_in):
        raise rejected("OptInRequired", f"player {request.player_id} has not opted in to {instance.pk}")
    if instance.state != JackpotInstance.State.ACTIVE:
        raise rejected("InstanceNotActive", f"instance {instance.pk} is {instance.state}")
    now = timezone.now()
    if not in_schedule(instance, now):
        raise rejected("InstanceNotActive", f"instance {instance.pk} is outside its schedule")
    if not in_window(instance, now):
        raise rejected("OutsideScheduleWindow", f"instance {instance.pk} is closed at {now:%a %H:%M} UTC")
    countries = instance.country_set
    if countries and request.player_country not in countries:
        raise rejected("CountryNotAllowed", f"country {request.player_country} is not allowed")
    currencies = instance.currency_set
    if currencies and request.currency not in currencies:
        raise rejected("CurrencyNotAllowed", f"currency {request.currency} is not accepted")

    codes = {request.currency, instance.currency_id}
    preferred = optin.preferred_contribution_value if optin and optin.opted_in else None
    if preferred is not None and optin.currency:
        codes.add(optin.currency)
    rates = currency_rates(*codes, brand=brand)
    request_multiplier, request_exponent = rates[request.currency]
    instance_multiplier = rates[instance.currency_id][0]

    wager_base = convert(request.base_wager, request_multiplier, instance_multiplier)
    if instance.min_base_wager is not None and wager_base < instance.min_base_wager:
        raise rejected("MinBaseWager", f"base_wager is below {instance.min_base_wager} {instance.currency_id}")
    if instance.max_base_wager is not None and wager_base > instance.max_base_wager:
        raise rejected("MaxBaseWager", f"base_wager is above {instance.max_base_wager} {instance.currency_id}")

    player_funded = instance.opt_in_required
    if instance.contribution_type == JackpotInstance.ContributionType.FIXED:
        amount = fixed_contribution_value(instance, request.currency, rates=rates, preferred=preferred,
                                          preferred_currency=optin.currency if preferred is not None else None)
    else:
        amount = request.base_wager * instance.contribution_value
        # A player is charged whole minor units; operator-funded amounts keep ledger precision.
        amount = to_currency(amount, request_exponent) if player_funded else ledger(amount)

    return Plan(
        brand=brand, request=request, route=route, optin=optin, amount=amount,
        amount_base=convert(amount, request_multiplier, instance_multiplier),
        request_multiplier=request_multiplier, instance_multiplier=instance_multiplier,
        request_exponent=request_exponent, player_funded=player_funded,
    )


# --- 5. the transaction -----------------------------------------------------------------


@dataclass
class PotLine:
    pot: Pot
    value_delta: Decimal
    seed_delta: Decimal
    value_after: Decimal
    draw: mechanics.Draw | None = None


def split(amount_base: Decimal, pots: list[Pot]) -> tuple[list[PotLine], Decimal]:
    """Pot shares (rounded down), each divided between value and seed fund; the house gets
    the rest, so the parts always add up to the amount exactly."""
    lines = []
    for pot in pots:
        pot_share = ledger_down(amount_base * pot.share)
        seed = ledger_down(pot_share * pot.seed_share)
        value = pot_share - seed
        if not pot.is_progressive:
            seed, value = seed + value, ZERO
        cap = pot.cap
        if pot.mechanic == Pot.Mechanic.MUST_DROP_AMOUNT and pot.drop_ceiling is not None:
            cap = pot.drop_ceiling if cap is None else min(cap, pot.drop_ceiling)  # never past the ceiling
        if cap is not None and pot.current_value + value > cap:
            overflow = pot.current_value + value - cap
            overflow = min(overflow, value)
            value, seed = value - overflow, seed + overflow
        lines.append(PotLine(pot=pot, value_delta=value, seed_delta=seed, value_after=pot.current_value + value))
    house = amount_base - sum((line.value_delta + line.seed_delta for line in lines), ZERO)
    return lines, house


def pick_winner(lines: list[PotLine]) -> PotLine | None:
    """`Highest`: of the triggered pots, the one worth most after this contribution (ties: higher tier)."""
    hits = [line for line in lines if line.draw and line.draw.hit]
    if not hits:
        return None
    return max(hits, key=lambda line: (line.value_after, line.pot.tier, line.pot.pk))


def player_touch(*, brand: Brand, player_id: str, country: str, currency: str) -> Player:
    """Insert or refresh the player (country and currency as last seen) in one statement;
    a player seen a moment ago with the same country and currency is not written again.
    (Inside the contribution's transaction: the id is remembered only once it commits.)"""
    key = (brand.pk, player_id, country, currency)
    pk = _known_players.get(key)
    if pk is None:
        now = timezone.now()
        (player,) = Player.objects.bulk_create(
            [Player(brand=brand, player_id=player_id, country=country, currency=currency,
                    created_at=now, last_seen_at=now)],
            update_conflicts=True,
            unique_fields=["brand", "player_id"],
            update_fields=["country", "currency", "last_seen_at"],
        )
        if player.pk is None:  # backends that cannot return ids from an upsert
            player = Player.objects.get(brand=brand, player_id=player_id)
        pk = player.pk
        transaction.on_commit(lambda: _known_players.set(key, pk))
    return Player(pk=pk, brand=brand, player_id=player_id, country=country, currency=currency)


def _players_seconds() -> float:
    return 60.0 if settings.CATALOGUE_CACHE_SECONDS > 0 else 0.0


_known_players = TTLStore(_players_seconds)


class DuplicateKey(Exception):
    def __init__(self, existing: Contribution) -> None:
        self.existing = existing


def tickets_accrue(*, instance: JackpotInstance, period: int, player: Player, cost: Decimal) -> int:
    """Add `cost` to the player's raffle account for the current period; return new whole tickets."""
    ticket, _ = RaffleTicket.objects.select_for_update().get_or_create(jackpot=instance, period=period, player=player)
    before = int(ticket.accumulated_cost // instance.ticket_cost)
    after_cost = ticket.accumulated_cost + cost
    after = int(after_cost // instance.ticket_cost)
    RaffleTicket.objects.filter(pk=ticket.pk).update(accumulated_cost=after_cost, ticket_count=after)
    return after - before


def contribution_apply(plan: Plan, *, contribution: Contribution, player: Player, debit=None,
                       draws: dict | None = None) -> Outcome:
    """Steps 4-8 of SPEC 2.4 inside the caller's transaction. `contribution` is saved here
    (inserted if new, updated if it was an accepted async row).

    The common case -- HitRate pots without caps, and no pot hit -- takes the fast path: the
    pots are neither read nor locked until one statement adds the increments and writes
    them to the ledger, so the hot rows stay locked only for that statement and the commit.
    Everything else (a hit, caps, must-drop pots, raffles) locks the pots first and decides
    on their fresh values.
    """
    now = timezone.now()
    pots = list(plan.instance.pots.all())
    if draws is None:
        draws = draws_in_advance(plan)
    if draws and not any(d.hit for d in draws.values()):
        return _apply_unlocked(plan, contribution=contribution, player=player, debit=debit, pots=pots,
                               draws=draws, now=now)
    # Draws already made for this contribution are kept: drawing again after a hit would be a
    # second chance for the house.
    return _apply_locked(plan, contribution=contribution, player=player, debit=debit, draws=draws, now=now)


def draws_in_advance(plan: Plan) -> dict:
    """HitRate draws need no pot value, so they can be made before anything is locked (on
    PostgreSQL, for instances of HitRate pots without caps); {} when the pots must be read
    first. Once made, a draw is final: drawing again would give the house a second chance."""
    pots = list(plan.instance.pots.all())
    if connection.vendor != "postgresql" or not pots or plan.instance.is_raffle or not all(
            p.mechanic == Pot.Mechanic.HIT_RATE and p.cap is None for p in pots):
        return {}
    return {p.pk: mechanics.draw_for(p, contribution_base=plan.amount_base, value_after=p.current_value)
            for p in pots}


def _fill(contribution: Contribution, plan: Plan, player: Player, *, house: Decimal, tickets, now) -> None:
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


def _save(contribution: Contribution, plan: Plan) -> None:
    if contribution.pk is None:
        if not insert_new(contribution):
            existing = contribution_find(brand=plan.brand, request=plan.request)
            if existing is None:
                raise DomainError("DB_ERROR", "The contribution could not be stored", status=500)
            raise DuplicateKey(existing)
    else:
        contribution.save()


def _count_optin(plan: Plan) -> None:
    if plan.optin is not None and plan.optin.opted_in:
        try:  # no savepoint: a failure here aborts the whole contribution anyway
            OptIn.objects.filter(pk=plan.optin.pk).update(contribution_count=F("contribution_count") + 1)
        except DatabaseError as exc:
            logger.exception("opt-in %s could not be updated", plan.optin.pk)
            raise DomainError("OPTIN_ERROR", "The player's opt-in record could not be updated", status=500) from exc


def _close_round(plan: Plan, contribution: Contribution, debit) -> None:
    if debit is not None:
        credit = payments.round_close_prepare(contribution=contribution, brand=plan.brand)
        if credit is not None:
            from contributions import tasks

            tasks.enqueue_credit(credit.pk)


# Both fast-path statements add the increments `v` to the pots `locked` (locked in primary-key
# order, as the locked path does, so the paths never deadlock) and return the new values.
ADD_TO_POTS = """upd AS (
    UPDATE sources_pot AS p
       SET current_value = p.current_value + v.value_delta, seed_fund = p.seed_fund + v.seed_delta, updated_at = %s
      FROM v
     WHERE p.id = v.pot_id AND p.id IN (SELECT id FROM locked)
 RETURNING p.id, p.current_value, p.generation
)"""


def _increment_values(lines, draws) -> tuple[str, list]:
    """The VALUES rows `v (pot_id, value_delta, seed_delta, draw)` of the fast-path statements."""
    rows = ", ".join(["(%s::bigint, %s::numeric, %s::numeric, %s::jsonb)"] * len(lines))
    params = [x for line in lines for x in (line.pot.pk, line.value_delta, line.seed_delta,
                                            jsonutil.dumps(draws[line.pot.pk].evidence))]
    return rows, params


# One statement: lock the pots while the instance is still Active, add the increments, write
# the ledger rows.
INCREMENTS_SQL = """
WITH v (pot_id, value_delta, seed_delta, draw) AS (VALUES {rows}),
locked AS MATERIALIZED (
    SELECT p.id FROM sources_pot AS p
     WHERE p.id IN (SELECT pot_id FROM v)
       AND EXISTS (SELECT 1 FROM sources_jackpotinstance AS i WHERE i.id = p.jackpot_id AND i.state = 'Active')
     ORDER BY p.id
       FOR UPDATE OF p
),
{add_to_pots}
INSERT INTO contributions_potincrement (contribution_id, pot_id, value_delta, seed_delta, value_after, generation, draw)
SELECT %s, upd.id, v.value_delta, v.seed_delta, upd.current_value, upd.generation, v.draw
  FROM upd JOIN v ON v.pot_id = upd.id
RETURNING pot_id
""".replace("{add_to_pots}", ADD_TO_POTS)


def _apply_unlocked(plan: Plan, *, contribution, player, debit, pots, draws, now) -> Outcome:
    """No pot was hit: add the increments to the pots and write them, in one statement that
    also checks, at that moment, that the instance is still Active."""
    lines, house = split(plan.amount_base, pots)
    _fill(contribution, plan, player, house=house, tickets=None, now=now)
    contribution.result_json = jsonutil.dumps(result_payload(contribution, win=None, pot_id=None))
    _save(contribution, plan)
    if debit is not None:
        payments.debit_link(debit, contribution)
    _count_optin(plan)
    rows, params = _increment_values(lines, draws)
    with connection.cursor() as cursor:
        cursor.execute(INCREMENTS_SQL.format(rows=rows), [*params, now, contribution.pk])
        written = cursor.fetchall()
    if len(written) != len(lines):
        raise rejected("InstanceNotActive", f"instance {plan.instance.pk} is no longer active")
    _close_round(plan, contribution, debit)
    announce(plan.instance, win=None, contribution=contribution, pot_id=None)
    return Outcome(contribution=contribution, body=contribution.result_json)


# The fast path in one statement, outside any transaction (autocommit): insert the
# contribution while the instance is Active (ON CONFLICT DO NOTHING: the idempotency check),
# then, only if it was inserted, lock the pots in primary-key order, add the increments and
# write the ledger. One round trip and one commit; a statement is atomic on its own.
ONE_STATEMENT_SQL = """
WITH v (pot_id, value_delta, seed_delta, draw) AS (VALUES {rows}),
c AS (
    INSERT INTO contributions_contribution ({columns})
    SELECT {placeholders}
     WHERE EXISTS (SELECT 1 FROM sources_jackpotinstance WHERE id = %s AND state = 'Active')
    ON CONFLICT DO NOTHING
    RETURNING id
),
locked AS MATERIALIZED (
    SELECT p.id FROM sources_pot AS p
     WHERE p.id IN (SELECT pot_id FROM v) AND EXISTS (SELECT 1 FROM c)
     ORDER BY p.id
       FOR UPDATE OF p
),
{add_to_pots},
inc AS (
    INSERT INTO contributions_potincrement (contribution_id, pot_id, value_delta, seed_delta, value_after,
                                            generation, draw)
    SELECT (SELECT id FROM c), upd.id, v.value_delta, v.seed_delta, upd.current_value, upd.generation, v.draw
      FROM upd JOIN v ON v.pot_id = upd.id
    RETURNING pot_id
)
SELECT (SELECT id FROM c), (SELECT count(*) FROM inc)
""".replace("{add_to_pots}", ADD_TO_POTS)


def _record_in_one_statement(plan: Plan, *, contribution: Contribution, player_pk: int, draws: dict) -> Outcome:
    """A new contribution of a known player, no Debit, no opt-in to count, no pot hit."""
    now = timezone.now()
    pots = list(plan.instance.pots.all())
    lines, house = split(plan.amount_base, pots)
    player = Player(pk=player_pk, brand=plan.brand, player_id=plan.request.player_id)
    _fill(contribution, plan, player, house=house, tickets=None, now=now)
    contribution.result_json = jsonutil.dumps(result_payload(contribution, win=None, pot_id=None))
    columns, placeholders, values = insert_parts(contribution)
    rows, params = _increment_values(lines, draws)
    with connection.cursor() as cursor:
        cursor.execute(ONE_STATEMENT_SQL.format(rows=rows, columns=columns, placeholders=placeholders),
                       [*params, *values, plan.instance.pk, now])
        contribution_id, written = cursor.fetchone()
    if contribution_id is None:
        existing = contribution_find(brand=plan.brand, request=plan.request)
        if existing is not None:
            raise DuplicateKey(existing)
        raise rejected("InstanceNotActive", f"instance {plan.instance.pk} is no longer active")
    if written != len(lines):  # cannot happen while pots are only ever added: say so loudly
        raise DomainError("DB_ERROR", f"contribution {contribution_id}: {written} of {len(lines)} pots written",
                          status=500)
    contribution.pk = contribution_id
    contribution._state.adding = False
    contribution._state.db = "default"
    announce(plan.instance, win=None, contribution=contribution, pot_id=None)  # autocommit: at once
    return Outcome(contribution=contribution, body=contribution.result_json)


def _apply_locked(plan: Plan, *, contribution, player, debit, draws, now) -> Outcome:
    """Lock the pots (primary-key order), decide on their fresh values, reseed a winner."""
    instance, request = plan.instance, plan.request
    pots = list(Pot.objects.select_for_update().filter(jackpot=instance).order_by("pk"))
    state, raffle_period = JackpotInstance.objects.filter(pk=instance.pk).values_list("state", "raffle_period").get()
    if state != JackpotInstance.State.ACTIVE:
        raise rejected("InstanceNotActive", f"instance {instance.pk} is {state}")
    lines, house = split(plan.amount_base, pots)

    winner = None
    commitments = {}
    if not instance.is_raffle:
        must_drop = {p.pk: p.generation for p in pots if p.mechanic in MUST_DROP}
        if must_drop:  # the pots are locked, so their current commitments are too
            commitments = {c.pot_id: c for c in DropCommitment.objects.filter(pot__in=list(must_drop))
                           if c.generation == must_drop[c.pot_id]}
        for line in lines:
            line.draw = draws.get(line.pot.pk) or mechanics.draw_for(
                line.pot, contribution_base=plan.amount_base, value_after=line.value_after,
                commitment=commitments.get(line.pot.pk), now=now)
        winner = pick_winner(lines)

    tickets = None
    if instance.is_raffle:
        cost = plan.amount_base
        if instance.ticket_basis == JackpotInstance.TicketBasis.BASE_WAGER:
            cost = convert(request.base_wager, plan.request_multiplier, plan.instance_multiplier)
        tickets = tickets_accrue(instance=instance, period=raffle_period, player=player, cost=cost)

    win = None
    if winner is not None:
        pot = winner.pot
        exact = ledger(winner.value_after * plan.rate)
        paid = payout(exact, plan.request_exponent)
        seed_used = min(pot.seed_fund + winner.seed_delta, pot.initial_seed)
        withheld = instance.withhold_limit is not None and winner.value_after > instance.withhold_limit
        win = Win(
            jackpot=instance, pot=pot, player=player, generation=pot.generation,
            amount_base=winner.value_after, amount=paid, payout_remainder=exact - paid,
            currency=request.currency, rate=plan.rate, reseed_value=pot.initial_seed,
            seed_used=seed_used, seed_deficit=pot.initial_seed - seed_used, withheld=withheld,
            status=Win.Status.WITHHELD if withheld else Win.Status.RECORDED,
            evidence={"draw": winner.draw.evidence if winner.draw else None},
        )
        revealed = commitments.get(pot.pk)
        if revealed is not None:  # the hidden drop point becomes public with the win
            win.commitment = revealed
            win.evidence["revealed"] = {"commitment": revealed.commitment, "secret": revealed.secret_text}

    _fill(contribution, plan, player, house=house, tickets=tickets, now=now)
    contribution.result_json = jsonutil.dumps(
        result_payload(contribution, win=win, pot_id=winner.pot.pot_id if winner else None))
    _save(contribution, plan)
    if debit is not None:
        payments.debit_link(debit, contribution)

    PotIncrement.objects.bulk_create([
        PotIncrement(
            contribution=contribution, pot=line.pot, value_delta=line.value_delta, seed_delta=line.seed_delta,
            value_after=line.value_after, generation=line.pot.generation,
            draw=line.draw.evidence if line.draw else None,
        )
        for line in lines
    ])
    for line in lines:
        if winner is not None and line is winner:
            Pot.objects.filter(pk=line.pot.pk).update(
                current_value=line.pot.initial_seed,
                seed_fund=F("seed_fund") + line.seed_delta - win.seed_used,
                seed_deficit=F("seed_deficit") + win.seed_deficit,
                generation=F("generation") + 1,
                updated_at=now,
            )
        elif line.value_delta or line.seed_delta:
            Pot.objects.filter(pk=line.pot.pk).update(
                current_value=F("current_value") + line.value_delta,
                seed_fund=F("seed_fund") + line.seed_delta,
                updated_at=now,
            )
    if win is not None:
        win.contribution = contribution
        win.save()
        if win.commitment_id:
            DropCommitment.objects.filter(pk=win.commitment_id).update(revealed_at=now)
        # The reseeded pot commits to its next drop at once.
        winner.pot.generation += 1
        catalogue.commitment_open(pot=winner.pot, generation=winner.pot.generation, now=now)
        if not win.withheld:
            credit = payments.credit_prepare(
                win=win, contribution=contribution, brand=plan.brand, player_ref=request.player_id,
                token=request.token, gameround_id=request.gameround_id, metadata_json=contribution.metadata_json)
            if credit is not None:
                from contributions import tasks

                tasks.enqueue_credit(credit.pk)
    else:
        _close_round(plan, contribution, debit)
    announce(instance, win=win, contribution=contribution, pot_id=winner.pot.pot_id if winner else None)
    _count_optin(plan)
    return Outcome(contribution=contribution, body=contribution.result_json, win=win)


def announce(instance: JackpotInstance, *, win: Win | None, contribution: Contribution, pot_id: str | None) -> None:
    """After commit: the pots moved (a coalesced JackpotUpdate follows) and, if won, WinEvent."""
    win_data = None
    if win is not None:
        brand = contribution.brand
        win_data = {
            "brand_id": brand.code, "player_id": contribution.player_ref,
            "source_id": contribution.source.source_id if contribution.source_id else None,
            "instance_id": str(instance.pk), "jackpot_name": instance.name,
            "timestamp": epoch_ms(contribution.processed_at), "win_pot_id": pot_id,
            "win_amount": plain(win.amount), "currency": win.currency, "win_withheld": win.withheld,
            "seed": plain(win.reseed_value),
            "metadata": jsonutil.Raw(contribution.metadata_json) if contribution.metadata_json is not None else None,
        }

    def publish() -> None:
        live.instance_changed(instance.pk)
        if win_data is not None:
            live.publish_win(operator_id=instance.operator_id, brand_codes=instance_brand_codes(instance),
                             winner_brand=win_data["brand_id"], player_id=win_data["player_id"], data=win_data)

    transaction.on_commit(publish, robust=True)


def result_payload(contribution: Contribution, *, win: Win | None, pot_id: str | None) -> dict:
    """SPEC 2.5: the sync body and the webhook `data` payload (seed field order, plus trace_id)."""
    return {
        "contribution_amount": plain(contribution.amount),
        "contribution_currency": contribution.currency,
        "gameround_id": contribution.gameround_id,
        "instance_id": str(contribution.jackpot_id),
        "metadata": jsonutil.Raw(contribution.metadata_json) if contribution.metadata_json is not None else None,
        "tickets_awarded": contribution.tickets_awarded,
        "timestamp": epoch_ms(contribution.processed_at),
        "win_amount": plain(win.amount) if win else 0,
        "win_pot_id": pot_id,
        "win_withheld": bool(win and win.withheld),
        "trace_id": str(contribution.trace_id),
    }


def contribution_record(*, operator_id: str, request: ContributionIn) -> Outcome:
    """A synchronous contribution: the whole of SPEC 2.4, answered with SPEC 2.5."""
    brand = brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
    try:
        plan = contribution_plan(brand=brand, request=request)
    except DomainError:
        # A repeat returns the first outcome even if the rules have changed since.
        existing = contribution_find(brand=brand, request=request)
        if existing is not None:
            return replay(existing, request)
        raise
    with payments.debit_turn(plan) as waited:
        if waited:  # a duplicate that waited for the first: its outcome is the answer (SPEC 2.8)
            existing = contribution_find(brand=brand, request=request)
            if existing is not None:
                return replay(existing, request)
        return _record_planned(plan)


def _record_planned(plan: Plan) -> Outcome:
    brand, request = plan.brand, plan.request
    contribution = Contribution(
        brand=brand, player_ref=request.player_id, gameround_id=request.gameround_id,
        target_kind=request.target_kind, target_id=request.target_id,
        player_country=request.player_country, token=request.token, currency=request.currency,
        base_wager=request.base_wager, metadata_json=request.metadata_json,
    )
    log_bind(trace_id=contribution.trace_id)  # its id from here on, the wallet's Debit included
    debit = payments.debit_for(plan)  # network: before the transaction, never inside it
    try:
        draws = draws_in_advance(plan)
        known = _known_players.get((brand.pk, request.player_id, request.player_country, request.currency))
        if (draws and not any(d.hit for d in draws.values()) and debit is None and known is not None
                and not (plan.optin is not None and plan.optin.opted_in) and connection.get_autocommit()):
            return _record_in_one_statement(plan, contribution=contribution, player_pk=known, draws=draws)
        with transaction.atomic():
            player = player_touch(brand=brand, player_id=request.player_id,
                                  country=request.player_country, currency=request.currency)
            return contribution_apply(plan, contribution=contribution, player=player, debit=debit, draws=draws)
    except DuplicateKey as duplicate:
        return replay(duplicate.existing, request)  # its Debit is the first request's: keep it
    except Exception as exc:
        if debit is not None:
            payments.debit_cancel(debit, cause=exc if isinstance(exc, DomainError) else None)
        raise
