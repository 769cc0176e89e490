"""Which brands an instance serves (issue 11, item 21; SPEC 1 "allowed brands ... empty = all").

Empty allowed brands mean every brand of the owner: all of the operator's brands for an
operator-wide instance, the owning brand alone for a brand-owned one. A listed brand is
always served."""

import pytest
from django.test import Client

from portal.auth import player_token_issue
from tests import factories
from tests.conftest import body_of


@pytest.fixture
def brand1_own(currencies, operator, brand1, brand2):
    """An instance owned by brand1, empty allowed brands, reachable through an operator-wide source."""
    source = factories.SourceFactory(operator=operator, source_id="shared-source")
    return factories.make_instance(operator=operator, brand=brand1, name="Brand1 only", sources=[source],
                                   pots=[factories.hit_rate_pot("main", share="1", magic=10**9)])


def test_another_brand_cannot_contribute_by_instance(gateway, contribution, brand1_own):
    response = gateway.contribute(contribution(brand_id="thrilltech:brand2", instance_id=str(brand1_own.pk)))
    assert (response.status_code, body_of(response)["code"]) == (400, "UNSUPPORTED_BRAND")

    response = gateway.contribute(contribution(brand_id="thrilltech:brand1", instance_id=str(brand1_own.pk)))
    assert response.status_code == 200, response.content


def test_another_brand_cannot_reach_it_through_a_shared_source(gateway, contribution, brand1_own):
    response = gateway.contribute(contribution(brand_id="thrilltech:brand2", source_id="shared-source"))
    assert (response.status_code, body_of(response)["code"]) == (403, "SOURCE_JACKPOTS_NOT_ALLOWED")

    response = gateway.contribute(contribution(brand_id="thrilltech:brand1", source_id="shared-source"))
    assert body_of(response)["instance_id"] == str(brand1_own.pk)


def test_listed_brands_are_served_by_a_brand_owned_instance(gateway, contribution, brand1_own, brand2):
    brand1_own.allowed_brands.set([brand2])
    response = gateway.contribute(contribution(brand_id="thrilltech:brand2", instance_id=str(brand1_own.pk)))
    assert response.status_code == 200, response.content


def test_an_operator_wide_instance_with_no_list_serves_every_brand(gateway, contribution, currencies, operator,
                                                                   brand1, brand2):
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("main", share="1")])
    for brand in ("brand1", "brand2"):
        response = gateway.contribute(contribution(brand_id=f"thrilltech:{brand}", instance_id=str(instance.pk)))
        assert response.status_code == 200, (brand, response.content)


def test_reads_follow_the_same_rule(gateway, brand1_own, brand1, brand2):
    url = f"/v1/thrillpots/instances/{brand1_own.pk}"
    for brand, status in ((brand1, 200), (brand2, 404)):
        token = player_token_issue(brand=brand, player_id="p1")
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == status, brand
    by_source = "/v1/thrillpots/instances/source/shared-source/brand/thrilltech:{}"
    assert gateway.get(by_source.format("brand1")).status_code == 200
    assert body_of(gateway.get(by_source.format("brand2")))["code"] == "SOURCE_JACKPOT_NOT_FOUND"
