"""Staff pages: roles, scope, empty states, and query counts that do not grow with the data."""

import uuid
from decimal import Decimal as D

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone

from contributions.models import Contribution, WebhookDelivery, Win
from players.models import OptIn, Player
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS, OPS_STAFF
from sources.models import JackpotInstance, Pot
from tests import factories

PAGES = ["/", "/jackpots/", "/contributions/", "/contributions.csv", "/callbacks/", "/wins/withheld/",
         "/wins/pending-credits/", "/players/"]


@pytest.fixture
def data(currencies, operator, brand1, brand2):
    """One instance serving both brands; a contribution, a withheld win, a pending-credit win and
    a failed callback for each brand."""
    instance = factories.make_instance(operator=operator, name="Shared", contribution_value=D("1"),
                                       withhold_limit=D("100"),
                                       pots=[factories.hit_rate_pot("main", share="1", seed="50", magic=10**9)])
    pot = Pot.objects.get(jackpot=instance)
    rows = {}
    for brand in (brand1, brand2):
        player = Player.objects.create(brand=brand, player_id=f"{brand.code}-player", country="MT", currency="EUR")
        contribution = Contribution.objects.create(
            brand=brand, player=player, player_ref=player.player_id, gameround_id=f"{brand.code}-round",
            target_kind="instance", target_id=str(instance.pk), jackpot=instance, player_country="MT", currency="EUR",
            base_wager=D("1"), amount=D("1"), amount_base=D("1"), processed_at=timezone.now(), callback_url="https://x",
            is_async=True)
        withheld = Win.objects.create(jackpot=instance, pot=pot, player=player, generation=100 + player.pk,
                                      amount_base=D("500"), amount=D("500"), currency="EUR", withheld=True,
                                      status=Win.Status.WITHHELD, contribution=contribution)
        pending = Win.objects.create(jackpot=instance, pot=pot, player=player, generation=200 + player.pk,
                                     amount_base=D("20"), amount=D("20"), currency="EUR",
                                     status=Win.Status.PENDING_CREDIT)
        delivery = WebhookDelivery.objects.create(contribution=contribution, brand=brand, url="https://x", kind="data",
                                                  payload="{}", status=WebhookDelivery.Status.FAILED)
        OptIn.objects.create(player=player, jackpot=instance, opted_in=True)
        rows[brand.code] = {"player": player, "contribution": contribution, "withheld": withheld, "pending": pending,
                            "delivery": delivery}
    return {"instance": instance, "pot": pot, **rows}


def test_every_page_opens_for_each_role(data, operator, staff_client):
    for role in (OPS_STAFF, GAME_MAPPING_ADMINS, AUDITORS):
        client = staff_client(f"user-{role[:3]}", role, operators=[operator])
        for url in PAGES + [f"/jackpots/{data['instance'].pk}/", f"/players/{data['brand1']['player'].pk}/",
                            f"/callbacks/{data['brand1']['delivery'].pk}/",
                            f"/contributions/{data['brand1']['contribution'].trace_id}/"]:
            assert client.get(url).status_code == 200, (role, url)


def test_pages_need_a_staff_login(data):
    assert Client().get("/").status_code == 302
    assert Client().get("/contributions.csv")["Location"].startswith("/login/")


def test_auditors_get_a_refusal_for_every_change(data, operator, staff_client):
    auditor = staff_client("audrey", AUDITORS, everything=True)
    instance, pot, b1 = data["instance"], data["pot"], data["brand1"]
    changes = [
        (f"/jackpots/{instance.pk}/state", {"state": "Paused", "reason": "trying"}),
        (f"/jackpots/{instance.pk}/pots", {"pot": pot.pk, "kind": "boost", "amount": "5", "reason": "trying"}),
        (f"/callbacks/{b1['delivery'].pk}/resend", {}),
        (f"/wins/{b1['withheld'].pk}/decide", {"decision": "approve", "reason": "trying"}),
        (f"/wins/{b1['pending'].pk}/retry-credit", {}),
    ]
    for url, form in changes:
        assert auditor.post(url, form).status_code == 403, url
    admin_changes = [
        ("/admin/sources/jackpotinstance/", {"action": "pause", "_selected_action": [instance.pk], "apply": "yes",
                                             "reason": "trying"}),
        ("/admin/sources/pot/", {"action": "seed_boost", "_selected_action": [pot.pk], "apply": "yes",
                                 "amount": "5", "reason": "trying"}),
        ("/admin/contributions/win/", {"action": "approve", "_selected_action": [b1["withheld"].pk],
                                       "apply": "yes", "reason": "trying"}),
        (f"/admin/sources/jackpotinstance/{instance.pk}/change/", {"name": "hijacked"}),
        (f"/admin/players/optin/{OptIn.objects.first().pk}/change/", {"opted_in": ""}),
    ]
    for url, form in admin_changes:
        auditor.post(url, form)

    instance.refresh_from_db()
    pot.refresh_from_db()
    assert instance.state == JackpotInstance.State.ACTIVE and instance.name == "Shared"
    assert pot.seed_fund == 0
    assert Win.objects.filter(status=Win.Status.WITHHELD).count() == 2
    assert OptIn.objects.filter(opted_in=True).count() == 2
    # The pages show no buttons for changes the role cannot make.
    page = auditor.get(f"/jackpots/{instance.pk}/").content.decode()
    assert "Change the state" not in page and "Seed boost or adjust" not in page
    assert "Approve" not in auditor.get("/wins/withheld/").content.decode()


def test_a_brand1_user_sees_no_brand2_data_anywhere(data, brand1, staff_client):
    b1 = staff_client("b1", OPS_STAFF, brands=[brand1])
    b2 = data["brand2"]
    for url in PAGES:
        body = b1.get(url)
        text = b"".join(body.streaming_content) if body.streaming else body.content
        assert b"brand2" not in text, url
    for url in [f"/players/{b2['player'].pk}/", f"/callbacks/{b2['delivery'].pk}/",
                f"/contributions/{b2['contribution'].trace_id}/"]:
        assert b1.get(url).status_code == 404, url
    for url in ["/admin/contributions/contribution/", "/admin/players/player/", "/admin/players/optin/",
                "/admin/contributions/win/", "/admin/contributions/webhookdelivery/"]:
        assert "brand2" not in b1.get(url).content.decode(), url
    assert b1.post(f"/wins/{b2['withheld'].pk}/decide", {"decision": "approve", "reason": "mine?"}).status_code == 404
    assert b1.get(f"/admin/players/player/{b2['player'].pk}/change/").status_code == 302  # "does not exist"


def test_a_user_without_scope_sees_nothing(data, staff_client):
    nobody = staff_client("nobody", OPS_STAFF)
    assert "Shared" not in nobody.get("/").content.decode()
    assert "No contributions match" in nobody.get("/contributions/").content.decode()


def test_contribution_search_filters_and_csv(data, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])

    by_player = ops.get("/contributions/", {"player": "brand2-player"}).content.decode()
    by_round = ops.get("/contributions/", {"gameround": "brand1-round"}).content.decode()
    future = ops.get("/contributions/", {"date_from": "2999-01-01"}).content.decode()
    csv = b"".join(ops.get("/contributions.csv", {"player": "brand1-player"}).streaming_content).decode()

    assert "brand2-round" in by_player and "brand1-round" not in by_player
    assert "brand1-round" in by_round and "brand2-round" not in by_round
    assert "No contributions match" in future
    lines = csv.strip().splitlines()
    assert lines[0].startswith("trace_id,created_at,status") and len(lines) == 2 and "brand1-round" in lines[1]


def test_staff_page_decisions_and_messages(data, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    win = data["brand1"]["withheld"]

    no_reason = ops.post(f"/wins/{win.pk}/decide", {"decision": "reject", "reason": ""}, follow=True)
    rejected = ops.post(f"/wins/{win.pk}/decide", {"decision": "reject", "reason": "duplicate account"}, follow=True)
    again = ops.post(f"/wins/{win.pk}/decide", {"decision": "approve", "reason": "changed mind"}, follow=True)

    assert "Give a reason" in no_reason.content.decode()
    assert "rejected: the amount went back to the seed fund" in rejected.content.decode()
    assert "rejected" in again.content.decode().lower() and Win.objects.get(pk=win.pk).status == Win.Status.REJECTED


def test_admin_and_staff_pages_link_both_ways(data, operator, staff_client):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    instance = data["instance"]
    admin_page = ops.get(f"/admin/sources/jackpotinstance/{instance.pk}/change/").content.decode()
    staff_page = ops.get(f"/jackpots/{instance.pk}/").content.decode()
    assert "viewsitelink" in admin_page  # the admin's "View on site" opens the staff page
    assert ops.get(f"/admin/r/{ContentType.objects.get_for_model(instance).pk}/{instance.pk}/")["Location"].endswith(
        f"/jackpots/{instance.pk}/")
    assert 'href="/">Staff portal' in ops.get("/admin/").content.decode()
    assert f"/admin/sources/jackpotinstance/{instance.pk}/change/" in staff_page


@pytest.fixture
def thousand_rows(currencies, operator, brand1):
    """1,000 contributions, players, wins and deliveries."""
    instance = factories.make_instance(operator=operator, name="Busy", pots=[factories.hit_rate_pot("p", share="1")])
    pot = Pot.objects.get(jackpot=instance)
    players = Player.objects.bulk_create([Player(brand=brand1, player_id=f"p{n:04}", currency="EUR")
                                          for n in range(1000)])
    now = timezone.now()
    contributions = Contribution.objects.bulk_create([
        Contribution(trace_id=uuid.uuid4(), brand=brand1, player=p, player_ref=p.player_id, gameround_id=f"r{n}",
                     target_kind="instance", target_id=str(instance.pk), jackpot=instance, player_country="MT",
                     currency="EUR", base_wager=D("1"), amount=D("0.1"), amount_base=D("0.1"), processed_at=now)
        for n, p in enumerate(players)])
    Win.objects.bulk_create([
        Win(jackpot=instance, pot=pot, player=p, generation=n + 1, amount_base=D("10"), amount=D("10"), currency="EUR",
            withheld=n % 2 == 0, status=Win.Status.WITHHELD if n % 2 == 0 else Win.Status.PENDING_CREDIT)
        for n, p in enumerate(players)])
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(contribution=c, brand=brand1, url="https://x", kind="data", payload="{}")
        for c in contributions])
    return instance


# Each page: session, user, scope (4), then its own reads; none grows with the rows.
@pytest.mark.parametrize(("url", "queries"), [
    ("/", 13),
    ("/jackpots/", 9),
    ("/contributions/", 13),  # + the page's wins, the totals and the totals' wins
    ("/callbacks/", 11),
    ("/wins/withheld/", 11),
    ("/wins/pending-credits/", 11),
    ("/players/", 9),
])
def test_list_pages_with_1000_rows_use_a_fixed_number_of_queries(thousand_rows, operator, staff_client,
                                                                 django_assert_num_queries, url, queries):
    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    ops.get(url)  # warm the session and the user's scope
    with django_assert_num_queries(queries):
        response = ops.get(url)
    assert response.status_code == 200


def test_staff_pages_and_the_gateway_share_one_asgi_server(transactional_db, operator, staff_client):
    """Contributions take their own ASGI app, everything else Django's one middleware stack:
    staff pages keep sessions, the API gets the security headers."""
    from tests.asgi import AsgiServer

    ops = staff_client("ops", OPS_STAFF, operators=[operator])
    import requests

    with AsgiServer() as server:
        cookies = {"sessionid": ops.cookies["sessionid"].value}
        jackpots = requests.get(f"{server.http}/jackpots/", cookies=cookies, timeout=10, allow_redirects=False)
        health = requests.get(f"{server.http}/health", timeout=10)
        contribute = requests.post(f"{server.http}/jackpots/contribute", data=b"{}", timeout=10)
    assert jackpots.status_code == 200 and "Jackpots" in jackpots.text
    assert health.status_code == 200 and health.headers["X-Content-Type-Options"] == "nosniff"
    assert contribute.status_code == 401 and contribute.json()["code"] == "UNAUTHORIZED"
