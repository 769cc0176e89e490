"""Plan: everything decided before the ledger is touched (SPEC 2.3, 2.4.1-2.4.2, 2.8).

1. the idempotency key: a repeat replays the first outcome (or DUPLICATE_GAMEROUND);
2. routing, by source or by instance (`sources.selectors`);
3. the rules, in the spec's order, each failing as CONTRIBUTION_REJECTED naming the rule;
4. the amount, in the request currency and in the instance currency.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from contributions.models import Contribution, Win
from contributions.schemas import ContributionIn
from players.models import OptIn
from portal import clock, jsonutil
from portal.errors import DomainError, rejected
from portal.logs import log_bind
from portal.models import Brand
from portal.money import convert, ledger, plain, to_currency
from portal.selectors import currency_rates
from sources.models import JackpotInstance
from sources.selectors import (
    Route,
    fixed_contribution_value,
    in_schedule,
    in_window,
    route_by_instance,
    route_by_source,
)


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


def highest(wins: list[Win]) -> Win | None:
    """The win a SPEC 2.5 answer reports: the highest (ties: higher tier)."""
    return max(wins, key=lambda w: (w.amount_base, w.pot.tier, w.pot.pk)) if wins else None


@dataclass
class Outcome:
    """What the caller answers: the stored SPEC 2.5 body (or the accepted `{trace_id}`)."""

    contribution: Contribution
    body: str
    replayed: bool = False
    wins: list[Win] = field(default_factory=list)

    @property
    def win(self) -> Win | None:
        return highest(self.wins)


def contribution_find(*, brand: Brand, request: ContributionIn) -> Contribution | None:
    return Contribution.objects.filter(
        brand=brand,
        player_ref=request.player_id,
        gameround_id=request.gameround_id,
        target_kind=request.target_kind,
        target_id=request.target_id,
    ).first()


def key_of(contribution: Contribution) -> tuple:
    """A contribution's idempotency key (SPEC 2.8): brand, player, gameround and target as sent."""
    return (contribution.brand_id, contribution.player_ref, contribution.gameround_id,
            contribution.target_kind, contribution.target_id)


def contributions_stored(keys) -> dict[tuple, Contribution]:
    """Which of these idempotency keys are stored already, in one query: by the gameround
    index, the exact keys compared here. A condition on the brand would let the planner prefer
    the brand's index when its statistics are stale (a new month's partition), and scan every
    row of the brand: milliseconds per batch, growing with the table."""
    wanted = set(keys)
    if not wanted:
        return {}
    found = Contribution.objects.filter(gameround_id__in={key[2] for key in wanted},
                                        player_ref__in={key[1] for key in wanted})
    return {key: row for row in found if (key := key_of(row)) in wanted}


def contribution_new(*, brand: Brand, request: ContributionIn, **fields) -> Contribution:
    """The unsaved row of a request: its idempotency key and what it sent. The player's session
    token is not kept: a synchronous contribution uses it from the request; an accepted async
    one holds it only until processed, for its wallet calls (then cleared: apply._fill)."""
    return Contribution(
        brand=brand, player_ref=request.player_id, gameround_id=request.gameround_id,
        target_kind=request.target_kind, target_id=request.target_id, player_country=request.player_country,
        token=request.token if fields.get("is_async") else "", currency=request.currency,
        base_wager=request.base_wager, metadata_json=request.metadata_json, **fields,
    )


def replay(existing: Contribution, request: ContributionIn) -> Outcome:
    """The first outcome again, or DUPLICATE_GAMEROUND if the repeat is not the same contribution."""
    if existing.currency != request.currency or existing.base_wager != request.base_wager:
        raise DomainError(
            "DUPLICATE_GAMEROUND",
            f"Gameround {request.gameround_id} was already contributed with "
            f"{plain(existing.base_wager)} {existing.currency}",
        )
    body = jsonutil.dumps({"trace_id": str(existing.trace_id)}) if existing.is_async else existing.result_json
    log_bind(trace_id=existing.trace_id)
    return Outcome(contribution=existing, body=body, replayed=True)


def contribution_plan(*, brand: Brand, request: ContributionIn) -> Plan:
    if request.source_id is not None:
        route = route_by_source(brand=brand, source_id=request.source_id, country=request.player_country)
    else:
        route = route_by_instance(brand=brand, instance_id=request.instance_id)
    instance = route.instance

    # The opt-in brings its player (one join): an excluded player is refused before any Debit.
    optin = (
        OptIn.objects.select_related("player").filter(
            player__brand=brand, player__player_id=request.player_id, jackpot=instance).first()
        if instance.opt_in_required or instance.contribution_type == JackpotInstance.ContributionType.FIXED
        else None
    )

    # Rules, in the order of SPEC 2.4.1. PlayerExcluded comes first after the request's own
    # check; a player known here by no opt-in is checked by the batch (apply.py, its upsert).
    if request.base_wager < 0:
        raise rejected("NegativeBaseWager", "base_wager must not be negative")
    if optin is not None and optin.player.excluded_at(clock.now()):
        raise rejected("PlayerExcluded", f"player {request.player_id} is {optin.player.exclusion_text()}")
    if instance.opt_in_required and not (optin and optin.opted_in):
        raise rejected("OptInRequired", f"player {request.player_id} has not opted in to {instance.pk}")
    if instance.state != JackpotInstance.State.ACTIVE:
        raise rejected("InstanceNotActive", f"instance {instance.pk} is {instance.state}")
    now = clock.now()
    if not in_schedule(instance, now):
        raise rejected("InstanceNotActive", f"instance {instance.pk} is outside its schedule")
    if not in_window(instance, now):
        raise rejected("OutsideScheduleWindow",
                       f"instance {instance.pk} is closed at {now.astimezone(instance.zone):%a %H:%M} {instance.time_zone}")
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
