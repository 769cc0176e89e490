"""`manage.py simulate`: traffic over the real HTTP and WebSocket APIs of a running server."""

import re
import shlex
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from contributions.models import Contribution, Win
from players.models import OptIn, RaffleTicket
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.seed import demo_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalogue(currencies, operator, brand1, service_account):
    """An opt-in jackpot that every contribution wins, and a raffle, each behind its own source."""
    lucky = factories.SourceFactory(operator=operator, source_id="lucky-games")
    raffle = factories.SourceFactory(operator=operator, source_id="raffle-games")
    factories.make_instance(operator=operator, name="Certain", sources=[lucky], opt_in_required=True,
                            contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
                            pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01", magic=1)])
    factories.make_instance(operator=operator, name="Raffle", sources=[raffle], contribution_value=D("0.01"),
                            jackpot_type=JackpotInstance.Type.RAFFLE, ticket_cost=D("0.5"),
                            ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
                            pots=[{"pot_id": "prize", "share": D("1"), "mechanic": Pot.Mechanic.PRIZE,
                                   "initial_seed": D("100")}])


def simulate(server, *args) -> str:
    out = StringIO()
    call_command("simulate", "--url", server.http, "--username", "integration", "--password", "service-pass",
                 "--brand", "thrilltech:brand1", "-v0", *args, stdout=out)
    return out.getvalue()


def line(output: str, label: str) -> str:
    return next(text for text in output.splitlines() if text.strip().startswith(label))


def test_simulation_summary_matches_what_the_platform_recorded(catalogue):
    with AsgiServer() as server:
        output = simulate(server, "--players", "10", "--contributions", "60", "--opt-in-share", "0.8",
                          "--concurrency", "4", "--seed", "7")

    # 8 of 10 players opted in over the socket, to both jackpots they reach.
    assert OptIn.objects.filter(opted_in=True).count() == 16
    assert "16 opted in" in line(output, "players")
    # Bets of the two players who did not opt in are refused by the opt-in jackpot, not lost.
    accepted = Contribution.objects.count()
    refused = int(re.search(r"(\d+) refused", line(output, "contributions")).group(1))
    assert "60 sent" in line(output, "contributions") and f"{accepted} accepted" in line(output, "contributions")
    assert accepted + refused == 60 and 0 < refused < 60
    assert "OptInRequired" in line(output, "contributions")
    # ...and the summary says why, with the count, the code and the rule.
    assert line(output, "refused") == (f"  refused           {refused} CONTRIBUTION_REJECTED (OptInRequired): "
                                       "players left out by --opt-in-share bet on an opt-in jackpot")
    # Every contribution to the certain jackpot won; the socket was told of each win.
    wins = Win.objects.count()
    assert wins == Contribution.objects.filter(jackpot__name="Certain").count() > 0
    assert line(output, "wins").split()[1] == str(wins)
    assert f"{wins} WinEvent" in line(output, "socket events")
    # Tickets the responses reported are the tickets the raffle holds, asked back over the socket.
    held = sum(RaffleTicket.objects.values_list("ticket_count", flat=True))
    assert held > 0
    assert f"{held} awarded by contributions; {held} held" in line(output, "raffle tickets")


def test_simulation_against_a_portal_that_is_not_there_says_so(catalogue):
    with pytest.raises(CommandError, match="does not answer"):
        call_command("simulate", "--url", "http://127.0.0.1:9", "-v0", stdout=StringIO())


def test_simulation_with_wrong_credentials_says_so(catalogue):
    with AsgiServer() as server, pytest.raises(CommandError, match="Service login refused"):
        call_command("simulate", "--url", server.http, "--username", "integration", "--password", "wrong",
                     "-v0", stdout=StringIO())


def test_a_brand_that_reaches_no_jackpot_gets_no_players_and_a_note(catalogue, brand1, brand2):
    """brand2 is not allowed on either jackpot: its players would have nothing to bet on."""
    for instance in JackpotInstance.objects.all():
        instance.allowed_brands.set([brand1])
    with AsgiServer() as server:
        output = simulate(server, "--brand", "thrilltech:brand2", "--players", "4", "--contributions", "12",
                          "--opt-in-share", "1")

    assert "no jackpot reachable for thrilltech:brand2" in output
    assert Contribution.objects.count() == 12
    assert not Contribution.objects.filter(brand=brand2).exists()


def test_the_readme_simulate_example_runs_clean_against_the_demo():
    """The README's command (fewer players and bets, our server's URL) against seed_demo's data:
    every player opted in, brand1's side bets debited at the demo wallet, brand2's recorded
    without a wallet, 503 "retry" answers of the wallet bulkhead retried: nothing refused."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (command,) = re.findall(r"^ *(\.venv/bin/python manage\.py simulate .*)$", readme, flags=re.M)
    args = shlex.split(command)[3:]
    args[args.index("--players") + 1], args[args.index("--contributions") + 1] = "12", "150"
    out = StringIO()
    with demo_world() as wallet, AsgiServer() as server:
        call_command("simulate", *args, "--url", server.http, "-v0", stdout=out)
    output = out.getvalue()

    assert "150 sent" in line(output, "contributions") and "150 accepted, 0 refused" in line(output, "contributions")
    assert "refused  " not in output
    assert "24 opt-in requests: 24 opted in" in line(output, "players")  # 12 players x 2 jackpots each
    sim = Contribution.objects.filter(gameround_id__startswith="sim-")
    assert sim.count() == 150
    assert {c.brand.code for c in sim} == {"brand1", "brand2"}
    debits = [c for c in wallet.calls("/wallet/transaction") if c.json["transaction_type"] == "Debit"]
    assert len(debits) == sim.filter(brand__code="brand1", player_funded=True).count() > 0
    assert sim.filter(brand__code="brand2", player_funded=True).exists()  # side bets without a wallet
