"""The audit log (issue 15, records): History, pot adjustments and staff decisions in one list,
filtered, exported as CSV, within the user's scope."""

import csv
import io
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from players.models import Player
from players.services import player_exclusion_set
from portal.roles import AUDITORS, OPS_STAFF
from sources import services as catalogue
from sources.models import JackpotInstance
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(currencies, operator, brand1, brand2, staff_client):
    """alice (ops) pauses the operator-wide jackpot and boosts one of its pots, and pauses a
    jackpot of brand2's own; the service API excludes a brand2 player."""
    ops = staff_client("alice", OPS_STAFF, everything=True)
    pot = factories.hit_rate_pot
    sitewide = factories.make_instance(operator=operator, name="Site-wide", pots=[pot("main", share="0.8")])
    brand2_only = factories.make_instance(operator=operator, brand=brand2, name="Brand2 promo",
                                          pots=[pot("main", share="0.8")])
    catalogue.instance_set_state(instance=sitewide, state=JackpotInstance.State.PAUSED, actor=ops.user,
                                 reason="=HYPERLINK(\"http://evil\") maintenance")
    catalogue.pot_boost(pot=sitewide.pots.get(), amount=D("50"), actor=ops.user, reason="weekend boost")
    catalogue.instance_set_state(instance=brand2_only, state=JackpotInstance.State.PAUSED, actor=ops.user,
                                 reason="brand2 promo over")
    player_exclusion_set(brand=brand2, player_id="p9", exclusion=Player.Exclusion.SELF_EXCLUDED, until=None,
                         source=Player.ExclusionSource.SERVICE, reason="by service account integration")
    return {"ops": ops, "sitewide": sitewide, "brand2_only": brand2_only}


def lines(client, **params) -> list[str]:
    response = client.get("/audit/", params)
    assert response.status_code == 200
    return [" | ".join((e.who, e.kind, e.type_label, e.object_label, e.reason, "; ".join(e.changes)))
            for e in response.context["entries"]]


def test_the_log_shows_history_adjustments_and_decisions(records, staff_client):
    auditor = staff_client("audrey", AUDITORS, everything=True)

    shown = lines(auditor)

    assert any(line.startswith("alice | decision | Jackpot instances | Site-wide") and "maintenance" in line
               and "state: Active → Paused" in line for line in shown), shown
    assert any(line.startswith("alice | adjustment | Pot adjustments") and "weekend boost" in line
               and "Seed boost: value +0.00000000, seed fund +50.00000000 EUR" in line for line in shown), shown
    assert any(line.startswith("system | system | Players | p9") and "self-excluded" in line
               for line in shown), shown
    assert any("Brand2 promo" in line and "brand2 promo over" in line for line in shown)
    page = auditor.get("/audit/").content.decode()
    assert 'href="/admin/sources/jackpotinstance/' in page and "/history/" in page  # each row links to its History


def test_the_log_filters_by_who_what_when_and_brand(records, staff_client, brand2):
    auditor = staff_client("audrey", AUDITORS, everything=True)
    tomorrow = (timezone.now() + timedelta(days=1)).date()

    by_alice = lines(auditor, who="alice")
    adjustments = lines(auditor, kind="adjustment")
    instances = lines(auditor, what="sources.jackpotinstance", kind="decision")
    reason = lines(auditor, text="promo over")
    future = lines(auditor, date_from=tomorrow.isoformat())
    of_brand2 = lines(auditor, brand=brand2.pk)
    one_object = lines(auditor, what="sources.jackpotinstance", object=str(records["brand2_only"].pk))

    assert by_alice and all(line.startswith("alice |") for line in by_alice)
    assert len(adjustments) == 1 and "weekend boost" in adjustments[0]
    assert {line.split(" | ")[3] for line in instances} == {"Site-wide", "Brand2 promo"}
    assert len(reason) == 1 and "Brand2 promo" in reason[0]
    assert future == []
    assert any("p9" in line for line in of_brand2) and any("Brand2 promo" in line for line in of_brand2)
    assert all("Brand2 promo" in line for line in one_object) and one_object


def test_the_log_exports_csv_with_neutralised_cells(records, staff_client):
    auditor = staff_client("audrey", AUDITORS, everything=True)

    response = auditor.get("/audit.csv", {"who": "alice"})

    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["when", "kind", "who", "action", "type", "object_id", "object", "operator", "brand", "reason",
                       "changes"]
    paused = next(r for r in rows[1:] if r[6] == "Site-wide" and r[1] == "decision")
    assert paused[9] == "'=HYPERLINK(\"http://evil\") maintenance"  # a formula becomes text
    assert paused[7] == "thrilltech" and "state: Active → Paused" in paused[10]
    assert len(rows) - 1 == len(lines(auditor, who="alice"))


def test_a_brand_scoped_user_sees_only_their_brand(records, staff_client, brand1, brand2):
    """brand1's auditor sees the operator-wide jackpot (it serves brand1) and nothing of brand2:
    not its own jackpot, not its players -- on the page, in the CSV, whatever the filters say."""
    scoped = staff_client("bea", AUDITORS, brands=[brand1])

    shown = lines(scoped)
    asked_for_brand2 = lines(scoped, brand=brand2.pk)
    exported = b"".join(scoped.get("/audit.csv").streaming_content).decode()

    assert any("Site-wide" in line and "maintenance" in line for line in shown)
    assert not any("Brand2 promo" in line or "p9" in line for line in shown + asked_for_brand2)
    assert "Brand2 promo" not in exported and "p9" not in exported and "maintenance" in exported


def test_the_page_costs_the_same_queries_however_many_rows(records, staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auditor = staff_client("audrey", AUDITORS, everything=True)
    ops, sitewide = records["ops"], records["sitewide"]

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert auditor.get("/audit/").status_code == 200
        return len(queries)

    cost()  # the log's kinds are read once per process
    before = cost()
    for n in range(10):  # more rows of the kinds already shown
        catalogue.instance_set_state(instance=sitewide, state=JackpotInstance.State.ACTIVE if n % 2 == 0
                                     else JackpotInstance.State.PAUSED, actor=ops.user, reason=f"step {n}")
        catalogue.pot_boost(pot=sitewide.pots.get(), amount=D("1"), actor=ops.user, reason=f"boost {n}")

    assert cost() == before
