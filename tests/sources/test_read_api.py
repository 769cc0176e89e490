"""Read endpoints (SPEC 2.9): instance snapshots, sources, currencies, health, OpenAPI."""

from decimal import Decimal as D

import pytest
from django.test import Client

from portal.auth import player_token_issue
from portal.models import BrandCurrencyMultiplier
from tests import factories
from tests.conftest import Gateway, body_of


@pytest.fixture
def sitewide(currencies, operator, brand1, brand2):
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide", name="Casino site-wide")
    factories.SourceFactory(operator=operator, brand=brand2, source_id="brand2-only")
    instance = factories.three_pot_instance(operator=operator, name="Mega", sources=[source],
                                            allowed_countries="MT,GB")
    return instance


def test_instance_by_source_and_brand(gateway, sitewide):
    response = gateway.get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1",
                           country_code="MT")

    assert response.status_code == 200
    snapshot = body_of(response)
    assert snapshot["id"] == str(sitewide.pk)
    assert snapshot["status"] == "Active" and snapshot["jackpot_type"] == "Jackpot"
    assert snapshot["allowed_sources"] == ["casino-sitewide"]
    assert snapshot["pots"] == [
        {"id": "minor", "is_progressive": True, "current_value": D("10")},
        {"id": "major", "is_progressive": True, "current_value": D("100")},
        {"id": "mega", "is_progressive": True, "current_value": D("1000")},
    ]


def test_instance_by_source_honours_the_country(gateway, sitewide):
    response = gateway.get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1",
                           country_code="SE")
    assert (response.status_code, body_of(response)["code"]) == (404, "SOURCE_JACKPOT_NOT_FOUND")


def test_instance_by_id(gateway, sitewide):
    response = gateway.get(f"/v1/thrillpots/instances/{sitewide.pk}")
    assert body_of(response)["name"] == "Mega"


def test_instance_of_another_operator_is_not_found(gateway, currencies):
    rival = factories.make_instance(operator=factories.OperatorFactory(id="rival"),
                                    pots=[factories.hit_rate_pot("p", share="1")])
    response = gateway.get(f"/v1/thrillpots/instances/{rival.pk}")
    assert (response.status_code, body_of(response)["code"]) == (404, "INSTANCE_NOT_FOUND")


def test_sources_of_the_operator_and_of_one_owner(gateway, sitewide):
    everything = body_of(gateway.get("/v1/thrillpots/sources"))
    brand2 = body_of(gateway.get("/v1/thrillpots/sources", owner_id="thrilltech:brand2"))
    foreign = gateway.get("/v1/thrillpots/sources", owner_id="rival")

    assert {"owner_id": "thrilltech", "source_name": "Casino site-wide", "source_id": "casino-sitewide"} in everything
    assert brand2 == [{"owner_id": "thrilltech:brand2", "source_name": "brand2-only", "source_id": "brand2-only"}]
    assert foreign.status_code == 403


def test_currencies_with_brand_overrides(gateway, sitewide, brand1):
    BrandCurrencyMultiplier.objects.create(brand=brand1, currency_id="GBP", multiplier=D("0.85"))

    system = body_of(gateway.get("/v1/currencies"))
    branded = body_of(gateway.get("/v1/currencies", brand_id="thrilltech:brand1"))

    assert system["base_currency"] == "EUR"
    assert system["multipliers"]["GBP"] == D("0.8592") and branded["multipliers"]["GBP"] == D("0.85")
    assert branded["multipliers"]["SEK"] == D("11.6761")
    assert isinstance(system["last_updated"], int)


def test_player_token_reads_only_its_own_brand(sitewide, brand1, brand2):
    player = Gateway(Client(), player_token_issue(brand=brand1, player_id="p1"))

    own = player.get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand1")
    other = player.get("/v1/thrillpots/instances/source/casino-sitewide/brand/thrilltech:brand2")
    sources = body_of(player.get("/v1/thrillpots/sources"))

    assert own.status_code == 200 and other.status_code == 403
    assert "brand2-only" not in {s["source_id"] for s in sources}


def test_the_source_list_needs_a_token(sitewide):
    """The instance reads and currencies are public (tests/sources/test_public_reads.py); the
    sources of an operator are not."""
    response = Client().get("/v1/thrillpots/sources")
    assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")


def test_health_reports_its_dependencies(db, settings):
    response = Client().get("/health")
    assert response.status_code == 200
    redis = "ok" if settings.RUNTIME == "services" else "not configured"  # embedded: no Redis to ask
    assert body_of(response) | {"version": None} == {"status": "ok", "database": "ok", "redis": redis, "version": None}


def test_openapi_documents_every_http_endpoint(db):
    spec = body_of(Client().get("/openapi.json"))
    paths = set(spec["paths"])
    assert {
        "/authenticate/service", "/jackpots/contribute", "/jackpots/contribute/source",
        "/jackpots/contribute/instance", "/v1/thrillpots/instances/source/{source_id}/brand/{brand_id}",
        "/v1/thrillpots/instances/{instance_id}", "/v1/currencies", "/v1/thrillpots/sources", "/health",
        "/v1/players/token",
    } <= paths
    body = spec["paths"]["/jackpots/contribute"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"base_wager", "brand_id", "gameround_id"} <= set(body["properties"])


def test_browsable_docs_are_served_without_a_cdn(db):
    page = Client().get("/docs").content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn." not in page and "unpkg" not in page
