"""The contribution hot path: how many queries one contribution costs, and what the
per-process catalogue cache may and may not remember."""

from decimal import Decimal as D

import pytest

from contributions.models import Contribution
from players.services import optin_set
from portal.cache import clear_all
from sources import services as catalogue
from sources.models import JackpotInstance
from tests import factories
from tests.conftest import body_of
from tests.contributions.conftest import NEVER

pytestmark = pytest.mark.django_db(transaction=True)

# Queries one synchronous contribution costs once the catalogue is known (Django counts BEGIN
# and COMMIT too), as a batch of one: the player's opt-in (it may set the contribution value);
# the player upserted in a transaction of its own (BEGIN, its commit not waiting for the WAL,
# the upsert, COMMIT); then one transaction: the idempotency check and the contribution's id,
# the instance locked (its state), its pots locked in key order, the contribution inserted
# (COPY), its increments (ids, COPY), the three pots updated in one statement. A batch of many
# costs the same (tests/contributions/test_batch_apply.py).
OPERATOR_FUNDED = 15
# A player-funded (opt-in) side bet at a wallet adds: the round's lock (taken and released),
# the Debit's insert (in a savepoint: a concurrent duplicate is an IntegrityError, public API
# only) and its outcome, the Debit locked and linked, the opt-in's counter.
PLAYER_FUNDED_WITH_WALLET = 24


@pytest.fixture
def cached(settings):
    """The production setting: the catalogue is kept in each process for a while."""
    settings.CATALOGUE_CACHE_SECONDS = 60
    clear_all()
    yield
    clear_all()


def test_an_operator_funded_contribution_costs_a_fixed_handful_of_queries(cached, gateway, contribution, world,
                                                                          django_assert_num_queries):
    warm = gateway.contribute(contribution(source_id="casino-sitewide", player_id="regular"))
    assert warm.status_code == 200, warm.content  # the first one reads the catalogue and creates the player

    with django_assert_num_queries(OPERATOR_FUNDED):
        response = gateway.contribute(contribution(source_id="casino-sitewide", player_id="regular"))

    assert response.status_code == 200, response.content
    assert body_of(response)["contribution_amount"] == D("0.10")


def test_a_side_bet_debited_at_the_wallet_costs_a_fixed_handful_of_queries(cached, gateway, contribution, currencies, operator,
                                                                           brand1, wallet, django_assert_num_queries):
    pot = factories.hit_rate_pot  # pots that practically never hit: a win adds its rows
    jackpot = factories.make_instance(
        operator=operator, opt_in_required=True, contribution_type=JackpotInstance.ContributionType.FIXED,
        contribution_value=D("0.10"),
        pots=[pot("minor", share="0.25", seed="10", magic=NEVER, tier=1),
              pot("major", share="0.25", seed="100", magic=NEVER, tier=2),
              pot("mega", share="0.2", seed="1000", magic=NEVER, tier=3)])
    optin_set(brand=brand1, player_id="regular", instance=jackpot, opt_in=True, contribution_value=None,
              currency="EUR", country="MT", actor=None, reason="test")
    warm = gateway.contribute(contribution(instance_id=str(jackpot.pk), player_id="regular"))
    assert warm.status_code == 200, warm.content

    with django_assert_num_queries(PLAYER_FUNDED_WITH_WALLET):
        response = gateway.contribute(contribution(instance_id=str(jackpot.pk), player_id="regular"))

    assert response.status_code == 200, response.content
    assert wallet.balance("regular") == D("1000000") - D("0.20")


def test_pausing_a_jackpot_refuses_the_next_contribution_despite_the_cache(cached, gateway, contribution, world):
    assert gateway.contribute(contribution(source_id="casino-sitewide")).status_code == 200

    catalogue.instance_set_state(instance=world["sitewide"], state=JackpotInstance.State.PAUSED, actor=None,
                                 reason="maintenance")
    response = gateway.contribute(contribution(source_id="casino-sitewide"))

    # This process forgot its catalogue on the save: the source has no active jackpot now.
    assert response.status_code == 404
    assert body_of(response)["code"] == "SOURCE_JACKPOT_NOT_FOUND"


def test_a_pause_made_by_another_process_refuses_the_next_contribution_despite_the_cache(
        cached, gateway, contribution, world):
    instance = world["sitewide"]
    assert gateway.contribute(contribution(instance_id=str(instance.pk))).status_code == 200

    # As another process's pause looks from here: no save signal, the cached copy still Active.
    JackpotInstance.objects.filter(pk=instance.pk).update(state=JackpotInstance.State.PAUSED)
    response = gateway.contribute(contribution(instance_id=str(instance.pk)))

    assert response.status_code == 400
    assert body_of(response)["message"].startswith("InstanceNotActive")
    assert Contribution.objects.filter(jackpot=instance).count() == 1
    assert Contribution.objects.filter(jackpot=world["sitewide"]).count() == 1
