"""Batch apply (the only apply path): a batch gives every contribution exactly the outcome it
would get applied one at a time in the same order.

One sequence -- HitRate hits on capped pots (overflow), must-drop by amount and by time,
withheld wins, a raffle, side bets debited at the reference wallet (with Credits for their
wins), duplicates inside and across batches -- is applied one by one and in
batches of 1, 7 and 64 with the same random source and clock; answers, ledgers, wins,
commitments, tickets, opt-in counters, WinEvents and the instances announced as changed must
be identical.
"""

import random
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contributions.models import Contribution, PotIncrement, WalletTransaction, Win
from contributions.schemas import parse_contribution
from contributions.selectors import reconcile_instance
from contributions.services import apply as applying
from contributions.services import payments
from contributions.services.plan import contribution_plan
from players.models import RaffleTicket
from players.services import optin_set
from portal import jsonutil, live
from portal.errors import DomainError
from sources.mechanics import use_randomness
from sources.models import DropCommitment, JackpotInstance, Pot
from tests import factories


class SeededRandomness:
    """A reproducible stand-in for the CSPRNG."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def randbelow(self, n: int) -> int:
        return self.random.randrange(n)

    def token_hex(self, nbytes: int) -> str:
        return f"{self.random.getrandbits(8 * nbytes):0{2 * nbytes}x}"


@pytest.fixture
def instances(currencies, operator, brand1, brand2):
    with use_randomness(SeededRandomness(7)):
        jackpot = factories.make_instance(
            operator=operator, name="Mixed", contribution_value=D("0.5"), withhold_limit=D("12"),
            pots=[
                factories.hit_rate_pot("minor", share="0.3", seed_share="0.1", seed="5", magic=3, tier=1, cap=D("9")),
                factories.hit_rate_pot("major", share="0.2", seed_share="0.2", seed="50", magic=40, tier=2),
                {"pot_id": "drop", "share": D("0.2"), "initial_seed": D("10"), "tier": 3,
                 "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT, "drop_ceiling": D("14")},
                {"pot_id": "hourly", "share": D("0.1"), "initial_seed": D("20"), "tier": 4,
                 "mechanic": Pot.Mechanic.MUST_DROP_TIME, "drop_window_hours": 1},
            ])
        raffle = factories.make_instance(
            operator=operator, name="Raffle", jackpot_type=JackpotInstance.Type.RAFFLE, contribution_value=D("0.1"),
            ticket_cost=D("0.25"), pots=[{"pot_id": "prize", "share": D("0.9"), "mechanic": Pot.Mechanic.PRIZE,
                                          "initial_seed": D("100")}])
        side_bet = factories.make_instance(
            operator=operator, name="Side bet", opt_in_required=True,
            contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.50"),
            pots=[factories.hit_rate_pot("side", share="0.8", seed="5", magic=6, cost="0.1", tier=1)])
    for player in ("p0", "p1", "p2", "p3"):
        for brand in (brand1, brand2):
            optin_set(brand=brand, player_id=player, instance=side_bet, opt_in=True, contribution_value=None,
                      currency="EUR", country="MT", actor=None, reason="test")
    return {"jackpot": jackpot, "raffle": raffle, "side_bet": side_bet}


def sequence(instances, brands) -> list[dict]:
    """80 contributions: 4 players over two brands, wagers from 0.3 to 9, every 9th a repeat."""
    rng = random.Random(3)
    bodies = []
    for n in range(80):
        target = (instances["raffle"] if n % 5 == 4 else instances["side_bet"] if n % 5 == 2
                  else instances["jackpot"])
        if n % 9 == 8:
            bodies.append(dict(bodies[rng.randrange(len(bodies))]))  # a duplicate
            continue
        brand = brands[n % 2]
        bodies.append({
            "token": "t", "brand_id": f"{brand.operator_id}:{brand.code}", "player_id": f"p{n % 4}",
            "player_country": "MT", "instance_id": str(target.pk), "gameround_id": f"r{n}",
            "currency": "EUR" if n % 3 else "GBP", "base_wager": D(rng.randrange(3, 90)) / 10,
        })
    return bodies


def run(instances, brands, batch_size: int | None, now, monkeypatch) -> dict:
    """Apply the sequence (one by one if batch_size is None), snapshot everything, roll back."""
    published = []
    monkeypatch.setattr(live, "instance_changed", lambda pk: published.append(("changed", str(pk))))
    monkeypatch.setattr(live, "publish_win", lambda **kw: published.append(
        ("win", kw["data"]["player_id"], kw["data"]["win_pot_id"], kw["data"]["win_amount"])))
    snapshot = {}

    class Done(Exception):
        pass

    try:
        with use_randomness(SeededRandomness(11)), transaction.atomic():
            items, refused = [], []
            for n, body in enumerate(sequence(instances, brands)):
                request = parse_contribution(jsonutil.dumps(body).encode())
                brand = next(b for b in brands if f"{b.operator_id}:{b.code}" == body["brand_id"])
                plan = contribution_plan(brand=brand, request=request)
                try:  # a side bet is debited at brand1's reference wallet; brand2 has none
                    debit = payments.debit_for(plan)
                except DomainError as error:
                    refused.append((body["gameround_id"], error.code, error.message))
                    continue
                contribution = Contribution(
                    brand=brand, player_ref=request.player_id, gameround_id=request.gameround_id,
                    target_kind=request.target_kind, target_id=request.target_id, player_country="MT",
                    token="t", currency=request.currency, base_wager=request.base_wager,
                    trace_id=uuid.UUID(int=n))
                items.append(applying.Item(plan=plan, contribution=contribution, debit=debit))
            answers = []
            size = batch_size or 1
            # Batches never mix instances: consecutive items of one instance form a batch.
            groups, current = [], []
            for item in items:
                if current and (len(current) == size or current[-1].plan.instance.pk != item.plan.instance.pk):
                    groups.append(current)
                    current = []
                current.append(item)
            groups.append(current)
            for group in groups:
                for result in applying.batch_apply(group[0].plan.instance, group, now=now):
                    answers.append(
                        ("error", result.error.code) if result.error else
                        ("duplicate", result.duplicate_of.gameround_id) if result.duplicate_of else
                        ("ok", result.contribution.result_json, [w.pot.pot_id for w in result.wins]))
            for _, publish, _ in transaction.get_connection().run_on_commit:
                publish()  # what would go out after commit (the live layer is recorded below)
            snapshot = {
                "answers": answers,
                "refused": refused,
                "wallet": list(WalletTransaction.objects.order_by("gameround_id", "kind", "win__pot__pot_id")
                               .values_list("gameround_id", "kind", "amount", "status", "contribution__gameround_id",
                                            "win__pot__pot_id")),
                "increments": list(PotIncrement.objects.filter(pot__jackpot__in=instances.values()).order_by(
                    "contribution__gameround_id", "pot__pot_id").values_list(
                    "contribution__gameround_id", "pot__pot_id", "value_delta", "seed_delta", "value_after",
                    "generation", "draw")),
                "wins": list(Win.objects.filter(jackpot__in=instances.values()).order_by("pot__pot_id", "generation")
                             .values_list("contribution__gameround_id", "pot__pot_id", "generation", "amount",
                                          "amount_base", "withheld", "seed_used", "seed_deficit",
                                          "commitment__commitment")),
                "commitments": list(DropCommitment.objects.filter(pot__jackpot__in=instances.values())
                                    .order_by("pot__pot_id", "generation").values_list(
                                        "pot__pot_id", "generation", "commitment", "secret_text", "revealed_at")),
                "pots": list(Pot.objects.filter(jackpot__in=instances.values()).order_by("pot_id").values_list(
                    "pot_id", "current_value", "seed_fund", "seed_deficit", "generation")),
                "tickets": list(RaffleTicket.objects.order_by("player__player_id").values_list(
                    "player__player_id", "accumulated_cost", "ticket_count")),
                "reconciled": [reconcile_instance(i).ok for i in instances.values()],
                # The WinEvents in order; the instances announced as changed (their JackpotUpdate is
                # coalesced: once per batch, however many contributions it held).
                "events": [event for event in published if event[0] == "win"],
                "changed": sorted({event[1] for event in published if event[0] == "changed"}),
            }
            raise Done
    except Done:
        pass
    return snapshot


def test_batches_of_any_size_give_the_outcomes_of_one_at_a_time(instances, brand1, brand2, wallet, monkeypatch):
    brands = [brand1, brand2]
    now = timezone.now() + timedelta(hours=2)  # past the hourly pot's committed time: it drops once
    one_by_one = run(instances, brands, None, now, monkeypatch)

    # The sequence exercises what it claims to.
    kinds = [a[0] for a in one_by_one["answers"]]
    assert kinds.count("duplicate") >= 5
    won = [pot for a in one_by_one["answers"] if a[0] == "ok" for pot in a[2]]
    assert {"minor", "drop", "hourly"} <= set(won)
    assert any(w[5] for w in one_by_one["wins"])  # a withheld win
    assert any(t[2] for t in one_by_one["tickets"])
    assert all(one_by_one["reconciled"])
    assert any("WalletRequired" in m for _, _, m in one_by_one["refused"])  # brand2's side bets: no wallet
    kinds_of_wallet_rows = Counter((kind, status) for _, kind, _, status, _, _ in one_by_one["wallet"])
    assert kinds_of_wallet_rows[("Debit", "succeeded")] >= 3 and kinds_of_wallet_rows[("Credit", "pending")] >= 1
    assert sum(e[0] == "win" for e in one_by_one["events"]) == len(one_by_one["wins"])

    for size in (1, 7, 64):
        assert run(instances, brands, size, now, monkeypatch) == one_by_one, f"batches of {size}"


def test_a_must_drop_pot_drops_on_the_contribution_that_reaches_its_point_even_when_a_random_pot_hits(
        currencies, operator, brand1):
    """SPEC 2.4.5: the must-drop promise holds against a simultaneous random hit; both win."""
    with use_randomness(SeededRandomness(1)):
        instance = factories.make_instance(operator=operator, contribution_value=D("1"), pots=[
            factories.hit_rate_pot("always", share="0.5", magic=1, cost="0.00000001", tier=9),
            {"pot_id": "big", "share": D("0.5"), "initial_seed": D("100"), "tier": 1,
             "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT, "drop_ceiling": D("500")}])
    commitment = DropCommitment.objects.get(pot__pot_id="big", pot__jackpot=instance)
    wager = (commitment.drop_amount - D("100")) * 2 + D("2")  # brings "big" past its point at once
    request = parse_contribution(jsonutil.dumps({
        "token": "t", "brand_id": "thrilltech:brand1", "player_id": "p", "player_country": "MT",
        "instance_id": str(instance.pk), "gameround_id": "g", "currency": "EUR", "base_wager": wager}).encode())
    plan = contribution_plan(brand=brand1, request=request)
    contribution = Contribution(brand=brand1, player_ref="p", gameround_id="g", target_kind=request.target_kind,
                                target_id=request.target_id, player_country="MT", token="t", currency="EUR",
                                base_wager=wager)
    (result,) = applying.batch_apply(instance, [applying.Item(plan=plan, contribution=contribution)])
    assert sorted(w.pot.pot_id for w in result.wins) == ["always", "big"]
    big = Win.objects.get(pot__pot_id="big", jackpot=instance)
    assert big.commitment_id == commitment.pk and big.contribution_id == contribution.pk
    from contributions.selectors import drop_verification

    check = drop_verification(big)
    assert check["matches"] and check["consistent"] and "gameround g" in check["crossing"]
    assert reconcile_instance(instance).ok


def test_a_batch_costs_the_same_queries_whatever_its_size(currencies, operator, brand1):
    """Queries are per batch, not per contribution: 1 or 40 contributions, same count."""
    instance = factories.make_instance(operator=operator, pots=[
        factories.hit_rate_pot("minor", share="0.5", magic=10**9), factories.hit_rate_pot("major", share="0.3",
                                                                                         magic=10**9)])

    def items(count: int, prefix: str) -> list:
        built = []
        for n in range(count):
            request = parse_contribution(jsonutil.dumps({
                "token": "t", "brand_id": "thrilltech:brand1", "player_id": f"p{n % 5}", "player_country": "MT",
                "instance_id": str(instance.pk), "gameround_id": f"{prefix}{n}", "currency": "EUR",
                "base_wager": 1}).encode())
            built.append(applying.Item(plan=contribution_plan(brand=brand1, request=request), contribution=Contribution(
                brand=brand1, player_ref=request.player_id, gameround_id=request.gameround_id,
                target_kind=request.target_kind, target_id=request.target_id, player_country="MT", token="t",
                currency="EUR", base_wager=request.base_wager)))
        return built

    one, forty = items(1, "a"), items(40, "b")
    with CaptureQueriesContext(connection) as single:
        applying.batch_apply(instance, one)
    with CaptureQueriesContext(connection) as batch:
        results = applying.batch_apply(instance, forty)
    if connection.vendor == "postgresql":
        # before the locks: keys, the contributions' ids; then lock instance, pots; players;
        # COPY of the contributions; ids and COPY of the increments; the pots in one UPDATE
        assert len(single) == len(batch) == 9
    else:  # SQLite caps the variables of one statement: a big insert goes in two
        assert len(batch) <= len(single) + 2
    assert all(r.error is None and r.duplicate_of is None for r in results)
    assert Contribution.objects.filter(jackpot=instance).count() == 41
    assert reconcile_instance(instance).ok
