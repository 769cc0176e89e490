import uuid
from decimal import Decimal as D

import pytest

from sources.models import JackpotInstance, Pot
from tests import factories
from tests.seed import SEED_INSTANCE_ID

NEVER = 10**9  # a max magic number that makes a random hit practically impossible


@pytest.fixture
def world(currencies, operator, brand1, brand2):
    """The seed's catalogue: site-wide, deposit, game-group and single-game sources, and the
    directly addressed instance of the seed's last example."""
    sitewide = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    deposit = factories.SourceFactory(operator=operator, source_id="deposit")
    egyptian = factories.SourceFactory(operator=operator, source_id="egyptian-games")
    provider_games = factories.SourceFactory(operator=operator, source_id="provider-games")
    group = factories.GameGroupFactory(operator=operator, name="Provider games", source=provider_games)
    factories.GameFactory(group=group, provider="provider", game_code="provider-game-code")

    pot = factories.hit_rate_pot
    return {
        "sitewide": factories.make_instance(
            operator=operator, name="Site-wide", sources=[sitewide],
            contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
            pots=[pot("minor", share="0.25", seed_share="0.15", seed="10", magic=NEVER, tier=1),
                  pot("major", share="0.25", seed_share="0.15", seed="100", magic=NEVER, tier=2),
                  pot("mega", share="0.2", seed_share="0.15", seed="1000", magic=NEVER, tier=3)],
        ),
        "deposit": factories.make_instance(
            operator=operator, name="Deposit", sources=[deposit], contribution_value=D("0.01"),
            pots=[pot("deposit", share="0.9", seed="50", magic=NEVER)],
        ),
        "egyptian": factories.make_instance(
            operator=operator, name="Egyptian raffle", sources=[egyptian], jackpot_type=JackpotInstance.Type.RAFFLE,
            contribution_value=D("0.005"), ticket_cost=D("0.5"),
            ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
            pots=[{"pot_id": "prize", "share": D("0.95"), "mechanic": Pot.Mechanic.PRIZE, "initial_seed": D("100")}],
        ),
        "game": factories.make_instance(
            operator=operator, name="Provider games", sources=[provider_games], contribution_value=D("0.02"),
            pots=[pot("main", share="1", magic=NEVER)],
        ),
        "direct": factories.make_instance(
            operator=operator, name="Direct", id=uuid.UUID(SEED_INSTANCE_ID), contribution_value=D("0.05"),
            pots=[pot("main", share="0.8", magic=NEVER)],
        ),
    }


def pytest_generate_tests(metafunc):
    """Every contribution test that involves brand1 runs twice: without a wallet (side bets
    recorded, nothing debited) and with brand1's wallet configured (debits and credits)."""
    if "wallet" in metafunc.fixturenames:
        return  # the test is about the wallet itself
    if "brand1" in metafunc.fixturenames and "wallet_mode" in metafunc.fixturenames:
        metafunc.parametrize("wallet_mode", ["no wallet", "with wallet"], indirect=True)


@pytest.fixture(autouse=True)
def wallet_mode(request):
    if getattr(request, "param", "no wallet") == "with wallet":
        return request.getfixturevalue("wallet")
    return None
