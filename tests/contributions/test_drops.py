"""Must-drop jackpots with provable fairness (SPEC 5.2, 5.3)."""

import hashlib
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from contributions.models import Win
from contributions.selectors import drop_verification, reconcile_instance
from sources.models import DropCommitment, Pot
from tests import factories
from tests.conftest import body_of


def must_drop_amount(operator, *, seed="10", ceiling="12", share="1", **fields):
    return factories.make_instance(operator=operator, contribution_value=D("0.05"), **fields, pots=[
        {"pot_id": "drop", "share": D(share), "initial_seed": D(seed), "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT,
         "drop_ceiling": D(ceiling)}])


def test_every_drop_happens_at_its_committed_value_and_before_the_ceiling(gateway, contribution, currencies, operator,
                                                                         brand1):
    """30 pots, each contributed to until it drops; the drop never passes the ceiling, always
    happens at the contribution that reaches the committed value, and verifies."""
    for run in range(30):
        instance = must_drop_amount(operator, name=f"Drop {run}")
        pot = Pot.objects.get(jackpot=instance)
        committed = DropCommitment.objects.get(pot=pot, generation=1)
        assert D("10") <= committed.drop_amount < D("12")
        for n in range(100):
            result = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), base_wager=D("1.37"),
                                                             gameround_id=f"d{run}-{n}")))
            if result["win_pot_id"]:
                break
        win = Win.objects.get(jackpot=instance)
        increment = win.contribution.increments.get(pot=pot)
        assert increment.value_after - increment.value_delta < committed.drop_amount <= win.amount_base <= D("12")
        check = drop_verification(win)
        assert check["matches"] and check["consistent"]
        assert hashlib.sha256(committed.secret_text.encode()).hexdigest() == committed.commitment
        # The pot reseeded and committed to its next drop at once.
        pot.refresh_from_db()
        assert pot.generation == 2 and DropCommitment.objects.filter(pot=pot, generation=2).exists()
        assert reconcile_instance(instance).ok


def test_nobody_can_learn_the_drop_before_the_win(gateway, contribution, currencies, operator, brand1, staff_client):
    from portal.roles import AUDITORS

    instance = must_drop_amount(operator, ceiling="1000000")
    pot = Pot.objects.get(jackpot=instance)
    commitment = DropCommitment.objects.get(pot=pot)
    secret_value = f"{commitment.drop_amount:.8f}"
    salt = commitment.secret_text.split(":")[1]
    gateway.contribute(contribution(instance_id=str(instance.pk)))
    auditor = staff_client("auditor", AUDITORS, everything=True)

    seen = [
        gateway.get(f"/v1/thrillpots/instances/{instance.pk}").content.decode(),
        Client().get("/openapi.json").content.decode(),
        auditor.get(f"/admin/sources/jackpotinstance/{instance.pk}/change/").content.decode(),
        auditor.get(f"/admin/sources/pot/{pot.pk}/change/").content.decode(),
        auditor.get(f"/admin/sources/pot/{pot.pk}/history/").content.decode(),
        auditor.get("/admin/contributions/contribution/").content.decode(),
        auditor.get(f"/admin/contributions/contribution/{instance.contributions.get().pk}/change/").content.decode(),
        auditor.get("/admin/").content.decode(),
    ]
    published = body_of(gateway.get(f"/v1/thrillpots/instances/{instance.pk}"))["pots"][0]["drop_commitment"]

    assert published == commitment.commitment  # the commitment is public...
    for page in seen:
        assert secret_value not in page and salt not in page  # ...the value and the salt are not
    assert auditor.get("/admin/sources/dropcommitment/").status_code == 404  # not in the admin at all


def test_time_drop_happens_at_the_first_contribution_at_or_after_the_committed_time(
        gateway, contribution, currencies, operator, brand1, monkeypatch):
    instance = factories.make_instance(operator=operator, contribution_value=D("0.05"), pots=[
        {"pot_id": "daily", "share": D("1"), "initial_seed": D("5"), "mechanic": Pot.Mechanic.MUST_DROP_TIME,
         "drop_window_hours": 24}])
    commitment = DropCommitment.objects.get(pot__jackpot=instance)
    drop_at = commitment.drop_at
    real_now = timezone.now

    def at(moment):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    at(drop_at - timedelta(milliseconds=1))
    before = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="before")))
    at(drop_at + timedelta(minutes=3))  # sparse traffic: nobody came at the drop time itself
    first = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="first")))
    second = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="second")))
    monkeypatch.setattr(timezone, "now", real_now)

    assert before["win_pot_id"] is None
    assert first["win_pot_id"] == "daily" and first["win_amount"] == D("5.1")
    assert second["win_pot_id"] is None  # the next generation has a new drop time
    win = Win.objects.get()
    assert drop_verification(win)["matches"] and drop_verification(win)["consistent"]
    assert DropCommitment.objects.get(pot__jackpot=instance, generation=2).drop_at > drop_at


def test_verify_drop_command_and_public_page(gateway, contribution, currencies, operator, brand1, capsys):
    instance = must_drop_amount(operator, seed="1", ceiling="1.00000002")
    body_of(gateway.contribute(contribution(instance_id=str(instance.pk))))
    win = Win.objects.get()

    call_command("verify_drop", str(win.pk))
    page = Client().get(f"/verify/{win.pk}/").content.decode()

    out = capsys.readouterr().out
    assert "VERIFIED" in out and win.commitment.commitment in out
    assert "Verified" in page and win.commitment.secret_text in page and win.commitment.commitment in page
    assert Client().get("/verify/", {"win": win.pk}).status_code == 302


def test_verify_drop_detects_a_tampered_commitment(gateway, contribution, currencies, operator, brand1):
    instance = must_drop_amount(operator, seed="1", ceiling="1.00000002")
    gateway.contribute(contribution(instance_id=str(instance.pk)))
    win = Win.objects.get()
    DropCommitment.objects.filter(pk=win.commitment_id).update(secret_text="1.00000001:forged")

    with pytest.raises(CommandError, match="MISMATCH"):
        call_command("verify_drop", str(win.pk))
    assert "Mismatch" in Client().get(f"/verify/{win.pk}/").content.decode()


def test_hit_rate_wins_have_nothing_to_verify(gateway, contribution, currencies, operator, brand1):
    instance = factories.make_instance(operator=operator, contribution_value=D("1"),
                                       pots=[factories.hit_rate_pot("p", share="1", cost="0.01", magic=1)])
    gateway.contribute(contribution(instance_id=str(instance.pk)))
    with pytest.raises(CommandError, match="not a must-drop win"):
        call_command("verify_drop", str(Win.objects.get().pk))
