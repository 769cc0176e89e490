"""Raffle draws (SPEC 5.4): weighted by tickets, several prizes, paid through the wallet,
announced with RaffleWinEvent, recurring periods."""

import math
import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from contributions import tasks
from contributions.models import RaffleDraw, Win
from contributions.selectors import reconcile_instance
from contributions.services.wins import weighted_pick
from players.models import RaffleTicket
from portal.auth import service_authenticate
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_draw_frequencies_match_the_ticket_weights():
    """100,000 seeded draws among holders of 1, 2 and 7 tickets; tolerance 4.5 sigma each."""
    rng = random.Random(7)
    entries = [("one", 1), ("two", 2), ("seven", 7)]
    draws = 100_000
    counts = Counter(weighted_pick(entries, rng.randrange)[0] for _ in range(draws))
    for name, tickets in entries:
        p = tickets / 10
        sigma = math.sqrt(draws * p * (1 - p))
        assert abs(counts[name] - draws * p) < 4.5 * sigma, (name, counts[name])


@pytest.fixture
def raffle(currencies, operator, brand1):
    """1% of each wager funds two prizes; one ticket per 0.50 of wager; weekly, recurring."""
    instance = factories.make_instance(
        operator=operator, name="Weekly raffle", jackpot_type=JackpotInstance.Type.RAFFLE,
        contribution_value=D("0.01"), ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        raffle_recurring=True, raffle_period_seconds=7 * 86400,
        pots=[{"pot_id": "first", "tier": 2, "share": D("0.6"), "initial_seed": D("100"),
               "mechanic": Pot.Mechanic.PRIZE},
              {"pot_id": "second", "tier": 1, "share": D("0.3"), "initial_seed": D("20"),
               "mechanic": Pot.Mechanic.PRIZE}],
    )
    return instance


def play(gateway, contribution, instance, player_id, wager, n):
    response = gateway.contribute(contribution(instance_id=str(instance.pk), player_id=player_id,
                                               base_wager=D(wager), gameround_id=f"{player_id}-{n}"))
    assert response.status_code == 200, response.content
    return response


def end_period(instance):
    """Time passes: the current period is over."""
    end = timezone.now() - timedelta(seconds=1)
    JackpotInstance.objects.filter(pk=instance.pk).update(raffle_period_end=end)
    return end


def test_raffle_draw_pays_winners_through_the_wallet_and_announces_them(wallet, raffle, brand1, gateway, contribution,
                                                                          service_account):
    tasks.draw_raffles()  # opens the first period (it has none yet); nothing is due
    for n in range(3):
        play(gateway, contribution, raffle, "alice", "10", n)  # 60 tickets
    play(gateway, contribution, raffle, "bob", "5", 0)  # 10 tickets
    balances = {p: wallet.state.player(p, "EUR").balance for p in ("alice", "bob")}
    end_period(raffle)
    token = service_authenticate(username="integration", password="service-pass")
    with AsgiServer() as server, server.socket(f"/v1/events/service?token={token}") as socket:
        socket.send({"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "RaffleWinEvent"}]}})

        assert tasks.draw_raffles() == 1
        assert tasks.draw_raffles() == 0  # a period is drawn once
        event = socket.recv_until(lambda m: m["msg_name"] == "RaffleWinEvent")

    draw = RaffleDraw.objects.get()
    assert (draw.period, draw.players, draw.tickets) == (1, 2, 70)
    wins = {w.pot.pot_id: w for w in Win.objects.select_related("pot", "player")}
    assert {w.player.player_id for w in wins.values()} == {"alice", "bob"}  # two prizes, two different winners
    # Pots: 100 + 60% of 0.35 EUR contributed; 20 + 30% of it.
    assert wins["first"].amount_base == D("100.21") and wins["second"].amount_base == D("20.105")
    for win in wins.values():
        assert win.status == Win.Status.PAID
        assert wallet.balance(win.player.player_id) == balances[win.player.player_id] + win.amount
    assert event["data"]["instance_id"] == str(raffle.pk) and event["data"]["jackpot_name"] == "Weekly raffle"
    assert event["data"]["jackpot_currency"] == "EUR" and event["data"]["win_withheld"] is False
    assert sorted((w["player_id"], w["brand_id"], w["currency"], w["win_amount"]) for w in event["data"]["winners"]) \
        == sorted((w.player.player_id, "brand1", "EUR", w.amount) for w in wins.values())
    assert {e["pot"] for e in draw.evidence} == {"first", "second"}
    assert reconcile_instance(raffle).ok


def test_recurring_raffle_opens_its_next_period_with_tickets_reset(raffle, brand1, gateway, contribution):
    tasks.draw_raffles()
    play(gateway, contribution, raffle, "alice", "10", 0)
    first_end = end_period(raffle)

    tasks.draw_raffles()

    raffle.refresh_from_db()
    assert raffle.state == JackpotInstance.State.ACTIVE and raffle.raffle_period == 2
    assert raffle.raffle_period_start == first_end  # back to back
    assert raffle.raffle_period_end - raffle.raffle_period_start == timedelta(days=7)
    response = play(gateway, contribution, raffle, "alice", "1", 1)
    assert response.json()["tickets_awarded"] == 2
    assert RaffleTicket.objects.get(jackpot=raffle, period=2).ticket_count == 2  # a fresh count
    assert RaffleTicket.objects.get(jackpot=raffle, period=1).ticket_count == 20  # the old period kept


def test_a_one_off_raffle_ends_after_its_draw(raffle, brand1, gateway, contribution):
    JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_recurring=False)
    tasks.draw_raffles()
    play(gateway, contribution, raffle, "alice", "10", 0)
    play(gateway, contribution, raffle, "bob", "10", 0)
    end_period(raffle)

    tasks.draw_raffles()

    raffle.refresh_from_db()
    assert raffle.state == JackpotInstance.State.TERMINATED
    assert raffle.history.first().history_change_reason == "raffle ended: period 1 drawn (every pot won)"
    # Its prizes were paid and not reseeded: nothing is left in a raffle that has ended.
    assert {(p.current_value, p.seed_fund) for p in Pot.objects.filter(jackpot=raffle)} == {(D(0), D(0))}
    assert reconcile_instance(raffle).ok


def test_prizes_roll_over_when_fewer_players_than_prizes(raffle, brand1, gateway, contribution):
    tasks.draw_raffles()
    play(gateway, contribution, raffle, "solo", "10", 0)
    end_period(raffle)

    tasks.draw_raffles()

    assert Win.objects.get().pot.pot_id == "first"
    second = Pot.objects.get(jackpot=raffle, pot_id="second")
    assert second.current_value == D("20.03")  # kept for the next period
    assert RaffleDraw.objects.get().evidence[1] == {"pot": "second", "rolled_over": True}
