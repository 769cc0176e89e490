"""Hostile query parameters on every admin list answer a page, a redirect or a refusal, never a
500; the games CSV export cannot carry a formula into a spreadsheet (issue 11, items 7 and 9)."""

import csv
import io
from decimal import Decimal as D

import pytest
from django.contrib import admin
from django.db.models import DateField
from django.urls import reverse
from django.utils import timezone

from contributions.models import Contribution, WalletTransaction, WebhookDelivery, Win
from players.models import OptIn, Player
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS
from sources.models import Game
from tests import factories

HUGE = "99999999999"

# The same for every list; filters a list does not have are refused by Django (302 to ?e=1).
COMMON = [
    {"q": "\x00"}, {"q": "a\x00b"}, {"q": "²"}, {"q": "x" * 5000}, {"q": "' OR 1=1 --"},
    {"o": "999"}, {"o": "-999.abc.1"}, {"o": "\x00"}, {"p": HUGE}, {"p": "-1"}, {"p": "²"},
    {"status__exact": "\x00"}, {"status__exact": "x" * 5000}, {"pot__id__exact": "abc"},
    {"jackpot__id__exact": "not-a-uuid"}, {"jackpot__id__exact": "\x00"}, {"all": ""}, {"e": "1"},
    {"\x00": "1"}, {"_to_field": "password"}, {"id__in": "a,b,\x00"}, {"pk": "\x00"}, {"pk": HUGE * 3},
]
# For every date field (created_at, the date hierarchy, ...): dates past the calendar.
DATES = [
    {"__year": HUGE}, {"__year": "-1"}, {"__year": "2024", "__month": HUGE},
    {"__year": "2024", "__month": "1", "__day": HUGE}, {"__gte": f"{HUGE}-01-01"}, {"__range": "a,b"},
]
# And for each of the list's own filters, values of every wrong kind.
PER_FIELD = [(suffix, value) for suffix in ("", "__exact", "__id__exact")
             for value in ("\x00", "not-a-uuid", HUGE * 3)] + [("__isnull", "maybe"), ("__exact", "x" * 5000)]
ALLOWED = {200, 302, 400, 403, 404}


def hostile_queries(model_admin, request) -> list[dict]:
    queries = list(COMMON)
    dates = {field.name for field in model_admin.model._meta.get_fields() if isinstance(field, DateField)}
    for name in sorted(dates | {"created_at"}):
        queries += [{name + suffix: value for suffix, value in query.items()} for query in DATES]
    for item in model_admin.get_list_filter(request):
        name = item[0] if isinstance(item, tuple) else item
        if isinstance(name, str):
            queries += [{name + suffix: value} for suffix, value in PER_FIELD]
    return queries


def scoped_queries(model_admin, request) -> list[dict]:
    """A scoped user's lists add the scope to the same queries: a sample of each kind suffices."""
    date = model_admin.date_hierarchy or "created_at"
    return [{f"{date}__year": HUGE}, {f"{date}__year": "2024", f"{date}__month": HUGE}, {"status__exact": "\x00"},
            {"jackpot__id__exact": "not-a-uuid"}, {"q": "\x00"}, {"o": "999"}, {"p": HUGE}] + [
        {f"{item}__exact": "\x00"} for item in model_admin.list_filter if isinstance(item, str)]


@pytest.fixture
def world(currencies, operator, brand1, brand2):
    """One of every kind of row, so each list renders rows (and its date hierarchy) too."""
    source = factories.SourceFactory(operator=operator, source_id="slots")
    group = factories.GameGroupFactory(operator=operator, name="Slots", source=source)
    factories.GameFactory(group=group, game_code="book")
    jackpot = factories.make_instance(operator=operator, name="Mega", sources=[source],
                                      pots=[factories.hit_rate_pot("main", share="1", seed="5", magic=10**9)])
    player = Player.objects.create(brand=brand1, player_id="p1", country="MT", currency="EUR")
    OptIn.objects.create(player=player, jackpot=jackpot, opted_in=True)
    contribution = Contribution.objects.create(
        brand=brand1, player=player, player_ref="p1", gameround_id="r1", target_kind="instance",
        target_id=str(jackpot.pk), jackpot=jackpot, player_country="MT", currency="EUR", base_wager=D("1"),
        amount=D("1"), amount_base=D("1"), processed_at=timezone.now(), callback_url="https://x", is_async=True)
    Win.objects.create(jackpot=jackpot, pot=jackpot.pots.get(), player=player, generation=1, amount_base=D("5"),
                       amount=D("5"), currency="EUR", contribution=contribution)
    WebhookDelivery.objects.create(contribution=contribution, brand=brand1, url="https://x", kind="data",
                                   payload="{}")
    WalletTransaction.objects.create(brand=brand1, kind="debit", player_ref="p1", amount=D("1"), currency="EUR",
                                     transaction_id="t1", gameround_id="r1", jackpot=jackpot)
    return jackpot


def crawl(client, queries=hostile_queries) -> list[str]:
    """Every registered list with every hostile query; returns what answered outside ALLOWED."""
    client.raise_request_exception = False
    request = type("Request", (), {"user": client.user})()
    failures = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_or_change_permission(request):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        for query in queries(model_admin, request):
            status = client.get(url, query).status_code
            if status not in ALLOWED:
                failures.append(f"{status} {url} {query!r}"[:200])
    return failures


def test_no_hostile_query_is_a_500_for_a_superuser(world, staff_client):
    failures = crawl(staff_client("root", None))
    assert not failures, "\n".join(failures)


def test_no_hostile_query_is_a_500_for_a_scoped_auditor(world, operator, staff_client):
    failures = crawl(staff_client("auditor", AUDITORS, operators=[operator]), scoped_queries)
    assert not failures, "\n".join(failures)


def test_a_year_past_the_calendar_sends_back_to_the_list_with_an_error_flag(world, staff_client):
    root = staff_client("root", None)

    response = root.get("/admin/contributions/contribution/", {"created_at__year": HUGE})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")
    assert root.get(response["Location"]).status_code == 200


def test_a_nul_filter_or_search_shows_the_list_as_if_not_given(world, staff_client):
    root = staff_client("root", None)

    for query in ({"status__exact": "\x00"}, {"q": "\x00"}, {"q": "p\x001"}):
        response = root.get("/admin/contributions/contribution/", query)
        assert response.status_code == 200, query
        assert b"r1" in response.content, query


def test_hostile_object_ids_autocomplete_terms_and_export_filters_are_no_500(world, staff_client):
    root = staff_client("root", None)
    root.raise_request_exception = False

    for path in ("/admin/portal/operator/%00/change/", "/admin/sources/jackpotinstance/%00/change/",
                 "/admin/sources/jackpotinstance/not-a-uuid/history/", "/admin/players/player/99999999999999999999/"
                 "change/", "/admin/auth/user/%00/change/"):
        assert root.get(path).status_code in ALLOWED, path
    for term in ("\x00", "a\x00", "x" * 5000):
        response = root.get("/admin/autocomplete/", {"term": term, "app_label": "sources",
                                                     "model_name": "sourcemapping", "field_name": "source"})
        assert response.status_code in ALLOWED, term
    for query in ("group__exact=%00", "group__id__exact=abc", "created_at__year=99999999999", "provider=%00"):
        assert root.get(f"/admin/sources/game/export/?{query}").status_code in ALLOWED, query
        response = root.post(f"/admin/sources/game/export/?{query}", {"format": "0", "resource": "",
                                                                      "gameresource_game_code": "on"})
        assert response.status_code in ALLOWED, query


# --- the games CSV export -----------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tx=1"]


def export_rows(client) -> list[dict]:
    response = client.post("/admin/sources/game/export/", {"format": "0", "resource": "", **{
        f"gameresource_{name}": "on" for name in ("group", "provider", "game_code", "name", "operator")}})
    assert response.status_code == 200, response.content[:500]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def formula_games(operator):
    group = factories.GameGroupFactory(operator=operator, name='=HYPERLINK("http://evil.example")')
    for i, text in enumerate(FORMULAS):
        factories.GameFactory(group=group, provider="@evil", game_code=text, name=f"{text} {i}")
    return group


def test_the_games_export_neutralises_formulas(formula_games, operator, staff_client):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])

    rows = export_rows(mapper)

    assert len(rows) == len(FORMULAS)
    for row in rows:
        for column in ("group", "provider", "game_code", "name"):
            assert row[column].startswith("'"), (column, row[column])
    assert {row["game_code"] for row in rows} == {"'" + text for text in FORMULAS}
    assert rows[0]["group"] == """'=HYPERLINK("http://evil.example")"""


def test_an_exported_file_imports_back_unchanged(formula_games, operator, staff_client):
    from tests.sources.test_games_csv_security import import_csv

    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    exported = export_rows(mapper)
    Game.objects.all().delete()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["group", "provider", "game_code", "name"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(exported)

    page = import_csv(mapper, out.getvalue().encode())

    assert "Unknown game group" not in page
    assert sorted(formula_games.games.values_list("game_code", "provider")) == sorted(
        (text, "@evil") for text in FORMULAS)
    assert set(formula_games.games.values_list("name", flat=True)) == {f"{t} {i}" for i, t in enumerate(FORMULAS)}
