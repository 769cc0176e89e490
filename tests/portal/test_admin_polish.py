"""The admin reads right (issue 13 item 15): plural names, who made each change, money at
the precision it was paid, and dates written as the staff pages write them."""

import re
from datetime import timedelta
from decimal import Decimal as D
from html import unescape

import pytest
from django.utils import timezone

from contributions.models import Contribution, Win
from portal.money import payout, plain
from sources import services as catalogue
from sources.models import JackpotInstance
from tests import factories


def cells(html: str, table_id: str) -> list[list[str]]:
    """The rows of a table, header first, as lists of cell texts (tags dropped, spaces collapsed)."""
    table = html[html.index(f'id="{table_id}"'):]
    table = table[:table.index("</table>")]
    return [[re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", cell))).strip()
             for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


@pytest.fixture
def root(staff_client):
    return staff_client("root", None, everything=True)


def test_the_admin_says_webhook_deliveries(root):
    index = root.get("/admin/").content.decode()
    listing = root.get("/admin/contributions/webhookdelivery/").content.decode()

    assert "Webhook deliveries" in index
    assert "deliverys" not in index.lower() and "deliverys" not in listing.lower()


def test_history_names_the_user_and_says_system_for_machine_changes(root, operator, currencies):
    """A pot made by a command (seed_demo makes them so) and boosted by a person; an instance
    started by the schedule. History names the person, and says "system" with what did it."""
    instance = factories.make_instance(operator=operator, state=JackpotInstance.State.PENDING,
                                       timestamp_start=timezone.now() - timedelta(minutes=1),
                                       pots=[factories.hit_rate_pot("main", share="0.5", seed="10")])
    pot = instance.pots.get()
    response = root.post("/admin/sources/pot/", {"action": "seed_boost", "_selected_action": [pot.pk],
                                                 "apply": "1", "amount": "5", "reason": "weekend top-up"})
    assert response.status_code == 302
    response = root.post(f"/jackpots/{instance.pk}/pots", {"pot": pot.pk, "kind": "boost", "amount": "2",
                                                           "reason": "from the jackpot page"})
    assert response.status_code == 302
    catalogue.instances_follow_schedule()

    pot_rows = cells(root.get(f"/admin/sources/pot/{pot.pk}/history/").content.decode(), "change-history")
    instance_rows = cells(root.get(f"/admin/sources/jackpotinstance/{instance.pk}/history/").content.decode(),
                          "change-history")
    adjustments = cells(root.get("/admin/sources/potadjustment/").content.decode(), "result_list")

    # Object, Date/time, Comment, Changed by, Change reason, Changes
    assert [(row[2], row[3], row[4]) for row in pot_rows[1:]] == [
        ("Changed", "root", "seed boost +2: from the jackpot page"),
        ("Changed", "root", "seed boost +5: weekend top-up"),
        ("Created", "system", "created with an initial seed of 10"),
    ]
    assert (instance_rows[1][3], instance_rows[1][4]) == ("system", "schedule: start time reached")
    header = adjustments[0]
    by = {row[header.index("Reason")]: row[header.index("By")] for row in adjustments[1:]}
    assert by == {"from the jackpot page": "root", "weekend top-up": "root", "initial seed": "system"}


def test_wins_list_shows_the_paid_amount_at_the_minor_unit_and_the_exact_base_amount(root, operator, brand1, currencies,
                                                                                     gateway, contribution):
    certain = factories.make_instance(operator=operator, contribution_value=D("0.5"),
                                      pots=[factories.hit_rate_pot("jackpot", share="1", seed="10.12345",
                                                                   cost="0.01", magic=1)])
    response = gateway.contribute(contribution(instance_id=str(certain.pk), currency="GBP", base_wager=D("3.33")))
    assert response.status_code == 200, response.content
    win = Win.objects.get()
    assert win.amount_base.normalize().as_tuple().exponent < -2  # more precise than a cent

    page = root.get("/admin/contributions/win/").content.decode()
    header, row = cells(page, "result_list")[:2]
    shown = dict(zip(header, row, strict=True))

    assert shown["Paid to the player"] == f"{payout(win.amount, 2)} GBP"
    assert re.fullmatch(r"\d+\.\d\d GBP", shown["Paid to the player"])
    assert shown["Base amount, exact (jackpot currency)"] == f"{format(plain(win.amount_base), 'f')} EUR"
    # Amount and currency in one cell that does not wrap: the currency is never cut off.
    assert re.search(r'<td class="field-paid"><span style="white-space:nowrap">[\d.]+ GBP</span></td>', page)


def test_admin_dates_are_written_as_on_the_staff_pages(root, operator, brand1, currencies, gateway, contribution):
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("main", share="0.5")])
    assert gateway.contribute(contribution(instance_id=str(instance.pk))).status_code == 200
    created = timezone.localtime(Contribution.objects.get().created_at).strftime("%Y-%m-%d %H:%M:%S")

    admin_page = root.get("/admin/contributions/contribution/").content.decode()
    portal_page = root.get("/contributions/").content.decode()

    assert created in portal_page
    assert created in admin_page
    assert not re.search(r"\b[ap]\.m\.", admin_page)
