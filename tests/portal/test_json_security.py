"""JSON the portal reads (issue 11): a key given twice is refused, never "the last one wins";
numbers beyond decimal arithmetic are refused while parsing; exact decimals survive."""

from decimal import Decimal as D

import pytest

from portal import jsonutil
from tests.conftest import body_of

CONTRIBUTION = ('{"token": "token_00001", "brand_id": "thrilltech:brand1", "player_id": "player_00001", '
                '"player_country": "MT", "gameround_id": "dup-1", "currency": "EUR", %s, "instance_id": "%s"}')


@pytest.fixture
def jackpot(currencies, operator, brand1):
    from tests import factories

    return factories.make_instance(operator=operator, name="Jackpot",
                                   pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", magic=10**9)])


@pytest.mark.parametrize("fields", [
    '"base_wager": 1, "base_wager": 1000',
    '"base_wager": 1, "metadata": {"round": 1, "round": 2}',
])
def test_the_gateway_refuses_a_key_given_twice(gateway, jackpot, fields):
    response = gateway.contribute(CONTRIBUTION % (fields, jackpot.pk))
    assert response.status_code == 400
    assert body_of(response)["code"] == "INVALID_STRUCTURE"
    assert "duplicate key" in body_of(response)["message"]
    assert not jackpot.contributions.exists()


def test_service_login_and_player_tokens_refuse_a_key_given_twice(client, gateway, brand1, service_account):
    login = client.post("/authenticate/service", '{"username": "integration", "username": "x", "password": '
                                                 '"service-pass"}', content_type="application/json")
    token = gateway.post("/v1/players/token", '{"brand_id": "thrilltech:brand1", "player_id": "a", '
                                              '"player_id": "b"}')
    assert (login.status_code, body_of(login)["code"]) == (400, "INVALID_STRUCTURE")
    assert (token.status_code, body_of(token)["code"]) == (400, "INVALID_STRUCTURE")


@pytest.mark.parametrize("number", ["1E+999999999", "-1E+999999999", "1E+99999999999999999999", "1E-999999999"])
def test_the_gateway_refuses_numbers_beyond_decimal_arithmetic_cleanly(gateway, jackpot, number):
    response = gateway.contribute(CONTRIBUTION % (f'"base_wager": {number}', jackpot.pk))
    assert response.status_code == 400
    assert body_of(response)["code"] in ("INVALID_PROPERTY_VALUE", "INVALID_STRUCTURE")


def test_loads_keeps_exact_decimals_and_refuses_what_it_cannot_use():
    assert jsonutil.loads(b'{"a": 0.1, "b": [1, 1E+400], "c": {"d": 2.50}}') == {
        "a": D("0.1"), "b": [1, D("1E+400")], "c": {"d": D("2.50")}}
    assert isinstance(jsonutil.loads("[1]")[0], int)
    with pytest.raises(jsonutil.DuplicateKey):
        jsonutil.loads('[{"x": {"k": 1, "k": 1}}]')  # at any depth, even with equal values
    with pytest.raises(jsonutil.JSONDecodeError):
        jsonutil.loads('{"k": 1, "k": 2}')
    for text in ("NaN", "-Infinity", "1E+1000000", "1E-1000000"):
        with pytest.raises(jsonutil.NonFiniteNumber):
            jsonutil.loads(f'{{"n": {text}}}')
