"""Player-socket authentication under attack (issue 11 item 6, issue 13 item 1): a token the
portal signed is recognised locally for any brand; any other token goes to the brand's
wallet once (a refusal is final); bad tokens held at a slow wallet do not delay anyone
else's connect. A real WebSocket client against the real ASGI server and the reference
wallet on loopback."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed

from contributions.models import WalletConfig
from portal.auth import player_token_issue, service_authenticate
from tests.asgi import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

AUTH = "/wallet/authenticate"
TICKETS = {"PlayerRaffleTicketsRequest": {"player_id": "player_00001", "brand_id": "thrilltech:brand1"}}


@pytest.fixture
def server(currencies, operator, brand1, brand2, service_account):
    with AsgiServer() as running:
        yield running


def close_code(server, path: str) -> int:
    """Connect and return the code the server closes the socket with."""
    socket = server.socket(path)
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=60)
    return closed.value.rcvd.code


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_a_portal_token_connects_on_a_wallet_brand_without_asking_the_wallet(server, wallet, brand1):
    token = player_token_issue(brand=brand1, player_id="player_00001")

    with server.socket(f"/v1/events/thrilltech/brand1?token={token}&currency=EUR") as socket:
        reply = socket.request(TICKETS)

    assert (reply["msg_name"], reply["player_id"]) == ("PlayerRaffleTicketListResponse", "player_00001")
    assert wallet.calls(AUTH) == []


def test_a_portal_token_of_another_brand_is_refused_without_asking_the_wallet(server, wallet, brand2):
    token = player_token_issue(brand=brand2, player_id="player_00001")

    assert close_code(server, f"/v1/events/thrilltech/brand1?token={token}&currency=EUR") == 4401
    assert wallet.calls(AUTH) == []


def test_a_bogus_token_is_refused_after_exactly_one_wallet_call(server, wallet):
    assert close_code(server, "/v1/events/thrilltech/brand1?token=bogus&currency=EUR") == 4401
    assert [call.json["player_token"] for call in wallet.calls(AUTH)] == ["bogus"]  # a 401 is final


def test_bogus_tokens_held_at_a_slow_wallet_do_not_delay_other_sockets(server, wallet, brand1, settings):
    settings.WALLET_AUTH_MAX_PER_BRAND = 3
    settings.WALLET_AUTH_TIMEOUT_SECONDS = 60
    WalletConfig.objects.filter(pk=wallet.config.pk).update(timeout_seconds=60)  # slow, not failing
    bogus_count = 8
    wallet.hold(AUTH)
    with ThreadPoolExecutor(bogus_count) as pool:
        try:
            bogus = [pool.submit(close_code, server, f"/v1/events/thrilltech/brand1?token=bogus-{i}&currency=EUR")
                     for i in range(bogus_count)]
            # Three held at the wallet (the brand's limit), the others refused at once.
            wait_for(lambda: len(wallet.calls(AUTH)) == 3 and sum(f.done() for f in bogus) == bogus_count - 3)

            started = time.monotonic()
            token = service_authenticate(username="integration", password="service-pass")
            with server.socket(f"/v1/events/service?token={token}") as service:
                service_reply = service.request(TICKETS)
            service_seconds = time.monotonic() - started
            player_token = player_token_issue(brand=brand1, player_id="player_00001")
            with server.socket(f"/v1/events/thrilltech/brand1?token={player_token}&currency=EUR") as player:
                player_reply = player.request(TICKETS)

            still_held = [f for f in bogus if not f.done()]
            assert len(still_held) == 3 and len(wallet.calls(AUTH)) == 3
        finally:
            wallet.release(AUTH)
        codes = [f.result() for f in bogus]

    assert service_reply["msg_name"] == player_reply["msg_name"] == "PlayerRaffleTicketListResponse"
    assert codes == [4401] * bogus_count
    assert len(wallet.calls(AUTH)) == 3  # one call per token that reached the wallet, none retried
    print(f"\nservice socket connect + reply with {bogus_count} bogus sockets on a held wallet: "
          f"{service_seconds * 1000:.0f} ms")
