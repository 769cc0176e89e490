"""The operator's wallet (SPEC 4) against the reference wallet server on loopback."""

import hashlib
import hmac
from decimal import Decimal as D

import pytest

from contributions import tasks
from contributions.models import Contribution, PotIncrement, WalletTransaction, Win
from contributions.services import payments
from contributions.services.plan import contribution_plan
from players.services import optin_set
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.conftest import body_of
from tests.receiver import Receiver, with_callback

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def side_bet(currencies, operator, brand1):
    """A player-funded jackpot (opt-in, Fixed 0.50) whose pot always hits."""
    instance = factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.50"),
        pots=[factories.hit_rate_pot("jackpot", share="0.8", seed="20", cost="0.01", magic=1)],
    )
    return instance


@pytest.fixture
def rare_side_bet(side_bet):
    Pot.objects.filter(jackpot=side_bet).update(max_magic_number=10**9)
    return side_bet


def opted_in(brand, instance, player_id="player_00001", value=None):
    optin_set(brand=brand, player_id=player_id, instance=instance, opt_in=True, contribution_value=value,
              currency="EUR")


def signed(request, secret: str) -> bool:
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return request.headers["x-server-authorization"] == expected


@pytest.mark.parametrize("metadata", [{"value1": "some value", "value2": 1234}, "This is an arbitrary string value"])
def test_debit_then_credit_on_a_win_with_exact_bodies_and_metadata(wallet, side_bet, brand1, gateway, contribution,
                                                                   metadata):
    opted_in(brand1, side_bet)
    before = wallet.state.player("player_00001", "EUR").balance

    response = gateway.contribute(contribution(instance_id=str(side_bet.pk), token="token_00001",
                                               gameround_id="round-7", metadata=metadata))

    assert response.status_code == 200
    result = body_of(response)
    debit, credit = wallet.calls("/wallet/transaction")
    assert debit.json == {
        "transaction_id": debit.json["transaction_id"], "transaction_type": "Debit", "player_id": "player_00001",
        "token": "token_00001", "amount": "0.50", "currency": "EUR", "gameround_id": "round-7",
        "instance_id": str(side_bet.pk), "round_closed": False, "metadata": metadata,
    }
    win = Win.objects.get()
    assert credit.json == {
        "transaction_id": f"crd-{win.pk}", "transaction_type": "Credit", "player_id": "player_00001",
        "token": "token_00001", "amount": "20.40", "currency": "EUR", "gameround_id": "round-7",
        "instance_id": str(side_bet.pk), "round_closed": True, "metadata": metadata,
    }
    assert all(signed(call, "test-wallet-secret") for call in (debit, credit))
    assert result["win_amount"] == D("20.4")
    assert wallet.balance("player_00001") == before - D("0.50") + D("20.40")
    assert Win.objects.get().status == Win.Status.PAID


def test_metadata_travels_verbatim_as_bytes(wallet, side_bet, brand1, gateway):
    opted_in(brand1, side_bet)
    body = ('{"token":"t","brand_id":"thrilltech:brand1","player_id":"player_00001","player_country":"MT",'
            f'"instance_id":"{side_bet.pk}","gameround_id":"g","currency":"EUR","base_wager":1,'
            '"metadata":{"n":0.30000000000000004,"big":1E+400,"s":"caf\\u00e9"}}')

    gateway.contribute(body.encode())

    debit = wallet.calls("/wallet/transaction")[0]
    assert b'"metadata":{"n":0.30000000000000004,"big":1E+400,"s":"caf\\u00e9"}' in debit.body


def test_timeouts_and_5xx_are_retried_with_the_same_transaction_id(wallet, rare_side_bet, brand1, gateway,
                                                                   contribution):
    opted_in(brand1, rare_side_bet)
    wallet.config.timeout_seconds = 0.3
    wallet.config.save()
    wallet.fail("/wallet/transaction", times=1, status=None, delay=0.6)  # a timeout (applied late)
    wallet.fail("/wallet/transaction", times=2, status=503, code="UNAVAILABLE")

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert response.status_code == 200
    ids = [c.json["transaction_id"] for c in wallet.calls("/wallet/transaction")]
    assert len(ids) == 4 and len(set(ids)) == 1  # 3 failures, then success: one transaction id
    assert wallet.balance("player_00001") == D("1000000") - D("0.50")  # charged once
    assert WalletTransaction.objects.get(kind="Debit").attempts == 4


def test_retries_stop_at_the_limit_and_the_wallet_error_is_passed_through(wallet, rare_side_bet, brand1, gateway,
                                                                          contribution):
    opted_in(brand1, rare_side_bet)
    wallet.fail("/wallet/transaction", times=10, status=503, code="UNAVAILABLE")

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert (response.status_code, body_of(response)["code"]) == (503, "UNAVAILABLE")
    assert len(wallet.calls("/wallet/transaction")) == 4  # 1 + retry limit 3
    assert len(wallet.calls("/wallet/cancel")) == 1  # a failed Debit is cancelled
    assert not Contribution.objects.exists()


def test_a_rule_with_must_retry_false_stops_retries(wallet, rare_side_bet, brand1, gateway, contribution):
    wallet.config.error_rules = {"403:FORBIDDEN": {"must_retry": False, "must_cancel": False}}
    wallet.config.save()
    opted_in(brand1, rare_side_bet)
    wallet.fail("/wallet/transaction", times=10, status=403, code="FORBIDDEN")

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert (response.status_code, body_of(response)["code"]) == (403, "FORBIDDEN")
    assert len(wallet.calls("/wallet/transaction")) == 1
    assert wallet.calls("/wallet/cancel") == []  # and must_cancel false: no cancel either


def test_insufficient_funds_is_passed_through_and_the_pot_does_not_move(wallet, rare_side_bet, brand1, gateway,
                                                                        contribution):
    wallet.state.add_player("poor", "token-poor", "0.20")
    opted_in(brand1, rare_side_bet, player_id="poor")

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk), player_id="poor"))

    assert (response.status_code, body_of(response)["code"]) == (402, "INSUFFICIENT_FUNDS")
    assert Pot.objects.get(jackpot=rare_side_bet).current_value == D("20")
    assert not Contribution.objects.exists() and wallet.balance("poor") == D("0.20")


def test_crash_between_debit_and_pot_update_cancels_the_debit(wallet, rare_side_bet, brand1, gateway, contribution,
                                                              monkeypatch):
    opted_in(brand1, rare_side_bet)
    from contributions.services import apply as engine

    def crash(*args, **kwargs):
        raise RuntimeError("process died here")

    monkeypatch.setattr(engine, "split", crash)

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert body_of(response)["code"] == "SYSTEM_ERROR"
    assert wallet.balance("player_00001") == D("1000000")  # debited, then cancelled
    assert len(wallet.calls("/wallet/cancel")) == 1
    assert WalletTransaction.objects.get().status == WalletTransaction.Status.CANCELLED
    assert not Contribution.objects.exists() and not PotIncrement.objects.exists()


def test_a_debit_orphaned_by_a_killed_process_is_cancelled_by_the_sweeper(wallet, rare_side_bet, brand1, contribution,
                                                                          settings):
    """The process dies after the Debit, before the transaction: no contribution will come."""
    from contributions.schemas import parse_contribution
    from portal import jsonutil

    opted_in(brand1, rare_side_bet)
    request = parse_contribution(jsonutil.dumps(contribution(instance_id=str(rare_side_bet.pk))).encode())
    debit = payments.debit_for(contribution_plan(brand=brand1, request=request))
    assert debit.status == WalletTransaction.Status.SUCCEEDED
    assert wallet.balance("player_00001") == D("1000000") - D("0.50")
    settings.WALLET_ORPHAN_SECONDS = 0

    tasks.sweep_wallet()

    assert WalletTransaction.objects.get().status == WalletTransaction.Status.CANCELLED
    assert wallet.balance("player_00001") == D("1000000")


def test_a_debit_the_sweeper_cancelled_during_the_call_does_not_fund_a_contribution(wallet, rare_side_bet, brand1,
                                                                                   gateway, contribution, monkeypatch):
    """The wallet answers the Debit, but meanwhile the orphan sweeper has cancelled the row
    (a call slower than WALLET_ORPHAN_SECONDS): the late success must not overwrite it."""
    opted_in(brand1, rare_side_bet)
    from contributions.wallet import WalletClient

    answer = WalletClient.transaction

    def sweeper_wins_the_race(self, body):
        result = answer(self, body)
        WalletTransaction.objects.filter(transaction_id=body["transaction_id"]).update(
            status=WalletTransaction.Status.CANCELLED)
        return result

    monkeypatch.setattr(WalletClient, "transaction", sweeper_wins_the_race)

    response = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))

    assert (response.status_code, body_of(response)["code"]) == (409, "WALLET_DEBIT_CANCELLED")
    assert WalletTransaction.objects.get().status == WalletTransaction.Status.CANCELLED
    # The wallet had recorded the Debit after the sweeper's cancel: it is cancelled again.
    assert wallet.balance("player_00001") == D("1000000")
    assert not Contribution.objects.exists() and not PotIncrement.objects.exists()


def test_the_sweeper_never_cancels_a_debit_that_has_its_contribution(wallet, rare_side_bet, brand1, gateway,
                                                                      contribution, settings):
    opted_in(brand1, rare_side_bet)
    gateway.contribute(contribution(instance_id=str(rare_side_bet.pk)))
    settings.WALLET_ORPHAN_SECONDS = 0

    tasks.sweep_wallet()

    assert WalletTransaction.objects.get().status == WalletTransaction.Status.SUCCEEDED
    assert wallet.calls("/wallet/cancel") == []


def test_failing_credit_becomes_pending_then_is_paid_once_by_the_periodic_retry(wallet, side_bet, brand1, gateway,
                                                                                contribution, settings):
    opted_in(brand1, side_bet)
    before = wallet.state.player("player_00001", "EUR").balance
    wallet.fail("/wallet/transaction", times=4, status=500, code="DOWN", match={"transaction_type": "Credit"})

    assert gateway.contribute(contribution(instance_id=str(side_bet.pk))).status_code == 200

    win = Win.objects.get()
    credit = WalletTransaction.objects.get(kind="Credit")
    assert (win.status, credit.status, credit.attempts) == (
        Win.Status.PENDING_CREDIT, WalletTransaction.Status.PENDING, 4)
    assert wallet.balance("player_00001") == before - D("0.50")  # not paid yet

    settings.WALLET_CREDIT_RETRY_SECONDS = 0
    tasks.sweep_wallet()  # the wallet has recovered
    tasks.sweep_wallet()  # and a second retry must not pay twice

    assert wallet.balance("player_00001") == before - D("0.50") + D("20.40")
    assert Win.objects.get().status == Win.Status.PAID
    credits = [c for c in wallet.calls("/wallet/transaction") if c.json["transaction_type"] == "Credit"]
    assert {c.json["transaction_id"] for c in credits} == {f"crd-{win.pk}"} and len(credits) == 5
    assert wallet.calls("/wallet/cancel") == []  # a Credit is never cancelled


def test_staff_retries_a_pending_credit_and_history_names_them(wallet, side_bet, brand1, operator, gateway,
                                                                contribution, staff_client):
    from portal.roles import OPS_STAFF

    opted_in(brand1, side_bet)
    wallet.config.enabled = True
    wallet.config.save()
    response = gateway.contribute(contribution(instance_id=str(side_bet.pk)))
    assert response.status_code == 200
    win = Win.objects.get()
    Win.objects.filter(pk=win.pk).update(status=Win.Status.PENDING_CREDIT)
    WalletTransaction.objects.filter(kind="Credit").update(status=WalletTransaction.Status.PENDING)
    balance = wallet.balance("player_00001")
    ops = staff_client("olga", OPS_STAFF, operators=[operator])

    ops.post("/admin/contributions/win/", {"action": "retry_credit", "_selected_action": [win.pk]})

    assert wallet.balance("player_00001") == balance  # already paid once: the wallet answers idempotently
    assert Win.objects.get().status == Win.Status.PAID
    record = Win.objects.get().history.first()
    assert record.history_user.username == "olga" and record.history_change_reason == "credit retried by staff"


def test_withheld_win_is_not_credited(wallet, side_bet, brand1, gateway, contribution):
    side_bet.withhold_limit = D("10")
    side_bet.save()
    opted_in(brand1, side_bet)

    result = body_of(gateway.contribute(contribution(instance_id=str(side_bet.pk))))

    assert result["win_withheld"] is True
    assert [c.json["transaction_type"] for c in wallet.calls("/wallet/transaction")] == ["Debit"]
    assert Win.objects.get().status == Win.Status.WITHHELD


def test_rounds_without_a_win_are_closed_with_a_zero_credit_when_configured(wallet, rare_side_bet, brand1, gateway,
                                                                            contribution):
    wallet.config.close_rounds_without_win = True
    wallet.config.save()
    opted_in(brand1, rare_side_bet)

    gateway.contribute(contribution(instance_id=str(rare_side_bet.pk), gameround_id="quiet"))

    kinds = [(c.json["transaction_type"], c.json["amount"], c.json["round_closed"])
             for c in wallet.calls("/wallet/transaction")]
    assert kinds == [("Debit", "0.50", False), ("Credit", "0.00", True)]


def test_brand_without_a_wallet_refuses_side_bets_unless_configured(currencies, operator, brand2, gateway,
                                                                   contribution, side_bet):
    side_bet.allowed_brands.set([brand2])
    opted_in(brand2, side_bet, player_id="p2")
    body = contribution(instance_id=str(side_bet.pk), brand_id="thrilltech:brand2", player_id="p2")

    refused = gateway.contribute(body)
    brand2.side_bets_without_wallet = True
    brand2.save()
    recorded = gateway.contribute(body)

    assert body_of(refused)["code"] == "CONTRIBUTION_REJECTED"
    assert body_of(refused)["message"].startswith("WalletRequired")
    assert recorded.status_code == 200


def test_the_wallet_checks_the_player_token_when_the_brand_asks(wallet, rare_side_bet, brand1, gateway,
                                                                 contribution):
    wallet.config.authenticate_contributions = True
    wallet.config.save()
    wallet.state.add_player("player_00001", "token_00001", "100")
    wallet.state.add_player("player_00002", "token_00002", "100")
    opted_in(brand1, rare_side_bet)

    forged = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk), token="nope"))
    borrowed = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk), token="token_00002"))
    own = gateway.contribute(contribution(instance_id=str(rare_side_bet.pk), token="token_00001"))

    assert (forged.status_code, body_of(forged)["code"]) == (401, "INVALID_TOKEN")
    assert (borrowed.status_code, body_of(borrowed)["code"]) == (403, "FORBIDDEN")
    assert own.status_code == 200
    assert wallet.balance("player_00001") == D("99.50")


def test_async_contribution_refused_by_the_wallet_reaches_the_webhook(wallet, rare_side_bet, brand1, gateway,
                                                                      contribution, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    wallet.state.add_player("poor", "token-poor", "0.10")
    opted_in(brand1, rare_side_bet, player_id="poor")
    with Receiver() as receiver:
        gateway.contribute(with_callback(contribution(instance_id=str(rare_side_bet.pk), player_id="poor",
                                                      metadata={"bet": 1}), receiver.url))
        from portal import jsonutil

        payload = jsonutil.loads(receiver.wait_for(1)[0].body)

    assert (payload["type"], payload["status_code"], payload["code"], payload["metadata"]) == (
        "error", 402, "INSUFFICIENT_FUNDS", {"bet": 1})
