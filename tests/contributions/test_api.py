"""The contribution gateway as an operator's backend uses it (SPEC 2.2-2.7, seed 004)."""

import uuid
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from contributions.models import Contribution, PotIncrement
from players.services import optin_set
from portal import jsonutil
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.conftest import body_of
from tests.seed import seed_example

RESULT_FIELDS = ["contribution_amount", "contribution_currency", "gameround_id", "instance_id", "metadata",
                 "tickets_awarded", "timestamp", "win_amount", "win_pot_id", "win_withheld", "trace_id"]


@pytest.mark.parametrize(
    ("example", "instance", "amount", "tickets"),
    [
        ("sitewide", "sitewide", "0.1", None),  # Fixed 0.10 EUR
        ("deposit", "deposit", "0.01", None),  # 1% of 1 EUR
        ("egyptian", "egyptian", "0.005", 2),  # 0.5% of 1 EUR; 1 EUR of wager at 0.5 per ticket
        ("game", "game", "0.02", None),  # game code -> its group's source -> 2%
        ("direct", "direct", "0.1", None),  # 5% of 2 EUR, straight to the instance by id
    ],
)
def test_seed_example_gets_the_contribution_result(gateway, world, example, instance, amount, tickets):
    response = gateway.contribute(seed_example(example))

    assert response.status_code == 200, response.content
    result = body_of(response)
    assert list(result) == RESULT_FIELDS
    assert result["contribution_amount"] == D(amount)
    assert result["contribution_currency"] == "EUR"
    assert result["gameround_id"] == seed_example(example)["gameround_id"]
    assert result["instance_id"] == str(world[instance].pk)
    assert result["metadata"] is None
    assert result["tickets_awarded"] == tickets
    assert result["win_amount"] == 0 and result["win_pot_id"] is None and result["win_withheld"] is False
    assert abs(result["timestamp"] - timezone.now().timestamp() * 1000) < 60_000
    assert Contribution.objects.get(trace_id=result["trace_id"]).amount == D(amount)


def test_seed_example_grows_the_pots_by_their_shares(gateway, world):
    response = gateway.contribute(seed_example("sitewide"))

    assert response.status_code == 200
    pots = {p.pot_id: p for p in Pot.objects.filter(jackpot=world["sitewide"])}
    # 0.10 EUR: minor 0.025 of which 15% (0.00375) to its seed fund, and so on; house 0.03.
    assert pots["minor"].current_value == D("10.02125") and pots["minor"].seed_fund == D("0.00375")
    assert pots["major"].current_value == D("100.02125") and pots["major"].seed_fund == D("0.00375")
    assert pots["mega"].current_value == D("1000.017") and pots["mega"].seed_fund == D("0.003")
    assert Contribution.objects.get().house_amount == D("0.03")


@pytest.mark.parametrize("example", ["metadata_object", "metadata_string"])
def test_metadata_is_echoed_back_verbatim(gateway, world, example):
    body = seed_example(example)

    response = gateway.contribute(body)

    assert response.status_code == 200
    assert body_of(response)["metadata"] == body["metadata"]


def test_numbers_are_exact_decimals_not_floats(gateway, world):
    """0.1 + 0.2 style amounts must not pick up binary-float noise anywhere."""
    response = gateway.contribute(b'{"token":"t","brand_id":"thrilltech:brand1","player_id":"p","player_country":"MT",'
                                  b'"source_id":"deposit","gameround_id":"g","currency":"EUR","base_wager":0.3,'
                                  b'"metadata":{"exact":0.30000000000000004}}')

    assert response.status_code == 200
    assert b'"contribution_amount":0.003' in response.content
    assert b'"exact":0.30000000000000004' in response.content


def test_specific_endpoints_require_their_target(gateway, world):
    by_source = gateway.contribute(seed_example("direct"), path="/jackpots/contribute/source")
    by_instance = gateway.contribute(seed_example("sitewide"), path="/jackpots/contribute/instance")
    good = gateway.contribute(seed_example("direct"), path="/jackpots/contribute/instance")

    assert (by_source.status_code, body_of(by_source)["code"]) == (400, "INVALID_STRUCTURE")
    assert (by_instance.status_code, body_of(by_instance)["code"]) == (400, "INVALID_STRUCTURE")
    assert good.status_code == 200


def test_contribution_in_another_currency_is_converted_and_rounded(gateway, world):
    """Fixed 0.10 EUR in SEK at 11.6761 is 1.16761 -> charged 1.17 SEK (half-even to the öre)."""
    response = gateway.contribute({**seed_example("sitewide"), "currency": "SEK", "gameround_id": "sek"})

    assert response.status_code == 200
    assert body_of(response)["contribution_amount"] == D("1.17")
    contribution = Contribution.objects.get(gameround_id="sek")
    assert contribution.amount_base == D("0.10020469")  # 1.17 / 11.6761, at 8 places


def test_currency_limit_default_value_is_used_for_fixed_contributions(gateway, world):
    world["sitewide"].currency_limits.create(currency_id="JPY", min_value=D("10"), default_value=D("10"))

    response = gateway.contribute({**seed_example("sitewide"), "currency": "JPY", "gameround_id": "jpy"})

    assert body_of(response)["contribution_amount"] == D("10")


def test_opted_in_player_contributes_their_chosen_value(gateway, world, brand1):
    sitewide = world["sitewide"]
    sitewide.opt_in_required = True
    sitewide.save()
    optin_set(brand=brand1, player_id="player_00001", instance=sitewide, opt_in=True,
              contribution_value=D("0.30"), currency="EUR")

    response = gateway.contribute(seed_example("sitewide"))

    assert body_of(response)["contribution_amount"] == D("0.3")
    assert sitewide.optins.get().contribution_count == 1


# --- every error code of SPEC 2.7 ---------------------------------------------------------


def error_of(response) -> tuple[int, str, str]:
    body = body_of(response)
    assert set(body) == {"status_code", "code", "message"}
    assert body["status_code"] == response.status_code
    return response.status_code, body["code"], body["message"]


def test_invalid_structure(gateway, world):
    assert error_of(gateway.contribute(b"not json"))[:2] == (400, "INVALID_STRUCTURE")


def test_invalid_property_value(gateway, world):
    response = gateway.contribute({**seed_example("sitewide"), "currency": "euro"})
    assert error_of(response)[:2] == (400, "INVALID_PROPERTY_VALUE")


def test_unauthorized_without_or_with_a_bad_token(world, service_token):
    anonymous = Client().post("/jackpots/contribute", jsonutil.dumps(seed_example("sitewide")),
                              content_type="application/json")
    forged = Client().post("/jackpots/contribute", jsonutil.dumps(seed_example("sitewide")),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {service_token}x")

    assert error_of(anonymous)[:2] == (401, "UNAUTHORIZED")
    assert error_of(forged)[:2] == (401, "UNAUTHORIZED")


def test_unauthorized_when_the_token_expired(gateway, world, settings):
    settings.SERVICE_TOKEN_TTL_SECONDS = -1
    assert error_of(gateway.contribute(seed_example("sitewide")))[:2] == (401, "UNAUTHORIZED")


def test_forbidden_for_a_brand_of_another_operator(gateway, world):
    other = factories.BrandFactory(operator=factories.OperatorFactory(id="rival"), code="brand1")

    response = gateway.contribute({**seed_example("sitewide"), "brand_id": other.key})

    assert error_of(response)[:2] == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"base_wager": -1}, "NegativeBaseWager"),
        ("opt_in_required", "OptInRequired"),
        ("paused", "InstanceNotActive"),
        ("country", "CountryNotAllowed"),
        ("min_wager", "MinBaseWager"),
    ],
)
def test_contribution_rejected_names_the_rule(gateway, world, change, rule):
    direct = world["direct"]
    body = seed_example("direct")
    if change == "opt_in_required":
        direct.opt_in_required = True
    elif change == "paused":
        direct.state = JackpotInstance.State.PAUSED
    elif change == "country":
        direct.allowed_countries = "SE, FI"
    elif change == "min_wager":
        direct.min_base_wager = D("5")
    else:
        body.update(change)
    direct.save()

    status, code, message = error_of(gateway.contribute(body))

    assert (status, code) == (400, "CONTRIBUTION_REJECTED")
    assert message.startswith(rule)


def test_game_not_found_names_the_source(gateway, world):
    response = gateway.contribute({**seed_example("sitewide"), "source_id": "sitewide-casino2"})
    assert error_of(response) == (404, "GAME_NOT_FOUND", "sitewide-casino2")


@pytest.mark.parametrize("instance_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_instance_not_found(gateway, world, instance_id):
    response = gateway.contribute({**seed_example("direct"), "instance_id": instance_id})
    assert error_of(response) == (404, "INSTANCE_NOT_FOUND", instance_id)


def test_instance_of_another_operator_is_not_found(gateway, world):
    foreign = factories.make_instance(operator=factories.OperatorFactory(id="rival"),
                                      pots=[factories.hit_rate_pot("p", share="1")])
    response = gateway.contribute({**seed_example("direct"), "instance_id": str(foreign.pk)})
    assert error_of(response)[:2] == (404, "INSTANCE_NOT_FOUND")


def test_source_jackpot_not_found_when_no_instance_is_active(gateway, world):
    world["deposit"].state = JackpotInstance.State.PAUSED
    world["deposit"].save()

    response = gateway.contribute(seed_example("deposit"))

    assert error_of(response)[:2] == (404, "SOURCE_JACKPOT_NOT_FOUND")


def test_source_jackpot_not_found_outside_the_schedule(gateway, world):
    world["deposit"].timestamp_start = timezone.now() + timezone.timedelta(days=1)
    world["deposit"].save()
    assert error_of(gateway.contribute(seed_example("deposit")))[:2] == (404, "SOURCE_JACKPOT_NOT_FOUND")


@pytest.mark.parametrize("restriction", ["country", "brand"])
def test_source_jackpots_not_allowed(gateway, world, brand2, restriction):
    deposit = world["deposit"]
    if restriction == "country":
        deposit.allowed_countries = "SE"
        deposit.save()
    else:
        deposit.allowed_brands.set([brand2])

    response = gateway.contribute(seed_example("deposit"))

    assert error_of(response)[:2] == (403, "SOURCE_JACKPOTS_NOT_ALLOWED")


def test_currency_multipliers_not_found(gateway, world):
    response = gateway.contribute({**seed_example("sitewide"), "currency": "CHF"})
    assert error_of(response) == (404, "CURRENCY_MULTIPLIERS_NOT_FOUND", "No multiplier for CHF")


@pytest.mark.parametrize("case", ["unknown", "disabled", "not_allowed"])
def test_unsupported_brand(gateway, world, brand1, brand2, case):
    body = seed_example("direct")
    if case == "unknown":
        body["brand_id"] = "thrilltech:nobrand"
    elif case == "disabled":
        brand1.enabled = False
        brand1.save()
    else:
        world["direct"].allowed_brands.set([brand2])

    assert error_of(gateway.contribute(body))[:2] == (400, "UNSUPPORTED_BRAND")


def test_duplicate_gameround_with_a_different_amount(gateway, world):
    gateway.contribute(seed_example("direct"))
    response = gateway.contribute({**seed_example("direct"), "base_wager": 3})
    assert error_of(response)[:2] == (409, "DUPLICATE_GAMEROUND")


def _fail_on(table: str, when: str):
    if connection.vendor != "postgresql":
        pytest.skip("the failure is injected with a PostgreSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'injected failure'; END; $$ LANGUAGE plpgsql"
        )
        cursor.execute(f"CREATE TRIGGER test_fail BEFORE {when} ON {table} FOR EACH ROW EXECUTE FUNCTION test_fail()")


def test_optin_error_when_the_optin_cannot_be_updated(gateway, world, brand1):
    sitewide = world["sitewide"]
    sitewide.opt_in_required = True
    sitewide.save()
    optin_set(brand=brand1, player_id="player_00001", instance=sitewide, opt_in=True)
    _fail_on("players_optin", "UPDATE")

    response = gateway.contribute(seed_example("sitewide"))

    assert error_of(response)[:2] == (500, "OPTIN_ERROR")
    assert not Contribution.objects.exists()  # nothing half-written


def test_db_error_when_the_database_fails(gateway, world):
    _fail_on("contributions_contribution", "INSERT")

    response = gateway.contribute(seed_example("direct"))

    assert error_of(response)[:2] == (500, "DB_ERROR")
    assert not PotIncrement.objects.exists()
    assert Pot.objects.get(jackpot=world["direct"]).current_value == 0


def test_system_error_for_anything_unexpected(gateway, world, monkeypatch):
    from sources import mechanics

    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(mechanics.HitRate, "draw", explode)

    response = gateway.contribute(seed_example("direct"))

    assert error_of(response) == (500, "SYSTEM_ERROR", "An unexpected error occurred")


# --- malformed and hostile bodies: never a 500 ---------------------------------------------

GOOD = seed_example("direct")
GOOD_NAN = jsonutil.dumps(GOOD).replace('"base_wager":2', '"base_wager":NaN').encode()


def variant(**changes) -> bytes:
    body = {**GOOD, **changes}
    return jsonutil.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def without(field: str) -> bytes:
    return variant(**{field: ...})


HOSTILE = [
    ("empty body", b"", "INVALID_STRUCTURE"),
    ("not json", b"hello", "INVALID_STRUCTURE"),
    ("truncated json", b'{"token": "t"', "INVALID_STRUCTURE"),
    ("array", b"[]", "INVALID_STRUCTURE"),
    ("string", b'"contribution"', "INVALID_STRUCTURE"),
    ("number", b"42", "INVALID_STRUCTURE"),
    ("null", b"null", "INVALID_STRUCTURE"),
    ("latin-1 bytes", b'{"player_id": "\xe9"}', "INVALID_STRUCTURE"),
    ("deeply nested", b"[" * 30_000 + b"]" * 30_000, "INVALID_STRUCTURE"),
    ("deeply nested metadata", variant(metadata=...).replace(b"}", b',"metadata":' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
     "INVALID_STRUCTURE"),
    ("missing token", without("token"), "INVALID_STRUCTURE"),
    ("missing brand_id", without("brand_id"), "INVALID_STRUCTURE"),
    ("missing player_id", without("player_id"), "INVALID_STRUCTURE"),
    ("missing player_country", without("player_country"), "INVALID_STRUCTURE"),
    ("missing gameround_id", without("gameround_id"), "INVALID_STRUCTURE"),
    ("missing currency", without("currency"), "INVALID_STRUCTURE"),
    ("missing base_wager", without("base_wager"), "INVALID_STRUCTURE"),
    ("neither target", without("instance_id"), "INVALID_STRUCTURE"),
    ("both targets", variant(source_id="deposit"), "INVALID_STRUCTURE"),
    ("base_wager as string", variant(base_wager="2"), "INVALID_STRUCTURE"),
    ("base_wager as bool", variant(base_wager=True), "INVALID_STRUCTURE"),
    ("base_wager as null", variant(base_wager=None), "INVALID_STRUCTURE"),
    ("base_wager as object", variant(base_wager={"value": 2}), "INVALID_STRUCTURE"),
    ("player_id as number", variant(player_id=1), "INVALID_STRUCTURE"),
    ("gameround_id as number", variant(gameround_id=1000), "INVALID_STRUCTURE"),
    ("token as list", variant(token=["a"]), "INVALID_STRUCTURE"),
    ("callback as string", variant(callback="https://x"), "INVALID_STRUCTURE"),
    ("NaN", GOOD_NAN, "INVALID_PROPERTY_VALUE"),
    ("Infinity", GOOD_NAN.replace(b"NaN", b"Infinity"), "INVALID_PROPERTY_VALUE"),
    ("-Infinity", GOOD_NAN.replace(b"NaN", b"-Infinity"), "INVALID_PROPERTY_VALUE"),
    ("huge number", jsonutil.dumps(GOOD).replace('"base_wager":2', '"base_wager":1e400').encode(),
     "INVALID_PROPERTY_VALUE"),
    ("huge integer", variant(base_wager=10**40), "INVALID_PROPERTY_VALUE"),
    ("too many decimals", variant(base_wager=D("0.000000001")), "INVALID_PROPERTY_VALUE"),
    ("lower-case currency", variant(currency="eur"), "INVALID_PROPERTY_VALUE"),
    ("long currency", variant(currency="EURO"), "INVALID_PROPERTY_VALUE"),
    ("numeric country", variant(player_country="12"), "INVALID_PROPERTY_VALUE"),
    ("three-letter country", variant(player_country="MLT"), "INVALID_PROPERTY_VALUE"),
    ("brand without operator", variant(brand_id="brand1"), "INVALID_PROPERTY_VALUE"),
    ("brand with spaces", variant(brand_id="thrill tech:brand1"), "INVALID_PROPERTY_VALUE"),
    ("empty player_id", variant(player_id=""), "INVALID_PROPERTY_VALUE"),
    ("overlong player_id", variant(player_id="p" * 129), "INVALID_PROPERTY_VALUE"),
    ("NUL in gameround_id", variant(gameround_id="a\x00b"), "INVALID_PROPERTY_VALUE"),
    ("lone surrogate in player_id", jsonutil.dumps(GOOD).replace('"player_00001"', '"\\ud800"').encode(),
     "INVALID_PROPERTY_VALUE"),
    ("oversized metadata", variant(metadata="x" * 20_000), "INVALID_PROPERTY_VALUE"),
    ("body over 64 KiB", variant(padding="x" * 70_000), "INVALID_PROPERTY_VALUE"),
    ("negative base_wager", variant(base_wager=-5), "CONTRIBUTION_REJECTED"),
    ("unknown instance", variant(instance_id="00000000-0000-0000-0000-000000000000"), "INSTANCE_NOT_FOUND"),
    ("SQL in instance_id", variant(instance_id="' OR 1=1 --"), "INSTANCE_NOT_FOUND"),
    ("unknown currency", variant(currency="XXX"), "CURRENCY_MULTIPLIERS_NOT_FOUND"),
]


@pytest.mark.parametrize(("label", "body", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_malformed_or_hostile_body_gets_a_clear_error(gateway, world, label, body, code):
    response = gateway.contribute(body)

    status, got, message = error_of(response)
    assert status < 500
    assert got == code, message
    assert not Contribution.objects.exists()


@pytest.mark.parametrize("metadata", [
    {"emoji": "🎰💰", "arabic": "جاكبوت", "nul_escaped": "a\u0000b"},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    D("12345.6789012345678901234567890"),
    None,
])
def test_unusual_but_valid_metadata_round_trips(gateway, world, metadata):
    response = gateway.contribute({**GOOD, "metadata": metadata})

    assert response.status_code == 200, response.content
    assert body_of(response)["metadata"] == metadata


def test_unknown_fields_are_ignored(gateway, world):
    response = gateway.contribute({**GOOD, "favourite_colour": "green", "linked": [1, 2]})
    assert response.status_code == 200
