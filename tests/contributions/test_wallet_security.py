"""The wallet under attack and under load (issue 11: 2, 5, 22): concurrent duplicate side
bets keep exactly one Debit, reconcile reports any Debit that disagrees with the ledger, a
slow wallet of one brand does not stall another operator, a 2xx carrying an error is no
Debit. Real HTTP against the real ASGI server and the reference wallet on loopback."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection

from contributions.models import Contribution, WalletConfig, WalletTransaction
from contributions.schemas import parse_contribution
from contributions.selectors import reconcile_instance
from contributions.services import payments
from contributions.services.plan import contribution_plan
from players.services import optin_set
from portal import jsonutil
from portal.auth import service_authenticate
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of

pytestmark = pytest.mark.django_db(transaction=True)

Status = WalletTransaction.Status
TRANSACTION = "/wallet/transaction"


@pytest.fixture
def side_bet(currencies, operator, brand1):
    """A player-funded jackpot (opt-in, Fixed 0.50) whose pot always hits."""
    return factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.50"),
        pots=[factories.hit_rate_pot("jackpot", share="0.8", seed="20", cost="0.01", magic=1)],
    )


@pytest.fixture
def rare_side_bet(side_bet):
    Pot.objects.filter(jackpot=side_bet).update(max_magic_number=10**9)
    return side_bet


@pytest.fixture
def live(settings):
    """The production gateway path under uvicorn: side bets on threads of their own."""
    with AsgiServer() as server:
        yield server
    # Pool threads keep their connections (the service-account check on the default executor
    # does not close its own): end them, so the test database can be flushed and dropped.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def opted_in(brand, instance, player_id="player_00001"):
    optin_set(brand=brand, player_id=player_id, instance=instance, opt_in=True, contribution_value=None,
              currency="EUR")


def post(server, token: str, body: dict, timeout: float = 60):
    response = requests.post(f"{server.http}/jackpots/contribute", data=jsonutil.dumps(body), timeout=timeout,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return response.status_code, response.content, response.headers.get("Idempotent-Replayed")


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def parked_on_round_locks() -> int:
    """Requests of this database waiting for a round's lock (a duplicate behind the first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                       "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        return cursor.fetchone()[0]


# --- 2: concurrent duplicates never undo the Debit that paid for them ------------------------


def test_concurrent_duplicate_side_bets_get_the_first_outcome_and_one_debit_stands(live, wallet, side_bet, brand1,
                                                                                   service_token, contribution):
    opted_in(brand1, side_bet)
    body = contribution(instance_id=str(side_bet.pk), gameround_id="same-side-bet")
    wallet.hold(TRANSACTION)  # the Debit is answered only once every duplicate is in flight
    with ThreadPoolExecutor(6) as pool:
        try:
            futures = [pool.submit(post, live, service_token, body) for _ in range(6)]
            # Every duplicate is either at the wallet or parked behind the first one.
            wait_for(lambda: len(wallet.calls(TRANSACTION)) + parked_on_round_locks() == 6)
        finally:
            wallet.release(TRANSACTION)
        results = [future.result() for future in futures]

    assert [status for status, _, _ in results] == [200] * 6
    assert len({content for _, content, _ in results}) == 1  # the first outcome, one trace_id
    assert Counter(replayed for _, _, replayed in results) == {None: 1, "true": 5}
    contribution_row = Contribution.objects.get()
    win_amount = D(str(jsonutil.loads(results[0][1])["win_amount"]))
    assert win_amount > 0
    # The wallet: one Debit, standing, never cancelled; the win credited once.
    assert wallet.calls("/wallet/cancel") == []
    at_wallet = Counter((t["kind"], t["status"]) for t in wallet.state.transactions.values())
    assert at_wallet == {("Debit", "done"): 1, ("Credit", "done"): 1}
    assert wallet.balance("player_00001") == D("1000000") - D("0.50") + win_amount
    # The portal's Debit row agrees with the wallet.
    debit = WalletTransaction.objects.get(kind=WalletTransaction.Kind.DEBIT)
    assert (debit.status, debit.contribution_id) == (Status.SUCCEEDED, contribution_row.pk)
    assert reconcile_instance(side_bet).ok


def test_reconcile_reports_a_cancelled_debit_under_a_contribution_and_a_debit_without_one(
        wallet, rare_side_bet, brand1, gateway, contribution, settings, capsys):
    opted_in(brand1, rare_side_bet)
    assert gateway.contribute(contribution(instance_id=str(rare_side_bet.pk))).status_code == 200
    recorded = Contribution.objects.get()
    # What the race used to leave: the contribution stands on a Debit cancelled at the wallet.
    WalletTransaction.objects.filter(contribution=recorded).update(status=Status.CANCELLED)
    cancelled = WalletTransaction.objects.get(contribution=recorded)
    # And money taken at the wallet for a contribution that never came (the sweeper not run).
    request = parse_contribution(jsonutil.dumps(contribution(instance_id=str(rare_side_bet.pk))).encode())
    orphan = payments.debit_for(contribution_plan(brand=brand1, request=request))
    settings.WALLET_ORPHAN_SECONDS = 0

    report = reconcile_instance(rare_side_bet)
    with pytest.raises(CommandError, match="do not reconcile"):
        call_command("reconcile", str(rare_side_bet.pk))

    assert not report.ok
    out = capsys.readouterr().out
    assert f"contribution {recorded.trace_id}: its Debit {cancelled.transaction_id} is cancelled" in out
    assert f"Debit {orphan.transaction_id} is succeeded without a contribution" in out


# --- 22: a 2xx carrying an error is no Debit ------------------------------------------------


@pytest.mark.parametrize(("status", "answer", "code"), [
    (201, {"code": "INSUFFICIENT_FUNDS", "message": "Not enough money"}, "INSUFFICIENT_FUNDS"),
    (200, {"error": "PLAYER_BLOCKED"}, "PLAYER_BLOCKED"),
    (200, {"transaction_id": "whatever"}, "INVALID_WALLET_RESPONSE"),  # no balance: not a Standard Wallet answer
    (200, "accepted", "INVALID_WALLET_RESPONSE"),
])
def test_a_debit_answered_2xx_with_an_error_is_not_a_success(wallet, rare_side_bet, brand1, gateway, contribution,
                                                             status, answer, code):
    opted_in(brand1, rare_side_bet)
    wallet.state.add_player("player_00001", "token_00001", "1000000")
    wallet.fail(TRANSACTION, times=4, status=status, body=answer)  # every attempt (1 + retry limit 3)

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert (response.status_code, body_of(response)["code"]) == (502, code)
    assert len(wallet.calls(TRANSACTION)) == 4  # handled by the error rules: retried, then failed
    assert not Contribution.objects.exists()
    assert Pot.objects.get(jackpot=rare_side_bet).current_value == D("20")
    assert WalletTransaction.objects.get().status == Status.CANCELLED  # cancelled per the rules
    assert wallet.balance("player_00001") == D("1000000")


# --- 5: one slow wallet does not stall other operators --------------------------------------


@pytest.fixture
def rival(currencies):
    """Another operator: its own brand (no wallet), service account and jackpot."""
    operator = factories.OperatorFactory(id="rival", name="Rival")
    factories.BrandFactory(operator=operator, code="main")
    factories.ServiceAccountFactory(operator=operator, username="rival-backend")
    instance = factories.make_instance(operator=operator, name="Rival jackpot",
                                       pots=[factories.hit_rate_pot("main", share="1", magic=10**9)])
    return instance, service_authenticate(username="rival-backend", password="service-pass")


def test_a_slow_wallet_does_not_stall_another_operators_contributions(live, wallet, rare_side_bet, brand1, rival,
                                                                      service_token, contribution, settings):
    settings.WALLET_MAX_CALLS_PER_BRAND = 3
    settings.WALLET_CALL_DEADLINE_SECONDS = 60
    WalletConfig.objects.filter(pk=wallet.config.pk).update(timeout_seconds=60)  # slow, not failing
    opted_in(brand1, rare_side_bet)
    rival_instance, rival_token = rival

    def rival_contribution(n: int) -> tuple[int, float]:
        started = time.monotonic()
        status, _, _ = post(live, rival_token, contribution(brand_id="rival:main", instance_id=str(rival_instance.pk),
                                                            gameround_id=f"rival-{n}"), timeout=15)
        return status, time.monotonic() - started

    baseline = [rival_contribution(n) for n in range(5)]
    slow_count = 40  # more than any default thread pool of the old gateway
    wallet.hold(TRANSACTION)
    with ThreadPoolExecutor(slow_count) as pool:
        try:
            slow = [pool.submit(post, live, service_token,
                                contribution(instance_id=str(rare_side_bet.pk), gameround_id=f"slow-{i}"))
                    for i in range(slow_count)]
            # The bulkhead: 3 of brand1's Debits held at its wallet, the rest refused at once.
            wait_for(lambda: len(wallet.calls(TRANSACTION)) == 3 and sum(f.done() for f in slow) == slow_count - 3)
            during = [rival_contribution(n) for n in range(5, 10)]
            # ...answered while brand1's Debits are all still held at its wallet.
            assert not any(f.done() and f.result()[0] == 200 for f in slow)
            assert len(wallet.calls(TRANSACTION)) == 3
        finally:
            wallet.release(TRANSACTION)
        results = [f.result() for f in slow]

    assert [status for status, _ in baseline + during] == [200] * 10
    assert Counter(status for status, _, _ in results) == {200: 3, 503: slow_count - 3}
    assert {jsonutil.loads(content)["code"] for status, content, _ in results if status == 503} == {
        "WALLET_UNAVAILABLE"}
    print(f"\nrival sync contribution latency: baseline {[round(t * 1000) for _, t in baseline]} ms, "
          f"with brand1's wallet holding {len(wallet.calls(TRANSACTION))} Debits and "
          f"{slow_count} side bets sent: {[round(t * 1000) for _, t in during]} ms")


def test_a_wallet_call_with_its_retries_ends_by_the_deadline(wallet, rare_side_bet, brand1, gateway, contribution,
                                                             settings):
    """Timeout 0.3 s and 3 retries would take 1.2 s and more; the deadline cuts it at 0.5 s."""
    settings.WALLET_CALL_DEADLINE_SECONDS = 0.5
    WalletConfig.objects.filter(pk=wallet.config.pk).update(timeout_seconds=0.3)
    opted_in(brand1, rare_side_bet)
    wallet.fail(TRANSACTION, times=10, status=None, delay=0.4)  # every Debit answered too late

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert (response.status_code, body_of(response)["code"]) == (504, "WALLET_UNAVAILABLE")
    assert len(wallet.calls(TRANSACTION)) <= 2  # 0.3 s + the 0.2 s left; no third attempt
    assert WalletTransaction.objects.get().status == Status.CANCELLED
    assert not Contribution.objects.exists()
