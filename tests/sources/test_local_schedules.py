"""Schedules in local time (issue 16): windows and start/end on an instance's wall clock, in
its IANA time zone, right on both sides of a daylight-saving change. The clock is injected."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from portal.clock import FixedClock, use_clock
from portal.roles import GAME_MAPPING_ADMINS
from sources.models import JackpotInstance, ScheduleWindow, SourceMapping
from tests import factories
from tests.conftest import body_of
from tests.sources.test_admin import instance_form

LONDON = ZoneInfo("Europe/London")


def happy_hour(operator, *, sources=(), name="Happy hour", **fields) -> JackpotInstance:
    """Open 17:00-18:00 London time, every day."""
    instance = factories.make_instance(operator=operator, name=name, time_zone="Europe/London", sources=sources,
                                       pots=[factories.hit_rate_pot("main", share="1", magic=10**9)], **fields)
    ScheduleWindow.objects.create(jackpot=instance, start_time=time(17), end_time=time(18))
    return instance


@pytest.mark.parametrize(("moment", "accepted"), [
    (datetime(2025, 7, 16, 16, 30, tzinfo=UTC), True),  # 17:30 in London (BST, UTC+1)
    (datetime(2025, 1, 15, 16, 30, tzinfo=UTC), False),  # 16:30 in London (GMT)
    (datetime(2025, 1, 15, 17, 30, tzinfo=UTC), True),
    (datetime(2025, 7, 16, 17, 30, tzinfo=UTC), False),  # 18:30 in London
], ids=["july-16:30Z", "january-16:30Z", "january-17:30Z", "july-17:30Z"])
def test_a_1700_1800_london_window_follows_london_time(moment, accepted, gateway, contribution, currencies, operator,
                                                      brand1):
    instance = happy_hour(operator)

    with use_clock(FixedClock(moment)):
        response = gateway.contribute(contribution(instance_id=str(instance.pk)))

    if accepted:
        assert response.status_code == 200 and body_of(response)["instance_id"] == str(instance.pk)
    else:
        assert response.status_code == 400
        local = moment.astimezone(LONDON)
        assert body_of(response) == {
            "status_code": 400, "code": "CONTRIBUTION_REJECTED",
            "message": f"OutsideScheduleWindow: instance {instance.pk} is closed at {local:%a %H:%M} Europe/London"}
        assert not instance.contributions.exists()


def test_a_source_falls_through_to_its_regular_jackpot_outside_the_local_happy_hour(gateway, contribution,
                                                                                   currencies, operator, brand1):
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    happy = happy_hour(operator, sources=[source])
    regular = factories.make_instance(operator=operator, name="Regular",
                                      pots=[factories.hit_rate_pot("main", share="1", magic=10**9)])
    SourceMapping.objects.create(source=source, jackpot=regular, priority=50)  # after the happy hour's 1

    answered = {}
    for moment in (datetime(2025, 7, 16, 16, 30, tzinfo=UTC), datetime(2025, 1, 15, 16, 30, tzinfo=UTC)):
        with use_clock(FixedClock(moment)):
            answered[moment.month] = body_of(gateway.contribute(contribution(source_id="casino-sitewide")))

    assert answered[7]["instance_id"] == str(happy.pk)  # 17:30 in London
    assert answered[1]["instance_id"] == str(regular.pk)  # 16:30 in London


@pytest.mark.parametrize(("days", "start", "end", "moment", "inside"), [
    # Saturdays in London, either side of the October change.
    ("5", time(0), time(23, 59), datetime(2025, 10, 25, 23, 30, tzinfo=UTC), False),  # Sun 00:30 BST
    ("5", time(0), time(23, 59), datetime(2025, 11, 1, 23, 30, tzinfo=UTC), True),  # Sat 23:30 GMT
    # A Friday night window past local midnight, its Saturday-morning part on a DST day.
    ("4", time(22), time(2), datetime(2025, 3, 29, 0, 30, tzinfo=UTC), True),  # Sat 00:30 GMT
    ("4", time(22), time(2), datetime(2025, 3, 29, 2, 30, tzinfo=UTC), False),  # Sat 02:30 GMT
])
def test_window_days_and_hours_are_local(days, start, end, moment, inside):
    assert ScheduleWindow(days=days, start_time=start, end_time=end).contains(moment, LONDON) is inside


@pytest.mark.parametrize(("day", "stored"), [
    ("2025-07-10", datetime(2025, 7, 10, 16, tzinfo=UTC)),  # 17:00 BST
    ("2025-01-10", datetime(2025, 1, 10, 17, tzinfo=UTC)),  # 17:00 GMT
])
def test_start_and_end_are_entered_and_shown_on_the_instances_clock(day, stored, operator, currencies, staff_client):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])

    response = mapper.post("/admin/sources/jackpotinstance/add/", instance_form(
        operator, time_zone="Europe/London", timestamp_start_0=day, timestamp_start_1="17:00:00"))

    assert response.status_code == 302, response.content.decode()[:3000]
    instance = JackpotInstance.objects.get(name="Weekend jackpot")
    assert instance.timestamp_start == stored and instance.time_zone == "Europe/London"
    page = mapper.get(f"/admin/sources/jackpotinstance/{instance.pk}/change/").content.decode()
    assert 'name="timestamp_start_1" value="17:00:00"' in page
    assert '<option value="Europe/London" selected>' in page


def test_an_unknown_time_zone_is_refused_with_a_clear_message(operator, currencies, staff_client):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("p", share="1")])

    instance.time_zone = "Europe/Londn"
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        instance.full_clean()
    response = mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator, time_zone="Mars/Olympus"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not JackpotInstance.objects.filter(name="Weekend jackpot").exists()


def test_the_jackpot_page_shows_its_windows_on_its_own_clock(currencies, operator, staff_client):
    from django.urls import reverse

    from portal.roles import OPS_STAFF

    instance = happy_hour(operator)
    ops = staff_client("olga", OPS_STAFF, operators=[operator])

    page = ops.get(reverse("portal:instance", args=[instance.pk])).content.decode()

    assert "daily 17:00-18:00 Europe/London" in page
