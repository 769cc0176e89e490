"""Hostile input never reaches a 500 (issue 11, item 7)."""

from urllib.parse import quote

import pytest
from django.test import Client

from portal import jsonutil
from tests import factories
from tests.conftest import body_of

HOSTILE = ["\x00", "a\x00b", "²", "99999999999999999999999", "-1", "1E+999999999", "x" * 5000, "😀\u202e",
           "99999999999-01-01", "9999-12-31", "0001-01-01", "' OR 1=1--"]

STAFF_PAGES = {
    "/": [],
    "/jackpots/": ["state", "type", "q", "page"],
    "/contributions/": ["brand", "player", "source", "instance", "gameround", "date_from", "date_to", "status",
                        "page"],
    "/contributions.csv": ["brand", "player", "date_from", "date_to", "status"],
    "/callbacks/": ["status", "q", "page"],
    "/wins/withheld/": ["page"],
    "/wins/pending-credits/": ["page"],
    "/players/": ["q", "brand", "page"],
    "/verify/": ["win"],
}


@pytest.fixture
def world(currencies, operator, brand1, brand2):
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    return factories.three_pot_instance(operator=operator, name="Mega", sources=[source])


def test_staff_pages_survive_hostile_query_parameters(world, staff_client):
    client = staff_client("root", None, everything=True)
    client.raise_request_exception = False
    failures = []
    for page, params in STAFF_PAGES.items():
        for param in [*params, "unknown"]:
            for value in HOSTILE:
                response = client.get(page + "?" + param + "=" + quote(value))
                if response.status_code >= 500:
                    failures.append((page, param, value[:20], response.status_code))
    assert not failures, "\n".join(map(repr, failures))


def test_api_survives_hostile_parameters(world, gateway):
    gateway.client.raise_request_exception = False
    failures = []
    for value in HOSTILE:
        v = quote(value, safe="")
        gets = [f"/v1/thrillpots/instances/source/{v}/brand/thrilltech:brand1",
                f"/v1/thrillpots/instances/source/casino-sitewide/brand/{v}",
                f"/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:{v}",
                f"/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1?country_code={v}",
                f"/v1/thrillpots/instances/{v}", f"/v1/thrillpots/sources?owner_id={v}",
                f"/v1/thrillpots/sources?owner_id=thrilltech:{v}", f"/v1/currencies?brand_id={v}",
                f"/v1/currencies?brand_id=thrilltech:{v}", f"/health?x={v}"]
        for url in gets:
            response = gateway.client.get(url, **gateway.headers())
            if response.status_code >= 500:
                failures.append((url[:80], response.status_code, response.content[:100]))
        posts = [("/authenticate/service", {"username": value, "password": "x"}),
                 ("/authenticate/service", {"username": "integration", "password": value}),
                 ("/v1/players/token", {"brand_id": value, "player_id": "p"}),
                 ("/v1/players/token", {"brand_id": f"thrilltech:{value}", "player_id": "p"}),
                 ("/v1/players/token", {"brand_id": "thrilltech:brand1", "player_id": value})]
        for url, body in posts:
            response = gateway.post(url, body)
            if response.status_code >= 500:
                failures.append((url, body, response.status_code, response.content[:100]))
    assert not failures, "\n".join(map(repr, failures))


HOSTILE_NUMBERS = ["1E+999999999", "-1E+999999999", "1E-999999999", "0E-999999999", "0E+999999999", "9" * 5000,
                   "1E+999999", "-0", "1e400"]


def test_contributions_survive_hostile_fields(world, gateway, contribution):
    gateway.client.raise_request_exception = False
    failures = []
    for field in ("token", "brand_id", "player_id", "player_country", "source_id", "gameround_id", "currency"):
        for value in HOSTILE:
            body = contribution(**{"source_id": "casino-sitewide", field: value})
            response = gateway.contribute(body)
            if response.status_code >= 500:
                failures.append((field, value[:20], response.status_code, response.content[:100]))
    for number in HOSTILE_NUMBERS:
        for field in ("base_wager", "metadata"):
            body = jsonutil.dumps(contribution(source_id="casino-sitewide", **{field: "NUMBER"}))
            response = gateway.contribute(body.replace('"NUMBER"', number))
            if response.status_code >= 500:
                failures.append((field, number[:20], response.status_code, response.content[:100]))
    assert not failures, "\n".join(map(repr, failures))


@pytest.mark.parametrize("number", ["1E+999999999", "-1E+999999999"])
def test_an_absurd_base_wager_is_an_invalid_value(world, gateway, contribution, number):
    body = jsonutil.dumps(contribution(source_id="casino-sitewide", base_wager="NUMBER"))
    response = gateway.contribute(body.replace('"NUMBER"', number))
    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_PROPERTY_VALUE")


@pytest.mark.parametrize(("method", "url", "body"), [
    ("post", "/authenticate/service", {"username": "integ\x00ration", "password": "service-pass"}),
    ("post", "/v1/players/token", {"brand_id": "thrilltech:br\x00and1", "player_id": "p1"}),
    ("get", "/v1/thrillpots/instances/source/casino%00sitewide/brand/thrilltech:brand1", None),
    ("get", "/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand%001", None),
    ("get", "/v1/thrillpots/sources?owner_id=thrilltech:brand%001", None),
    ("get", "/v1/currencies?brand_id=thrilltech:brand%001", None),
])
def test_a_nul_anywhere_in_a_request_is_an_invalid_value(world, gateway, method, url, body):
    response = gateway.post(url, body) if method == "post" else gateway.client.get(url, **gateway.headers())
    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_PROPERTY_VALUE")


def test_staff_pages_ignore_a_filter_they_cannot_use(world, staff_client, brand1):
    from players.models import Player

    Player.objects.create(brand=brand1, player_id="alice", country="MT", currency="EUR")
    client = staff_client("root", None, everything=True)
    for url in ("/players/?q=%00", "/players/?brand=%C2%B2", "/jackpots/?q=a%00b", "/callbacks/?q=%00"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert b"alice" in client.get("/players/?brand=%C2%B2").content  # the bad filter is ignored


def test_verify_with_a_bad_win_number_is_a_clear_page():
    response = Client().get("/verify/?win=%C2%B2")
    assert response.status_code == 200
    assert b"A win number is a whole number" in response.content
    assert Client().get("/verify/?win=99999999999999999999999").status_code == 200


def test_staff_forms_survive_hostile_values(world, staff_client, operator, brand1):
    from decimal import Decimal as D

    from django.utils import timezone

    from contributions.models import Contribution, WebhookDelivery, Win
    from players.models import Player
    from sources.models import Pot

    pot = Pot.objects.filter(jackpot=world).first()
    player = Player.objects.create(brand=brand1, player_id="p1", country="MT", currency="EUR")
    contribution = Contribution.objects.create(
        brand=brand1, player=player, player_ref="p1", gameround_id="r1", target_kind="instance",
        target_id=str(world.pk), jackpot=world, player_country="MT", currency="EUR", base_wager=D("1"), amount=D("1"),
        amount_base=D("1"), processed_at=timezone.now(), is_async=True)
    withheld = Win.objects.create(jackpot=world, pot=pot, player=player, generation=100, amount_base=D("5"),
                                  amount=D("5"), currency="EUR", withheld=True, status=Win.Status.WITHHELD,
                                  contribution=contribution)
    delivery = WebhookDelivery.objects.create(contribution=contribution, brand=brand1, url="https://x", kind="data",
                                              payload="{}", status=WebhookDelivery.Status.FAILED)
    client = staff_client("root", None, everything=True)
    client.raise_request_exception = False
    forms = [
        (f"/jackpots/{world.pk}/state", {"state": "Paused", "reason": "because"}),
        (f"/jackpots/{world.pk}/pots", {"pot": pot.pk, "kind": "boost", "amount": "5", "reason": "because"}),
        (f"/callbacks/{delivery.pk}/resend", {"next": "/callbacks/"}),
        (f"/wins/{withheld.pk}/decide", {"decision": "reject", "reason": "because"}),
    ]
    failures = []
    for url, form in forms:
        for field in form:
            for value in HOSTILE:
                response = client.post(url, {**form, field: value})
                if response.status_code >= 500:
                    failures.append((url, field, value[:20], response.status_code))
    assert not failures, "\n".join(map(repr, failures))
