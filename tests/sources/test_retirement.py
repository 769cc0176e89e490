"""Retirement: terminating an instance whose pots hold money says where the money goes --
transferred to named pots (paired ledger rows, `reconcile` exact on both sides), kept running
until won, or paid out under a recorded decision that a second person approves."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from contributions.models import Win
from contributions.selectors import reconcile_instance
from contributions.services import wins as raffles
from players.services import optin_set
from portal.errors import DomainError
from portal.roles import OPS_STAFF
from sources import services
from sources.mechanics import use_randomness
from sources.models import JackpotInstance, Pot, PotAdjustment, PotTransfer, Retirement
from tests import factories
from tests.conftest import body_of
from tests.sources.test_live_changes import Decided

ACTIVE, PAUSED, TERMINATED = JackpotInstance.State.ACTIVE, JackpotInstance.State.PAUSED, JackpotInstance.State.TERMINATED


def holdings(instance) -> dict[str, tuple[D, D]]:
    return {p.pot_id: (p.current_value, p.seed_fund) for p in Pot.objects.filter(jackpot=instance)}


def total(instance) -> D:
    return sum((value + seed for value, seed in holdings(instance).values()), D(0))


@pytest.fixture
def retiring(currencies, operator, brand1, gateway, contribution):
    """An Active two-pot jackpot after a contribution of 1 EUR nobody won: values and seed funds."""
    instance = factories.make_instance(operator=operator, name="Old", contribution_value=D("0.1"), pots=[
        factories.hit_rate_pot("minor", share="0.4", seed_share="0.25", seed="10", tier=1, magic=1000),
        factories.hit_rate_pot("major", share="0.5", seed_share="0.2", seed="100", tier=2, magic=1000)])
    with use_randomness(Decided(win=False)):
        assert gateway.contribute(contribution(instance_id=str(instance.pk), base_wager=D("10"))).status_code == 200
    return instance


@pytest.fixture
def successor(operator):
    return factories.make_instance(operator=operator, name="New", pots=[
        factories.hit_rate_pot("main", share="0.9", seed="20", magic=1000)])


@pytest.fixture
def ops(operator, staff_client):
    return staff_client("olga", OPS_STAFF, operators=[operator])


@pytest.fixture
def second(operator, staff_client):
    return staff_client("bob", OPS_STAFF, operators=[operator])


def test_terminating_a_funded_instance_without_a_disposition_is_refused(retiring, ops):
    listed = ops.post("/admin/sources/jackpotinstance/", {"action": "terminate", "_selected_action": [retiring.pk],
                                                          "apply": "yes", "reason": "season over"}, follow=True)
    staff_page = ops.post(reverse("portal:instance-state", args=[retiring.pk]),
                          {"state": "Terminated", "reason": "season over"}, follow=True)

    assert "still hold money" in listed.content.decode()
    assert reverse("admin:sources_jackpotinstance_retire", args=[retiring.pk]) in listed.content.decode()
    assert "pots still hold 110.9 EUR" in staff_page.content.decode()
    with pytest.raises(DomainError, match="retire it with a disposition") as refused:
        services.instance_set_state(instance=retiring, state=TERMINATED, actor=ops.user, reason="season over")
    assert refused.value.code == "DISPOSITION_REQUIRED"
    retiring.refresh_from_db()
    assert retiring.state == ACTIVE


def test_a_transfer_empties_the_source_into_the_named_pots_and_reconcile_stays_exact(retiring, successor, ops):
    before = holdings(retiring)
    assert before == {"minor": (D("10.3"), D("0.1")), "major": (D("100.4"), D("0.1"))}
    target = successor.pots.get()
    page = reverse("admin:sources_jackpotinstance_retire", args=[retiring.pk])
    form = ops.get(page).content.decode()
    assert "New / main (EUR, Active)" in form  # the pots it may go to

    done = ops.post(page, {"disposition": "transfer", "reason": "replaced by New", "reference": "",
                           **{f"target_{p.pk}": target.pk for p in retiring.pots.all()}})

    assert done.status_code == 302, done.content.decode()[:3000]
    assert holdings(retiring) == {"minor": (D("0"), D("0")), "major": (D("0"), D("0"))}
    assert holdings(successor) == {"main": (D("20") + D("110.7"), D("0.2"))}  # value to value, seed fund to seed fund
    retiring.refresh_from_db()
    assert retiring.state == TERMINATED
    assert retiring.history.first().history_change_reason == (
        "replaced by New (retired: 110.9 EUR transferred to New / main)")
    legs = PotAdjustment.objects.filter(transfer__isnull=False).order_by("id")
    assert sorted((leg.pot.pot_id, leg.kind, leg.value_delta, leg.seed_delta) for leg in legs) == [
        ("main", "transfer_in", D("10.3"), D("0.1")), ("main", "transfer_in", D("100.4"), D("0.1")),
        ("major", "transfer_out", D("-100.4"), D("-0.1")), ("minor", "transfer_out", D("-10.3"), D("-0.1"))]
    assert all(leg.actor.username == "olga" for leg in legs)
    retirement = Retirement.objects.get(jackpot=retiring)
    assert (retirement.disposition, retirement.status, retirement.liability) == ("transfer", "done", D("110.9"))

    source_report, target_report = reconcile_instance(retiring), reconcile_instance(successor)
    assert source_report.ok and target_report.ok
    assert (source_report.transferred_out, target_report.transferred_in) == (D("110.9"), D("110.9"))
    call_command("reconcile", str(retiring.pk), str(successor.pk))  # raises if anything is off
    staff_page = ops.get(reverse("portal:instance", args=[successor.pk])).content.decode()
    assert "Old / major" in staff_page and "Transfers" in staff_page


def test_a_transfer_to_another_currency_is_converted_at_the_recorded_multipliers(retiring, operator, ops):
    sterling = factories.make_instance(operator=operator, name="Sterling", currency="GBP", pots=[
        factories.hit_rate_pot("main", share="0.9", seed="20", magic=1000)])
    target = sterling.pots.get()

    services.instance_retire(instance=retiring, disposition="transfer", actor=ops.user, reason="to the UK jackpot",
                             targets={p.pk: target for p in retiring.pots.all()})

    transfers = list(PotTransfer.objects.order_by("value_out"))
    assert [(t.value_out, t.value_in, t.source_multiplier, t.target_multiplier) for t in transfers] == [
        (D("10.3"), D("8.84976"), D("1"), D("0.8592")), (D("100.4"), D("86.26368"), D("1"), D("0.8592"))]
    assert holdings(sterling)["main"] == (D("20") + D("8.84976") + D("86.26368"), D("0.08592") * 2)
    assert reconcile_instance(retiring).ok and reconcile_instance(sterling).ok


def test_a_must_drop_target_takes_the_money_into_its_seed_fund(retiring, operator, ops):
    drop = factories.make_instance(operator=operator, name="Drop", pots=[
        {"pot_id": "drop", "share": D("0.9"), "initial_seed": D("10"), "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT,
         "drop_ceiling": D("500")}])
    target = drop.pots.get()

    services.instance_retire(instance=retiring, disposition="transfer", actor=ops.user, reason="into the drop pot",
                             targets={p.pk: target for p in retiring.pots.all()})

    # Only a contribution may bring it to its hidden drop point.
    assert holdings(drop)["drop"] == (D("10"), D("110.9"))
    assert reconcile_instance(drop).ok


def test_reconcile_finds_a_transfer_whose_rows_do_not_pair(retiring, successor, ops):
    services.instance_retire(instance=retiring, disposition="transfer", actor=ops.user, reason="replaced by New",
                             targets={p.pk: successor.pots.get() for p in retiring.pots.all()})
    transfer = PotTransfer.objects.order_by("id").first()
    PotTransfer.objects.filter(pk=transfer.pk).update(value_in=transfer.value_in - D("1"))

    report = reconcile_instance(successor)

    assert not report.ok and report.unpaired_transfers == [transfer.pk]


def test_kept_running_until_won_it_takes_no_new_opt_ins_and_ends_with_its_last_win(
        retiring, ops, brand1, gateway, contribution):
    retirement = services.instance_retire(instance=retiring, disposition="run_until_won", actor=ops.user,
                                          reason="last season")

    assert retirement.status == Retirement.Status.RUNNING
    with pytest.raises(DomainError, match="retiring"):
        optin_set(brand=brand1, player_id="newcomer", instance=retiring, opt_in=True)
    with pytest.raises(DomainError, match="retiring"):  # its pots close at their next win, nothing else
        services.pots_update(instance=retiring, pots=[Pot(**{**_fields(retiring.pots.get(pot_id="minor")),
                                                             "max_magic_number": 5})], actor=ops.user)
    with use_randomness(Decided(win=True)):
        first = body_of(gateway.contribute(contribution(instance_id=str(retiring.pk), player_id="ann")))

    # The biggest pot won: paid its value and its reserve, and closed.
    assert (first["win_pot_id"], first["win_amount"]) == ("major", D("100.44") + D("0.11"))
    major = Pot.objects.get(jackpot=retiring, pot_id="major")
    assert (major.mechanic, major.share, major.current_value, major.seed_fund) == ("Closed", D("0"), D("0"), D("0"))
    retiring.refresh_from_db()
    assert retiring.state == ACTIVE

    with use_randomness(Decided(win=True)):
        last = body_of(gateway.contribute(contribution(instance_id=str(retiring.pk), player_id="bea")))
        after = gateway.contribute(contribution(instance_id=str(retiring.pk), player_id="cid"))

    assert last["win_pot_id"] == "minor"
    assert holdings(retiring) == {"minor": (D("0"), D("0")), "major": (D("0"), D("0"))}
    retiring.refresh_from_db()
    assert retiring.state == TERMINATED
    assert retiring.history.first().history_change_reason == "last season (every pot won)"
    assert body_of(after)["message"].startswith("InstanceNotActive")
    retirement.refresh_from_db()
    assert retirement.status == Retirement.Status.DONE
    assert sorted(PotAdjustment.objects.filter(kind="reserve_release").values_list("pot__pot_id", "seed_delta")) == [
        ("major", D("-0.11")), ("minor", D("-0.12"))]
    assert reconcile_instance(retiring).ok


def _fields(pot: Pot) -> dict:
    return {f.attname: getattr(pot, f.attname) for f in Pot._meta.concrete_fields}


def test_a_payout_needs_a_recorded_decision_and_a_second_person(retiring, ops, second):
    with pytest.raises(DomainError, match="reference"):
        services.instance_retire(instance=retiring, disposition="payout", actor=ops.user, reason="closing the brand")
    retirement = services.instance_retire(instance=retiring, disposition="payout", actor=ops.user,
                                          reason="closing the brand", reference="MGA letter 2026/117")

    retiring.refresh_from_db()
    assert (retirement.status, retiring.state) == (Retirement.Status.AWAITING_APPROVAL, PAUSED)
    assert total(retiring) == D("110.9")  # nothing paid yet
    with pytest.raises(DomainError, match="cannot approve"):
        services.retirement_approve(retirement=retirement, actor=ops.user)
    with pytest.raises(DomainError, match="waits for approval"):
        services.instance_set_state(instance=retiring, state=ACTIVE, actor=ops.user, reason="oops")

    second.post("/admin/sources/retirement/", {"action": "approve", "_selected_action": [retirement.pk],
                                               "apply": "yes", "reason": "letter checked"})

    retirement.refresh_from_db()
    retiring.refresh_from_db()
    assert (retirement.status, retirement.decided_by.username, retiring.state) == ("done", "bob", TERMINATED)
    assert total(retiring) == D("0")
    payouts = PotAdjustment.objects.filter(kind="payout").order_by("pot__pot_id")
    assert [(p.pot.pot_id, p.value_delta, p.seed_delta, p.actor.username, p.approved_by.username)
            for p in payouts] == [("major", D("-100.4"), D("-0.1"), "olga", "bob"),
                                  ("minor", D("-10.3"), D("-0.1"), "olga", "bob")]
    assert all("MGA letter 2026/117" in p.reason for p in payouts)
    history = second.get(f"/admin/sources/retirement/{retirement.pk}/history/").content.decode()
    assert "MGA letter 2026/117" in history and "olga" in history and "bob" in history
    assert reconcile_instance(retiring).ok


def test_a_funded_jackpot_reaching_its_end_time_waits_for_a_disposition(retiring):
    JackpotInstance.objects.filter(pk=retiring.pk).update(timestamp_end=timezone.now() - timedelta(minutes=1))

    services.instances_follow_schedule()

    retiring.refresh_from_db()
    assert retiring.state == PAUSED
    assert retiring.history.first().history_change_reason == (
        "schedule: end time reached; its pots hold 110.9 EUR, waiting for a retirement (transfer or payout)")


def test_a_brand_scoped_user_cannot_transfer_outside_their_scope(currencies, operator, brand2, successor,
                                                                 staff_client):
    own = factories.make_instance(operator=operator, brand=brand2, name="Brand2 jackpot", pots=[
        factories.hit_rate_pot("main", share="0.9", seed="30", magic=1000)])
    brand_ops = staff_client("brenda", OPS_STAFF, brands=[brand2])
    page = brand_ops.get(reverse("admin:sources_jackpotinstance_retire", args=[own.pk])).content.decode()

    assert "New / main" not in page  # an operator-wide jackpot: not hers to change
    with pytest.raises(DomainError, match="outside your scope"):
        services.instance_retire(instance=own, disposition="transfer", actor=brand_ops.user, reason="move it",
                                 targets={own.pots.get().pk: successor.pots.get()})
    assert brand_ops.get(reverse("admin:sources_jackpotinstance_retire", args=[successor.pk])).status_code in (
        403, 404)
    assert total(own) == D("30") and total(successor) == D("20")


def test_a_one_off_raffle_with_a_prize_nobody_could_win_waits_for_a_disposition(
        currencies, operator, brand1, gateway, contribution):
    raffle = factories.make_instance(
        operator=operator, name="One-off raffle", jackpot_type=JackpotInstance.Type.RAFFLE,
        contribution_value=D("0.01"), ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        raffle_period_seconds=86400,
        pots=[{"pot_id": "first", "tier": 2, "share": D("0.6"), "initial_seed": D("100"),
               "mechanic": Pot.Mechanic.PRIZE},
              {"pot_id": "second", "tier": 1, "share": D("0.3"), "initial_seed": D("20"),
               "mechanic": Pot.Mechanic.PRIZE}])
    raffles.raffles_due()  # opens its period
    gateway.contribute(contribution(instance_id=str(raffle.pk), player_id="solo", base_wager=D("10")))
    JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_period_end=timezone.now() - timedelta(seconds=1))

    raffles.raffle_draw(raffle.pk)

    raffle.refresh_from_db()
    won = Win.objects.get()
    assert (won.pot.pot_id, won.amount_base, won.reseed_value) == ("first", D("100.06"), D("0"))  # not reseeded
    assert raffle.state == PAUSED
    assert "20.03 EUR in prizes nobody could win" in raffle.history.first().history_change_reason
    assert holdings(raffle) == {"first": (D("0"), D("0")), "second": (D("20.03"), D("0"))}
    assert reconcile_instance(raffle).ok
