"""The WebSocket API through a real client against the real ASGI server (SPEC 3, seed 000)."""

import uuid
from decimal import Decimal as D

import pytest
from websockets.exceptions import ConnectionClosed

from players.models import OptIn
from portal import jsonutil, live
from portal.auth import player_token_issue, service_authenticate
from portal.roles import AUDITORS, OPS_STAFF
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of

pytestmark = pytest.mark.django_db(transaction=True)

OPTIN_INSTANCE = "209cc142-ccb2-4e28-a763-0a031b560d74"
RAFFLE_INSTANCE = "f0dee1ae-6231-458a-ad6d-4dc0c941e5c3"
ENVELOPE = ["msg_type", "source", "msg_name", "operator_id", "brand_id", "player_id", "data", "timestamp"]

SEED_OPTIN_DEFAULT = """{
    "PlayerOptInRequest": {
        "instance_id": "209cc142-ccb2-4e28-a763-0a031b560d74",
        "player_id": "player_id_token_00001",
        "brand_id": "thrilltech:brand1",
        "player_country": "MT",
        "opt_in": true
    }
}"""
SEED_OPTIN_VALUE = """{
    "PlayerOptInRequest": {
        "instance_id": "209cc142-ccb2-4e28-a763-0a031b560d74",
        "player_id": "player_id_token_00001",
        "brand_id": "thrilltech:brand1",
        "player_country": "MT",
        "opt_in": true,
        "contribution_value": 0.3
    }
}"""
SEED_OPTOUT = """{
    "PlayerOptInRequest": {
        "instance_id": "209cc142-ccb2-4e28-a763-0a031b560d74",
        "player_id": "player_id_token_00001",
        "brand_id": "thrilltech:brand1",
        "player_country": "MT",
        "opt_in": false
    }
}"""
SEED_TICKETS_ONE = """{
    "PlayerRaffleTicketsRequest": {
        "player_id": "player_00001",
        "instance_id": "f0dee1ae-6231-458a-ad6d-4dc0c941e5c3",
        "brand_id": "thrilltech:brand1"
    }
}"""
SEED_TICKETS_ALL = """{
    "PlayerRaffleTicketsRequest": {
        "player_id": "player_00001",
        "brand_id": "thrilltech:brand1"
    }
}"""
SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


@pytest.fixture
def catalogue(currencies, operator, brand1, brand2):
    jackpot = factories.three_pot_instance(
        operator=operator, id=uuid.UUID(OPTIN_INSTANCE), name="Opt-in jackpot", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
    )
    jackpot.currency_limits.create(currency_id="EUR", min_value=D("0.10"), max_value=D("5.00"),
                                   default_value=D("0.10"))
    raffle = factories.make_instance(
        operator=operator, id=uuid.UUID(RAFFLE_INSTANCE), name="Weekly raffle",
        jackpot_type=JackpotInstance.Type.RAFFLE, contribution_value=D("0.01"), ticket_cost=D("0.25"),
        pots=[{"pot_id": "prize", "share": D("1"), "mechanic": Pot.Mechanic.PRIZE, "initial_seed": D("50")}],
    )
    return {"jackpot": jackpot, "raffle": raffle}


@pytest.fixture
def server(catalogue):
    with AsgiServer() as running:
        yield running


def player_path(player_id: str, brand, currency: str = "EUR") -> str:
    return f"/v1/events/thrilltech/{brand.code}?token={player_token_issue(brand=brand, player_id=player_id)}" \
           f"&currency={currency}"


@pytest.fixture
def service_socket(server, service_account):
    token = service_authenticate(username="integration", password="service-pass")
    with server.socket(f"/v1/events/service?token={token}") as socket:
        yield socket


def test_seed_optin_with_the_default_value(service_socket, catalogue):
    reply = service_socket.request(SEED_OPTIN_DEFAULT)

    assert list(reply) == ENVELOPE
    assert (reply["msg_type"], reply["source"], reply["msg_name"]) == ("Event", "thrillpots", "OptInEvent")
    assert (reply["operator_id"], reply["brand_id"], reply["player_id"]) == (
        "thrilltech", "brand1", "player_id_token_00001")
    data = reply["data"]
    assert list(data) == ["instance_id", "player_id", "ext_player_id", "player_brand_id",
                          "preferred_contribution_value", "contribution_count", "contribution_value", "opted_in",
                          "last_updated"]
    assert data["instance_id"] == OPTIN_INSTANCE and data["player_brand_id"] == "brand1"
    assert data["opted_in"] is True and data["preferred_contribution_value"] is None
    assert data["contribution_value"] == D("0.1") and data["contribution_count"] == 0


def test_seed_optin_with_a_chosen_value_then_opt_out(service_socket, catalogue):
    chosen = service_socket.request(SEED_OPTIN_VALUE)["data"]
    out = service_socket.request(SEED_OPTOUT)["data"]

    assert (chosen["opted_in"], chosen["preferred_contribution_value"], chosen["contribution_value"]) == (
        True, D("0.3"), D("0.3"))
    assert out["opted_in"] is False
    assert OptIn.objects.get(player__player_id="player_id_token_00001").opted_in is False


def test_seed_ticket_requests_report_the_tickets_earned(service_socket, catalogue, gateway, contribution):
    # 8 tickets at 0.25 each: 1% of 200 EUR of wagers = 2.00 EUR of contribution.
    for n in range(4):
        response = gateway.contribute(contribution(instance_id=RAFFLE_INSTANCE, player_id="player_00001",
                                                   base_wager=D("50"), gameround_id=f"r{n}"))
        assert response.status_code == 200
    one = service_socket.request(SEED_TICKETS_ONE)
    every = service_socket.request(SEED_TICKETS_ALL)

    assert list(one) == ENVELOPE
    assert (one["msg_type"], one["msg_name"], one["brand_id"], one["player_id"]) == (
        "Message", "PlayerRaffleTicketResponse", "brand1", "player_00001")
    assert one["data"] == {"instance_id": RAFFLE_INSTANCE, "ticket_count": 8, "timestamp_start": None,
                           "timestamp_end": None}
    assert every["msg_name"] == "PlayerRaffleTicketListResponse"
    assert every["data"] == {"instance_tickets": [one["data"]]}


def test_ticket_list_is_empty_for_a_player_without_tickets(service_socket, catalogue):
    reply = service_socket.request({"PlayerRaffleTicketsRequest": {"player_id": "player_01010",
                                                                   "brand_id": "thrilltech:brand1"}})
    assert (reply["msg_name"], reply["player_id"], reply["data"]) == (
        "PlayerRaffleTicketListResponse", "player_01010", {"instance_tickets": []})


def test_opting_in_changes_what_the_next_contribution_does(server, catalogue, brand1, gateway, contribution):
    jackpot_body = contribution(instance_id=OPTIN_INSTANCE, player_id="p7", gameround_id="before")
    refused = gateway.contribute(jackpot_body)
    assert body_of(refused)["message"].startswith("OptInRequired")

    with server.socket(player_path("p7", brand1)) as socket:
        reply = socket.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "p7",
                                                       "brand_id": "thrilltech:brand1", "player_country": "MT",
                                                       "opt_in": True, "contribution_value": D("0.30")}})
        assert reply["data"]["contribution_value"] == D("0.3")
        during = gateway.contribute(contribution(instance_id=OPTIN_INSTANCE, player_id="p7", gameround_id="in"))
        socket.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "p7",
                                               "brand_id": "thrilltech:brand1", "opt_in": False}})
    after = gateway.contribute(contribution(instance_id=OPTIN_INSTANCE, player_id="p7", gameround_id="after"))

    assert body_of(during)["contribution_amount"] == D("0.3")
    assert body_of(after)["code"] == "CONTRIBUTION_REJECTED" and body_of(after)["message"].startswith("OptInRequired")


def test_subscribe_sends_a_snapshot_then_coalesced_updates(server, catalogue, brand1, gateway, contribution, settings):
    settings.JACKPOT_UPDATE_INTERVAL_SECONDS = 60  # no tick during the test: we tick by hand
    jackpot = catalogue["jackpot"]
    jackpot.opt_in_required = False
    jackpot.save()
    Pot.objects.filter(jackpot=jackpot).update(max_magic_number=10**9)  # no WinEvent in this test
    with server.socket(player_path("watcher", brand1)) as socket:
        socket.send(SUBSCRIBE_ALL)
        snapshots = [socket.recv(), socket.recv()]
        assert {s["data"]["id"] for s in snapshots} == {OPTIN_INSTANCE, RAFFLE_INSTANCE}
        assert all(s["msg_name"] == "JackpotUpdate" and s["msg_type"] == "Event" for s in snapshots)

        for n in range(5):
            gateway.contribute(contribution(instance_id=OPTIN_INSTANCE, gameround_id=f"c{n}"))
        leading = socket.recv()  # the first change of the interval is announced at once...
        assert socket.nothing_for(0.5)  # ...the next four are not announced one by one...
        assert live.publish_jackpot_updates() == 1  # ...but together, on the tick

        update = socket.recv()
        assert socket.nothing_for(0.5)
    first = {p["id"]: p["current_value"] for p in leading["data"]["pots"]}
    assert first["minor"] == D("10.02125")  # after one contribution of 0.10
    pots = {p["id"]: p["current_value"] for p in update["data"]["pots"]}
    assert update["msg_name"] == "JackpotUpdate" and update["brand_id"] == "brand1"
    minor = Pot.objects.get(jackpot=jackpot, pot_id="minor")
    assert pots["minor"] == minor.current_value > D("10")


def test_winning_contribution_produces_a_win_event_for_every_brand(server, catalogue, brand1, brand2, gateway,
                                                                   contribution, operator):
    certain = factories.make_instance(operator=operator, name="Certain", contribution_value=D("0.5"),
                                      pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01",
                                                                   magic=1)])
    with server.socket(player_path("someone-else", brand2)) as other_brand:
        other_brand.send({"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "WinEvent"}]}})
        body = contribution(instance_id=str(certain.pk), player_id="lucky", base_wager=D("2"),
                            metadata={"round": 7})
        gateway.contribute(body)
        event = other_brand.recv_until(lambda m: m["msg_name"] == "WinEvent")

    assert (event["brand_id"], event["player_id"]) == ("brand1", "lucky")
    assert event["data"] == {
        "brand_id": "brand1", "player_id": "lucky", "source_id": None, "instance_id": str(certain.pk),
        "jackpot_name": "Certain", "timestamp": event["data"]["timestamp"], "win_pot_id": "jackpot",
        "win_amount": D("11"), "currency": "EUR", "win_withheld": False, "seed": D("10"), "metadata": {"round": 7},
    }


def test_events_reach_only_subscribers_but_replies_always_arrive(server, catalogue, brand1, service_socket):
    with server.socket(player_path("p1", brand1)) as unsubscribed:
        service_socket.request(SEED_OPTIN_DEFAULT)
        reply = unsubscribed.request({"PlayerRaffleTicketsRequest": {"player_id": "p1",
                                                                     "brand_id": "thrilltech:brand1"}})
        assert reply["msg_name"] == "PlayerRaffleTicketListResponse"
        assert unsubscribed.nothing_for(0.5)


def test_optin_event_reaches_the_players_other_sockets_and_subscribed_services(server, catalogue, brand1,
                                                                              service_socket):
    service_socket.send(SUBSCRIBE_ALL)
    service_socket.recv(), service_socket.recv()  # snapshots
    with server.socket(player_path("p2", brand1)) as tab_a, server.socket(player_path("p2", brand1)) as tab_b:
        tab_b.send({"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "OptInEvent"}]}})
        reply = tab_a.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "p2",
                                                      "brand_id": "thrilltech:brand1", "opt_in": True}})
        seen_by_b = tab_b.recv()
        seen_by_service = service_socket.recv_until(lambda m: m["msg_name"] == "OptInEvent")
        assert tab_a.nothing_for(0.3)  # the requester got its reply, not a second copy

    assert reply["data"] == seen_by_b["data"] == seen_by_service["data"]


# --- authorization -----------------------------------------------------------------------


def error_of(message: dict) -> tuple[str, str]:
    assert message["msg_type"] == "Error"
    return message["msg_name"], message["data"]["code"]


def test_a_player_socket_acts_only_for_itself(server, catalogue, brand1):
    with server.socket(player_path("alice", brand1)) as alice:
        other = alice.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "bob",
                                                      "brand_id": "thrilltech:brand1", "opt_in": True}})
        tickets = alice.request({"PlayerRaffleTicketsRequest": {"player_id": "bob",
                                                                "brand_id": "thrilltech:brand1"}})
        other_brand = alice.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "alice",
                                                            "brand_id": "thrilltech:brand2", "opt_in": True}})
        own = alice.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "alice",
                                                    "brand_id": "thrilltech:brand1", "opt_in": True}})

    assert error_of(other) == ("PlayerOptInRequest", "FORBIDDEN")
    assert error_of(tickets) == ("PlayerRaffleTicketsRequest", "FORBIDDEN")
    assert error_of(other_brand) == ("PlayerOptInRequest", "FORBIDDEN")
    assert own["msg_name"] == "OptInEvent"
    assert not OptIn.objects.filter(player__player_id="bob").exists()


@pytest.mark.parametrize("path", [
    "/v1/events/thrilltech/brand2?token={brand1_token}&currency=EUR",  # a brand1 token on brand2
    "/v1/events/thrilltech/brand1?token=forged&currency=EUR",
    "/v1/events/thrilltech/brand1?currency=EUR",
    "/v1/events/thrilltech/brand1?token={brand1_token}",  # no currency
    "/v1/events/rival/brand1?token={brand1_token}&currency=EUR",
    "/v1/events/service?token=forged",
    "/v1/events/staff",  # no session
])
def test_bad_tokens_are_closed_with_4401(server, brand1, path):
    token = player_token_issue(brand=brand1, player_id="p")
    socket = server.socket(path.format(brand1_token=token),
                           additional_headers={"Origin": f"http://127.0.0.1:{server.port}"})
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)
    assert closed.value.rcvd.code == 4401


def test_service_socket_cannot_act_for_another_operators_brand(service_socket, catalogue):
    factories.BrandFactory(operator=factories.OperatorFactory(id="rival"), code="brand1")
    reply = service_socket.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "p",
                                                           "brand_id": "rival:brand1", "opt_in": True}})
    assert error_of(reply) == ("PlayerOptInRequest", "FORBIDDEN")


def staff_socket(server, client):
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return server.socket("/v1/events/staff", additional_headers={"Cookie": cookie,
                                                                 "Origin": f"http://127.0.0.1:{server.port}"})


def test_staff_without_the_permission_cannot_opt_anyone_in(server, catalogue, operator, staff_client):
    auditor = staff_client("auditor", AUDITORS, operators=[operator])
    with staff_socket(server, auditor) as socket:
        reply = socket.request(SEED_OPTIN_DEFAULT)
    assert error_of(reply) == ("PlayerOptInRequest", "FORBIDDEN")
    assert not OptIn.objects.exists()


def test_staff_opt_in_is_written_to_the_optins_history_naming_the_user(server, catalogue, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    with staff_socket(server, ops) as socket:
        reply = socket.request(SEED_OPTIN_VALUE)

    assert reply["msg_name"] == "OptInEvent"
    record = OptIn.objects.get().history.first()
    assert record.history_user.username == "olga" and "staff socket" in record.history_change_reason
    page = ops.get(f"/admin/players/optin/{OptIn.objects.get().pk}/history/").content.decode()
    assert "olga" in page


def test_staff_socket_refuses_a_foreign_origin(server, catalogue, operator, staff_client):
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    cookie = f"sessionid={ops.cookies['sessionid'].value}"
    with pytest.raises(Exception):  # noqa: B017 - the handshake itself is refused
        server.socket("/v1/events/staff", additional_headers={"Cookie": cookie, "Origin": "https://evil.example"})


def test_staff_scoped_to_brand1_cannot_act_on_brand2(server, catalogue, brand1, staff_client):
    ops = staff_client("b1", OPS_STAFF, brands=[brand1])
    with staff_socket(server, ops) as socket:
        reply = socket.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "p",
                                                       "brand_id": "thrilltech:brand2", "opt_in": True}})
    assert error_of(reply) == ("PlayerOptInRequest", "FORBIDDEN")


# --- malformed and hostile frames --------------------------------------------------------

OK_OPTIN = {"instance_id": OPTIN_INSTANCE, "player_id": "p", "brand_id": "thrilltech:brand1", "opt_in": True}
HOSTILE_FRAMES = [
    ("not json", "hello", "INVALID_STRUCTURE"),
    ("truncated", '{"PlayerOptInRequest": {', "INVALID_STRUCTURE"),
    ("array", "[]", "INVALID_STRUCTURE"),
    ("number", "42", "INVALID_STRUCTURE"),
    ("null", "null", "INVALID_STRUCTURE"),
    ("empty object", "{}", "INVALID_STRUCTURE"),
    ("two requests", {"SubscribeRequest": {"events": []}, "PlayerOptInRequest": OK_OPTIN}, "INVALID_STRUCTURE"),
    ("unknown request", {"PlayerJackpotRequest": {}}, "UNKNOWN_REQUEST"),
    ("huge unknown name", {"X" * 5000: {}}, "UNKNOWN_REQUEST"),
    ("body not an object", {"PlayerOptInRequest": [1, 2]}, "INVALID_STRUCTURE"),
    ("body a string", {"PlayerOptInRequest": "opt me in"}, "INVALID_STRUCTURE"),
    ("missing opt_in", {"PlayerOptInRequest": {k: v for k, v in OK_OPTIN.items() if k != "opt_in"}},
     "INVALID_STRUCTURE"),
    ("opt_in as string", {"PlayerOptInRequest": {**OK_OPTIN, "opt_in": "yes"}}, "INVALID_STRUCTURE"),
    ("player_id as number", {"PlayerOptInRequest": {**OK_OPTIN, "player_id": 7}}, "INVALID_STRUCTURE"),
    ("brand without operator", {"PlayerOptInRequest": {**OK_OPTIN, "brand_id": "brand1"}}, "INVALID_STRUCTURE"),
    ("value as string", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": "0.3"}}, "INVALID_STRUCTURE"),
    ("value as bool", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": True}}, "INVALID_STRUCTURE"),
    ("negative value", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": D("-0.3")}},
     "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("zero value", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": 0}}, "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("value above max", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": D("5.01")}},
     "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("value below min", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": D("0.05")}},
     "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("huge value", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": 10**30}},
     "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("fraction of a cent", {"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": D("0.105")}},
     "CONTRIBUTION_VALUE_OUT_OF_RANGE"),
    ("NaN value", jsonutil.dumps({"PlayerOptInRequest": {**OK_OPTIN, "contribution_value": 1}}).replace(
        '"contribution_value":1', '"contribution_value":NaN'), "INVALID_STRUCTURE"),
    ("unknown instance", {"PlayerOptInRequest": {**OK_OPTIN, "instance_id": str(uuid.uuid4())}},
     "INSTANCE_NOT_FOUND"),
    ("instance not a uuid", {"PlayerOptInRequest": {**OK_OPTIN, "instance_id": "' OR 1=1"}}, "INSTANCE_NOT_FOUND"),
    ("tickets of a non-raffle", {"PlayerRaffleTicketsRequest": {"player_id": "p", "brand_id": "thrilltech:brand1",
                                                                "instance_id": OPTIN_INSTANCE}},
     "INSTANCE_NOT_FOUND"),
    ("subscribe without events", {"SubscribeRequest": {}}, "INVALID_STRUCTURE"),
    ("subscribe to nonsense", {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "Boom"}]}},
     "INVALID_STRUCTURE"),
    ("oversized frame", {"PlayerOptInRequest": {**OK_OPTIN, "padding": "x" * 100_000}}, "INVALID_STRUCTURE"),
    ("deep nesting", '{"PlayerOptInRequest": ' + "[" * 5000 + "]" * 5000 + "}", "INVALID_STRUCTURE"),
    ("binary frame", b"\x00\x01binary", "INVALID_STRUCTURE"),
]


def test_hostile_frames_each_get_an_error_and_the_socket_stays_open(service_socket, catalogue):
    assert len(HOSTILE_FRAMES) >= 30
    for label, frame, code in HOSTILE_FRAMES:
        reply = service_socket.request(frame)
        assert reply["msg_type"] == "Error", label
        assert reply["data"]["code"] == code, (label, reply["data"])
    # Still usable after all of that.
    assert service_socket.request(SEED_OPTIN_DEFAULT)["msg_name"] == "OptInEvent"


def test_paused_instance_refuses_opt_in_but_opt_out_works(service_socket, catalogue):
    service_socket.request(SEED_OPTIN_DEFAULT)
    JackpotInstance.objects.filter(pk=OPTIN_INSTANCE).update(state=JackpotInstance.State.PAUSED)

    refused = service_socket.request(SEED_OPTIN_VALUE)
    out = service_socket.request(SEED_OPTOUT)

    assert error_of(refused) == ("PlayerOptInRequest", "INSTANCE_NOT_ACTIVE")
    assert out["data"]["opted_in"] is False


def test_floods_are_rate_limited_and_the_socket_recovers(service_socket, catalogue, settings, monkeypatch):
    from players import consumers

    now = [consumers.clock() + 10]  # the bucket is full
    monkeypatch.setattr(consumers, "clock", lambda: now[0])  # time stands still during the flood
    for _ in range(80):
        service_socket.send({"PlayerRaffleTicketsRequest": {"player_id": "p", "brand_id": "thrilltech:brand1"}})
    replies = [service_socket.recv() for _ in range(80)]
    limited = [r for r in replies if r["msg_type"] == "Error" and r["data"]["code"] == "RATE_LIMITED"]
    assert len(limited) == 80 - settings.WS_RATE_BURST  # the burst passes, the rest is refused

    now[0] += 2 / settings.WS_RATE_PER_SECOND  # two requests' worth of time later
    assert service_socket.request(SEED_TICKETS_ALL)["msg_name"] == "PlayerRaffleTicketListResponse"


def test_player_socket_of_a_brand_with_a_wallet_is_authenticated_by_the_wallet(server, catalogue, wallet):
    wallet.state.add_player("wallet-player", "wallet-session-token", "10")

    with server.socket("/v1/events/thrilltech/brand1?token=wallet-session-token&currency=EUR") as socket:
        reply = socket.request({"PlayerOptInRequest": {"instance_id": OPTIN_INSTANCE, "player_id": "wallet-player",
                                                       "brand_id": "thrilltech:brand1", "opt_in": True}})
    refused = server.socket("/v1/events/thrilltech/brand1?token=not-a-wallet-token&currency=EUR")
    with pytest.raises(ConnectionClosed) as closed:
        refused.recv(timeout=5)

    assert reply["msg_name"] == "OptInEvent" and reply["player_id"] == "wallet-player"
    assert closed.value.rcvd.code == 4401
    auth = wallet.calls("/wallet/authenticate")[0].json
    assert auth == {"operator_id": "thrilltech", "brand_id": "brand1", "player_token": "wallet-session-token",
                    "source_id": None, "currency": "EUR"}
