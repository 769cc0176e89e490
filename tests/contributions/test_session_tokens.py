"""Raw player session tokens are not kept after use (issue 15, records): the wallet gets the
token with each call, the ledger keeps none once a contribution is processed."""

from decimal import Decimal as D

import pytest
from django.core.cache import cache

from contributions import tasks
from contributions.models import Contribution, WalletTransaction
from players.services import optin_set
from sources.models import JackpotInstance
from tests import factories
from tests.conftest import body_of
from tests.contributions.conftest import NEVER

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "session-token-of-p1"
HOOK = "http://127.0.0.1:9/hook"  # nobody listens: deliveries are beside the point here


@pytest.fixture(autouse=True)
def loopback_webhooks(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def side_bet(currencies, operator, brand1):
    instance = factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True, contribution_value=D("0.10"),
        contribution_type=JackpotInstance.ContributionType.FIXED,
        pots=[factories.hit_rate_pot("main", share="0.8", seed="10", magic=NEVER)])
    optin_set(brand=brand1, player_id="p1", instance=instance, opt_in=True, currency="EUR")
    return instance


def stored_tokens() -> list[str]:
    return [t for t in [*Contribution.objects.values_list("token", flat=True),
                        *WalletTransaction.objects.values_list("token", flat=True)] if t]


def test_a_synchronous_side_bet_keeps_no_token_once_debited(side_bet, wallet, gateway, contribution):
    response = gateway.contribute(contribution(instance_id=str(side_bet.pk), player_id="p1", token=TOKEN))

    assert response.status_code == 200, response.content
    (debit,) = wallet.calls("/wallet/transaction")
    assert debit.json["token"] == TOKEN  # used: the wallet got it
    assert stored_tokens() == []  # and not kept: neither on the contribution nor on its Debit
    assert Contribution.objects.get().token == ""


def test_an_async_contribution_keeps_its_token_only_until_processed(side_bet, wallet, gateway, contribution):
    cache.add(tasks.DRAIN_SCHEDULED, 0, timeout=60)  # no drain yet: the row waits, as behind a busy worker
    body = contribution(instance_id=str(side_bet.pk), player_id="p1", token=TOKEN,
                        callback={"web_hook": HOOK, "win_result_only": True})

    accepted = gateway.contribute(body)
    waiting = Contribution.objects.get(trace_id=body_of(accepted)["trace_id"])
    assert (waiting.status, waiting.token) == (Contribution.Status.ACCEPTED, TOKEN)  # its Debit still to come

    cache.delete(tasks.DRAIN_SCHEDULED)
    tasks.drain_accepted()

    waiting.refresh_from_db()
    assert waiting.status == Contribution.Status.PROCESSED
    assert wallet.calls("/wallet/transaction")[0].json["token"] == TOKEN
    assert stored_tokens() == []


def test_a_refused_async_contribution_drops_its_token_too(side_bet, gateway, contribution):
    cache.add(tasks.DRAIN_SCHEDULED, 0, timeout=60)
    body = contribution(instance_id=str(side_bet.pk), player_id="someone-not-opted-in", token=TOKEN,
                        callback={"web_hook": HOOK, "win_result_only": False})
    gateway.contribute(body)
    cache.delete(tasks.DRAIN_SCHEDULED)

    tasks.drain_accepted()

    row = Contribution.objects.get()
    assert (row.status, row.error_code, row.token) == (Contribution.Status.REJECTED, "CONTRIBUTION_REJECTED", "")
