"""Linked jackpots (issue 16, ThrillPots' contribution v2): one bet feeds a daily, a weekly and a
monthly jackpot; one result per instance; a refusal refuses its own part only."""

from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from contributions.models import Contribution
from contributions.selectors import reconcile_instance
from sources import services as catalogue
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.conftest import body_of
from tests.contributions.conftest import NEVER

V2 = "/v2/jackpots/contribute"
RESULT_FIELDS = ["contribution_amount", "contribution_currency", "gameround_id", "instance_id", "metadata",
                 "tickets_awarded", "timestamp", "win_amount", "win_pot_id", "win_withheld", "trace_id"]


@pytest.fixture
def periods(currencies, operator, brand1):
    """casino-sitewide feeds the daily; the weekly and the monthly are linked to the daily, each
    with rules of its own (a GBP weekly; a fixed-value monthly)."""
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    daily = factories.make_instance(operator=operator, name="Daily", sources=[source], contribution_value=D("0.01"),
                                    pots=[factories.hit_rate_pot("daily", share="0.8", seed="10", magic=NEVER)])
    weekly = factories.make_instance(operator=operator, name="Weekly", linked_instance=daily, currency="GBP",
                                     contribution_value=D("0.005"),
                                     pots=[factories.hit_rate_pot("weekly", share="0.9", seed="100", magic=NEVER)])
    monthly = factories.make_instance(operator=operator, name="Monthly", linked_instance=daily,
                                      contribution_type=JackpotInstance.ContributionType.FIXED,
                                      contribution_value=D("0.05"),
                                      pots=[factories.hit_rate_pot("monthly", share="0.7", seed="1000", magic=NEVER)])
    return {"daily": daily, "weekly": weekly, "monthly": monthly}


def pot_value(instance) -> D:
    return Pot.objects.get(jackpot=instance).current_value


def test_one_bet_feeds_the_daily_weekly_and_monthly_and_a_replay_returns_the_same_list(gateway, contribution,
                                                                                        periods):
    body = contribution(source_id="casino-sitewide", base_wager=D("10"), metadata={"bet": "b-1"})

    first = gateway.post(V2, body)
    again = gateway.post(V2, body)

    assert first.status_code == 200 and "Idempotent-Replayed" not in first
    results = body_of(first)["results"]
    assert [r["instance_id"] for r in results] == [str(periods[name].pk) for name in ("daily", "weekly", "monthly")]
    assert all(list(result) == RESULT_FIELDS for result in results)  # each a v1 (SPEC 2.5) result
    # Each instance applied its own rules: 1% and 0.5% of the wager, and a fixed 0.05 EUR.
    assert [r["contribution_amount"] for r in results] == [D("0.1"), D("0.05"), D("0.05")]
    assert {r["contribution_currency"] for r in results} == {"EUR"} and len({r["trace_id"] for r in results}) == 3
    assert {r["gameround_id"] for r in results} == {body["gameround_id"]}
    assert all(r["metadata"] == {"bet": "b-1"} for r in results)
    # Ledgers exact: one contribution each, the pot moved by its share (the weekly in GBP).
    assert [periods[name].contributions.count() for name in ("daily", "weekly", "monthly")] == [1, 1, 1]
    assert pot_value(periods["daily"]) == D("10.08")
    assert pot_value(periods["weekly"]) == D("100") + D("0.05") * D("0.8592") * D("0.9")
    assert pot_value(periods["monthly"]) == D("1000.035")
    assert all(reconcile_instance(instance).ok for instance in periods.values())
    # The replay: the same bytes, marked, and nothing recorded twice.
    assert again.status_code == 200 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Contribution.objects.count() == 3 and pot_value(periods["daily"]) == D("10.08")


def test_a_paused_monthly_refuses_only_its_part(gateway, contribution, periods):
    monthly = periods["monthly"]
    catalogue.instance_set_state(instance=monthly, state=JackpotInstance.State.PAUSED, actor=None,
                                 reason="month-end audit")
    body = contribution(instance_id=str(periods["daily"].pk))

    first = gateway.post(V2, body)
    again = gateway.post(V2, body)

    assert first.status_code == 200
    daily, weekly, refused = body_of(first)["results"]
    assert (daily["instance_id"], weekly["instance_id"]) == (str(periods["daily"].pk), str(periods["weekly"].pk))
    assert daily["contribution_amount"] == D("0.01") and weekly["contribution_amount"] == D("0.005")
    assert refused == {"status_code": 400, "code": "CONTRIBUTION_REJECTED",
                       "message": f"InstanceNotActive: instance {monthly.pk} is Paused",
                       "instance_id": str(monthly.pk)}
    assert not monthly.contributions.exists() and pot_value(monthly) == D("1000")
    assert periods["daily"].contributions.count() == periods["weekly"].contributions.count() == 1
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert all(reconcile_instance(instance).ok for instance in periods.values())


def test_when_the_main_instance_refuses_nothing_is_contributed(gateway, contribution, periods):
    catalogue.instance_set_state(instance=periods["daily"], state=JackpotInstance.State.PAUSED, actor=None,
                                 reason="incident")

    response = gateway.post(V2, contribution(instance_id=str(periods["daily"].pk)))

    assert response.status_code == 400
    assert body_of(response) == {"status_code": 400, "code": "CONTRIBUTION_REJECTED",
                                 "message": f"InstanceNotActive: instance {periods['daily'].pk} is Paused"}
    assert not Contribution.objects.exists()


def test_v1_answers_as_before_for_the_main_instance_alone(gateway, contribution, periods):
    response = gateway.contribute(contribution(source_id="casino-sitewide", base_wager=D("10")))

    assert response.status_code == 200
    result = body_of(response)
    assert list(result) == RESULT_FIELDS and result["instance_id"] == str(periods["daily"].pk)
    assert Contribution.objects.count() == 1
    assert pot_value(periods["weekly"]) == D("100") and pot_value(periods["monthly"]) == D("1000")


def test_links_are_direct_only(gateway, contribution, periods):
    """Monthly linked to the weekly, the weekly to the daily: the daily feeds itself and the
    weekly; the weekly feeds itself and the monthly."""
    JackpotInstance.objects.filter(pk=periods["monthly"].pk).update(linked_instance=periods["weekly"])

    to_daily = body_of(gateway.post(V2, contribution(instance_id=str(periods["daily"].pk))))["results"]
    to_weekly = body_of(gateway.post(V2, contribution(instance_id=str(periods["weekly"].pk))))["results"]

    assert [r["instance_id"] for r in to_daily] == [str(periods["daily"].pk), str(periods["weekly"].pk)]
    assert [r["instance_id"] for r in to_weekly] == [str(periods["weekly"].pk), str(periods["monthly"].pk)]


def test_v2_is_synchronous_and_needs_a_service_token(gateway, contribution, periods):
    body = contribution(instance_id=str(periods["daily"].pk), callback={"web_hook": "https://example.com/hook"})

    with_callback = gateway.post(V2, body)
    anonymous = Client().post(V2, {}, content_type="application/json")

    assert with_callback.status_code == 400 and body_of(with_callback)["code"] == "INVALID_STRUCTURE"
    assert anonymous.status_code == 401 and body_of(anonymous)["code"] == "UNAUTHORIZED"
    assert not Contribution.objects.exists()
    assert V2 in Client().get("/openapi.json").content.decode()


def test_a_link_must_stay_within_the_operator_and_not_loop_on_itself(periods, currencies):
    daily = periods["daily"]
    other = factories.make_instance(operator=factories.OperatorFactory(id="otherop"), name="Other",
                                    pots=[factories.hit_rate_pot("p", share="1")])

    daily.linked_instance = daily
    with pytest.raises(ValidationError, match="cannot be linked to itself"):
        daily.full_clean()
    other.linked_instance = periods["weekly"]
    with pytest.raises(ValidationError, match="same operator"):
        other.full_clean()
