"""Excluded players (issue 15): a self-exclusion or a cool-off until a date, set through the
service API or reported by the wallet's `auth` answer. Their contributions and opt-ins are
refused naming PlayerExcluded, a cool-off ends by itself, and a win that still reaches them
is withheld for staff."""

import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from contributions import tasks
from contributions.models import Contribution, WalletTransaction, Win
from contributions.services.wins import raffle_draw
from players.models import OptIn, Player
from players.services import optin_set
from portal.auth import service_authenticate
from portal.clock import FixedClock, use_clock
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of
from tests.contributions.conftest import NEVER

pytestmark = pytest.mark.django_db(transaction=True)

OPTIN_INSTANCE = "7d7c9a51-3f0e-4a57-9a0b-0c5c0b7e1a11"


@pytest.fixture
def jackpots(currencies, operator, brand1, brand2):
    pot = factories.hit_rate_pot
    optin = factories.make_instance(
        operator=operator, id=uuid.UUID(OPTIN_INSTANCE), name="Side bet", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
        pots=[pot("main", share="0.8", seed="10", magic=NEVER)])
    # Operator-funded, a percentage of the wager: the plan reads no opt-in for it, the batch
    # learns the player's status from its player upsert.
    percentage = factories.make_instance(
        operator=operator, name="Site-wide", contribution_value=D("0.01"),
        pots=[pot("main", share="0.8", seed="10", magic=NEVER)])
    raffle = factories.make_instance(
        operator=operator, name="Weekly raffle", jackpot_type=JackpotInstance.Type.RAFFLE,
        contribution_value=D("0.01"), ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        raffle_recurring=True, raffle_period_seconds=7 * 86400,
        pots=[{"pot_id": "prize", "share": D("0.9"), "initial_seed": D("100"), "mechanic": Pot.Mechanic.PRIZE}])
    return {"optin": optin, "percentage": percentage, "raffle": raffle}


def exclude(gateway, player_id, exclusion, until=None, brand="thrilltech:brand1"):
    body = {"brand_id": brand, "player_id": player_id, "exclusion": exclusion, "reason": "asked on the phone"}
    if until is not None:
        body["until"] = until.isoformat()
    return gateway.client.put("/v1/players/exclusion", body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {gateway.token}")


def refused_rule(response) -> str:
    assert response.status_code == 400, response.content
    body = body_of(response)
    assert body["code"] == "CONTRIBUTION_REJECTED"
    return body["message"]


def test_an_excluded_players_contributions_are_refused_naming_player_excluded(jackpots, brand1, gateway,
                                                                            contribution):
    optin_set(brand=brand1, player_id="p1", instance=jackpots["optin"], opt_in=True, currency="EUR")
    answer = exclude(gateway, "p1", "self_excluded")
    assert answer.status_code == 200, answer.content
    assert body_of(answer) | {"changed_at": None} == {
        "operator_id": "thrilltech", "brand_id": "brand1", "player_id": "p1", "exclusion": "self_excluded",
        "until": None, "in_force": True, "source": "service", "changed_at": None}

    side_bet = gateway.contribute(contribution(instance_id=OPTIN_INSTANCE, player_id="p1"))
    operator_funded = gateway.contribute(contribution(instance_id=str(jackpots["percentage"].pk), player_id="p1"))
    someone_else = gateway.contribute(contribution(instance_id=str(jackpots["percentage"].pk), player_id="p2"))

    assert refused_rule(side_bet) == "PlayerExcluded: player p1 is self-excluded"  # known from the opt-in
    assert refused_rule(operator_funded) == "PlayerExcluded: player p1 is self-excluded"  # from the batch's upsert
    assert someone_else.status_code == 200
    assert not Contribution.objects.filter(player_ref="p1").exists()
    assert not WalletTransaction.objects.exists()  # nothing was debited


def test_an_excluded_player_cannot_opt_in_but_can_opt_out(jackpots, brand1, gateway, service_account):
    optin_set(brand=brand1, player_id="p1", instance=jackpots["optin"], opt_in=True, currency="EUR")
    exclude(gateway, "p1", "self_excluded")
    token = service_authenticate(username="integration", password="service-pass")
    request = {"instance_id": OPTIN_INSTANCE, "player_id": "p1", "brand_id": "thrilltech:brand1"}

    with AsgiServer() as server, server.socket(f"/v1/events/service?token={token}") as socket:
        refused = socket.request({"PlayerOptInRequest": {**request, "opt_in": True}})
        out = socket.request({"PlayerOptInRequest": {**request, "opt_in": False}})

    assert (refused["msg_type"], refused["msg_name"], refused["data"]["code"]) == (
        "Error", "PlayerOptInRequest", "FORBIDDEN")
    assert refused["data"]["message"] == "PlayerExcluded: player p1 is self-excluded"
    assert out["msg_name"] == "OptInEvent" and out["data"]["opted_in"] is False
    assert OptIn.objects.get(player__player_id="p1").opted_in is False


def test_a_cool_off_ends_by_itself_at_its_date(jackpots, brand1, gateway, contribution):
    optin_set(brand=brand1, player_id="p1", instance=jackpots["optin"], opt_in=True, currency="EUR")
    now = timezone.now().replace(microsecond=0)
    ends = now + timedelta(days=1)
    clock = FixedClock(now)
    with use_clock(clock):
        assert exclude(gateway, "p1", "cool_off", until=ends).status_code == 200

        during = [gateway.contribute(contribution(instance_id=i, player_id="p1"))
                  for i in (OPTIN_INSTANCE, str(jackpots["percentage"].pk))]
        clock.moment = ends - timedelta(seconds=1)
        last_second = gateway.contribute(contribution(instance_id=str(jackpots["percentage"].pk), player_id="p1"))
        clock.moment = ends
        after = [gateway.contribute(contribution(instance_id=i, player_id="p1"))
                 for i in (OPTIN_INSTANCE, str(jackpots["percentage"].pk))]
        status = gateway.get("/v1/players/exclusion", brand_id="thrilltech:brand1", player_id="p1")

    until = f"{ends:%Y-%m-%d %H:%M} UTC"
    assert [refused_rule(r) for r in during] == [f"PlayerExcluded: player p1 is in a cool-off until {until}"] * 2
    assert refused_rule(last_second).startswith("PlayerExcluded")
    assert [r.status_code for r in after] == [200, 200]
    assert body_of(status)["exclusion"] == "cool_off" and body_of(status)["in_force"] is False


def test_a_raffle_win_reaching_a_player_excluded_after_opting_in_is_withheld(jackpots, brand1, gateway,
                                                                            contribution):
    raffle = jackpots["raffle"]
    tasks.draw_raffles()  # opens the first period
    assert gateway.contribute(contribution(instance_id=str(raffle.pk), player_id="p1",
                                           base_wager=D("10"))).status_code == 200  # 20 tickets
    exclude(gateway, "p1", "self_excluded")
    JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_period_end=timezone.now() - timedelta(seconds=1))

    raffle_draw(raffle.pk)

    win = Win.objects.get(jackpot=raffle)
    assert (win.player.player_id, win.withheld, win.status) == ("p1", True, Win.Status.WITHHELD)
    assert win.evidence["withheld_because"] == "PlayerExcluded: player p1 is self-excluded"
    assert not WalletTransaction.objects.filter(win=win).exists()  # not credited: staff decide


def test_the_wallets_auth_answer_excludes_a_player(jackpots, brand1, gateway, contribution, wallet):
    """The reference wallet says the player self-excluded: the player socket opens, the opt-in is
    refused, the status is recorded (source: the wallet), and every contribution is refused."""
    wallet.state.add_player("p1", "session-p1", "10", self_excluded=True)
    request = {"instance_id": OPTIN_INSTANCE, "player_id": "p1", "brand_id": "thrilltech:brand1", "opt_in": True}

    with AsgiServer() as server, server.socket("/v1/events/thrilltech/brand1?token=session-p1&currency=EUR") as s:
        refused = s.request({"PlayerOptInRequest": request})
    operator_funded = gateway.contribute(contribution(instance_id=str(jackpots["percentage"].pk), player_id="p1"))

    assert refused["data"] == {"code": "FORBIDDEN", "message": "PlayerExcluded: player p1 is self-excluded"}
    player = Player.objects.get(player_id="p1")
    assert (player.exclusion, player.exclusion_source) == ("self_excluded", "wallet")
    assert "reported at authentication" in player.history.latest().history_change_reason
    assert refused_rule(operator_funded) == "PlayerExcluded: player p1 is self-excluded"


def test_a_side_bet_checked_with_the_wallet_is_refused_when_the_wallet_excludes_the_player(
        jackpots, brand1, gateway, contribution, wallet):
    wallet.config.authenticate_contributions = True
    wallet.config.save()
    optin_set(brand=brand1, player_id="p1", instance=jackpots["optin"], opt_in=True, currency="EUR")
    cool_off = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    wallet.state.add_player("p1", "session-p1", "10", cool_off_until=cool_off.isoformat())

    response = gateway.contribute(contribution(instance_id=OPTIN_INSTANCE, player_id="p1", token="session-p1"))

    assert refused_rule(response) == f"PlayerExcluded: player p1 is in a cool-off until {cool_off:%Y-%m-%d %H:%M} UTC"
    assert wallet.calls("/wallet/transaction") == []  # never debited
    assert Player.objects.get(player_id="p1").excluded_until == cool_off


def test_the_exclusion_api_checks_what_it_is_given(jackpots, gateway, operator):
    factories.BrandFactory(operator=factories.OperatorFactory(id="other"), code="b")
    past = timezone.now() - timedelta(hours=1)

    no_end = exclude(gateway, "p1", "cool_off")
    ended = exclude(gateway, "p1", "cool_off", until=past)
    foreign = exclude(gateway, "p1", "self_excluded", brand="other:b")
    unknown = exclude(gateway, "p1", "banned")
    lifted = exclude(gateway, "p1", "none")

    assert [r.status_code for r in (no_end, ended, foreign, unknown)] == [400, 400, 403, 400]
    assert body_of(no_end)["message"] == "a cool-off needs `until`: the time it ends"
    assert body_of(lifted) | {"changed_at": None} == {
        "operator_id": "thrilltech", "brand_id": "brand1", "player_id": "p1", "exclusion": "none", "until": None,
        "in_force": False, "source": None, "changed_at": None}
    history = Player.objects.get(player_id="p1").history.latest()
    assert history.history_change_reason == (
        "exclusion lifted (The operator's service API): by service account integration: asked on the phone")


def test_a_raffle_win_reaching_a_player_the_wallet_calls_excluded_is_withheld(jackpots, brand1, gateway,
                                                                             contribution, wallet):
    raffle = jackpots["raffle"]
    tasks.draw_raffles()
    assert gateway.contribute(contribution(instance_id=str(raffle.pk), player_id="p1",
                                           base_wager=D("10"))).status_code == 200
    wallet.state.add_player("p1", "session-p1", "10", self_excluded=True)  # the player self-excludes meanwhile
    with AsgiServer() as server, server.socket("/v1/events/thrilltech/brand1?token=session-p1&currency=EUR") as s:
        s.send({"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "OptInEvent"}]}})
    JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_period_end=timezone.now() - timedelta(seconds=1))

    raffle_draw(raffle.pk)

    win = Win.objects.get(jackpot=raffle)
    assert (win.status, win.evidence["withheld_because"]) == (
        Win.Status.WITHHELD, "PlayerExcluded: player p1 is self-excluded")
    assert wallet.calls("/wallet/transaction") == []  # nothing credited
