"""Wallet calls against a wallet that trickles its answer (issue 11, items 5 and 6): socket
timeouts bound each read, and a wallet sending one byte every 0.2 s never lets one expire.
Every wallet call (Debit, Credit, cancel, auth, balance) still ends by its deadline, counts as
a timeout for the error rules, and a player socket's wallet auth ends by its short timeout.
The reference wallet on loopback, the gateway over HTTP and a real WebSocket client."""

import time
from decimal import Decimal as D

import pytest
from websockets.exceptions import ConnectionClosed

from contributions.models import Contribution, WalletConfig, WalletTransaction
from contributions.wallet import WalletClient, WalletError
from players.services import optin_set
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of

TRANSACTION, CANCEL, AUTH = "/wallet/transaction", "/wallet/cancel", "/wallet/authenticate"
EVERY = 0.2  # seconds between the wallet's bytes: far below any read timeout here
LONG = 8  # how long the wallet would trickle if nobody hung up (the old code waited it out)
MARGIN = 2  # loose: the deadline plus thread scheduling, never the trickle's length


@pytest.fixture
def rare_side_bet(currencies, operator, brand1):
    """A player-funded jackpot (opt-in, Fixed 0.50) that practically never hits."""
    instance = factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.50"),
        pots=[factories.hit_rate_pot("jackpot", share="0.8", seed="20", cost="0.01", magic=1)],
    )
    Pot.objects.filter(jackpot=instance).update(max_magic_number=10**9)
    optin_set(brand=brand1, player_id="player_00001", instance=instance, opt_in=True, contribution_value=None,
              currency="EUR")
    return instance


def hung_up_on(wallet, count: int = 1, seconds: float = 5) -> bool:
    """The wallet saw the caller close the connection in the middle of its trickle."""
    ends = time.monotonic() + seconds
    while wallet.state.dropped < count:
        if time.monotonic() > ends:
            return False
        time.sleep(0.01)
    return True


def debit_body(transaction_id: str, kind: str = "Debit") -> dict:
    return {"transaction_id": transaction_id, "transaction_type": kind, "player_id": "player_00001",
            "token": "token_00001", "amount": "0.50", "currency": "EUR", "gameround_id": "r1",
            "instance_id": "i1", "round_closed": kind == "Credit", "metadata": None}


CALLS = {
    "auth": (AUTH, lambda client: client.authenticate(player_token="token-player_00001", currency="EUR")),
    "balance": ("/wallet/balance", lambda client: client.balance(player_id="player_00001")),
    "Debit": (TRANSACTION, lambda client: client.transaction(debit_body("dbt-1"))),
    "Credit": (TRANSACTION, lambda client: client.transaction(debit_body("crd-1", "Credit"))),
    "cancel": (CANCEL, lambda client: client.cancel(transaction_id="dbt-1", player_id="player_00001")),
}


@pytest.mark.django_db
@pytest.mark.parametrize("part", ["headers", "body"])
@pytest.mark.parametrize("name", list(CALLS))
def test_every_wallet_call_ends_by_its_deadline_however_slowly_the_wallet_trickles(wallet, settings, name, part):
    settings.WALLET_CALL_DEADLINE_SECONDS = 1  # the config's per-read timeout (2 s) never fires
    path, call = CALLS[name]
    wallet.fail(path, times=10, status=None, trickle=EVERY, trickle_part=part, trickle_for=LONG)

    started = time.monotonic()
    with pytest.raises(WalletError) as failed:
        call(WalletClient(wallet.config))
    elapsed = time.monotonic() - started

    assert (failed.value.status, failed.value.code) == (504, "WALLET_UNAVAILABLE")
    assert "within 1 s" in failed.value.message
    assert elapsed < 1 + MARGIN, elapsed
    assert hung_up_on(wallet)
    assert wallet.state.trickled >= 3  # bytes kept coming: no read ever timed out


@pytest.mark.django_db(transaction=True)
def test_a_side_bet_whose_debit_trickles_fails_by_the_deadline_and_the_debit_is_cancelled(
        wallet, rare_side_bet, gateway, contribution, settings):
    settings.WALLET_CALL_DEADLINE_SECONDS = 1
    wallet.fail(TRANSACTION, status=None, trickle=EVERY, trickle_for=LONG, match={"transaction_type": "Debit"})

    started = time.monotonic()
    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))
    elapsed = time.monotonic() - started

    assert (response.status_code, body_of(response)["code"]) == (504, "WALLET_UNAVAILABLE")
    assert elapsed < 1 + MARGIN, elapsed
    debit = WalletTransaction.objects.get(kind="Debit")
    assert (debit.status, debit.error_status, debit.error_code) == ("cancelled", 504, "WALLET_UNAVAILABLE")
    # The wallet applied the Debit (only its answer trickled); the cancel gave the money back.
    [cancel] = wallet.calls(CANCEL)
    assert cancel.json["transaction_id"] == debit.transaction_id
    assert wallet.state.transactions[debit.transaction_id]["status"] == "cancelled"
    assert wallet.balance("player_00001") == D("1000000")
    assert not Contribution.objects.exists()
    print(f"\nside bet, Debit trickled, deadline 1 s: 504 after {elapsed * 1000:.0f} ms (cancel included)")


@pytest.mark.django_db(transaction=True)
def test_an_attempt_cut_at_its_timeout_is_retried_with_the_same_transaction_id(
        wallet, rare_side_bet, gateway, contribution):
    WalletConfig.objects.filter(pk=wallet.config.pk).update(timeout_seconds=0.5)
    wallet.fail(TRANSACTION, times=1, status=None, trickle=EVERY, trickle_for=LONG)

    started = time.monotonic()
    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.content
    assert elapsed < 0.5 + MARGIN, elapsed
    ids = [call.json["transaction_id"] for call in wallet.calls(TRANSACTION)]
    assert len(ids) == 2 and len(set(ids)) == 1  # cut, then asked again with the same id
    debit = WalletTransaction.objects.get(kind="Debit")
    assert (debit.status, debit.attempts) == ("succeeded", 2)
    assert wallet.balance("player_00001") == D("1000000") - D("0.50")  # charged once


@pytest.mark.django_db(transaction=True)
def test_a_player_socket_whose_wallet_auth_trickles_is_refused_by_the_auth_timeout(
        wallet, currencies, operator, brand1, settings):
    settings.WALLET_AUTH_TIMEOUT_SECONDS = 1  # the config's per-read timeout (2 s) never fires
    wallet.fail(AUTH, status=None, trickle=EVERY, trickle_for=LONG)

    with AsgiServer() as server:
        started = time.monotonic()
        socket = server.socket("/v1/events/thrilltech/brand1?token=bogus&currency=EUR")
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=30)
        elapsed = time.monotonic() - started

    assert closed.value.rcvd.code == 4401
    assert elapsed < 1 + MARGIN, elapsed
    assert len(wallet.calls(AUTH)) == 1  # one short attempt, nothing retried
    assert hung_up_on(wallet)
    print(f"\nplayer socket, wallet auth trickled, auth timeout 1 s: closed 4401 after {elapsed * 1000:.0f} ms")
