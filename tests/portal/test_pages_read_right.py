"""Staff pages say the same thing the same way (issue 13, items 9 and 11 to 14): money as the
player got it, times in one format, nothing a page cannot back up."""

import csv
import io
import re
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from contributions.models import (
    Contribution,
    WalletTransaction,
    WebhookAttempt,
    WebhookDelivery,
    Win,
)
from players.models import Player, RaffleTicket
from portal.roles import AUDITORS, OPS_STAFF
from sources.models import JackpotInstance, Pot
from tests import factories

ISO_UTC = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def text(response) -> str:
    """The page as a reader sees it: tags and non-breaking spaces gone."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body.decode().replace("&nbsp;", " ")))


def test_money_is_shown_as_paid_and_exact_amounts_as_booked():
    from portal.templatetags.portal_tags import exact, money

    assert money(D("430.72624"), "EUR") == "430.72"  # rounded down, as credited
    assert money(D("109.609"), "EUR") == "109.60"
    assert money(D("1234567.9"), "JPY") == "1,234,567"  # JPY has no minor unit
    assert money(D("5"), "EUR") == "5.00"
    assert exact(D("0.0195"), "EUR") == "0.0195" and exact(D("0.10000000"), "EUR") == "0.10"
    assert exact(D("430.72624000"), "EUR") == "430.72624"


def make_contribution(brand, player, instance, n, *, amount="0.0195", currency="EUR", **fields) -> Contribution:
    return Contribution.objects.create(
        brand=brand, player=player, player_ref=player.player_id, gameround_id=f"round-{n}", target_kind="instance",
        target_id=str(instance.pk), jackpot=instance, player_country="MT", currency=currency, base_wager=D("1"),
        amount=D(amount), amount_base=D(amount), processed_at=timezone.now(), **fields)


@pytest.fixture
def ledger(currencies, operator, brand1, brand2):
    """A three-pot jackpot (pots created lowest tier first) and two wins whose base amounts end in
    fractions of a cent: one withheld, one waiting for the wallet, and a JPY player's win."""
    instance = factories.make_instance(operator=operator, name="Mega", withhold_limit=D("400"), pots=[
        factories.hit_rate_pot("minor", share="0.3", seed="10", tier=1, magic=10**9),
        factories.hit_rate_pot("major", share="0.3", seed="100", tier=2, magic=10**9),
        factories.hit_rate_pot("mega", share="0.3", seed="1000", tier=3, magic=10**9)])
    mega = Pot.objects.get(jackpot=instance, pot_id="mega")
    player = Player.objects.create(brand=brand1, player_id="lucky", country="MT", currency="EUR")
    yen = Player.objects.create(brand=brand2, player_id="tanaka", country="JP", currency="JPY")
    first = make_contribution(brand1, player, instance, 1)
    second = make_contribution(brand1, player, instance, 2)
    third = make_contribution(brand2, yen, instance, 3, amount="3", currency="JPY")
    withheld = Win.objects.create(contribution=first, jackpot=instance, pot=mega, player=player, generation=1,
                                  amount_base=D("430.72624"), amount=D("430.72"), payout_remainder=D("0.00624"),
                                  currency="EUR", withheld=True, status=Win.Status.WITHHELD)
    pending = Win.objects.create(contribution=second, jackpot=instance, pot=mega, player=player, generation=2,
                                 amount_base=D("109.60624"), amount=D("109.60"), currency="EUR",
                                 status=Win.Status.PENDING_CREDIT)
    in_yen = Win.objects.create(contribution=third, jackpot=instance, pot=mega, player=yen, generation=3,
                                amount_base=D("7.60005"), amount=D("1233"), currency="JPY", rate=D("162.35"))
    return {"instance": instance, "player": player, "yen": yen, "withheld": withheld, "pending": pending,
            "in_yen": in_yen, "contributions": [first, second, third]}


def test_a_win_shows_what_the_player_got_on_every_page(ledger, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    instance, player, first = ledger["instance"], ledger["player"], ledger["contributions"][0]
    pages = {
        "dashboard": "/", "jackpot": f"/jackpots/{instance.pk}/", "player": f"/players/{player.pk}/",
        "contribution": f"/contributions/{first.trace_id}/", "contributions": "/contributions/",
        "withheld": "/wins/withheld/",
    }
    for name, url in pages.items():
        page = text(ops.get(url))
        assert "430.72 EUR" in page, name
        assert "430.73" not in page, name  # the base amount rounded, never shown as money
    assert "109.60 EUR" in text(ops.get("/wins/pending-credits/"))
    for url in ("/", f"/jackpots/{instance.pk}/", f"/players/{ledger['yen'].pk}/"):
        assert "1,233 JPY" in text(ops.get(url)) and "1,233.00" not in text(ops.get(url)), url

    jackpot = text(ops.get(f"/jackpots/{instance.pk}/"))
    assert "From the pot (exact, EUR)" in jackpot and "430.72624" in jackpot  # the exact base, labelled
    assert "Taken from the pot: " not in jackpot or "(exact)" in jackpot


def test_pots_are_listed_in_one_order_everywhere(ledger, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    instance = ledger["instance"]
    for url in ("/", "/jackpots/", f"/jackpots/{instance.pk}/"):
        page = text(ops.get(url))
        assert page.index("mega") < page.index("major") < page.index("minor"), url


def test_the_dashboard_live_part_is_the_tiles_and_the_wins_of_the_users_scope(ledger, brand1, staff_client):
    brand_user = staff_client("b1", OPS_STAFF, brands=[brand1])
    part = brand_user.get("/?part=live")
    body = part.content.decode()
    assert part.status_code == 200 and "<html" not in body
    assert 'data-kpi="withheld">1<' in body and 'data-kpi="pending_credits">1<' in body
    assert 'data-kpi="contributions_24h">2<' in body  # brand2's contribution is not theirs
    assert f'data-win="{ledger["withheld"].pk}"' in body and "tanaka" not in body
    assert re.search(rf'<td class="when">{ISO_UTC}</td>', body)


def test_jackpot_page_commitment_chart_precision_and_raffle_totals(currencies, operator, brand1, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    drop = factories.make_instance(operator=operator, name="Drop", contribution_value=D("0.0195"), pots=[
        {"pot_id": "drop", "share": D("1"), "initial_seed": D("10"), "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT,
         "drop_ceiling": D("12")}])
    player = Player.objects.create(brand=brand1, player_id="p1", currency="EUR")
    pot = Pot.objects.get(jackpot=drop)
    start = timezone.now() - timedelta(hours=2)
    for n in range(3):
        c = make_contribution(brand1, player, drop, n)
        Contribution.objects.filter(pk=c.pk).update(created_at=start + timedelta(hours=n))
        c.increments.create(pot=pot, value_delta=D("0.0195"), seed_delta=0, value_after=D("10") + D("0.0195") * (n + 1),
                            generation=pot.generation)

    page = ops.get(f"/jackpots/{drop.pk}/").content.decode()

    commitment = re.search(r'<code class="hash" id="(commitment-\d+)">([0-9a-f]{64})</code>', page)
    assert commitment and f'data-copy="{commitment.group(1)}"' in page  # wraps inside the card, with Copy
    chart = re.search(r'<figure class="chart"><svg viewBox="0 0 600 220".*?</svg>', page, re.S).group(0)
    assert "time (UTC) · value (EUR)" in chart
    assert re.findall(r">(\d\d:\d\d)</text>", chart)  # the time axis, labelled
    assert ">10.01</text>" in chart and ">10.05</text>" in chart  # the value axis, in cents, rounded down
    readable = text(ops.get(f"/jackpots/{drop.pk}/"))
    assert "Contribution (exact)" in readable and "0.0195 EUR" in readable
    assert "contribution 1.95% of the base wager" in readable and "house share 0%" in readable

    raffle = factories.make_instance(
        operator=operator, name="Raffle", jackpot_type=JackpotInstance.Type.RAFFLE, contribution_value=D("0.01"),
        ticket_cost=D("0.5"), pots=[{"pot_id": "prize", "share": D("1"), "mechanic": Pot.Mechanic.PRIZE,
                                     "initial_seed": D("100")}])
    others = [Player.objects.create(brand=brand1, player_id=f"r{n}") for n in range(3)]
    RaffleTicket.objects.create(jackpot=raffle, period=raffle.raffle_period, player=others[0], ticket_count=7)
    RaffleTicket.objects.create(jackpot=raffle, period=raffle.raffle_period, player=others[1], ticket_count=5)
    RaffleTicket.objects.create(jackpot=raffle, period=raffle.raffle_period + 1, player=others[2], ticket_count=99)
    raffle_page = text(ops.get(f"/jackpots/{raffle.pk}/"))
    assert "Tickets in period 1 (now) 12" in raffle_page and "Players holding tickets 2" in raffle_page


@pytest.fixture
def many_contributions(currencies, operator, brand1):
    instance = factories.make_instance(operator=operator, name="Busy", pots=[
        factories.hit_rate_pot("p", share="1", magic=10**9)])
    player = Player.objects.create(brand=brand1, player_id="p0001", currency="EUR")
    rows = Contribution.objects.bulk_create([
        Contribution(trace_id=uuid.uuid4(), brand=brand1, player=player, player_ref="p0001", gameround_id=f"r{n}",
                     target_kind="instance", target_id=str(instance.pk), jackpot=instance, player_country="MT",
                     currency="EUR", base_wager=D("1"), amount=D("0.0195"), amount_base=D("0.0195"),
                     processed_at=timezone.now())
        for n in range(120)])
    win = Win.objects.create(contribution=rows[-1], jackpot=instance, pot=Pot.objects.get(jackpot=instance),
                             player=player, generation=1, amount_base=D("12.34567"), amount=D("12.34"), currency="EUR")
    return {"instance": instance, "win": win, "rows": rows}


def test_contribution_list_has_page_numbers_a_count_totals_and_wins(many_contributions, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])

    first = ops.get("/contributions/").content.decode()
    page = text(ops.get("/contributions/"))

    assert "120 rows · page 1 of 3" in page
    assert 'href="?page=2">2</a>' in first and 'href="?page=3">3</a>' in first
    assert "Totals of the 120 matching contributions" in page
    assert "EUR 120 120.00 2.34 1 12.34" in page  # count, wagers, contributions (exact), wins, won
    assert "p 12.34 EUR recorded" in page  # the newest row's win
    assert re.search(rf'<td class="when"><a href="/contributions/[0-9a-f-]+/">{ISO_UTC}</a></td>', first)

    filtered = text(ops.get("/contributions/", {"gameround": "r5"}))
    assert "Totals of the 1 matching contribution " in filtered and "EUR 1 1.00 0.0195 0 0.00" in filtered


def test_contributions_csv_has_the_win_columns(many_contributions, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    response = ops.get("/contributions.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    won = [r for r in rows if r["win_pot_id"]]
    assert len(rows) == 120 and len(won) == 1
    assert (won[0]["win_pot_id"], won[0]["win_amount"], won[0]["win_currency"], won[0]["win_status"]) == (
        "p", "12.34000000", "EUR", "recorded")
    assert all(r["win_amount"] == "" for r in rows if not r["win_pot_id"])


def test_callbacks_say_only_what_is_true(ledger, operator, brand1, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    first, second = ledger["contributions"][:2]
    soon = timezone.now() + timedelta(minutes=5)
    delivered = WebhookDelivery.objects.create(
        contribution=first, brand=brand1, url="https://x.example/hook", kind="data", status="delivered",
        payload='{"win_amount":430.72,"trace_id":"t"}', attempt_count=1, next_attempt_at=soon,
        delivered_at=timezone.now())
    WebhookAttempt.objects.create(delivery=delivered, number=1, started_at=timezone.now(), status_code=200,
                                  latency_ms=12, success=True)
    pending = WebhookDelivery.objects.create(contribution=second, brand=brand1, url="https://x.example/hook",
                                             kind="data", payload="{}", status="pending", attempt_count=2,
                                             next_attempt_at=soon)

    listing = ops.get("/callbacks/").content.decode()
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr><td[^>]*>.*?<code>(msg_\w+)</code>.*?</tr>',
                                                        listing, re.S)}
    assert f"{soon:%Y-%m-%d %H:%M:%S}" in rows[pending.webhook_id]
    assert f"{soon:%Y-%m-%d %H:%M:%S}" not in rows[delivered.webhook_id]
    detail = ops.get(f"/callbacks/{delivered.pk}/").content.decode()
    assert "· 1 attempt ·" in text(ops.get(f"/callbacks/{delivered.pk}/")) and "next attempt" not in detail
    assert '{\n  &quot;win_amount&quot;: 430.72,\n  &quot;trace_id&quot;: &quot;t&quot;\n}' in detail
    assert "· 2 attempts · next attempt" in text(ops.get(f"/callbacks/{pending.pk}/"))


def test_pending_credits_show_the_next_retry_and_offer_retries_only_to_who_can(ledger, operator, brand1, staff_client):
    win = ledger["pending"]
    tx = WalletTransaction.objects.create(
        transaction_id="credit-1", round_key="k", kind=WalletTransaction.Kind.CREDIT, brand=brand1,
        player_ref="lucky", amount=win.amount, currency="EUR", gameround_id="round-2", jackpot=win.jackpot, win=win,
        attempts=3, error_status=503, error_code="DOWN")
    WalletTransaction.objects.filter(pk=tx.pk).update(updated_at=timezone.now() + timedelta(seconds=60))
    tx.refresh_from_db()
    ops = text(staff_client("ops", OPS_STAFF, operators=[operator]).get("/wins/pending-credits/"))
    auditor = text(staff_client("audrey", AUDITORS, operators=[operator]).get("/wins/pending-credits/"))

    next_retry = tx.updated_at + timedelta(seconds=30)
    assert f"{next_retry:%Y-%m-%d %H:%M:%S}" in ops and f"{next_retry:%Y-%m-%d %H:%M:%S}" in auditor
    assert "Retry now" in ops and "you can also retry one now" in ops
    assert "Retry now" not in auditor and "retry one now" not in auditor and "your role can only watch" in auditor


def test_player_page_tickets_header_and_times(ledger, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    from players.models import OptIn

    OptIn.objects.create(player=ledger["player"], jackpot=ledger["instance"], opted_in=True,
                         preferred_contribution_value=D("0.5"))
    page = ops.get(f"/players/{ledger['player'].pk}/").content.decode()
    assert "Drawn at" not in page and "Current period (UTC), drawn when it ends" in page
    assert re.search(rf'<td class="when" data-field="updated">{ISO_UTC}</td>', page)
    assert '<td class="num" data-field="preferred">0.50</td>' in page
