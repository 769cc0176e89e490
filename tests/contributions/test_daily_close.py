"""The daily close (issue 15, item 1): business days cut in the operator's time zone, closed
once and stored; each day's closing is the next day's opening; the closed days add up to
what `reconcile` says; a brand-scoped auditor sees only that brand on the page, in the CSV
and through the API.

The fixed data set: three business days in Europe/Malta around the switch to summer time
(28-30 March 2026; the 29th has 23 hours), contributions through the gateway from two
brands in three currencies and two sources (and by instance id), a cap overflow, a seed
boost, an adjustment, a paid (or recorded) win, a withheld win rejected two days
later, player-funded side bets, and a jackpot of brand2's own. Outcomes are decided by an
injected random source and the clock is set for every step.
"""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from contributions import tasks
from contributions.models import Contribution, DailyClose, DailyClosePot, Win
from contributions.reports import business_zone
from contributions.selectors import reconcile_instance
from contributions.services import wins as win_services
from contributions.services.closing import chain_breaks, day_close
from players.services import optin_set
from portal import jsonutil
from portal.errors import DomainError
from portal.money import payout
from sources import services as catalogue
from sources.mechanics import use_randomness
from sources.models import JackpotInstance, Pot, PotAdjustment
from tests import factories
from tests.conftest import body_of

MALTA = "Europe/Malta"
DAY1, DAY2, DAY3 = date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)
NEVER = 10**9


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class Draws:
    """The random source of one contribution: each HitRate pot's draw in turn (its pots in
    creation order) hits if the script says so, else misses."""

    def __init__(self, *hits: bool) -> None:
        self.hits = list(hits)

    def randbelow(self, n: int) -> int:
        return 0 if (self.hits.pop(0) if self.hits else False) else n - 1

    def token_hex(self, nbytes: int) -> str:
        return "0" * (2 * nbytes)


@pytest.fixture
def clock(monkeypatch):
    """The time everything reads (`timezone.now`: the ledger's timestamps and the engine's clock)."""

    class Clock:
        moment = utc(28, 8)

        def at(self, moment: datetime) -> datetime:
            self.moment = moment
            return moment

    fixed = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fixed.moment)
    return fixed


@pytest.fixture
def malta(settings):
    settings.BUSINESS_TIME_ZONES = {"thrilltech": MALTA}


@pytest.fixture
def days(malta, clock, gateway, contribution, currencies, operator, brand1, brand2, roles):
    """The fixed data set (see the module), closed up to DAY3 by `close_day` on 31 March."""
    ops = User.objects.create_user("olive", is_staff=True)
    sitewide = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    deposit = factories.SourceFactory(operator=operator, source_id="deposit")
    network = factories.make_instance(
        operator=operator, name="Network", sources=[sitewide, deposit], contribution_value=D("0.1"),
        withhold_limit=D("40"), pots=[
            factories.hit_rate_pot("minor", share="0.3", seed_share="0.1", seed="5", cost="0.1", magic=NEVER, tier=1,
                                   cap=D("8")),
            factories.hit_rate_pot("major", share="0.2", seed_share="0.2", seed="50", cost="1", magic=NEVER, tier=2),
        ])
    side_bet = factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True, allowed_brands=[brand1],
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
        pots=[factories.hit_rate_pot("mega", share="0.7", seed_share="0.1", seed="100", magic=NEVER)])
    own = factories.make_instance(operator=operator, brand=brand2, name="Brand2 only", contribution_value=D("0.05"),
                                  pots=[factories.hit_rate_pot("solo", share="0.5", seed="20", magic=NEVER)])
    optin_set(brand=brand1, player_id="player_00001", instance=side_bet, opt_in=True)

    def pay(at: datetime, *hits: bool, **fields) -> dict:
        clock.at(at)
        fields.setdefault("source_id", "casino-sitewide")
        with use_randomness(Draws(*hits)):
            response = gateway.contribute(contribution(**fields))
        assert response.status_code == 200, response.content
        return body_of(response)

    brand2_fields = {"brand_id": "thrilltech:brand2", "player_id": "p2", "player_country": "SE", "currency": "SEK"}
    # 28 March (UTC+1): 09:00 ... 23:30 local
    pay(utc(28, 8, 30), base_wager=D("10"))
    pay(utc(28, 9), base_wager=D("100"), **brand2_fields)
    pay(utc(28, 10), instance_id=str(side_bet.pk), source_id=...)
    clock.at(utc(28, 11))
    catalogue.pot_boost(pot=Pot.objects.get(jackpot=network, pot_id="major"), amount=D("20"), actor=ops,
                        reason="promotion")
    pay(utc(28, 12), instance_id=str(own.pk), source_id=..., **brand2_fields)
    overflow_win = pay(utc(28, 14), True, False, base_wager=D("100"), source_id="deposit")  # minor: cap, then hit
    assert overflow_win["win_pot_id"] == "minor" and overflow_win["win_withheld"] is False
    pay(utc(28, 22, 30), base_wager=D("10"))  # 23:30 in Malta: still the 28th
    # 29 March: summer time from 01:00 UTC, a day of 23 hours
    pay(utc(28, 23, 30), base_wager=D("50"), **brand2_fields)  # 00:30 in Malta: the 29th
    pay(utc(29, 9), True, False, base_wager=D("20"))
    clock.at(utc(29, 11))
    catalogue.pot_adjust(pot=Pot.objects.get(jackpot=network, pot_id="major"), delta=D("3"), actor=ops,
                         reason="correction")
    withheld = pay(utc(29, 19), False, True, base_wager=D("10"), brand_id="thrilltech:brand2", player_id="p2",
                   player_country="GB", currency="GBP")
    assert withheld["win_pot_id"] == "major" and withheld["win_withheld"] is True
    # 30 March
    pay(utc(30, 7), instance_id=str(network.pk), source_id=..., base_wager=D("10"))
    clock.at(utc(30, 9))
    win_services.win_reject(win=Win.objects.get(status=Win.Status.WITHHELD), actor=ops, reason="self-excluded")
    pay(utc(30, 10), instance_id=str(side_bet.pk), source_id=...)

    clock.at(utc(31, 12))
    out = io.StringIO()
    call_command("close_day", stdout=out)
    return {"network": network, "side_bet": side_bet, "own": own, "ops": ops, "output": out.getvalue(),
            "instances": [network, side_bet, own]}


def pots_of(instance, day) -> dict[str, DailyClosePot]:
    close = DailyClose.objects.get(jackpot=instance, business_date=day, superseded_at__isnull=True)
    return {p.pot_key: p for p in close.pots.all()}


def test_days_are_cut_in_the_business_time_zone_and_closed_in_order(days):
    closes = DailyClose.objects.filter(jackpot=days["network"]).order_by("business_date")
    assert [c.business_date for c in closes] == [DAY1, DAY2, DAY3]  # the 31st is not over
    assert all(c.time_zone == MALTA and c.revision == 1 and c.trigger == "command" for c in closes)
    assert [c.window_end - c.window_start for c in closes] == [timedelta(hours=24), timedelta(hours=23),
                                                               timedelta(hours=24)]
    assert closes[0].window_start == utc(27, 23) and closes[1].window_start == utc(28, 23)
    # The contribution at 23:30 Malta time counts on the 28th, the one at 00:30 on the 29th.
    day1 = closes[0].lines.filter(contributions__gt=0)
    assert sum(line.contributions for line in day1) == 4  # 09:30, 10:00, 15:00 and 23:30 local
    assert sum(line.contributions for line in closes[1].lines.all()) == 3
    assert "OK " in days["output"] and "BAD" not in days["output"]


def test_each_days_closing_is_the_next_days_opening_and_every_day_adds_up(days):
    for instance in days["instances"]:
        previous = None
        for day in (DAY1, DAY2, DAY3):
            pots = pots_of(instance, day)
            assert all(p.balanced for p in pots.values()), (instance, day)
            if previous is None:  # created on the first day: opens at nothing
                assert all(p.opening_liability == 0 for p in pots.values())
            else:
                for key, pot in pots.items():
                    before = previous[key]
                    assert (pot.opening_value, pot.opening_seed_fund, pot.opening_seed_deficit) == (
                        before.closing_value, before.closing_seed_fund, before.closing_seed_deficit)
            assert not chain_breaks(DailyClose.objects.get(jackpot=instance, business_date=day))
            previous = pots


def test_what_the_days_booked_is_what_happened(days):
    network = days["network"]
    d1, d2, d3 = (pots_of(network, day) for day in (DAY1, DAY2, DAY3))
    # Day 1: initial seeds, the boost, a minor win that also overflowed its cap.
    assert d1["minor"].adjustments == {"initial_seed": {"count": 1, "value": "5.00000000", "seed": "0.00000000"}}
    assert d1["major"].adjustments["seed_boost"]["seed"] == "20.00000000"
    assert d1["minor"].overflow > 0 and d1["minor"].wins == 1 and d1["minor"].won == D("8")
    assert d1["minor"].reseeded == D("5") and d1["minor"].deficit_added > 0
    # Day 2: the adjustment, a minor win and the withheld major win (rejected on day 3).
    assert d2["major"].adjusted_value == D("3") and d2["major"].wins == 1
    assert d2["major"].won_rejected == d2["major"].won  # its status when the day was closed...
    assert d2["major"].unpaid_wins == 0  # ...had already left the withheld state
    # Day 3: the rejected win went back to the seed fund.
    assert d3["major"].adjustments["win_return"]["seed"] == f"{d2['major'].won:.8f}"
    # Player-funded and operator-funded contributions are told apart.
    side = pots_of(days["side_bet"], DAY1)["mega"]
    assert side.player_funded == side.contributed_value + side.contributed_seed > 0 and side.operator_funded == 0
    assert d1["minor"].operator_funded > 0 and d1["minor"].player_funded == 0


def test_the_closed_days_equal_reconcile(days):
    for instance in days["instances"]:
        closes = list(DailyClose.objects.filter(jackpot=instance, superseded_at__isnull=True))
        pots = [p for c in closes for p in c.pots.all()]
        lines = [line for c in closes for line in c.lines.all()]
        report = reconcile_instance(instance)
        assert report.ok
        assert sum(line.contributions for line in lines) == report.contributions
        assert sum(line.contributed_base for line in lines) == report.contributed
        assert sum(line.house_base for line in lines) == report.to_house
        assert sum(p.contributed_value for p in pots) == report.to_pots
        assert sum(p.contributed_seed for p in pots) == report.to_seed_funds
        assert sum(p.won for p in pots) == report.won == sum(line.won_base for line in lines)
        last = pots_of(instance, DAY3)
        for check in report.pots:
            pot = last[check.pot_id]
            assert (pot.closing_value, pot.closing_seed_fund, pot.closing_seed_deficit) == (
                check.expected_value, check.expected_seed_fund, check.expected_seed_deficit)
            assert (pot.closing_value, pot.closing_seed_fund) == (check.value, check.seed_fund)


def test_totals_by_brand_currency_country_and_source(days):
    lines = [line for c in DailyClose.objects.filter(jackpot=days["network"]) for line in c.lines.all()]
    by = lambda attr: {getattr(line, attr) for line in lines if line.contributions}  # noqa: E731
    assert by("currency") == {"EUR", "SEK", "GBP"}
    assert by("country") == {"MT", "SE", "GB"}
    assert by("source") == {"casino-sitewide", "deposit", ""}  # "": addressed by instance id
    assert {line.brand.key for line in lines} == {"thrilltech:brand1", "thrilltech:brand2"}
    sek = [line for line in lines if line.currency == "SEK"]
    assert sum(line.wagers for line in sek) == D("150") and sum(line.contributed for line in sek) == D("15")


def test_a_closed_day_is_never_computed_again_silently(days, clock):
    network = days["network"]
    out = io.StringIO()
    call_command("close_day", stdout=out)
    assert "Nothing to close" in out.getvalue()
    assert DailyClose.objects.count() == 9
    with pytest.raises(DomainError) as refused:
        day_close(instance=network, business_date=DAY2, trigger="command")
    assert refused.value.code == "DAY_CLOSED"
    with pytest.raises(CommandError, match="--force needs"):
        call_command("close_day", "--force", "--date", "2026-03-29", stdout=io.StringIO())
    # Forcing needs a user allowed to (ops staff are not, by default) and a reason.
    ops = days["ops"]
    with pytest.raises(CommandError):
        call_command("close_day", str(network.pk), "--force", "--date", "2026-03-29", "--by", ops.username,
                     "--reason", "checking", stdout=(refusal := io.StringIO()))
    assert "FORBIDDEN" in refusal.getvalue()
    with pytest.raises(DomainError, match="not over"):
        day_close(instance=network, business_date=date(2026, 3, 31), trigger="command")


def test_a_forced_recompute_keeps_the_revision_it_replaces(days, clock):
    network = days["network"]
    admin = User.objects.create_superuser("ada", password="pw")
    major = Pot.objects.get(jackpot=network, pot_id="major")
    first = DailyClose.objects.get(jackpot=network, business_date=DAY2)
    closing_before = pots_of(network, DAY2)["major"].closing_value

    # Nothing changed: a recompute gives the same figures, as a new revision naming who and why.
    out = io.StringIO()
    call_command("close_day", str(network.pk), "--force", "--date", "2026-03-29", "--by", "ada", "--reason",
                 "auditor asked", stdout=out)
    second = DailyClose.objects.get(jackpot=network, business_date=DAY2, superseded_at__isnull=True)
    first.refresh_from_db()
    assert (second.revision, second.computed_by, second.reason, second.trigger) == (2, admin, "auditor asked",
                                                                                    "recompute")
    assert second.digest == first.digest and "the same figures" in out.getvalue()
    assert first.superseded_by == second and first.pots.get(pot_key="major").closing_value == closing_before

    # A row booked into the closed day (a late commit): the day's stored figures stand, and
    # the next day now opens differently from how a recompute of the 29th closes.
    late = PotAdjustment.objects.create(pot=major, kind=PotAdjustment.Kind.ADJUSTMENT, value_delta=D("1"),
                                        reason="late", actor=admin)
    PotAdjustment.objects.filter(pk=late.pk).update(created_at=utc(29, 12))
    Pot.objects.filter(pk=major.pk).update(current_value=major.current_value + 1)
    out = io.StringIO()
    call_command("close_day", str(network.pk), "--force", "--date", "2026-03-29", "--by", "ada", "--reason",
                 "late adjustment", stdout=out)
    third = DailyClose.objects.get(jackpot=network, business_date=DAY2, superseded_at__isnull=True)
    assert third.revision == 3 and third.digest != second.digest and "the figures differ" in out.getvalue()
    assert third.pots.get(pot_key="major").closing_value == closing_before + 1
    assert DailyClose.objects.filter(jackpot=network, business_date=DAY2).count() == 3  # every revision kept
    assert chain_breaks(DailyClose.objects.get(jackpot=network, business_date=DAY3))  # shown until the 30th is redone
    call_command("close_day", str(network.pk), "--force", "--date", "2026-03-30", "--by", "ada", "--reason",
                 "late adjustment", stdout=io.StringIO())
    assert not chain_breaks(DailyClose.objects.get(jackpot=network, business_date=DAY3, superseded_at__isnull=True))
    assert pots_of(network, DAY3)["major"].closing_value == reconcile_instance(network).pots[1].expected_value


def test_the_schedule_closes_a_day_once_it_is_over_and_its_grace_has_passed(malta, clock, currencies, operator, settings):
    settings.DAILY_CLOSE_GRACE_SECONDS = 600
    clock.at(utc(28, 8))
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("p", share="1", seed="3")])
    assert business_zone(operator.pk).key == MALTA

    clock.at(utc(28, 23, 5))  # five minutes into the 29th in Malta: the 28th is over, its grace is not
    assert tasks.close_days() == 0
    clock.at(utc(28, 23, 11))
    assert tasks.close_days() == 1
    assert tasks.close_days() == 0  # closed once
    close = DailyClose.objects.get(jackpot=instance)
    assert (close.business_date, close.trigger, close.pots.get().closing_value) == (DAY1, "schedule", D("3"))


def test_a_retired_instance_stops_being_closed_once_it_holds_nothing(malta, clock, currencies, operator):
    clock.at(utc(28, 8))
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("p", share="1")])
    catalogue.instance_set_state(instance=instance, state=JackpotInstance.State.TERMINATED, actor=None,
                                 reason="ended")
    clock.at(utc(31, 12))
    assert tasks.close_days() == 1  # the 28th, when it existed; then nothing held, nothing moved
    assert DailyClose.objects.filter(jackpot=instance).count() == 1


# --- scope: pages, CSV and API ----------------------------------------------------------------


@pytest.fixture
def auditor(days, staff_client, brand1):
    return staff_client("audrey", "Auditors", brands=[brand1])


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_a_brand_scoped_auditor_sees_only_that_brand_on_the_page(days, auditor):
    page = auditor.get("/reports/daily-close/", {"date": "2026-03-29"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Network" in html and "Side bet" in html and "Brand2 only" not in html
    assert "thrilltech:brand1" in html and "thrilltech:brand2" not in html
    assert "SEK" not in html and "GBP" not in html  # brand2's currencies on that day
    own_close = DailyClose.objects.get(jackpot=days["own"], business_date=DAY1)
    assert auditor.get(f"/reports/daily-close/{own_close.pk}/").status_code == 404
    network_close = DailyClose.objects.get(jackpot=days["network"], business_date=DAY2)
    detail = auditor.get(f"/reports/daily-close/{network_close.pk}/").content.decode()
    assert "thrilltech:brand1" in detail and "thrilltech:brand2" not in detail


def test_a_brand_scoped_auditor_sees_only_that_brand_in_the_csv(days, auditor, staff_client):
    lines = csv_rows(auditor.get("/reports/daily-close.csv", {"date": "2026-03-28", "date_to": "2026-03-30",
                                                             "part": "lines"}))
    assert lines and {row["brand"] for row in lines} == {"brand1"}
    pots = csv_rows(auditor.get("/reports/daily-close.csv", {"date": "2026-03-28", "date_to": "2026-03-30"}))
    assert {row["instance"] for row in pots} == {"Network", "Side bet"}
    assert all(row["balanced"] == "yes" for row in pots)
    everyone = staff_client("finn", "Auditors", everything=True)
    lines = csv_rows(everyone.get("/reports/daily-close.csv", {"date": "2026-03-28", "date_to": "2026-03-30",
                                                              "part": "lines"}))
    assert {row["brand"] for row in lines} == {"brand1", "brand2"}
    # Text cells a spreadsheet would run are neutralised; amounts stay numbers.
    JackpotInstance.objects.filter(pk=days["network"].pk).update(name="=HYPERLINK(\"x\")")
    pots = csv_rows(everyone.get("/reports/daily-close.csv", {"date": "2026-03-29"}))
    network = [row for row in pots if row["instance_id"] == str(days["network"].pk)]
    assert network and all(row["instance"] == '\'=HYPERLINK("x")' for row in network)
    assert all(D(row["closing_liability"]) > 0 for row in network)


def test_a_brand_scoped_auditor_sees_only_that_brand_through_the_api(days, auditor):
    body = jsonutil.loads(auditor.get("/api/reports/daily-close", {"date": "2026-03-28",
                                                                  "date_to": "2026-03-30"}).content)
    assert {c["instance_name"] for c in body["closes"]} == {"Network", "Side bet"}
    assert {line["brand_id"] for c in body["closes"] for line in c["lines"]} == {"thrilltech:brand1"}
    assert {t["key"] for t in body["totals"]["brand"]} == {"thrilltech:brand1"}
    assert auditor.get("/api/reports/daily-close", {"instance_id": str(days["own"].pk)}).status_code == 404


def test_the_api_reads_with_a_service_token_its_operator_only(days, service_token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {service_token}")
    body = jsonutil.loads(client.get("/api/reports/daily-close", {"date": "2026-03-28"}).content)
    assert {c["instance_name"] for c in body["closes"]} == {"Network", "Side bet", "Brand2 only"}
    network = next(c for c in body["closes"] if c["instance_name"] == "Network")
    minor = next(p for p in network["pots"] if p["pot_id"] == "minor")
    stored = pots_of(days["network"], DAY1)["minor"]
    assert D(minor["closing"]["liability"]) == stored.closing_liability and minor["balanced"] is True

    other = factories.ServiceAccountFactory(operator=factories.OperatorFactory(id="other"), username="other")
    token = jsonutil.loads(Client().post("/authenticate/service", {"username": other.username,
                                                                   "password": "service-pass"},
                                         content_type="application/json").content)["token"]
    foreign = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert jsonutil.loads(foreign.get("/api/reports/daily-close", {"date": "2026-03-28"}).content)["closes"] == []
    assert Client().get("/api/reports/daily-close").status_code == 401


def test_the_page_shows_the_day_with_its_charts(days, staff_client):
    admin = staff_client("root", None)
    html = admin.get("/reports/daily-close/", {"date": "2026-03-30"}).content.decode()
    assert html.count("<svg") == 3  # liability, contributed and won over the closed days
    assert "Closing liability, EUR" in html
    total = sum(p.closing_liability for instance in days["instances"] for p in pots_of(instance, DAY3).values())
    assert f">{payout(total, 2):,.2f}</b>" in html  # the KPI, rounded down to the cent
    assert Contribution.objects.count() == 11


def test_bad_input_gets_a_clear_answer_never_a_500(staff_client, currencies, operator):
    admin = staff_client("root", None)
    for params in ({"date": "9999-12-31"}, {"date": "0001-01-01"}, {"date": "yesterday"}, {"instance": "x\x00"}):
        assert admin.get("/reports/daily-close/", params).status_code == 200
        assert admin.get("/reports/daily-close.csv", {**params, "part": "lines"}).status_code == 200
    assert admin.get("/reports/hit-audit/", {"since": "0001-01-01", "until": "9999-12-31"}).status_code == 200
    assert admin.get("/reports/hit-audit/", {"instance": "not-a-jackpot"}).status_code == 404
    for params in ({"date": "9999-12-31"}, {"date": "2026-03-01", "date_to": "2026-12-31"}, {"date": "March"}):
        answer = admin.get("/api/reports/daily-close", params)
        assert answer.status_code == 400 and body_of(answer)["code"] == "INVALID_PROPERTY_VALUE"
    assert body_of(admin.get("/api/reports/meters/nope"))["code"] == "INSTANCE_NOT_FOUND"
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("close_day", "--date", "9999-12-31", stdout=io.StringIO())
    with pytest.raises(CommandError, match="UUIDs"):
        call_command("close_day", "not-an-id", stdout=io.StringIO())
