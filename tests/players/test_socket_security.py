"""Sockets under attack (issue 11): who receives which event, Origin on the staff socket,
unknown paths, oversized and duplicate-key frames, numbers no decimal arithmetic survives.
A real client against the real ASGI server; "does not receive" is always shown by a later
sentinel message arriving first, never by silence."""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contributions import tasks
from portal import live
from portal.auth import player_token_issue, service_authenticate
from portal.roles import OPS_STAFF
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import Gateway

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


@pytest.fixture
def jackpot(currencies, operator, brand1, brand2):
    return factories.make_instance(operator=operator, name="Open jackpot",
                                   pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", magic=10**9)])


@pytest.fixture
def certain(currencies, operator, brand1, brand2):
    """Serves every brand of the operator; every contribution wins."""
    return factories.make_instance(operator=operator, name="Certain", contribution_value=D("0.5"),
                                   pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01",
                                                                magic=1)])


@pytest.fixture
def server(currencies):
    with AsgiServer() as running:
        yield running


def service_socket(server, username="integration"):
    token = service_authenticate(username=username, password="service-pass")
    return server.socket(f"/v1/events/service?token={token}")


def player_socket(server, brand, player_id):
    token = player_token_issue(brand=brand, player_id=player_id)
    return server.socket(f"/v1/events/{brand.operator_id}/{brand.code}?token={token}&currency=EUR")


def staff_socket(server, client, origin=...):
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    origin = f"http://127.0.0.1:{server.port}" if origin is ... else origin
    if origin is not None:
        headers["Origin"] = origin
    return server.socket("/v1/events/staff", additional_headers=headers)


def subscribe(socket, event_type="*"):
    """Subscribe and wait until the server has handled it (its reply is the next message)."""
    socket.send({"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": event_type}]}})
    socket.send({"PlayerRaffleTicketsRequest": {"player_id": "nobody", "brand_id": "x:y"}})
    # Requests are handled in order: this answer comes after the subscription's snapshots.
    socket.recv_until(lambda m: m["msg_name"] == "PlayerRaffleTicketsRequest")


def read_until(socket, predicate) -> list[dict]:
    """Every message up to and including the first one matching."""
    seen = []
    socket.recv_until(lambda m: seen.append(m) or predicate(m))
    return seen


# --- 10: group names are unique for any id ------------------------------------------------------


def test_players_whose_ids_share_a_long_prefix_get_only_their_own_optin_events(server, jackpot, brand1,
                                                                              service_account):
    prefix = "p" * 120
    alice_id, bob_id = prefix + "-alice", prefix + "-bob"  # 126 characters, the first 120 shared
    optin = {"instance_id": str(jackpot.pk), "brand_id": "thrilltech:brand1", "opt_in": True}
    with service_socket(server) as service, player_socket(server, brand1, alice_id) as alice, \
            player_socket(server, brand1, bob_id) as bob:
        subscribe(alice, "OptInEvent")
        subscribe(bob, "OptInEvent")
        assert service.request({"PlayerOptInRequest": {**optin, "player_id": bob_id}})["msg_name"] == "OptInEvent"
        service.request({"PlayerOptInRequest": {**optin, "player_id": alice_id}})
        service.request({"PlayerOptInRequest": {**optin, "player_id": bob_id, "opt_in": False}})

        alice_saw = read_until(alice, lambda m: m["msg_name"] == "OptInEvent")
        bob_saw = read_until(bob, lambda m: m["msg_name"] == "OptInEvent" and not m["data"]["opted_in"])

    assert [m["player_id"] for m in alice_saw] == [alice_id]
    assert [(m["player_id"], m["data"]["opted_in"]) for m in bob_saw] == [(bob_id, True), (bob_id, False)]


@pytest.mark.parametrize("ids", [
    (("brand", "op", "a.b"), ("brand", "op", "a_2e_b")),  # the old escaping made these one group
    (("player", "op", "b", "x" * 100 + "1"), ("player", "op", "b", "x" * 100 + "2")),
    (("player", "op", "b", "é"), ("player", "op", "b", "e")),
    (("brand", "op", "b"), ("brand", "op.b", "")),
])
def test_group_names_are_valid_and_distinct_for_any_ids(ids):
    from channels.layers import BaseChannelLayer

    layer = BaseChannelLayer()
    names = [live.group_name(*parts) for parts in ids]
    assert names[0] != names[1]
    assert all(layer.require_valid_group_name(name) for name in names)


# --- 11: events reach only sockets allowed to see them ------------------------------------------


def test_brand_scoped_staff_do_not_receive_other_brands_win_events(server, certain, brand1, brand2, staff_client,
                                                                   gateway, contribution):
    ops = staff_client("b1", OPS_STAFF, brands=[brand1])
    with staff_socket(server, ops) as socket:
        subscribe(socket)
        for brand, player in (("brand2", "other-brands-player"), ("brand1", "own-player")):
            response = gateway.contribute(contribution(instance_id=str(certain.pk), brand_id=f"thrilltech:{brand}",
                                                       player_id=player, metadata={"secret": player}))
            assert response.status_code == 200, response.content
        seen = read_until(socket, lambda m: m["msg_name"] == "WinEvent" and m["brand_id"] == "brand1")

    wins = [(m["brand_id"], m["data"]["player_id"]) for m in seen if m["msg_name"] == "WinEvent"]
    assert wins == [("brand1", "own-player")]
    assert "other-brands-player" not in str(seen)


def test_brand_scoped_staff_see_only_their_brands_raffle_winners(server, currencies, operator, brand1, brand2,
                                                                 staff_client, gateway, contribution):
    raffle = factories.make_instance(
        operator=operator, name="Raffle", jackpot_type=JackpotInstance.Type.RAFFLE, contribution_value=D("0.01"),
        ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        pots=[{"pot_id": pot, "tier": tier, "share": D("0.4"), "initial_seed": D("10"),
               "mechanic": Pot.Mechanic.PRIZE} for pot, tier in (("first", 2), ("second", 1))])
    tasks.draw_raffles()  # opens the first period
    for brand, player in (("brand1", "alice"), ("brand2", "bob")):
        response = gateway.contribute(contribution(instance_id=str(raffle.pk), brand_id=f"thrilltech:{brand}",
                                                   player_id=player, base_wager=D("10")))
        assert response.status_code == 200, response.content
    JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_period_end=timezone.now() - timedelta(seconds=1))
    ops = staff_client("b1", OPS_STAFF, brands=[brand1])
    with staff_socket(server, ops) as staff, service_socket(server) as service:
        subscribe(staff, "RaffleWinEvent")
        subscribe(service, "RaffleWinEvent")
        assert tasks.draw_raffles() == 1
        staff_event = staff.recv_until(lambda m: m["msg_name"] == "RaffleWinEvent")
        service_event = service.recv_until(lambda m: m["msg_name"] == "RaffleWinEvent")

    assert sorted(w["player_id"] for w in service_event["data"]["winners"]) == ["alice", "bob"]
    assert [(w["brand_id"], w["player_id"]) for w in staff_event["data"]["winners"]] == [("brand1", "alice")]


@pytest.fixture
def rival(currencies):
    """Another operator, with a brand of the same code and its own service account."""
    operator = factories.OperatorFactory(id="rival")
    brand = factories.BrandFactory(operator=operator, code="brand1", side_bets_without_wallet=True)
    factories.ServiceAccountFactory(operator=operator, username="rival-service")
    instance = factories.make_instance(operator=operator, name="Rival certain", contribution_value=D("0.5"),
                                       pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01",
                                                                    magic=1)])
    return brand, instance


def test_another_operators_sockets_never_see_this_operators_events(server, certain, rival, gateway, contribution):
    rival_brand, rival_instance = rival
    rival_gateway = Gateway(Client(), service_authenticate(username="rival-service", password="service-pass"))
    with service_socket(server, "rival-service") as rival_service, \
            player_socket(server, rival_brand, "rival-watcher") as rival_player:
        subscribe(rival_service)
        subscribe(rival_player)
        ours = gateway.contribute(contribution(instance_id=str(certain.pk), player_id="ours"))
        theirs = rival_gateway.contribute(contribution(instance_id=str(rival_instance.pk), brand_id="rival:brand1",
                                                       player_id="theirs"))
        assert (ours.status_code, theirs.status_code) == (200, 200)
        by_service = read_until(rival_service, lambda m: m["msg_name"] == "WinEvent")
        by_player = read_until(rival_player, lambda m: m["msg_name"] == "WinEvent")

    for seen in (by_service, by_player):
        assert {m["operator_id"] for m in seen} == {"rival"}
        assert seen[-1]["data"]["player_id"] == "theirs"
        assert str(certain.pk) not in str(seen)


# --- 14: Origin on the staff socket -------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None, "http://localhost:1"])
def test_staff_socket_refuses_untrusted_origins_even_with_any_host_allowed(server, operator, staff_client,
                                                                           settings, origin):
    settings.ALLOWED_HOSTS = ["*"]
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    with pytest.raises(InvalidStatus) as refused:
        staff_socket(server, ops, origin=origin)
    assert refused.value.response.status_code == 403


def test_staff_socket_with_any_host_allowed_accepts_only_the_listed_origins(server, operator, staff_client,
                                                                           settings):
    settings.ALLOWED_HOSTS = ["*"]
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    own = f"http://127.0.0.1:{server.port}"
    with pytest.raises(InvalidStatus):
        staff_socket(server, ops, origin=own)  # '*' trusts every Host header: the page's own host is not enough
    settings.CSRF_TRUSTED_ORIGINS = ["https://portal.example", own]
    with staff_socket(server, ops, origin=own) as socket:
        reply = socket.request({"PlayerRaffleTicketsRequest": {"player_id": "p", "brand_id": "thrilltech:x"}})
    assert reply["msg_type"] == "Error" and reply["data"]["code"] == "FORBIDDEN"  # connected, asked, answered


def test_staff_socket_accepts_its_own_origin_when_the_host_is_listed(server, operator, staff_client, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    ops = staff_client("olga", OPS_STAFF, operators=[operator])
    with staff_socket(server, ops) as socket:
        assert socket.request({"PlayerRaffleTicketsRequest": {"player_id": "p", "brand_id": "thrilltech:x"}})
    for origin in (None, "null", f"https://127.0.0.1:{server.port}", "http://127.0.0.1.evil.example"):
        with pytest.raises(InvalidStatus):
            staff_socket(server, ops, origin=origin)


# --- 19: unknown paths --------------------------------------------------------------------------


@pytest.fixture
def server_errors():
    """What uvicorn logs as errors (an unhandled exception is logged with its traceback)."""
    records = []
    handler = logging.Handler(level=logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.mark.parametrize("path", ["/nowhere", "/v1/events", "/v1/events/a/b/c", "/v1/events/op/%00brand",
                                  "/v1/events/op/bra%0And", "/v1/events/staff/x/y", "/%C3%A9", "/v1/events/service/"])
def test_unknown_socket_paths_are_refused_cleanly(server, server_errors, path):
    with pytest.raises(InvalidStatus) as refused:
        server.socket(path)
    assert refused.value.response.status_code in (403, 404)
    assert server_errors == []


# --- 22 and 7: big frames, duplicate keys, numbers ----------------------------------------------

OPTIN = '{"PlayerOptInRequest": {"instance_id": "%s", "player_id": "p", "brand_id": "thrilltech:brand1", ' \
        '"opt_in": true, "contribution_value": %s}}'


def test_a_2_mb_frame_gets_an_error_and_the_socket_still_answers(server, jackpot, service_account):
    with service_socket(server) as socket:
        reply = socket.request('{"PlayerOptInRequest": {"padding": "' + "x" * (2 * 1024 * 1024) + '"}}')
        assert (reply["msg_type"], reply["data"]["code"]) == ("Error", "INVALID_STRUCTURE")
        after = socket.request(OPTIN % (jackpot.pk, "1"))
    assert after["msg_name"] == "OptInEvent" and after["data"]["opted_in"] is True


@pytest.mark.parametrize("frame", [
    '{"PlayerOptInRequest": {"instance_id": "%(id)s", "player_id": "p", "player_id": "q", '
    '"brand_id": "thrilltech:brand1", "opt_in": true}}',
    '{"PlayerOptInRequest": {"instance_id": "%(id)s", "player_id": "p", "brand_id": "thrilltech:brand1", '
    '"opt_in": false, "opt_in": true}}',
    '{"SubscribeRequest": {"events": []}, "SubscribeRequest": {"events": []}}',
])
def test_duplicate_keys_in_a_frame_are_refused(server, jackpot, service_account, frame):
    with service_socket(server) as socket:
        reply = socket.request(frame % {"id": jackpot.pk})
    assert (reply["msg_type"], reply["data"]["code"]) == ("Error", "INVALID_STRUCTURE")
    assert not jackpot.optins.exists()


@pytest.mark.parametrize("value", ["1E+999999999", "-1E+999999999", "1E-999999999", "1E+99999999999999999999",
                                   "0E-1000000000", "1E+999999", "1" * 5000, "NaN", "Infinity", "-Infinity"])
def test_numbers_beyond_decimal_arithmetic_get_a_clean_error(server, jackpot, service_account, value):
    with service_socket(server) as socket:
        reply = socket.request(OPTIN % (jackpot.pk, value))
        still = socket.request(OPTIN % (jackpot.pk, "1"))
    assert reply["msg_type"] == "Error"
    assert reply["data"]["code"] in ("INVALID_STRUCTURE", "CONTRIBUTION_VALUE_OUT_OF_RANGE"), reply["data"]
    assert still["msg_name"] == "OptInEvent"


@pytest.mark.parametrize("field", ["player_id", "instance_id", "brand_id"])
def test_nul_bytes_in_ids_are_refused_before_the_database(server, jackpot, service_account, field):
    body = {"instance_id": str(jackpot.pk), "player_id": "p", "brand_id": "thrilltech:brand1", "opt_in": True}
    body[field] = body[field][:3] + "\x00" + body[field][3:]
    with service_socket(server) as socket:
        reply = socket.request({"PlayerOptInRequest": body})
        tickets = socket.request({"PlayerRaffleTicketsRequest": {"player_id": "p\x00", "brand_id": body["brand_id"],
                                                                 "instance_id": str(uuid.uuid4())}})
    assert reply["data"]["code"] in ("INVALID_STRUCTURE", "CONTRIBUTION_VALUE_OUT_OF_RANGE", "INSTANCE_NOT_FOUND")
    assert tickets["data"]["code"] == "INVALID_STRUCTURE"


@pytest.mark.parametrize("path", ["/v1/events/thrilltech/brand1?token=%00&currency=EUR",
                                  "/v1/events/thrilltech/brand1?token=a%00b&currency=%C3%89UR",
                                  "/v1/events/service?token=%00", "/v1/events/service?token=a%00b.c%00d"])
def test_nul_bytes_in_socket_credentials_are_a_plain_refusal(server, brand1, caplog, path):
    socket = server.socket(path)
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)
    assert closed.value.rcvd.code == 4401
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
