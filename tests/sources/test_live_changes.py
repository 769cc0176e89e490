"""Changes to live jackpots: a pot's parameters (share, seed, cap, ceiling, odds) change at its
next generation, after its next win; a decrease of a pot needs a second person and never goes
below its reset value; all of it in History, within the user's scope."""

from decimal import Decimal as D

import pytest
from django import forms

from contributions.models import Win
from contributions.selectors import reconcile_instance
from portal.errors import DomainError
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS, OPS_STAFF
from sources import services
from sources.mechanics import SCALE, use_randomness
from sources.models import AdjustmentRequest, JackpotInstance, Pot, PotAdjustment, PotChange
from tests import factories
from tests.conftest import body_of


class Decided:
    """The random source, decided: every draw hits (`win=True`) or none does."""

    def __init__(self, *, win: bool) -> None:
        self.win = win

    def randbelow(self, n: int) -> int:
        return 0 if self.win else n - 1

    def token_hex(self, nbytes: int) -> str:
        return "ab" * nbytes


def change_form_data(client, url: str) -> dict:
    """The admin change form posted back as a browser would, unchanged: the main form and
    every inline (whatever fields the page has today)."""
    response = client.get(url)
    assert response.status_code == 200
    data = {}

    def add(form):
        for bound in form:
            value, widget = bound.value(), bound.field.widget
            if isinstance(widget, forms.MultiWidget):
                parts = widget.decompress(value) if value and not isinstance(value, list) else (value or [])
                for index, part in enumerate(parts):
                    if part is not None:
                        data[f"{bound.html_name}_{index}"] = str(part)
            elif isinstance(widget, forms.CheckboxInput):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[bound.html_name] = [str(v) for v in value]
            elif value is not None:
                data[bound.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def pot_form_prefix(data: dict, pot: Pot) -> str:
    return next(name[:-len("-id")] for name, value in data.items()
                if name.startswith("pots-") and name.endswith("-id") and value == str(pot.pk))


@pytest.fixture
def live(currencies, operator, brand1):
    """An Active jackpot: one HitRate pot, 1 in 1000 per 0.10 of contribution."""
    return factories.make_instance(operator=operator, name="Live", contribution_value=D("0.1"),
                                   pots=[factories.hit_rate_pot("main", share="0.9", seed="50", cost="0.1",
                                                                magic=1000)])


def odds_of(response) -> int:
    """The odds the contribution's draw was made against: its evidence's denominator."""
    from contributions.models import PotIncrement

    increment = PotIncrement.objects.filter(contribution__trace_id=body_of(response)["trace_id"]).get()
    return increment.draw["den"] // int(D("0.1") * SCALE)  # cost per attempt 0.1


def test_live_odds_edited_in_the_admin_stay_in_force_until_the_next_win_then_change(
        live, operator, staff_client, gateway, contribution):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    pot = live.pots.get()
    url = f"/admin/sources/jackpotinstance/{live.pk}/change/"
    data = change_form_data(mapper, url)
    data[f"{pot_form_prefix(data, pot)}-max_magic_number"] = "10"

    saved = mapper.post(url, data)

    assert saved.status_code == 302, saved.content.decode()[:3000]
    pot.refresh_from_db()
    assert pot.max_magic_number == 1000  # in force until the next win
    change = PotChange.objects.get(pot=pot, status=PotChange.Status.PENDING)
    assert change.summary == "max_magic_number 1000 → 10" and change.requested_by.username == "mapper"
    # Shown as pending: the instance's pots, the pots list, the staff page; the reason in History.
    assert "max_magic_number 1000 → 10" in mapper.get(url).content.decode()
    assert "max_magic_number 1000 → 10" in mapper.get("/admin/sources/pot/").content.decode()
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    assert "max_magic_number 1000 → 10" in ops.get(f"/jackpots/{live.pk}/").content.decode()
    assert pot.history.first().history_change_reason.startswith(
        "scheduled for its next generation (after its next win): max_magic_number 1000 → 10")

    with use_randomness(Decided(win=False)):
        before_win = gateway.contribute(contribution(instance_id=str(live.pk)))
    with use_randomness(Decided(win=True)):
        winning = gateway.contribute(contribution(instance_id=str(live.pk)))
    with use_randomness(Decided(win=False)):
        after_win = gateway.contribute(contribution(instance_id=str(live.pk)))

    assert (odds_of(before_win), odds_of(winning), odds_of(after_win)) == (1000, 1000, 10)
    assert body_of(winning)["win_pot_id"] == "main"
    pot.refresh_from_db()
    change.refresh_from_db()
    assert (pot.max_magic_number, pot.generation, pot.pending_change) == (10, 2, None)
    assert (change.status, change.applied_generation) == (PotChange.Status.APPLIED, 2)
    took_effect = pot.history.first()
    assert took_effect.max_magic_number == 10 and took_effect.history_user is None  # the engine, "system"
    assert took_effect.history_change_reason.startswith("change #") and "scheduled by mapper" in \
        took_effect.history_change_reason
    history = mapper.get(f"/admin/sources/pot/{pot.pk}/history/").content.decode()
    assert "scheduled by mapper" in history and "system" in history
    assert reconcile_instance(live).ok


def test_a_new_seed_is_the_reset_value_of_the_next_generation(live, operator, gateway, contribution):
    pot = live.pots.get()
    pot.initial_seed = D("80")
    services.pots_update(instance=live, pots=[pot], actor=None, reason="bigger jackpot next time")

    with use_randomness(Decided(win=True)):
        gateway.contribute(contribution(instance_id=str(live.pk)))

    win = Win.objects.get()
    pot.refresh_from_db()
    assert (win.amount_base, win.reseed_value, pot.current_value) == (D("50.09"), D("80"), D("80"))
    assert pot.seed_deficit == D("80")  # the seed fund held nothing to pay for it: recorded
    assert reconcile_instance(live).ok


def test_editing_back_to_the_values_in_force_withdraws_the_pending_change(live):
    pot = live.pots.get()
    pot.max_magic_number = 10
    services.pots_update(instance=live, pots=[pot], actor=None)
    pot = Pot.objects.get(pk=pot.pk)
    pot.max_magic_number = 1000

    assert services.pots_update(instance=live, pots=[pot], actor=None) == []

    assert list(PotChange.objects.values_list("status", flat=True)) == [PotChange.Status.CANCELLED]
    assert Pot.objects.get(pk=pot.pk).pending_change is None


def test_a_draft_instance_changes_at_once(currencies, operator):
    draft = factories.make_instance(operator=operator, state=JackpotInstance.State.PENDING,
                                    pots=[factories.hit_rate_pot("main", share="0.9", magic=1000)])
    pot = draft.pots.get()
    pot.max_magic_number = 10

    assert services.pots_update(instance=draft, pots=[pot], actor=None) == []

    assert Pot.objects.get(pk=pot.pk).max_magic_number == 10 and not PotChange.objects.exists()


def test_shares_must_hold_whichever_pot_is_won_first(currencies, operator, staff_client):
    instance = factories.make_instance(operator=operator, pots=[
        factories.hit_rate_pot("minor", share="0.6", tier=1), factories.hit_rate_pot("major", share="0.3", tier=2)])
    minor, major = instance.pots.get(pot_id="minor"), instance.pots.get(pot_id="major")
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    url = f"/admin/sources/jackpotinstance/{instance.pk}/change/"
    data = change_form_data(mapper, url)
    data[f"{pot_form_prefix(data, minor)}-share"] = "0.3"
    data[f"{pot_form_prefix(data, major)}-share"] = "0.6"

    refused = mapper.post(url, data)

    # Were major won first, the pots would take 0.6 + 0.6 of every contribution.
    assert refused.status_code == 200 and "could add up to 1.2" in refused.content.decode()
    assert not PotChange.objects.exists()
    minor.share, major.share = D("0.3"), D("0.3")
    with pytest.raises(DomainError, match="add up to 0.7, not 1"):
        services.pots_update(instance=instance, pots=[minor, major], actor=None)


def test_a_live_jackpot_keeps_its_pots(live, operator, staff_client):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    url = f"/admin/sources/jackpotinstance/{live.pk}/change/"
    data = change_form_data(mapper, url)
    new = int(data["pots-TOTAL_FORMS"])
    data["pots-TOTAL_FORMS"] = str(new + 1)
    data.update({f"pots-{new}-{name}": value for name, value in {
        "pot_id": "bonus", "tier": "5", "share": "0", "seed_share": "0", "initial_seed": "0",
        "is_progressive": "on", "mechanic": "HitRate", "cost_per_attempt": "0.1", "max_magic_number": "10"}.items()})

    refused = mapper.post(url, data)

    assert refused.status_code == 200 and "keeps its pots" in refused.content.decode()
    assert live.pots.count() == 1


# --- decreases: four eyes ------------------------------------------------------------------


@pytest.fixture
def funded(live):
    """The live pot at 60 (seed 50): 10 above its reset value."""
    services.pot_adjust(pot=live.pots.get(), delta=D("10"), actor=None, reason="goodwill")
    return live.pots.get()


def test_a_decrease_by_one_person_does_nothing_until_a_second_approves_it(funded, operator, staff_client):
    olga = staff_client("olga", OPS_STAFF, operators=[operator])
    bob = staff_client("bob", OPS_STAFF, operators=[operator])
    page = f"/jackpots/{funded.jackpot_id}/"

    asked = olga.post(f"{page}pots", {"pot": funded.pk, "kind": "adjust", "amount": "-4", "reason": "test round"},
                      follow=True)

    assert "waits for a second person" in asked.content.decode()
    assert Pot.objects.get(pk=funded.pk).current_value == D("60")  # nothing moved
    request = AdjustmentRequest.objects.get()
    assert "test round" in olga.get(page).content.decode()  # listed as waiting on the staff page

    own = olga.post("/admin/sources/adjustmentrequest/", {"action": "approve", "_selected_action": [request.pk],
                                                          "apply": "yes", "reason": "looks fine"}, follow=True)

    assert "whoever asked for it cannot approve it" in own.content.decode()
    assert Pot.objects.get(pk=funded.pk).current_value == D("60")
    with pytest.raises(DomainError, match="cannot approve"):
        services.adjustment_request_approve(request=request, actor=olga.user)

    bob.post("/admin/sources/adjustmentrequest/", {"action": "approve", "_selected_action": [request.pk],
                                                   "apply": "yes", "reason": "checked the round"})

    assert Pot.objects.get(pk=funded.pk).current_value == D("56")
    request.refresh_from_db()
    booked = PotAdjustment.objects.get(kind="adjustment", value_delta=D("-4"))
    assert (request.status, request.decided_by.username, request.adjustment) == ("approved", "bob", booked)
    assert (booked.actor.username, booked.approved_by.username) == ("olga", "bob")
    history = bob.get(f"/admin/sources/adjustmentrequest/{request.pk}/history/").content.decode()
    assert "olga" in history and "bob" in history and "checked the round" in history
    assert reconcile_instance(funded.jackpot).ok


def test_an_auditor_cannot_approve_a_decrease(funded, staff_client):
    services.pot_adjust(pot=funded, delta=D("-4"), actor=None, reason="test round")
    auditor = staff_client("audrey", AUDITORS, everything=True)
    request = AdjustmentRequest.objects.get()

    auditor.post("/admin/sources/adjustmentrequest/", {"action": "approve", "_selected_action": [request.pk],
                                                       "apply": "yes", "reason": "why not"})

    assert AdjustmentRequest.objects.get().status == "pending"
    with pytest.raises(DomainError, match="permission"):
        services.adjustment_request_approve(request=request, actor=auditor.user)


def test_a_decrease_never_takes_a_pot_below_its_reset_value(funded, operator, staff_client, gateway, contribution):
    bob = staff_client("bob", OPS_STAFF, operators=[operator])
    with pytest.raises(DomainError, match="below its reset value 50"):
        services.pot_adjust(pot=funded, delta=D("-10.01"), actor=None, reason="too much")
    request = services.pot_adjust(pot=funded, delta=D("-8"), actor=None, reason="a fair correction")
    with use_randomness(Decided(win=True)):  # won meanwhile: back at its reset value
        gateway.contribute(contribution(instance_id=str(funded.jackpot_id)))

    with pytest.raises(DomainError, match="below its reset value"):
        services.adjustment_request_approve(request=request, actor=bob.user)

    assert Pot.objects.get(pk=funded.pk).current_value == D("50")
    assert AdjustmentRequest.objects.get().status == "pending"  # may still be rejected, with a reason


def test_a_brand_scoped_user_cannot_approve_outside_their_scope(funded, operator, brand2, staff_client):
    services.pot_adjust(pot=funded, delta=D("-4"), actor=None, reason="test round")
    request = AdjustmentRequest.objects.get()
    brand_ops = staff_client("brenda", OPS_STAFF, brands=[brand2])  # the instance is operator-wide

    brand_ops.post("/admin/sources/adjustmentrequest/", {"action": "approve", "_selected_action": [request.pk],
                                                         "apply": "yes", "reason": "mine?"})

    assert AdjustmentRequest.objects.get().status == "pending"
    with pytest.raises(DomainError, match="outside your scope"):
        services.adjustment_request_approve(request=request, actor=brand_ops.user)
