"""The hit-frequency audit (issue 15, item 3): for each HitRate pot, the hits its stored draws
recorded against the number their own odds make expected, with an exact two-sided test; a pot
whose random source makes it hit far too often is flagged, a fair one is not.

No luck involved: each pot draws from its own seeded generator, so every run sees the same
draws. In each jackpot the first pot draws fairly and the second from a source that makes it
hit three times as often as its odds say.
"""

import io
import random
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from contributions.models import PotIncrement
from contributions.reports import hit_audit, hit_probability_test
from portal import jsonutil
from sources.mechanics import use_randomness
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.conftest import body_of

CONTRIBUTIONS = 120


class FairAndBiased:
    """Draws for two HitRate pots in turn: the first from a fair seeded generator, the second
    from one that only draws in the lowest third of the range (three times the odds)."""

    def __init__(self, seed: int) -> None:
        self.fair, self.biased = random.Random(seed), random.Random(seed + 1)
        self.turn = 0

    def randbelow(self, n: int) -> int:
        self.turn += 1
        return self.fair.randrange(n) if self.turn % 2 else self.biased.randrange(max(n // 3, 1))

    def token_hex(self, nbytes: int) -> str:
        return f"{self.fair.getrandbits(8 * nbytes):0{2 * nbytes}x}"


def two_pots(**pot) -> list[dict]:
    return [factories.hit_rate_pot("fair", share="0.3", seed="5", tier=1, **pot),
            factories.hit_rate_pot("biased", share="0.3", seed="5", tier=2, **pot)]


def run(gateway, contribution, instance, *, wagers=None, seed: int) -> None:
    wager_of = random.Random(seed)
    with use_randomness(FairAndBiased(seed)):
        for number in range(CONTRIBUTIONS):
            wager = D(wager_of.randint(1, 20)) if wagers == "varied" else D("1")
            response = gateway.contribute(contribution(instance_id=str(instance.pk), brand_id="thrilltech:brand2",
                                                       base_wager=wager, gameround_id=f"{instance.name}-{number}"))
            assert response.status_code == 200, body_of(response)


@pytest.fixture
def fixed_odds(gateway, contribution, currencies, operator, brand2):
    """0.10 EUR a contribution against 0.1 x 5: every draw has odds 1 in 5."""
    instance = factories.make_instance(
        operator=operator, name="Fixed odds", contribution_type=JackpotInstance.ContributionType.FIXED,
        contribution_value=D("0.10"), pots=two_pots(cost="0.1", magic=5))
    run(gateway, contribution, instance, seed=20261201)
    return instance


@pytest.fixture
def varied_odds(gateway, contribution, currencies, operator, brand2):
    """10 % of wagers of 1 to 20 EUR against 1 x 10: odds from 1 in 100 to 1 in 5."""
    instance = factories.make_instance(operator=operator, name="Varied odds", contribution_value=D("0.1"),
                                       pots=two_pots(cost="1", magic=10))
    run(gateway, contribution, instance, wagers="varied", seed=20261202)
    return instance


def audits_of(instance) -> dict:
    return {pot.pot_id: hit_audit(pot) for pot in Pot.objects.filter(jackpot=instance)}


def test_with_the_same_odds_for_every_draw_the_exact_binomial_test_flags_only_the_biased_pot(fixed_odds, settings):
    audits = audits_of(fixed_odds)
    fair, biased = audits["fair"], audits["biased"]
    assert fair.draws == biased.draws == CONTRIBUTIONS
    assert fair.expected == pytest.approx(24) == biased.expected  # 120 x 1/5
    assert fair.method == biased.method == "exact binomial"
    assert not fair.flagged and fair.p_value > 0.01 and abs(fair.hits - 24) < 12
    assert biased.flagged and biased.p_value < 1e-9 and biased.hits > 2 * biased.expected
    assert fair.inconsistent == biased.inconsistent == 0
    # The threshold is a setting (HIT_AUDIT_ALPHA, 0.001 by default).
    settings.HIT_AUDIT_ALPHA = min(1.0, fair.p_value * 2)
    assert hit_audit(fair.pot).flagged


def test_with_odds_that_differ_per_draw_the_poisson_test_flags_only_the_biased_pot(varied_odds):
    audits = audits_of(varied_odds)
    fair, biased = audits["fair"], audits["biased"]
    draws = PotIncrement.objects.filter(pot=fair.pot)
    assert fair.expected == pytest.approx(sum(min(1, d.draw["num"] / d.draw["den"]) for d in draws))
    assert fair.method == biased.method == "exact Poisson"
    assert not fair.flagged and fair.p_value > 0.01
    assert biased.flagged and biased.p_value < 1e-6 and biased.hits > 2 * biased.expected


def test_a_draw_recorded_against_its_own_number_is_flagged(fixed_odds):
    fair = Pot.objects.get(jackpot=fixed_odds, pot_id="fair")
    missed = PotIncrement.objects.filter(pot=fair, draw__hit=False).first()
    missed.draw = {**missed.draw, "draw": 0}  # the number says hit, the record says miss
    missed.save(update_fields=["draw"])
    audit = hit_audit(fair)
    assert audit.inconsistent == 1 and audit.flagged


def test_the_exact_tests():
    # Ten fair coin tosses, no heads: P = 2 x (1/2)^10.
    assert hit_probability_test(hits=0, draws=10, expected=5, lowest=0.5, highest=0.5) == (
        "exact binomial", pytest.approx(0.001953125))
    assert hit_probability_test(hits=10, draws=100, expected=10, lowest=0.05, highest=0.15) == (
        "exact Poisson", 1.0)
    assert hit_probability_test(hits=0, draws=0, expected=0, lowest=0, highest=0) == ("", None)


def test_the_command_flags_the_biased_pot_and_fails(fixed_odds):
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 HitRate pots flagged"):
        call_command("hit_audit", str(fixed_odds.pk), stdout=out)
    lines = out.getvalue().splitlines()
    assert any("FLAG" in line and "Fixed odds / biased" in line for line in lines)
    assert any("OK" in line and "Fixed odds / fair" in line and "exact binomial" in line for line in lines)
    # Before any contribution there is nothing to judge.
    call_command("hit_audit", str(fixed_odds.pk), "--until", "2000-01-01", stdout=(empty := io.StringIO()))
    assert "0 draws" in empty.getvalue() and "No HitRate pot flagged" in empty.getvalue()


def test_the_page_and_the_api_within_scope(fixed_odds, staff_client, operator, brand2, service_token):
    brand3 = factories.BrandFactory(operator=operator, code="brand3")
    hidden = factories.make_instance(operator=operator, brand=brand3, name="Brand3 only",
                                     pots=[factories.hit_rate_pot("solo", share="1")])
    auditor = staff_client("audrey", "Auditors", brands=[brand2])
    page = auditor.get("/reports/hit-audit/").content.decode()
    assert "1 pot flagged." in page and "Fixed odds" in page and "Brand3 only" not in page
    body = jsonutil.loads(auditor.get("/api/reports/hit-audit").content)
    assert {(p["instance_name"], p["pot_id"], p["flagged"]) for p in body["pots"]} == {
        ("Fixed odds", "fair", False), ("Fixed odds", "biased", True)}
    assert auditor.get("/api/reports/hit-audit", {"instance_id": str(hidden.pk)}).status_code == 404
    service = Client(HTTP_AUTHORIZATION=f"Bearer {service_token}")
    body = jsonutil.loads(service.get("/api/reports/hit-audit", {"instance_id": str(fixed_odds.pk)}).content)
    assert body["alpha"] == D("0.001") and len(body["pots"]) == 2
