"""Schedules, lifecycle, seed boosts and adjustments, withheld wins -- every human decision
with a reason in History."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from contributions.models import Win
from contributions.selectors import reconcile_instance
from contributions.services import wins
from portal.errors import DomainError
from portal.roles import AUDITORS, OPS_STAFF
from sources import services
from sources.models import AdjustmentRequest, JackpotInstance, Pot, PotAdjustment, ScheduleWindow
from tests import factories
from tests.conftest import body_of


@pytest.fixture
def jackpot(currencies, operator, brand1):
    return factories.make_instance(operator=operator, name="Lifecycle", contribution_value=D("0.1"),
                                   pots=[factories.hit_rate_pot("main", share="0.9", seed="50", magic=10**9)])


def closed_window(instance) -> ScheduleWindow:
    """A window that does not contain now: an hour that starts two hours from now."""
    start = (timezone.now() + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    end = (datetime.combine(datetime.now(UTC).date(), start) + timedelta(hours=1)).time()
    return ScheduleWindow.objects.create(jackpot=instance, start_time=start, end_time=end)


def test_contribution_outside_a_schedule_window_is_refused_with_its_rule(gateway, contribution, jackpot):
    closed_window(jackpot)

    response = gateway.contribute(contribution(instance_id=str(jackpot.pk)))

    assert (response.status_code, body_of(response)["code"]) == (400, "CONTRIBUTION_REJECTED")
    assert body_of(response)["message"].startswith("OutsideScheduleWindow")


def test_inside_the_window_contributions_are_accepted(gateway, contribution, jackpot):
    ScheduleWindow.objects.create(jackpot=jackpot, start_time=time(0, 0), end_time=time(23, 59, 59, 999999))
    assert gateway.contribute(contribution(instance_id=str(jackpot.pk))).status_code == 200


def test_a_source_falls_through_to_the_next_jackpot_outside_the_happy_hour(gateway, contribution, jackpot, operator):
    source = factories.SourceFactory(operator=operator, source_id="slots")
    happy_hour = factories.make_instance(operator=operator, name="Happy hour", sources=[source],
                                         pots=[factories.hit_rate_pot("hh", share="1", magic=10**9)])
    factories.make_instance(operator=operator, name="Regular", sources=[],
                            pots=[factories.hit_rate_pot("r", share="1", magic=10**9)])
    regular = JackpotInstance.objects.get(name="Regular")
    source.mappings.create(jackpot=regular, priority=5)
    closed_window(happy_hour)

    result = body_of(gateway.contribute(contribution(source_id="slots")))

    assert result["instance_id"] == str(regular.pk)


@pytest.mark.parametrize(("days", "start", "end", "moment", "inside"), [
    ("", time(17), time(18), datetime(2026, 11, 20, 17, 30, tzinfo=UTC), True),  # daily happy hour
    ("", time(17), time(18), datetime(2026, 11, 20, 18, 0, tzinfo=UTC), False),
    ("5,6", time(0), time(23, 59), datetime(2026, 11, 21, 12, 0, tzinfo=UTC), True),  # Saturday
    ("5,6", time(0), time(23, 59), datetime(2026, 11, 20, 12, 0, tzinfo=UTC), False),  # Friday
    ("4", time(22), time(2), datetime(2026, 11, 21, 1, 0, tzinfo=UTC), True),  # Friday night into Saturday
    ("4", time(22), time(2), datetime(2026, 11, 22, 1, 0, tzinfo=UTC), False),  # Saturday night
])
def test_window_arithmetic(days, start, end, moment, inside):
    assert ScheduleWindow(days=days, start_time=start, end_time=end).contains(moment) is inside


def test_instances_activate_and_end_by_their_timestamps(currencies, operator):
    now = timezone.now()
    starting = factories.make_instance(operator=operator, name="Starting", state=JackpotInstance.State.PENDING,
                                       timestamp_start=now - timedelta(minutes=1),
                                       pots=[factories.hit_rate_pot("p", share="1")])
    ending = factories.make_instance(operator=operator, name="Ending", timestamp_end=now - timedelta(minutes=1),
                                     pots=[factories.hit_rate_pot("p", share="1")])

    assert services.instances_follow_schedule() == (1, 1)

    starting.refresh_from_db()
    ending.refresh_from_db()
    assert starting.state == JackpotInstance.State.ACTIVE and ending.state == JackpotInstance.State.TERMINATED
    assert ending.history.first().history_change_reason == "schedule: end time reached"


def test_pause_resume_terminate_with_reasons_in_history(jackpot, operator, staff_client, gateway, contribution):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    url = "/admin/sources/jackpotinstance/"

    ops.post(url, {"action": "pause", "_selected_action": [jackpot.pk], "apply": "yes", "reason": "suspicious play"})
    paused = gateway.contribute(contribution(instance_id=str(jackpot.pk)))
    ops.post(url, {"action": "resume", "_selected_action": [jackpot.pk], "apply": "yes", "reason": "all clear"})
    resumed = gateway.contribute(contribution(instance_id=str(jackpot.pk)))
    # Its pots hold money: terminated with a disposition of it (here, a transfer).
    successor = factories.make_instance(operator=operator, name="Next", pots=[factories.hit_rate_pot("main", share="1")])
    ops.post(f"{url}{jackpot.pk}/retire/", {"disposition": "transfer", "reason": "season over",
                                            f"target_{jackpot.pots.get().pk}": successor.pots.get().pk})
    ops.post(url, {"action": "resume", "_selected_action": [jackpot.pk], "apply": "yes", "reason": "oops"})

    assert body_of(paused)["message"].startswith("InstanceNotActive") and resumed.status_code == 200
    jackpot.refresh_from_db()
    assert jackpot.state == JackpotInstance.State.TERMINATED  # final
    reasons = [(r.history_user.username, r.history_change_reason) for r in jackpot.history.all()[:3]]
    assert reasons == [("olga", "season over (retired: 50.09 EUR transferred to Next / main)"),
                       ("olga", "all clear"), ("olga", "suspicious play")]
    page = ops.get(f"/admin/sources/jackpotinstance/{jackpot.pk}/history/").content.decode()
    assert "season over" in page and "olga" in page


def test_a_reason_is_required(jackpot, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    page = ops.post("/admin/sources/jackpotinstance/", {"action": "pause", "_selected_action": [jackpot.pk],
                                                        "apply": "yes", "reason": ""})
    assert page.status_code == 200 and "This field is required" in page.content.decode()
    with pytest.raises(DomainError, match="reason"):
        services.instance_set_state(instance=jackpot, state="Paused", actor=None, reason=" ")
    jackpot.refresh_from_db()
    assert jackpot.state == JackpotInstance.State.ACTIVE


def test_auditors_cannot_change_state(jackpot, operator, staff_client):
    auditor = staff_client("audrey", AUDITORS, everything=True)
    response = auditor.post("/admin/sources/jackpotinstance/", {"action": "pause", "_selected_action": [jackpot.pk],
                                                                "apply": "yes", "reason": "why not"})
    jackpot.refresh_from_db()
    assert jackpot.state == JackpotInstance.State.ACTIVE
    assert response.status_code in (200, 403)


def test_seed_boost_and_adjustment_are_audited_and_reconcile(jackpot, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    second = staff_client("bob", OPS_STAFF, operators=[operator])
    pot = Pot.objects.get(jackpot=jackpot)

    ops.post("/admin/sources/pot/", {"action": "seed_boost", "_selected_action": [pot.pk], "apply": "yes",
                                     "amount": "25", "reason": "marketing week"})
    ops.post("/admin/sources/pot/", {"action": "adjust_value", "_selected_action": [pot.pk], "apply": "yes",
                                     "amount": "10", "reason": "goodwill top-up"})
    ops.post("/admin/sources/pot/", {"action": "adjust_value", "_selected_action": [pot.pk], "apply": "yes",
                                     "amount": "-5.5", "reason": "correct a test contribution"})
    refused = ops.post("/admin/sources/pot/", {"action": "adjust_value", "_selected_action": [pot.pk], "apply": "yes",
                                               "amount": "-1000", "reason": "drain it"}, follow=True)
    request = AdjustmentRequest.objects.get(status="pending")  # a decrease waits for a second person
    second.post("/admin/sources/adjustmentrequest/", {"action": "approve", "_selected_action": [request.pk],
                                                      "apply": "yes", "reason": "checked the round"})

    pot.refresh_from_db()
    assert (pot.current_value, pot.seed_fund) == (D("54.5"), D("25"))
    assert "cannot go below its reset value" in refused.content.decode()
    adjustments = list(PotAdjustment.objects.filter(pot=pot).exclude(kind="initial_seed").order_by("id"))
    assert [(a.kind, a.value_delta, a.seed_delta, a.reason, a.actor.username,
             a.approved_by.username if a.approved_by else None) for a in adjustments] == [
        ("seed_boost", D("0"), D("25"), "marketing week", "olga", None),
        ("adjustment", D("10"), D("0"), "goodwill top-up", "olga", None),
        ("adjustment", D("-5.5"), D("0"), "correct a test contribution", "olga", "bob"),
    ]
    history = [r.history_change_reason for r in pot.history.all()[:2]]
    assert history[0] == "value -5.5: correct a test contribution (asked by olga, approved by bob: checked the round)"
    assert history[1].startswith("decrease of 5.5 asked for (request #")
    assert reconcile_instance(jackpot).ok


@pytest.fixture
def withheld(wallet, currencies, operator, brand1, gateway, contribution):
    """A win above the withhold limit, waiting for staff."""
    instance = factories.make_instance(operator=operator, contribution_value=D("1"), withhold_limit=D("40"),
                                       pots=[factories.hit_rate_pot("big", share="1", seed="50", cost="0.01",
                                                                    magic=1)])
    result = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), player_id="winner")))
    assert result["win_withheld"] is True
    return Win.objects.get(jackpot=instance)


@pytest.mark.django_db(transaction=True)
def test_approving_a_withheld_win_credits_it_with_history(withheld, wallet, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    assert wallet.calls("/wallet/transaction") == []  # withheld: the wallet was not called

    ops.post("/admin/contributions/win/", {"action": "approve", "_selected_action": [withheld.pk], "apply": "yes",
                                           "reason": "KYC checked"})

    withheld.refresh_from_db()
    assert withheld.decision_reason == "KYC checked"
    credits = wallet.calls("/wallet/transaction")
    assert [c.json["transaction_type"] for c in credits] == ["Credit"] and credits[0].json["amount"] == "51.00"
    record = withheld.history.filter(history_change_reason__startswith="approved").get()
    assert record.history_user.username == "olga" and record.history_change_reason == "approved: KYC checked"


def test_rejecting_a_withheld_win_returns_it_to_the_seed_fund(withheld, wallet, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    pot = withheld.pot
    seed_before = Pot.objects.get(pk=pot.pk).seed_fund

    ops.post("/admin/contributions/win/", {"action": "reject", "_selected_action": [withheld.pk], "apply": "yes",
                                           "reason": "bonus abuse"})

    withheld.refresh_from_db()
    assert withheld.status == Win.Status.REJECTED
    assert wallet.calls("/wallet/transaction") == []  # never paid
    assert Pot.objects.get(pk=pot.pk).seed_fund == seed_before + D("51")
    returned = PotAdjustment.objects.get(kind="win_return")
    assert returned.reason == f"win {withheld.pk} rejected: bonus abuse" and returned.actor.username == "olga"
    assert withheld.history.first().history_change_reason == "rejected: bonus abuse"
    assert reconcile_instance(withheld.jackpot).ok


def test_a_decided_win_cannot_be_decided_again(withheld):
    wins.win_approve(win=withheld, actor=None, reason="fine")
    with pytest.raises(DomainError, match="not withheld|recorded|pending"):
        wins.win_reject(win=withheld, actor=None, reason="changed my mind")


def test_reconcile_reports_a_difference_with_the_rows_behind_it(jackpot, capsys, gateway, contribution):
    gateway.contribute(contribution(instance_id=str(jackpot.pk)))
    Pot.objects.filter(jackpot=jackpot).update(current_value=D("1"))

    with pytest.raises(CommandError, match="do not reconcile"):
        call_command("reconcile", str(jackpot.pk))

    out = capsys.readouterr().out
    assert "pot main: value 1.00000000 (ledger 50.09000000)" in out
    assert "initial_seed +50.00000000" in out and "1 contribution increments: value +0.09000000" in out
