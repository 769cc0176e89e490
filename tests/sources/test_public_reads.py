"""Public reads (SPEC 2.9, issue 14): what a casino's front end calls from a browser.

Every request goes through the production ASGI application (`portal.asgi.application`), in
process; one test goes over real HTTP to uvicorn."""

from decimal import Decimal as D

import pytest
import requests
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from players.models import OptIn, Player
from portal.auth import player_token_issue
from portal.cache import clear_all
from sources import services as catalogue
from tests import factories
from tests.asgi import AsgiServer, InProcessClient

CASINO = "https://casino.example"
RIVAL = "https://rival.example"


def get(path: str, *, token: str | None = None, origin: str | None = None, address: str = "127.0.0.1",
        headers: dict | None = None, **params):
    extra = {"REMOTE_ADDR": address, **(headers or {})}
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if origin:
        extra["HTTP_ORIGIN"] = origin
    return InProcessClient().request("GET", path, query=params, **extra)


def preflight(path: str, origin: str, headers: str = "authorization"):
    return InProcessClient().request("OPTIONS", path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
                                     HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers)


@pytest.fixture
def world(currencies, operator, brand1, brand2):
    """thrilltech lists the casino's origin (and brand2's subdomains); a rival operator lists its own."""
    operator.allowed_origins = f"{CASINO}\nhttps://*.brand2.example"
    operator.full_clean()
    operator.save()
    rival = factories.OperatorFactory(id="rival", allowed_origins=RIVAL)
    factories.BrandFactory(operator=rival, code="main")
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    mega = factories.three_pot_instance(operator=operator, name="Mega", sources=[source], allowed_countries="MT,GB")
    deposit = factories.make_instance(operator=operator, name="Deposit Drop",
                                      pots=[factories.hit_rate_pot("drop", share="1")], house_share=D(0))
    rival_jackpot = factories.make_instance(operator=rival, name="Rival", pots=[factories.hit_rate_pot("p", share="1")],
                                            house_share=D(0))
    return {"mega": mega, "deposit": deposit, "rival": rival_jackpot}


def public_paths(world) -> list[str]:
    mega = world["mega"].pk
    return [f"/v1/thrillpots/instances/{mega}", "/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1",
            "/v1/thrillpots/instances/brand/thrilltech:brand1", "/v1/currencies",
            f"/v1/thrillpots/instances/{mega}/rules"]


def test_every_public_read_answers_an_anonymous_caller_without_player_data(world, opted_in):
    for path in public_paths(world):
        response = get(path)
        assert response.status_code == 200, (path, response.content)
        assert b"player_optin" not in response.content and b"p1" not in response.content, path
        assert response["Cache-Control"] == ("public, max-age=60" if path.endswith("/rules") else "public, max-age=2")

    snapshot = get(f"/v1/thrillpots/instances/{world['mega'].pk}").json()
    assert snapshot["name"] == "Mega" and snapshot["status"] == "Active"
    assert [(p["id"], p["current_value"]) for p in snapshot["pots"]] == [
        ("minor", D("10")), ("major", D("100")), ("mega", D("1000"))]
    assert snapshot["rules_url"] == f"http://testserver/rules/{world['mega'].pk}/"
    lobby = get("/v1/thrillpots/instances/brand/thrilltech:brand1").json()
    assert [s["name"] for s in lobby] == ["Deposit Drop", "Mega"]  # the brand's live jackpots, by name
    assert get("/v1/currencies").json()["multipliers"]["SEK"] == D("11.6761")


def test_a_service_token_sees_what_it_saw_before_and_the_public_the_same_snapshot(world, service_token):
    path = f"/v1/thrillpots/instances/{world['mega'].pk}"

    mine = get(path, token=service_token)
    public = get(path)
    rival = get(f"/v1/thrillpots/instances/{world['rival'].pk}", token=service_token)

    assert mine.json() == public.json()
    assert (rival.status_code, rival.json()["code"]) == (404, "INSTANCE_NOT_FOUND")  # not its operator's, as before
    assert mine["Cache-Control"] == "private, no-cache"  # a token's answer is not for shared caches


def test_a_brand_lists_only_its_live_jackpots(world, operator, brand2):
    catalogue.instance_set_state(instance=world["deposit"], state="Paused", actor=None, reason="maintenance")
    factories.make_instance(operator=operator, name="Brand2 only", pots=[factories.hit_rate_pot("p", share="1")],
                            house_share=D(0), allowed_brands=[brand2])

    brand1 = get("/v1/thrillpots/instances/brand/thrilltech:brand1").json()
    sweden = get("/v1/thrillpots/instances/brand/thrilltech:brand1", country_code="SE").json()
    unknown = get("/v1/thrillpots/instances/brand/thrilltech:nope")

    assert [s["name"] for s in brand1] == ["Mega"]  # paused and brand2's own are not live for brand1
    assert sweden == []  # Mega is open to MT and GB only
    assert (unknown.status_code, unknown.json()["code"]) == (400, "UNSUPPORTED_BRAND")


def test_a_pending_jackpot_is_not_public_but_its_operator_still_reads_it(world, operator, service_token):
    pending = factories.make_instance(operator=operator, name="Coming soon", state="Pending",
                                      pots=[factories.hit_rate_pot("p", share="1")], house_share=D(0))

    public = get(f"/v1/thrillpots/instances/{pending.pk}")
    rules = get(f"/v1/thrillpots/instances/{pending.pk}/rules")
    operator_view = get(f"/v1/thrillpots/instances/{pending.pk}", token=service_token)

    assert (public.status_code, public.json()["code"]) == (404, "INSTANCE_NOT_FOUND")
    assert rules.status_code == 404
    assert operator_view.status_code == 200 and operator_view.json()["status"] == "Pending"


# --- CORS ----------------------------------------------------------------------------------


def test_only_the_operators_allowed_origins_get_cors_headers(world):
    mega = f"/v1/thrillpots/instances/{world['mega'].pk}"

    allowed = get(mega, origin=CASINO)
    subdomain = get("/v1/thrillpots/instances/brand/thrilltech:brand2", origin="https://www.brand2.example")
    rival = get(mega, origin=RIVAL)
    rival_own = get(f"/v1/thrillpots/instances/{world['rival'].pk}", origin=RIVAL)
    stranger = get(mega, origin="https://evil.example")

    assert allowed["Access-Control-Allow-Origin"] == CASINO
    assert "ETag" in allowed["Access-Control-Expose-Headers"]
    assert "origin" in allowed["Vary"].lower()
    assert subdomain["Access-Control-Allow-Origin"] == "https://www.brand2.example"
    assert "Access-Control-Allow-Origin" not in rival  # another operator's origin
    assert rival_own["Access-Control-Allow-Origin"] == RIVAL
    assert "Access-Control-Allow-Origin" not in stranger
    assert stranger.status_code == 200  # the answer is public; only browsers on other pages may not read it


def test_a_preflight_is_answered_for_allowed_origins_only(world):
    by_source = "/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1"

    allowed = preflight(by_source, CASINO)
    rival = preflight(by_source, RIVAL)
    unknown_instance = preflight("/v1/thrillpots/instances/00000000-0000-0000-0000-000000000000", CASINO)

    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == CASINO
    assert allowed["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]  # a player token may be sent
    assert "Access-Control-Allow-Origin" not in rival
    assert "Access-Control-Allow-Origin" not in unknown_instance


def test_currencies_belong_to_no_operator_any_operators_origin_may_read_them(world):
    assert get("/v1/currencies", origin=RIVAL)["Access-Control-Allow-Origin"] == RIVAL
    assert get("/v1/currencies", origin=CASINO)["Access-Control-Allow-Origin"] == CASINO
    assert "Access-Control-Allow-Origin" not in get("/v1/currencies", origin="https://evil.example")
    # With a brand, the brand's operator decides.
    assert "Access-Control-Allow-Origin" not in get("/v1/currencies", origin=RIVAL, brand_id="thrilltech:brand1")


def test_new_allowed_origins_count_at_once(world, operator):
    mega = f"/v1/thrillpots/instances/{world['mega'].pk}"
    assert "Access-Control-Allow-Origin" not in get(mega, origin="http://localhost:8080")

    operator.allowed_origins += "\nhttp://localhost:8080"
    operator.save()

    assert get(mega, origin="http://localhost:8080")["Access-Control-Allow-Origin"] == "http://localhost:8080"


@pytest.mark.django_db(transaction=True)
def test_cors_over_real_http_from_a_browser_page(currencies, operator, brand1):
    """The whole exchange a browser makes, against uvicorn: preflight, then the read."""
    operator.allowed_origins = CASINO
    operator.save()
    mega = factories.three_pot_instance(operator=operator, name="Mega")
    token = player_token_issue(brand=brand1, player_id="p1")

    with AsgiServer() as server:
        url = f"{server.http}/v1/thrillpots/instances/{mega.pk}"
        options = requests.options(url, headers={"Origin": CASINO, "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "authorization"}, timeout=10)
        read = requests.get(url, params={"player_id": "p1"},
                            headers={"Origin": CASINO, "Authorization": f"Bearer {token}"}, timeout=10)
        foreign = requests.options(url, headers={"Origin": RIVAL, "Access-Control-Request-Method": "GET"},
                                   timeout=10)

    assert options.status_code == 200 and options.headers["Access-Control-Allow-Origin"] == CASINO
    assert read.status_code == 200 and read.headers["Access-Control-Allow-Origin"] == CASINO
    assert read.json()["player_optin"]["opted_in"] is False
    assert "Access-Control-Allow-Origin" not in foreign.headers


# --- caching -------------------------------------------------------------------------------


def test_an_unchanged_answer_is_304_and_a_moved_pot_changes_the_etag(world):
    path = f"/v1/thrillpots/instances/{world['mega'].pk}"
    first = get(path, origin=CASINO)
    etag = first["ETag"]

    again = get(path, origin=CASINO, headers={"HTTP_IF_NONE_MATCH": etag})
    catalogue.pot_adjust(pot=world["mega"].pots.get(pot_id="minor"), delta=D("5"), actor=None, reason="boost test")
    moved = get(path, headers={"HTTP_IF_NONE_MATCH": etag})

    assert etag.startswith('"')
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag and again["Access-Control-Allow-Origin"] == CASINO
    assert moved.status_code == 200 and moved["ETag"] != etag
    assert moved.json()["pots"][0]["current_value"] == D("15")


# --- rate limit ----------------------------------------------------------------------------


def test_the_rate_limit_answers_429_with_a_clear_body_per_client_address(world, settings, service_token):
    settings.PUBLIC_READ_RATE = "3/d"  # a window long enough never to roll over during the test
    path = f"/v1/thrillpots/instances/{world['mega'].pk}"

    answers = [get(path, address="203.0.113.7", origin=CASINO) for _ in range(4)]
    other_address = get(path, address="203.0.113.8")
    backend = get(path, address="203.0.113.7", token=service_token)

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    body = limited.json()
    assert body["status_code"] == 429 and body["code"] == "RATE_LIMITED"
    assert body["message"].startswith("Too many requests from this address: the public reads allow 3 requests per day")
    assert int(limited["Retry-After"]) > 0
    assert limited["Access-Control-Allow-Origin"] == CASINO  # the page can read why
    assert other_address.status_code == 200
    assert backend.status_code == 200  # operators' backends with a service token are not counted


# --- the player's own view ------------------------------------------------------------------


@pytest.fixture
def opted_in(world, brand1):
    player = Player.objects.create(brand=brand1, player_id="p1", currency="EUR", country="MT")
    OptIn.objects.create(player=player, jackpot=world["mega"], opted_in=True,
                         preferred_contribution_value=D("0.30"), currency="EUR", contribution_count=4)
    return player


def test_a_player_token_adds_the_players_own_opt_in_state(world, brand1, opted_in):
    token = player_token_issue(brand=brand1, player_id="p1")

    by_id = get(f"/v1/thrillpots/instances/{world['mega'].pk}", token=token, player_id="p1")
    by_source = get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1", token=token,
                    player_id="p1")
    lobby = get("/v1/thrillpots/instances/brand/thrilltech:brand1", token=token, player_id="p1")

    state = by_id.json()["player_optin"]
    assert state["opted_in"] is True and state["player_id"] == "p1" and state["player_brand_id"] == "brand1"
    assert state["preferred_contribution_value"] == D("0.3") and state["contribution_count"] == 4
    assert by_source.json()["player_optin"] == state
    assert {s["name"]: s["player_optin"]["opted_in"] for s in lobby.json()} == {"Mega": True, "Deposit Drop": False}
    assert by_id["Cache-Control"] == "private, no-cache"


def test_a_player_token_reading_another_players_opt_in_is_forbidden(world, brand1, opted_in):
    token = player_token_issue(brand=brand1, player_id="p2")

    response = get(f"/v1/thrillpots/instances/{world['mega'].pk}", token=token, player_id="p1")
    other_brand = get("/v1/thrillpots/instances/brand/thrilltech:brand2", token=token, player_id="p2")

    assert response.status_code == 403
    assert response.json() == {"status_code": 403, "code": "FORBIDDEN",
                               "message": "This token is player p2's: it cannot read player p1's opt-ins"}
    assert (other_brand.status_code, other_brand.json()["code"]) == (403, "FORBIDDEN")


def test_player_id_without_a_token_is_401(world, opted_in):
    response = get(f"/v1/thrillpots/instances/{world['mega'].pk}", player_id="p1")

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert "send that player's token" in response.json()["message"]


def test_a_bad_token_is_refused_not_read_as_anonymous(world):
    response = get(f"/v1/thrillpots/instances/{world['mega'].pk}", token="forged")
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")


def test_a_service_token_may_read_any_player_of_its_brands(world, service_token, opted_in):
    by_source = get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1",
                    token=service_token, player_id="p1")
    by_id = get(f"/v1/thrillpots/instances/{world['mega'].pk}", token=service_token, player_id="p1",
                brand_id="thrilltech:brand1")
    no_brand = get(f"/v1/thrillpots/instances/{world['mega'].pk}", token=service_token, player_id="p1")

    assert by_source.json()["player_optin"]["opted_in"] is True
    assert by_id.json()["player_optin"]["contribution_count"] == 4
    assert (no_brand.status_code, no_brand.json()["code"]) == (400, "INVALID_STRUCTURE")


# --- queries and documentation ----------------------------------------------------------------


def test_a_brands_list_costs_the_same_queries_however_many_jackpots(world, operator):
    def queries() -> int:
        clear_all()  # both counts from a cold catalogue cache
        with CaptureQueriesContext(connection) as captured:
            assert get("/v1/thrillpots/instances/brand/thrilltech:brand1").status_code == 200
        return len(captured)

    two = queries()
    for n in range(3):
        factories.three_pot_instance(operator=operator, name=f"More {n}")
    assert queries() == two


def test_the_public_reads_are_documented_as_public(db):
    spec = InProcessClient().request("GET", "/openapi.json").json()
    paths = spec["paths"]
    for path in ["/v1/thrillpots/instances/{instance_id}", "/v1/thrillpots/instances/brand/{brand_id}",
                 "/v1/thrillpots/instances/source/{source_id}/brand/{brand_id}", "/v1/currencies",
                 "/v1/thrillpots/instances/{instance_id}/rules"]:
        operation = paths[path]["get"]
        assert {} in operation["security"], path  # the token is optional
        assert "options" not in paths[path]  # the preflight is not an operation of its own
    detail = paths["/v1/thrillpots/instances/{instance_id}"]["get"]
    assert "player_optin" in detail["description"] and "429" in detail["responses"]


def test_allowed_origins_must_be_web_origins(operator):
    operator.allowed_origins = "https://casino.example\nftp://files.example\nhttps://casino.example/lobby\nhttps://*.ok.example"

    with pytest.raises(ValidationError) as refused:
        operator.full_clean()

    message = str(refused.value)
    assert "ftp://files.example" in message and "https://casino.example/lobby" in message
    assert "https://*.ok.example" not in message


def test_hostile_input_on_the_public_reads_is_a_clear_error(world):
    mega = f"/v1/thrillpots/instances/{world['mega'].pk}"

    nul = get("/v1/thrillpots/instances/brand/thrilltech:br\x00and1")
    not_an_id = get("/v1/thrillpots/instances/not-a-uuid")
    bad_origin = get(mega, origin="http://[::1")
    bad_version = get(f"{mega}/rules", version="abc")
    bad_country = get("/v1/thrillpots/instances/brand/thrilltech:brand1", country_code="ZZZ")

    assert (nul.status_code, nul.json()["code"]) == (400, "INVALID_PROPERTY_VALUE")
    assert (not_an_id.status_code, not_an_id.json()["code"]) == (404, "INSTANCE_NOT_FOUND")
    assert bad_origin.status_code == 200 and "Access-Control-Allow-Origin" not in bad_origin
    assert (bad_version.status_code, bad_version.json()["code"]) == (400, "INVALID_STRUCTURE")
    assert (bad_country.status_code, bad_country.json()["code"]) == (400, "INVALID_PROPERTY_VALUE")
