"""Pot mechanics and the money split (SPEC 2.4.4-2.4.7, 5.1)."""

import math
import random
from decimal import Decimal as D

import pytest

from contributions.models import Contribution, Win
from contributions.selectors import reconcile_instance
from contributions.services.apply import split
from sources import mechanics
from sources.models import Pot
from tests import factories
from tests.conftest import body_of


@pytest.mark.parametrize(("contribution", "cost", "magic"), [
    (D("0.10"), D("0.1"), 5),  # the SOP's quick-hit minor pot: 1 in 5
    (D("0.10"), D("0.1"), 25),  # major: 1 in 25
    (D("0.37"), D("0.1"), 50),  # a bigger bet buys proportionally more chance: 0.074
    (D("0.01"), D("0.05"), 4),  # 0.05
])
def test_hit_rate_frequency_matches_the_configured_probability(contribution, cost, magic):
    """200,000 draws from a seeded generator (so the test cannot flake); tolerance 4.5 sigma."""
    rng = random.Random(20261121)
    draws = 200_000
    hits = sum(
        mechanics.hit_rate(contribution_base=contribution, cost_per_attempt=cost, max_magic_number=magic,
                           randbelow=rng.randrange).hit
        for _ in range(draws)
    )
    p = float(contribution / (cost * magic))
    sigma = math.sqrt(draws * p * (1 - p))
    assert abs(hits - draws * p) < 4.5 * sigma, (hits, draws * p)


def test_hit_rate_is_certain_when_the_contribution_buys_every_attempt():
    draw = mechanics.hit_rate(contribution_base=D("1"), cost_per_attempt=D("0.1"), max_magic_number=5)
    assert draw.hit and draw.evidence["num"] >= draw.evidence["den"]


def test_a_zero_contribution_never_hits():
    draw = mechanics.hit_rate(contribution_base=D("0"), cost_per_attempt=D("0.1"), max_magic_number=1)
    assert not draw.hit


def test_hit_rate_evidence_records_inputs_and_outcome():
    draw = mechanics.hit_rate(contribution_base=D("0.1"), cost_per_attempt=D("0.1"), max_magic_number=5,
                              randbelow=lambda n: 3)
    assert draw.evidence == {"mechanic": "HitRate", "num": 10_000_000, "den": 50_000_000, "draw": 3, "hit": True}


def pots(*specs):
    return [Pot(pot_id=f"p{i}", current_value=D("0"), **spec) for i, spec in enumerate(specs)]


def test_split_rounds_shares_down_and_books_the_remainder_to_the_house():
    lines, house = split(D("0.33333333"), pots({"share": D("0.3"), "seed_share": D("0.15")},
                                               {"share": D("0.3"), "seed_share": D("0.15")},
                                               {"share": D("0.33"), "seed_share": D("0")}))
    parts = sum(line.value_delta + line.seed_delta for line in lines)
    assert parts + house == D("0.33333333")
    assert lines[0].value_delta + lines[0].seed_delta == D("0.09999999")  # 0.099999999 rounded down


def test_cap_overflow_goes_to_the_seed_fund():
    (line,), house = split(D("10"), [Pot(pot_id="p", share=D("1"), seed_share=D("0"), current_value=D("95"),
                                         cap=D("100"))])
    assert (line.value_delta, line.seed_delta, line.value_after, house) == (D("5"), D("5"), D("100"), D("0"))


def test_non_progressive_pot_keeps_its_value_and_funds_its_seed():
    (line,), _ = split(D("1"), [Pot(pot_id="p", share=D("0.5"), seed_share=D("0.1"), current_value=D("50"),
                                    is_progressive=False)])
    assert (line.value_delta, line.seed_delta) == (D("0"), D("0.5"))


@pytest.fixture
def certain_win(currencies, operator, brand1):
    """One pot that always hits, seeded at 10, with a seed fund too small to reseed in full."""
    return factories.make_instance(
        operator=operator,
        contribution_value=D("0.5"),
        pots=[factories.hit_rate_pot("jackpot", share="0.5", seed_share="0.2", seed="10", cost="0.01", magic=1)],
    )


def test_win_takes_the_pot_and_reseeds_it_recording_the_deficit(gateway, contribution, certain_win, wallet_mode):
    response = gateway.contribute(contribution(instance_id=str(certain_win.pk), base_wager=D("3")))

    result = body_of(response)
    # 1.5 EUR contributed: 0.75 to the pot, of which 0.15 to its seed fund; the pot was 10.
    assert (result["win_pot_id"], result["win_amount"]) == ("jackpot", D("10.6"))
    pot = Pot.objects.get(jackpot=certain_win)
    assert (pot.current_value, pot.seed_fund, pot.seed_deficit, pot.generation) == (
        D("10"), D("0"), D("9.85"), 2)
    win = Win.objects.get()
    # Without a wallet the operator pays; with one, a Credit goes out after commit.
    expected = Win.Status.RECORDED if wallet_mode is None else Win.Status.PENDING_CREDIT
    assert (win.seed_used, win.seed_deficit, win.status) == (D("0.15"), D("9.85"), expected)
    assert win.evidence["draw"]["hit"] is True
    assert reconcile_instance(certain_win).ok


def test_win_in_another_currency_is_paid_rounded_down_and_the_remainder_booked(gateway, contribution, certain_win):
    # 300 JPY wagered: 150 JPY contributed, about 0.92 EUR, far above the pot's cost per attempt,
    # so the draw is certain (a wager of a few yen would make it a coin toss).
    response = gateway.contribute(contribution(instance_id=str(certain_win.pk), base_wager=D("300"), currency="JPY"))

    result = body_of(response)
    win = Win.objects.get()
    # The pot (instance currency EUR) is paid in JPY: rounded down to whole yen, the fraction booked.
    exact = win.amount_base * D("162.35")
    assert result["win_amount"] == int(exact) == win.amount
    assert win.payout_remainder == (exact - int(exact)).quantize(D("0.00000001"))


def test_win_above_the_withhold_limit_is_marked_withheld(gateway, contribution, certain_win):
    certain_win.withhold_limit = D("10.5")
    certain_win.save()

    result = body_of(gateway.contribute(contribution(instance_id=str(certain_win.pk), base_wager=D("3"))))

    assert result["win_withheld"] is True
    assert Win.objects.get().status == Win.Status.WITHHELD


def test_highest_triggered_pot_wins_and_the_others_keep_their_value(gateway, contribution, currencies, operator, brand1):
    instance = factories.make_instance(operator=operator, contribution_value=D("1"), pots=[
        factories.hit_rate_pot("minor", share="0.3", seed="5", cost="0.01", magic=1, tier=1),
        factories.hit_rate_pot("major", share="0.3", seed="50", cost="0.01", magic=1, tier=2),
    ])

    result = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), base_wager=D("1"))))

    assert (result["win_pot_id"], result["win_amount"]) == ("major", D("50.3"))
    minor = Pot.objects.get(jackpot=instance, pot_id="minor")
    assert minor.current_value == D("5.3") and minor.generation == 1
    assert Contribution.objects.get().increments.get(pot=minor).draw["hit"] is True  # hit, but not awarded
    assert reconcile_instance(instance).ok
