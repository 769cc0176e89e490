"""Rules disclosure (UKGC RTS 9A, issue 14): a public rules document per instance, generated from
its configuration, versioned when what it says changes, as JSON and as a page."""

from datetime import time
from decimal import Decimal as D

import pytest
from django.test import Client

from portal.roles import GAME_MAPPING_ADMINS
from sources import services as catalogue
from sources.mechanics import REGISTRY, Reference
from sources.models import InstanceCurrencyLimit, JackpotInstance, Pot, RulesVersion, ScheduleWindow
from tests import factories
from tests.asgi import InProcessClient
from tests.sources.test_admin import inline_data, instance_form


def rules(instance_id, **params):
    return InProcessClient().request("GET", f"/v1/thrillpots/instances/{instance_id}/rules", query=params)


def test_the_rules_state_the_configuration_exactly(currencies, operator, brand1):
    instance = factories.three_pot_instance(operator=operator, name="Mega", allowed_countries="MT,GB",
                                            min_base_wager=D("0.20"), withhold_limit=D("5000"))
    ScheduleWindow.objects.create(jackpot=instance, days="5,6", start_time="17:00", end_time="18:00")

    response = rules(instance.pk)

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["latest_version"]) == (1, 1)
    document = body["rules"]
    funding = document["funding"]
    assert funding["funded_by"] == "operator" and funding["contribution_type"] == "Percentage"
    assert funding["percentage_of_base_wager"] == D("10")
    assert (funding["pots_share"], funding["house_share"]) == (D("0.7"), D("0.3"))
    assert "at no extra cost to the player" in funding["description"]
    minor, major, mega = document["pots"]
    assert (minor["id"], minor["share"], minor["seed_fund_share"], minor["initial_seed"]) == (
        "minor", D("0.25"), D("0.15"), D("10"))
    # Odds at a 1 EUR wager: a 0.1 EUR contribution against cost 0.1 x magic 5, 25, 1000.
    assert document["odds_reference"] == {"currency": "EUR", "base_wager": D("1"), "contribution": D("0.1")}
    assert [p["how_won"]["chance"] for p in (minor, major, mega)] == [
        {"numerator": 1, "denominator": 5}, {"numerator": 1, "denominator": 25}, {"numerator": 1, "denominator": 1000}]
    assert mega["how_won"]["one_in"] == D("1000") and mega["how_won"]["wagered_per_hit"] == D("1000")
    assert "1 in 1000" in mega["how_won"]["description"]
    assert "85% of that grows the pot and 15% goes to its seed fund" in minor["description"]
    triggers = document["simultaneous_triggers"]
    assert triggers["win_selector"] == "Highest"
    assert "every must-drop pot whose drop point is reached drops" in triggers["description"]
    assert "only the one worth most after it is won" in triggers["description"]
    who = document["eligibility"]
    assert who["countries"] == ["GB", "MT"] and who["currencies"] is None and who["brands"] is None
    assert who["min_base_wager"] == D("0.2") and who["opt_in_required"] is False
    assert who["windows"] == [{"days": ["Saturday", "Sunday"], "start": "17:00", "end": "18:00", "time_zone": "UTC"}]
    assert document["payout"]["withhold_limit"] == D("5000")
    # Amounts are exact JSON numbers as configured, never floats or padded ledger decimals.
    assert b'"initial_seed":10,' in response.content and b'"share":0.25,' in response.content


def test_a_player_funded_fixed_jackpot_says_who_pays_and_how_much_per_currency(currencies, operator, brand1):
    instance = factories.make_instance(
        operator=operator, name="Side bet", opt_in_required=True, contribution_type="Fixed",
        contribution_value=D("0.10"), allowed_brands=[brand1],
        pots=[factories.hit_rate_pot("main", share="0.9", cost="0.1", magic=10000),
              {"pot_id": "drop", "share": D("0.1"), "initial_seed": D("100"), "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT,
               "drop_ceiling": D("500"), "tier": 2}])
    InstanceCurrencyLimit.objects.create(jackpot=instance, currency_id="SEK", min_value=D("1"), max_value=D("50"),
                                         default_value=D("1"))

    document = rules(instance.pk).json()["rules"]

    funding = document["funding"]
    assert funding["funded_by"] == "player" and funding["fixed_value"] == D("0.1")
    assert funding["player_chooses_value"] is True
    assert funding["currency_values"] == [{"currency": "SEK", "default_value": D("1"), "min_value": D("1"),
                                           "max_value": D("50")}]
    assert "debited from the player's balance" in funding["description"]
    main, drop = document["pots"]
    assert main["how_won"]["chance"] == {"numerator": 1, "denominator": 10000}  # 0.10 EUR against 0.1 x 10000
    assert main["how_won"]["wagered_per_hit"] is None  # a fixed contribution: no share of the wager
    assert drop["how_won"]["drop_ceiling"] == D("500") and drop["cap"] == D("500")
    assert "always drops before it reaches 500 EUR" in drop["how_won"]["description"]
    assert document["eligibility"]["brands"] == ["thrilltech:brand1"] and document["eligibility"]["opt_in_required"]


def test_reading_the_rules_twice_publishes_no_new_version(currencies, operator):
    instance = factories.three_pot_instance(operator=operator)

    first, second = rules(instance.pk).json(), rules(instance.pk).json()

    assert first["version"] == second["version"] == 1 and first["digest"] == second["digest"]
    assert RulesVersion.objects.filter(jackpot=instance).count() == 1


@pytest.fixture
def mapper(operator, staff_client):
    return staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])


def test_changing_a_pots_share_in_the_admin_makes_a_new_version_and_the_old_one_stays_readable(
        mapper, operator, currencies):
    # Given an instance created Active in the admin: its rules are published at once.
    assert mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator, state="Active")).status_code == 302
    instance = JackpotInstance.objects.get(name="Weekend jackpot")
    assert rules(instance.pk).json()["version"] == 1
    minor, major = instance.pots.order_by("tier")

    # When a game-mapping admin moves 0.1 of the major pot's share to the minor pot.
    form = instance_form(operator, state="Active", **inline_data("pots", [
        {"id": minor.pk, "jackpot": instance.pk, "pot_id": "minor", "tier": 1, "share": "0.5", "seed_share": "0.1",
         "initial_seed": "10", "is_progressive": "on", "mechanic": "HitRate", "cost_per_attempt": "0.1",
         "max_magic_number": "50"},
        {"id": major.pk, "jackpot": instance.pk, "pot_id": "major", "tier": 2, "share": "0.2", "seed_share": "0.1",
         "initial_seed": "100", "is_progressive": "on", "mechanic": "HitRate", "cost_per_attempt": "0.1",
         "max_magic_number": "500"},
    ], initial=2))
    form.pop("state")  # read-only once created
    response = mapper.post(f"/admin/sources/jackpotinstance/{instance.pk}/change/", form, follow=True)

    # Then the rules are at version 2 and the admin said so: on a live jackpot the new share
    # applies from the pot's next win (the odds never change under a player), and the rules
    # say so in advance. Version 1 still reads as it was.
    assert response.status_code == 200
    assert "are now at" in response.content.decode() and "version 2" in response.content.decode()
    current = rules(instance.pk).json()
    old = rules(instance.pk, version=1).json()
    assert (current["version"], current["latest_version"]) == (2, 2)
    minor_now = current["rules"]["pots"][0]
    assert minor_now["share"] == D("0.4")  # in force until its next win
    assert minor_now["scheduled_change"]["changes"] == {"share": D("0.5")}
    assert "Scheduled: after this pot's next win, its share becomes 0.5." in minor_now["description"]
    assert (old["version"], old["latest_version"]) == (1, 2)
    assert old["rules"]["pots"][0]["share"] == D("0.4") and old["rules"]["pots"][0]["scheduled_change"] is None
    assert [v["version"] for v in current["versions"]] == [2, 1]
    page = Client().get(f"/rules/{instance.pk}/?version=1").content.decode()
    assert "an earlier version" in page and "40%" in page and "Scheduled" not in page
    assert "Scheduled: after this pot" in Client().get(f"/rules/{instance.pk}/").content.decode()


def test_a_draft_pots_share_changed_in_the_admin_is_in_the_rules_once_announced(mapper, operator, currencies):
    assert mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator)).status_code == 302
    instance = JackpotInstance.objects.get(name="Weekend jackpot")
    assert rules(instance.pk).status_code == 404  # Pending: a draft, not public
    minor = instance.pots.get(pot_id="minor")
    minor.share, minor.seed_share = D("0.35"), D("0.2")
    minor.save()
    instance.pots.filter(pot_id="major").update(share=D("0.35"))

    catalogue.instance_set_state(instance=instance, state="Active", actor=None, reason="launch")

    document = rules(instance.pk).json()
    assert document["version"] == 1
    assert [p["share"] for p in document["rules"]["pots"]] == [D("0.35"), D("0.35")]


def test_every_mechanic_says_how_its_pot_is_won(currencies, operator):
    """A new mechanic must state its rules (sources.mechanics.Mechanic.disclose)."""
    instance = factories.three_pot_instance(operator=operator)
    reference = Reference(currency="EUR", contribution=D("0.1"), stake=D("1"), wager_rate=D("0.1"))
    for key, mechanic in REGISTRY.items():
        pot = Pot(jackpot=instance, pot_id=key, mechanic=key, share=D("0.1"), initial_seed=D("10"),
                  cost_per_attempt=D("0.1"), max_magic_number=5, drop_ceiling=D("500"), drop_window_hours=2,
                  drop_every="day", drop_before=time(22, 0))
        assert mechanic.disclose(pot, reference)["description"], key


def test_saving_without_a_change_in_what_the_rules_say_makes_no_new_version(currencies, operator):
    instance = factories.three_pot_instance(operator=operator)
    catalogue.rules_publish(instance=instance)
    instance.save()  # a save that changes nothing the rules say

    version, created = catalogue.rules_publish(instance=instance)

    assert (version.version, created) == (1, False)


def test_an_unknown_version_is_404(currencies, operator):
    instance = factories.three_pot_instance(operator=operator)
    response = rules(instance.pk, version=7)
    assert response.status_code == 404
    assert response.json()["code"] == "RULES_VERSION_NOT_FOUND"
    assert Client().get(f"/rules/{instance.pk}/?version=7").status_code == 404


def test_a_pending_instance_publishes_nothing_until_it_is_activated(currencies, operator):
    instance = factories.three_pot_instance(operator=operator, state="Pending")
    assert catalogue.rules_publish(instance=instance) == (None, False)
    assert Client().get(f"/rules/{instance.pk}/").status_code == 404

    catalogue.instance_set_state(instance=instance, state="Active", actor=None, reason="launch")

    assert RulesVersion.objects.get(jackpot=instance).version == 1


def test_the_rules_page_is_public_and_linked_from_the_snapshot(currencies, operator, brand1):
    instance = factories.three_pot_instance(operator=operator, name="Mega")
    snapshot = InProcessClient().request("GET", f"/v1/thrillpots/instances/{instance.pk}").json()

    page = Client().get(snapshot["rules_url"].removeprefix("http://testserver"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Mega: the rules" in text and "Version 1" in text
    assert "Funded by the operator" in text and "1 in 1000" in text
    assert "When several pots trigger on one contribution" in text
    assert page["Cache-Control"] == "public, max-age=60"


def test_a_raffles_rules_say_how_tickets_are_earned_and_drawn(currencies, operator):
    instance = factories.make_instance(
        operator=operator, name="Pharaoh's Raffle", jackpot_type="Raffle", ticket_cost=D("1"),
        ticket_basis="base_wager", raffle_period_seconds=604800, raffle_recurring=True,
        pots=[{"pot_id": "first", "share": D("0.6"), "initial_seed": D("100"), "mechanic": Pot.Mechanic.PRIZE,
               "tier": 2},
              {"pot_id": "second", "share": D("0.4"), "initial_seed": D("50"), "mechanic": Pot.Mechanic.PRIZE,
               "tier": 1}])

    document = rules(instance.pk).json()["rules"]

    raffle = document["raffle"]
    assert (raffle["ticket_cost"], raffle["ticket_basis"], raffle["period_seconds"]) == (D("1"), "base_wager", 604800)
    assert "One ticket per 1 EUR of base wager" in raffle["description"]
    assert "Each period lasts 1 week" in raffle["description"] and "highest tier first" in raffle["description"]
    assert document["simultaneous_triggers"] is None and document["odds_reference"] is None
    assert all("Raffle prize" in p["how_won"]["description"] for p in document["pots"])
