"""The configuration API (`/v1/config/...`): scripts configure what the admin configures,
through the same services, checked the same way, audited as the API account, scoped to its
operator."""

import io
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from contributions.models import Contribution
from portal import jsonutil
from portal.auth import service_authenticate
from portal.models import BrandCurrencyMultiplier, Currency
from portal.roles import GAME_MAPPING_ADMINS
from sources.models import Game, JackpotInstance, JackpotTemplate, PotAdjustment, Source
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of
from tests.seed import demo_world
from tests.sources.test_admin import instance_form

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = {
    "jackpot_type": "Jackpot", "currency": "EUR", "contribution_type": "Percentage",
    "contribution_value": D("0.02"), "house_share": D("0.1"),
    "pots": [
        {"pot_id": "minor", "tier": 1, "share": D("0.3"), "seed_share": D("0.1"), "initial_seed": D("5"),
         "mechanic": "HitRate", "cost_per_attempt": D("0.1"), "max_magic_number": 1000000},
        {"pot_id": "major", "tier": 2, "share": D("0.6"), "seed_share": D("0.1"), "initial_seed": D("100"),
         "mechanic": "MustDropAmount", "drop_ceiling": D("500")},
    ],
}


class Api:
    """The configuration API as a script sees it: JSON over HTTP with a bearer token."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.token = token

    def call(self, method: str, path: str, body=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        data = jsonutil.dumps(body) if body is not None else None
        response = getattr(self.client, method)(path, data, content_type="application/json", **headers) \
            if method != "get" else self.client.get(path, **headers)
        response.body = body_of(response) if response.content else None
        return response

    def get(self, path):
        return self.call("get", path)

    def post(self, path, body):
        return self.call("post", path, body)

    def put(self, path, body):
        return self.call("put", path, body)

    def patch(self, path, body):
        return self.call("patch", path, body)


def account(operator, username: str, **flags):
    factories.ServiceAccountFactory(operator=operator, username=username, **flags)
    return Api(service_authenticate(username=username, password="service-pass"))


@pytest.fixture
def api(operator, brand1, currencies):
    return account(operator, "config-bot", can_configure=True)


@pytest.fixture
def rival_api(currencies):
    rival = factories.OperatorFactory(id="rival")
    factories.BrandFactory(operator=rival, code="rivalbrand")
    return account(rival, "rival-bot", can_configure=True)


def created(response) -> dict:
    assert response.status_code == 201, response.body
    return response.body


def test_a_script_goes_from_a_template_to_an_instance_to_a_contribution(api, gateway, contribution, staff_client,
                                                                         operator):
    source = created(api.post("/v1/config/sources", {"source_id": "summer-slots", "name": "Summer slots"}))
    group = created(api.post("/v1/config/game-groups", {"name": "Summer games", "source": source["id"]}))
    games = api.post(f"/v1/config/game-groups/{group['id']}/games", {"games": [
        {"provider": "pragmatic", "game_code": "sunny-fruits", "name": "Sunny Fruits"},
        {"provider": "netent", "game_code": "beach-party"}]})
    template = created(api.post("/v1/config/templates", {"name": "Summer drop", "definition": DEFINITION,
                                                         "note": "summer 2026"}))
    instance = created(api.post(f"/v1/config/templates/{template['id']}/instances", {
        "name": "Summer drop, July", "sources": [{"source": source["id"], "priority": 1}]}))
    active = api.post(f"/v1/config/instances/{instance['id']}/activate", {"reason": "summer promotion starts"})
    boost = created(api.post(f"/v1/config/instances/{instance['id']}/pots/major/seed-boost",
                             {"amount": D("50"), "reason": "launch boost"}))

    answer = gateway.contribute(contribution(source_id="sunny-fruits", base_wager=D("10")))

    assert games.body == {"created": 2, "updated": 0, "removed": 0, "unchanged": 0, "games": 2}
    assert template["current_version"] == 1 and template["definition"]["pots"][1]["drop_ceiling"] == D("500")
    assert instance["state"] == "Pending" and instance["template"] == {"id": template["id"], "name": "Summer drop",
                                                                       "version": 1}
    assert instance["sources"] == [{"source": source["id"], "source_id": "summer-slots", "priority": 1}]
    assert active.body["state"] == "Active"
    assert (boost["seed_fund"], boost["by"]) == (D("50"), "api:config-bot")
    assert answer.status_code == 200, answer.content
    result = body_of(answer)
    assert (result["instance_id"], result["contribution_amount"]) == (instance["id"], D("0.2"))
    pots = {p["pot_id"]: p for p in api.get(f"/v1/config/instances/{instance['id']}").body["pots"]}
    assert pots["major"]["current_value"] == D("100") + D("0.2") * D("0.6") * D("0.9")
    assert pots["major"]["seed_fund"] == D("50") + D("0.2") * D("0.6") * D("0.1")

    # The instance's History names the API account, change after change, in the admin too.
    stored = JackpotInstance.objects.get(pk=instance["id"])
    assert [(r.history_user.username, r.history_change_reason) for r in stored.history.order_by("history_id")] == [
        ("api:config-bot", "created from template Summer drop version 1"),
        ("api:config-bot", "summer promotion starts")]
    assert {r.history_user.username for r in Game.history.all()} == {"api:config-bot"}
    assert PotAdjustment.objects.get(kind="seed_boost").actor.username == "api:config-bot"
    admin = staff_client("admin", None, everything=True)
    page = admin.get(f"/admin/sources/jackpotinstance/{stored.pk}/history/").content.decode()
    assert "api:config-bot" in page and "summer promotion starts" in page


@pytest.mark.parametrize(("change", "admin_change", "message"), [
    # Pots of 0.3 + 0.6 here, 0.4 + 0.3 on the admin's form: both 1.1 with these house shares.
    ({"house_share": D("0.2")}, {"house_share": "0.4"},
     "Pot shares plus the house share add up to 1.1, not 1. "
     "Adjust the shares so every contribution is fully accounted for."),
    ({"contribution_value": D("1.5")}, {"contribution_value": "1.5"},
     "A percentage contribution is a fraction between 0 and 1."),
    ({"jackpot_type": "Raffle"}, {"jackpot_type": "Raffle"}, "A raffle needs a ticket cost."),
    ({"pots": [{**DEFINITION["pots"][0], "cap": D("1")}, DEFINITION["pots"][1]]},
     {"pots-0-cap": "1"}, "The initial seed is above the cap."),
])
def test_an_invalid_configuration_gets_the_admins_error(api, operator, staff_client, change, admin_change,
                                                        message):
    refused = api.post("/v1/config/templates", {"name": "Broken", "definition": {**DEFINITION, **change}})

    # The admin's instance page, given the same mistake, says the same.
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])
    page = mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator, **admin_change))

    assert refused.status_code == 400
    assert refused.body["status_code"] == 400 and refused.body["code"] == "INVALID_CONFIGURATION"
    assert message in refused.body["message"]
    assert message in page.content.decode()
    assert not JackpotTemplate.objects.exists()


def test_invalid_objects_are_refused_as_in_the_admin(api):
    created(api.post("/v1/config/sources", {"source_id": "deposit"}))

    twice = api.post("/v1/config/sources", {"source_id": "deposit"})
    blank = api.post("/v1/config/sources", {"source_id": ""})
    group = api.post("/v1/config/game-groups", {"name": "Slots", "source": 999999})
    end = api.post("/v1/config/templates", {"name": "T", "definition": DEFINITION})
    backwards = api.post(f"/v1/config/templates/{end.body['id']}/instances", {
        "timestamp_start": "2030-01-02T00:00:00Z", "timestamp_end": "2030-01-01T00:00:00Z"})

    assert (twice.status_code, twice.body["message"]) == (
        400, "This operator already has an operator-wide source with this id.")
    assert blank.body == {"status_code": 400, "code": "INVALID_CONFIGURATION",
                          "message": "source_id: This field cannot be blank."}
    assert (group.status_code, group.body["code"]) == (404, "SOURCE_NOT_FOUND")
    assert backwards.body["message"] == "timestamp_end: The end must come after the start."


def test_another_operators_account_cannot_see_or_touch_our_configuration(api, rival_api):
    source = created(api.post("/v1/config/sources", {"source_id": "mine"}))
    template = created(api.post("/v1/config/templates", {"name": "Ours", "definition": DEFINITION}))
    instance = created(api.post(f"/v1/config/templates/{template['id']}/instances", {}))

    answers = [
        rival_api.get(f"/v1/config/instances/{instance['id']}"),
        rival_api.post(f"/v1/config/instances/{instance['id']}/pause", {"reason": "sabotage"}),
        rival_api.post(f"/v1/config/instances/{instance['id']}/pots/major/seed-boost",
                       {"amount": 1, "reason": "sabotage"}),
        rival_api.get(f"/v1/config/templates/{template['id']}"),
        rival_api.post(f"/v1/config/templates/{template['id']}/instances", {}),
        rival_api.patch(f"/v1/config/sources/{source['id']}", {"name": "hijacked"}),
        rival_api.patch("/v1/config/brands/brand1", {"enabled": False}),
    ]
    owner = rival_api.post("/v1/config/sources", {"source_id": "planted", "owner_id": "thrilltech:brand1"})
    rates = rival_api.post("/v1/config/currency-rates", {"brand_id": "thrilltech:brand1", "rates": {"SEK": 1}})
    mapping = rival_api.post("/v1/config/sources", {"source_id": "theirs"})
    crossed = rival_api.put(f"/v1/config/sources/{mapping.body['id']}/mappings",
                            {"mappings": [{"instance_id": instance["id"]}]})

    assert [(a.status_code, a.body["code"]) for a in answers] == [
        (404, "INSTANCE_NOT_FOUND"), (404, "INSTANCE_NOT_FOUND"), (404, "INSTANCE_NOT_FOUND"),
        (404, "TEMPLATE_NOT_FOUND"), (404, "TEMPLATE_NOT_FOUND"), (404, "SOURCE_NOT_FOUND"),
        (404, "BRAND_NOT_FOUND")]
    assert (owner.status_code, owner.body["code"]) == (403, "FORBIDDEN")
    assert (rates.status_code, rates.body["code"]) == (403, "FORBIDDEN")
    assert (crossed.status_code, crossed.body["code"]) == (404, "INSTANCE_NOT_FOUND")
    assert [s["source_id"] for s in rival_api.get("/v1/config/sources").body] == ["theirs"]
    assert rival_api.get("/v1/config/instances").body == []
    assert JackpotInstance.objects.get().state == "Pending" and Source.objects.get(pk=source["id"]).name == ""


def test_an_account_without_the_configuration_permission_gets_403(operator, currencies):
    gateway_only = account(operator, "gateway-only")

    for response in (gateway_only.get("/v1/config/sources"),
                     gateway_only.post("/v1/config/templates", {"name": "T", "definition": DEFINITION}),
                     gateway_only.post("/v1/config/currency-rates", {"rates": {"SEK": 11}})):
        assert response.status_code == 403
        assert response.body["code"] == "FORBIDDEN" and "configuration permission" in response.body["message"]
    assert Api(None).get("/v1/config/sources").body["code"] == "UNAUTHORIZED"
    assert not JackpotTemplate.objects.exists()


def test_templates_are_versioned_and_instances_keep_their_copy(api):
    template = created(api.post("/v1/config/templates", {"name": "Daily", "definition": DEFINITION}))
    first = created(api.post(f"/v1/config/templates/{template['id']}/instances", {"name": "Daily 1"}))

    v2 = api.post(f"/v1/config/templates/{template['id']}/versions",
                  {"definition": {**DEFINITION, "contribution_value": D("0.03")}, "note": "more"})
    again = api.post(f"/v1/config/templates/{template['id']}/versions",
                     {"definition": {**DEFINITION, "contribution_value": D("0.03")}})
    second = created(api.post(f"/v1/config/templates/{template['id']}/instances", {"name": "Daily 2"}))
    pinned = created(api.post(f"/v1/config/templates/{template['id']}/instances", {"name": "Daily 3",
                                                                                    "version": 1}))

    assert (v2.status_code, v2.body["version"], v2.body["created_by"]) == (201, 2, "api:config-bot")
    assert (again.status_code, again.body["version"]) == (200, 2)  # nothing new to publish
    assert api.get(f"/v1/config/instances/{first['id']}").body["definition"]["contribution_value"] == D("0.02")
    assert second["definition"]["contribution_value"] == D("0.03") and second["template"]["version"] == 2
    assert pinned["definition"]["contribution_value"] == D("0.02")
    old = api.get(f"/v1/config/templates/{template['id']}/versions/1").body
    assert old["definition"]["contribution_value"] == D("0.02") and old["instances"] == 2
    assert api.get(f"/v1/config/templates/{template['id']}/versions/9").body["code"] == "TEMPLATE_VERSION_NOT_FOUND"
    listed = api.get(f"/v1/config/instances?template={template['id']}").body
    assert sorted(i["name"] for i in listed) == ["Daily 1", "Daily 2", "Daily 3"]


def test_state_changes_follow_the_lifecycle(api):
    unseeded = {**DEFINITION, "pots": [{**pot, "initial_seed": 0} for pot in DEFINITION["pots"]]}
    template = created(api.post("/v1/config/templates", {"name": "T", "definition": unseeded}))
    instance = created(api.post(f"/v1/config/templates/{template['id']}/instances", {}))
    path = f"/v1/config/instances/{instance['id']}"

    steps = [api.post(f"{path}/{action}", {"reason": f"{action} it"}).body.get("state")
             for action in ("activate", "pause", "resume", "terminate")]
    final = api.post(f"{path}/resume", {"reason": "try again"})
    no_reason = api.post(f"{path}/pause", {"reason": ""})

    assert steps == ["Active", "Paused", "Active", "Terminated"]
    assert (final.status_code, final.body["code"], final.body["message"]) == (
        400, "INVALID_STATE_CHANGE", "A Terminated instance cannot become Active")
    assert no_reason.body["code"] == "REASON_REQUIRED"


def test_sources_mappings_brands_and_games(api, operator):
    template = created(api.post("/v1/config/templates", {"name": "T", "definition": DEFINITION}))
    a = created(api.post(f"/v1/config/templates/{template['id']}/instances", {"name": "A"}))
    b = created(api.post(f"/v1/config/templates/{template['id']}/instances", {"name": "B"}))
    source = created(api.post("/v1/config/sources", {"source_id": "lobby", "owner_id": "thrilltech:brand1"}))

    mapped = api.put(f"/v1/config/sources/{source['id']}/mappings", {"mappings": [
        {"instance_id": b["id"], "priority": 2}, {"instance_id": a["id"], "priority": 1}]}).body
    remapped = api.put(f"/v1/config/sources/{source['id']}/mappings",
                       {"mappings": [{"instance_id": b["id"], "priority": 5}]}).body
    brand = created(api.post("/v1/config/brands", {"code": "brand9", "name": "Brand Nine"}))
    renamed = api.patch("/v1/config/brands/brand9", {"name": "Brand 9", "side_bets_without_wallet": True}).body
    dup = api.post("/v1/config/brands", {"code": "brand9"})

    group = created(api.post("/v1/config/game-groups", {"name": "Lobby games", "source": source["id"]}))
    games = f"/v1/config/game-groups/{group['id']}/games"
    api.post(games, {"games": [{"provider": "p", "game_code": "g1"}, {"provider": "p", "game_code": "g2"}]})
    replaced = api.post(games, {"games": [{"provider": "p", "game_code": "g1", "name": "Game One"},
                                          {"provider": "p", "game_code": "g3"}], "replace": True}).body
    twice = api.post(games, {"games": [{"provider": "p", "game_code": "g1"}, {"provider": "p", "game_code": "g1"}]})

    assert source["owner_id"] == "thrilltech:brand1"
    assert [(m["instance_name"], m["priority"]) for m in mapped["mappings"]] == [("A", 1), ("B", 2)]
    assert [(m["instance_name"], m["priority"]) for m in remapped["mappings"]] == [("B", 5)]
    assert brand["brand_id"] == "thrilltech:brand9"
    assert (renamed["name"], renamed["side_bets_without_wallet"]) == ("Brand 9", True)
    assert dup.body["code"] == "INVALID_CONFIGURATION" and "already exists" in dup.body["message"]
    assert replaced == {"created": 1, "updated": 1, "removed": 1, "unchanged": 0, "games": 2}
    assert api.get(games).body == [{"provider": "p", "game_code": "g1", "name": "Game One"},
                                   {"provider": "p", "game_code": "g3", "name": ""}]
    assert twice.body["message"] == "games[1]: p/g1 is listed twice."
    removed = Game.history.filter(game_code="g2", history_type="-").get()
    assert removed.history_user.username == "api:config-bot"


def test_a_rates_feed_posts_brand_and_system_rates(api, operator, brand1):
    brand_rates = api.post("/v1/config/currency-rates", {"brand_id": "thrilltech:brand1",
                                                         "rates": {"SEK": D("11.5"), "USD": D("1.08")}})
    again = api.post("/v1/config/currency-rates", {"brand_id": "thrilltech:brand1", "rates": {"SEK": D("11.5")}})
    dropped = api.post("/v1/config/currency-rates", {"brand_id": "thrilltech:brand1", "rates": {"USD": None}})
    system = api.post("/v1/config/currency-rates", {"rates": {"SEK": D("11")}})
    feed = account(operator, "rates-feed", can_feed_system_rates=True)
    posted = feed.post("/v1/config/currency-rates", {"rates": {"SEK": D("11.2"), "NOK": D("11.9")}})
    wrong = feed.post("/v1/config/currency-rates", {"rates": {"EUR": D("2"), "SEK": D("12")}})

    assert brand_rates.status_code == 200, brand_rates.body
    assert (brand_rates.body["updated"], brand_rates.body["multipliers"]["SEK"]) == (2, D("11.5"))
    assert (again.body["updated"], again.body["unchanged"]) == (0, 1)
    assert dropped.body["removed"] == 1 and dropped.body["multipliers"]["USD"] == D("1.0762")  # the system's again
    assert (system.status_code, system.body["code"]) == (403, "FORBIDDEN")
    assert posted.status_code == 200 and posted.body["multipliers"]["NOK"] == D("11.9")
    assert Currency.objects.get(code="NOK").exponent == 2
    assert wrong.body == {"status_code": 400, "code": "INVALID_CONFIGURATION",
                          "message": "rates.EUR: multiplier: EUR is the base currency: its multiplier must be 1."}
    assert Currency.objects.get(code="SEK").multiplier == D("11.2")  # all or nothing
    assert BrandCurrencyMultiplier.history.filter(currency_id="SEK").first().history_user.username == \
        "api:config-bot"
    assert Currency.history.filter(code="NOK").get().history_user.username == "api:rates-feed"
    assert feed.get("/v1/config/sources").status_code == 403  # a rates feed configures nothing else


def test_create_service_account_grants_the_configuration_permission(operator, currencies):
    call_command("create_service_account", "--operator", "thrilltech", "--username", "ci-config",
                 "--password", "s3cret!", "--configure", stdout=io.StringIO())
    api = Api(service_authenticate(username="ci-config", password="s3cret!"))

    assert api.get("/v1/config/sources").status_code == 200
    call_command("create_service_account", "--operator", "thrilltech", "--username", "ci-config",
                 "--password", "s3cret!", "--no-configure", stdout=io.StringIO())
    api = Api(service_authenticate(username="ci-config", password="s3cret!"))  # a new password, a new token
    assert api.get("/v1/config/sources").status_code == 403


def test_the_openapi_document_describes_the_configuration_api():
    paths = body_of(Client().get("/openapi.json"))["paths"]

    for path in ("/v1/config/templates", "/v1/config/templates/{template_pk}/instances",
                 "/v1/config/instances/{instance_id}/{action}", "/v1/config/currency-rates",
                 "/v1/config/game-groups/{group_pk}/games", "/v1/config/sources/{source_pk}/mappings"):
        assert path in paths


@pytest.mark.django_db(transaction=True)
def test_the_docs_example_script_runs_against_the_live_server():
    """docs/config_api_example.py, as the README shows it, against the demo world."""
    readme = (ROOT / "README.md").read_text()
    assert "docs/config_api_example.py" in readme

    with demo_world(), AsgiServer() as server:
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        run = subprocess.run([sys.executable, "docs/config_api_example.py", "--url", server.http], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "INVALID_CONFIGURATION" in run.stdout  # the refused version, shown
    instance = JackpotInstance.objects.exclude(template_version=None).get()
    assert instance.state == "Active" and instance.history.first().history_user.username == "api:demo-config"
    assert Contribution.objects.filter(jackpot=instance).count() == 1


def test_lists_cost_the_same_queries_however_long(api):
    template = created(api.post("/v1/config/templates", {"name": "T", "definition": DEFINITION}))
    source = created(api.post("/v1/config/sources", {"source_id": "s0"}))
    created(api.post(f"/v1/config/templates/{template['id']}/instances",
                     {"sources": [{"source": source["id"]}]}))

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(path).status_code == 200
        return len(captured)

    before = {path: queries(path) for path in ("/v1/config/instances", "/v1/config/templates",
                                               "/v1/config/sources")}
    for n in range(1, 4):
        more = created(api.post("/v1/config/templates", {"name": f"T{n}", "definition": DEFINITION}))
        created(api.post("/v1/config/sources", {"source_id": f"s{n}"}))
        created(api.post(f"/v1/config/templates/{more['id']}/instances",
                         {"sources": [{"source": source["id"]}]}))

    assert {path: queries(path) for path in before} == before
