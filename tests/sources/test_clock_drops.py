"""Clock-deadline must-drops (issue 16): "every day before 22:00" on a wall clock, committed in
advance; a pot always drops before its deadline. Clock and randomness are injected."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from contributions import tasks
from contributions.models import Contribution, Win
from contributions.selectors import drop_verification, reconcile_instance
from portal import jsonutil, live
from portal.clock import FixedClock, use_clock
from sources import services as catalogue
from sources.mechanics import MustDropClock, next_deadline, use_randomness
from sources.models import DropCommitment, JackpotInstance, Pot
from tests import factories
from tests.conftest import body_of
from tests.receiver import Receiver, with_callback

LONDON = ZoneInfo("Europe/London")


class Fraction:
    """Randomness that always draws the same fraction of the range: drop times land where the
    test says (3/4 of the way from the period's start to its deadline)."""

    def __init__(self, numerator: int, denominator: int) -> None:
        self.numerator, self.denominator = numerator, denominator

    def randbelow(self, n: int) -> int:
        return n * self.numerator // self.denominator

    def token_hex(self, nbytes: int) -> str:
        return "5a" * nbytes


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=LONDON)


def daily_drop(operator, **fields) -> JackpotInstance:
    """Drops every day before 22:00 Europe/London; 90% of each contribution to the pot."""
    return factories.make_instance(
        operator=operator, time_zone="Europe/London", contribution_value=D("0.1"), **fields,
        pots=[{"pot_id": "daily", "share": D("0.9"), "seed_share": D("0.1"), "initial_seed": D("10"),
               "mechanic": Pot.Mechanic.MUST_DROP_CLOCK, "drop_every": "day", "drop_before": time(22)}])


@pytest.fixture
def win_events(monkeypatch):
    """WinEvents as published after commit: (player, pot, amount)."""
    published = []
    monkeypatch.setattr(live, "publish_win", lambda **kw: published.append(
        (kw["player_id"], kw["data"]["win_pot_id"], kw["data"]["win_amount"])))
    return published


@pytest.mark.parametrize(("day", "deadline_utc"), [(date(2025, 7, 15), time(21)), (date(2025, 1, 15), time(22))],
                         ids=["summer", "winter"])
def test_a_daily_2200_london_drop_is_won_before_2200_local_in_summer_and_in_winter(
        day, deadline_utc, gateway, contribution, currencies, operator, brand1, wallet, win_events,
        django_capture_on_commit_callbacks):
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        pot = Pot.objects.get(jackpot=instance)
        first = DropCommitment.objects.get(pot=pot, generation=1)

        # Day 1, a busy day: the drop time is committed at 09:00 in [09:00, 22:00) local.
        answers = {}
        for hour in (10, 14, 18, 19, 20):
            clock.moment = local(day, hour, 30)
            with django_capture_on_commit_callbacks(execute=True):
                answers[hour] = body_of(gateway.contribute(contribution(
                    instance_id=str(instance.pk), gameround_id=f"day1-{hour}")))

        # Day 2, a quiet one: a contribution in the morning, nobody after the drop time.
        clock.moment = local(day + timedelta(days=1), 11)
        quiet = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="day2-11",
                                                        player_id="player_00002")))
        clock.moment = local(day + timedelta(days=1), 22, 0, 2)  # the schedule runs just after the deadline
        with django_capture_on_commit_callbacks(execute=True):
            settled = tasks.settle_drops()

    # The deadline is 22:00 on the London wall clock: 21:00 UTC in summer, 22:00 UTC in winter.
    assert first.drop_deadline == datetime.combine(day, deadline_utc, tzinfo=UTC)
    assert first.drop_at.astimezone(LONDON) == local(day, 18, 45)  # 3/4 of [09:00, 22:00)
    # Day 1: the first contribution at or after the drop time won, at 19:30 local.
    assert [hour for hour, answer in answers.items() if answer["win_pot_id"]] == [19]
    busy = Win.objects.get(pot=pot, generation=1)
    assert busy.contribution.processed_at.astimezone(LONDON) == local(day, 19, 30) < local(day, 22)
    # After a drop the next one is due by the next deadline, its time in [22:00, 22:00 the next day).
    second = busy.commitment.pot.commitments.get(generation=2)
    assert second.drop_deadline == datetime.combine(day + timedelta(days=1), deadline_utc, tzinfo=UTC)
    assert second.drop_at.astimezone(LONDON) == local(day + timedelta(days=1), 16)
    # Day 2: nobody came at or after 16:00, so the last contribution before 22:00 won at the deadline.
    assert quiet["win_pot_id"] is None and settled == 1
    late = Win.objects.get(pot=pot, generation=2)
    assert late.contribution.gameround_id == "day2-11" and late.player.player_id == "player_00002"
    assert late.contribution.processed_at.astimezone(LONDON) < local(day + timedelta(days=1), 22)
    # 0.1 EUR per contribution, 90% to the pot, 10% of that to its seed fund: 0.081 a contribution
    # since the 19:30 win (20:30 on day 1 and 11:00 on day 2) on top of the seed.
    assert late.amount_base == D("10.162") and late.amount == D("10.16") and late.currency == "EUR"
    for win in (busy, late):
        check = drop_verification(win)
        assert check["matches"] and check["consistent"], check["where"]
    assert drop_verification(late)["rule"] == "the last contribution before the deadline"
    # Announced like any other win: a WinEvent each, and each credited to the player's wallet.
    assert win_events == [("player_00001", "daily", busy.amount), ("player_00002", "daily", D("10.16"))]
    credits = {c.json["transaction_id"]: c.json for c in wallet.calls("/wallet/transaction")
               if c.json["transaction_type"] == "Credit"}
    assert credits[f"crd-{late.pk}"]["player_id"] == "player_00002"
    assert D(credits[f"crd-{late.pk}"]["amount"]) == D("10.16") and set(credits) == {f"crd-{busy.pk}",
                                                                                  f"crd-{late.pk}"}
    assert Win.objects.get(pk=late.pk).status == Win.Status.PAID
    assert reconcile_instance(instance).ok


def test_verify_drop_explains_a_win_at_the_deadline(gateway, contribution, currencies, operator, brand1, capsys):
    day = date(2025, 7, 15)
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        clock.moment = local(day, 12, 15)
        gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="noon"))
        clock.moment = local(day, 22, 0, 4)
        tasks.settle_drops()
    win = Win.objects.get()

    call_command("verify_drop", str(win.pk))

    out = capsys.readouterr().out
    assert "VERIFIED" in out and "the last contribution before the deadline, is the one that won" in out
    assert "2025-07-15 18:45:00.000000 Europe/London" in out  # the drop time nobody reached
    assert "2025-07-15 12:15:00.000000 Europe/London" in out  # the winning contribution


def test_a_contribution_after_the_deadline_settles_the_drop_first(gateway, contribution, currencies, operator,
                                                                  brand1, win_events,
                                                                  django_capture_on_commit_callbacks):
    """Traffic does not wait for the schedule: the first contribution after the deadline finds
    the pot settled for the last one before it, and joins the next generation."""
    day = date(2025, 1, 15)
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        clock.moment = local(day, 10)
        early = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="early")))
        clock.moment = local(day, 22, 0, 5)
        with django_capture_on_commit_callbacks(execute=True):
            late = body_of(gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="late",
                                                           player_id="player_00002")))
        assert tasks.settle_drops() == 0  # nothing left for the schedule

    win = Win.objects.get()
    assert early["win_pot_id"] is None and late["win_pot_id"] is None
    assert win.contribution.gameround_id == "early" and win.amount_base == D("10.081")
    assert Contribution.objects.get(gameround_id="late").increments.get().generation == 2
    assert win_events == [("player_00001", "daily", D("10.08"))]
    assert drop_verification(win)["consistent"]
    assert reconcile_instance(instance).ok


def test_a_deadline_win_reaching_a_player_excluded_since_is_withheld(gateway, contribution, currencies, operator,
                                                                     brand1):
    """Settled after the fact, the win goes to the last contribution before the deadline; its
    player self-excluded in between, so the win is recorded but withheld (issue 15)."""
    from players.models import Player
    from players.services import player_exclusion_set

    day = date(2025, 7, 15)
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        clock.moment = local(day, 12)
        assert gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="noon")).status_code == 200
        clock.moment = local(day, 15)
        player_exclusion_set(brand=brand1, player_id="player_00001", exclusion=Player.Exclusion.SELF_EXCLUDED,
                             until=None, source=Player.ExclusionSource.SERVICE, reason="player asked")
        clock.moment = local(day, 22, 0, 4)
        assert tasks.settle_drops() == 1

    win = Win.objects.get()
    assert win.contribution.gameround_id == "noon"
    assert (win.withheld, win.status) == (True, Win.Status.WITHHELD)
    assert win.evidence["withheld_because"].startswith("PlayerExcluded")
    assert reconcile_instance(instance).ok


def test_a_period_nobody_played_ends_without_a_win_and_the_next_one_starts(currencies, operator):
    day = date(2025, 7, 15)
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(1, 2)):
        instance = daily_drop(operator)
        clock.moment = local(day, 22, 0, 1)
        assert tasks.settle_drops() == 1
        assert tasks.settle_drops() == 0  # once

    pot = Pot.objects.get(jackpot=instance)
    old, new = DropCommitment.objects.filter(pot=pot).order_by("generation")
    assert not Win.objects.exists() and pot.generation == 2 and pot.current_value == D("10")
    assert old.revealed_at == local(day, 22, 0, 1)  # anyone may now check the time that was committed
    assert new.drop_deadline == local(day + timedelta(days=1), 22)
    assert local(day, 22, 0, 1) <= new.drop_at < new.drop_deadline


def test_a_paused_jackpot_is_settled_when_it_resumes(gateway, contribution, currencies, operator, brand1):
    day = date(2025, 7, 15)
    clock = FixedClock(local(day, 9))
    with use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        clock.moment = local(day, 10)
        gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id="before-pause"))
        catalogue.instance_set_state(instance=instance, state=JackpotInstance.State.PAUSED, actor=None,
                                     reason="incident")
        clock.moment = local(day, 22, 30)
        assert tasks.settle_drops() == 0 and not Win.objects.exists()
        catalogue.instance_set_state(instance=instance, state=JackpotInstance.State.ACTIVE, actor=None,
                                     reason="resolved")
        assert tasks.settle_drops() == 1

    assert Win.objects.get().contribution.gameround_id == "before-pause"


@pytest.mark.django_db(transaction=True)
def test_an_asynchronous_contribution_hears_of_its_deadline_win_by_webhook(gateway, contribution, currencies,
                                                                          operator, brand1, settings):
    """It asked for winning results only: nothing was sent when it was processed; the win at the
    deadline is posted to its webhook with the same trace id."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    day = date(2025, 7, 15)
    clock = FixedClock(local(day, 9))
    with Receiver() as receiver, use_clock(clock), use_randomness(Fraction(3, 4)):
        instance = daily_drop(operator)
        clock.moment = local(day, 11)
        trace_id = body_of(gateway.contribute(with_callback(
            contribution(instance_id=str(instance.pk), gameround_id="async"), receiver.url,
            win_result_only=True)))["trace_id"]
        assert Contribution.objects.get().status == Contribution.Status.PROCESSED and receiver.received == []
        clock.moment = local(day, 22, 0, 3)
        tasks.settle_drops()
        (received,) = receiver.wait_for(1)

    payload = jsonutil.loads(received.body)
    assert payload["type"] == "data" and payload["trace_id"] == trace_id and payload["deadline_drop"] is True
    assert (payload["win_pot_id"], payload["win_amount"], payload["gameround_id"]) == ("daily", D("10.08"), "async")


@pytest.mark.parametrize(("every", "before", "weekday", "zone", "after", "expected"), [
    # Daily 22:00 London, either side of the spring-forward (30 March 2025) and fall-back (26 October).
    ("day", time(22), None, "Europe/London", datetime(2025, 3, 29, 12, tzinfo=UTC), datetime(2025, 3, 29, 22, tzinfo=UTC)),
    ("day", time(22), None, "Europe/London", datetime(2025, 3, 30, 12, tzinfo=UTC), datetime(2025, 3, 30, 21, tzinfo=UTC)),
    ("day", time(22), None, "Europe/London", datetime(2025, 10, 26, 12, tzinfo=UTC), datetime(2025, 10, 26, 22, tzinfo=UTC)),
    ("day", time(22), None, "Europe/London", datetime(2025, 7, 15, 21, tzinfo=UTC), datetime(2025, 7, 16, 21, tzinfo=UTC)),
    # A wall time the spring-forward skips falls an hour later; a repeated one is its first occurrence.
    ("day", time(1, 30), None, "Europe/London", datetime(2025, 3, 30, 0, tzinfo=UTC), datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
    ("day", time(1, 30), None, "Europe/London", datetime(2025, 10, 26, 0, tzinfo=UTC), datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
    # Every hour: the full hour of the zone (India is UTC+05:30), each hour once across a fall-back.
    ("hour", time(0, 0), None, "Asia/Kolkata", datetime(2025, 7, 15, 10, 40, tzinfo=UTC), datetime(2025, 7, 15, 11, 30, tzinfo=UTC)),
    ("hour", time(0, 0), None, "Europe/London", datetime(2025, 10, 26, 0, 59, tzinfo=UTC), datetime(2025, 10, 26, 1, 0, tzinfo=UTC)),
    ("hour", time(0, 0), None, "Europe/London", datetime(2025, 10, 26, 1, 0, tzinfo=UTC), datetime(2025, 10, 26, 2, 0, tzinfo=UTC)),
    ("hour", time(0, 45), None, "UTC", datetime(2025, 7, 15, 10, 45, tzinfo=UTC), datetime(2025, 7, 15, 11, 45, tzinfo=UTC)),
    # Every Sunday before 20:00 New York.
    ("week", time(20), 6, "America/New_York", datetime(2025, 7, 15, 12, tzinfo=UTC), datetime(2025, 7, 21, 0, tzinfo=UTC)),
    ("week", time(20), 6, "America/New_York", datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 1, 20, 1, tzinfo=UTC)),
])
def test_deadlines_follow_the_wall_clock_across_daylight_saving(every, before, weekday, zone, after, expected):
    assert next_deadline(every=every, before=before, weekday=weekday, zone=ZoneInfo(zone), after=after) == expected


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({}, "drop_every", "every hour, every day or every week"),
    ({"drop_every": "day"}, "drop_before", "the time it drops before"),
    ({"drop_every": "hour", "drop_before": time(1, 30)}, "drop_before", "minutes past the hour only"),
    ({"drop_every": "week", "drop_before": time(20)}, "drop_weekday", "weekday"),
])
def test_a_clock_drop_that_cannot_work_is_refused_with_a_clear_message(fields, field, message):
    pot = Pot(pot_id="daily", share=D("1"), mechanic=Pot.Mechanic.MUST_DROP_CLOCK, **fields)

    with pytest.raises(ValidationError) as refused:
        pot.clean()

    assert message in refused.value.message_dict[field][0]
    assert MustDropClock().check(Pot(mechanic=Pot.Mechanic.MUST_DROP_CLOCK, drop_every="day",
                                     drop_before=time(22))) == {}


def test_the_jackpot_page_says_when_the_pot_must_drop(currencies, operator, staff_client):
    from django.urls import reverse

    from portal.roles import OPS_STAFF

    instance = daily_drop(operator, timestamp_start=datetime(2025, 7, 1, 8, tzinfo=UTC))
    ops = staff_client("olga", OPS_STAFF, operators=[operator])

    page = ops.get(reverse("portal:instance", args=[instance.pk])).content.decode()

    assert "drops every day before 22:00 Europe/London" in page
    assert "schedule 2025-07-01 09:00 → — Europe/London" in page  # 08:00 UTC on the London clock
