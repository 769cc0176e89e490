"""Jackpot templates: versioned definitions, instances that keep their own copy, the admin."""

import re
from decimal import Decimal as D

import pytest

from portal import jsonutil
from portal.errors import DomainError
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS
from sources.jackpot_templates import (
    definition_of_instance,
    instance_create_from_template,
    template_save,
    template_version,
)
from sources.models import JackpotInstance, JackpotTemplate, PotAdjustment, SourceMapping
from tests import factories

DEFINITION = {
    "jackpot_type": "Jackpot", "currency": "EUR", "contribution_type": "Percentage",
    "contribution_value": D("0.01"), "house_share": D("0.3"), "allowed_countries": "MT, GB",
    "min_base_wager": D("0.10"),
    "pots": [
        {"pot_id": "minor", "tier": 1, "share": D("0.4"), "seed_share": D("0.1"), "initial_seed": D("10"),
         "mechanic": "HitRate", "cost_per_attempt": D("0.1"), "max_magic_number": 50},
        {"pot_id": "major", "tier": 2, "share": D("0.3"), "seed_share": D("0.1"), "initial_seed": D("100"),
         "mechanic": "MustDropAmount", "drop_ceiling": D("500")},
    ],
    "currency_limits": [{"currency": "SEK", "min_value": D("1"), "max_value": D("50"), "default_value": D("1")}],
    "windows": [{"days": "5,6", "start_time": "17:00", "end_time": "18:00"}],
}


def changed(definition: dict, **fields) -> dict:
    return {**definition, **fields}


@pytest.fixture
def mapper(operator, staff_client):
    return staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])


@pytest.fixture
def template(operator, currencies, mapper):
    template = JackpotTemplate(operator=operator, name="Weekend drop", description="Happy hours at weekends")
    template_save(template=template, definition=DEFINITION, actor=mapper.user, note="first cut")
    return template


def test_an_instance_keeps_its_own_copy_when_the_template_moves_on(template, operator, mapper):
    first = instance_create_from_template(version=template_version(template), actor=mapper.user,
                                          name="Weekend drop, March")

    second_version = template_save(template=template, actor=mapper.user, note="richer minor pot",
                                   definition=changed(DEFINITION, contribution_value=D("0.02"), house_share=D("0.2"),
                                                      pots=[{**DEFINITION["pots"][0], "share": D("0.5")},
                                                            DEFINITION["pots"][1]]))
    later = instance_create_from_template(version=template_version(template), actor=mapper.user)

    first.refresh_from_db()
    assert (second_version.version, template.current_version) == (2, 2)
    assert (first.template_version.version, later.template_version.version) == (1, 2)
    assert (first.contribution_value, first.pots.get(pot_id="minor").share) == (D("0.01"), D("0.4"))
    assert (later.contribution_value, later.pots.get(pot_id="minor").share) == (D("0.02"), D("0.5"))
    # Everything was copied: rules, pots with mechanics, currency limits, windows; seeds booked.
    assert first.state == JackpotInstance.State.PENDING and first.country_set == {"MT", "GB"}
    assert first.min_base_wager == D("0.10")
    assert first.currency_limits.get().currency_id == "SEK" and first.windows.get().day_set == {5, 6}
    assert first.pots.get(pot_id="major").commitments.exists()  # the must-drop pot committed at once
    assert {a.pot.pot_id: a.value_delta for a in PotAdjustment.objects.filter(pot__jackpot=first)} == {
        "minor": D("10"), "major": D("100")}
    # An instance's definition is the version it came from.
    assert definition_of_instance(first) == template.versions.get(version=1).definition


def test_publishing_the_same_definition_again_makes_no_version(template, mapper):
    assert template_save(template=template, definition=DEFINITION, actor=mapper.user) is None
    assert template.versions.count() == 1 and template.current_version == 1


def test_history_names_who_published_each_version(template, mapper):
    template_save(template=template, definition=changed(DEFINITION, contribution_value=D("0.015")),
                  actor=mapper.user, note="a bit more")

    records = [(r.history_user.username, r.current_version, r.history_change_reason) for r in template.history.all()]
    assert records == [("mapper", 2, "version 2 published: a bit more"), ("mapper", 1, "version 1 published: first cut")]


@pytest.mark.parametrize(("change", "message"), [
    ({"house_share": D("0.2")},
     "pots: Pot shares plus the house share add up to 0.9, not 1. Adjust the shares so every contribution is fully "
     "accounted for."),
    ({"pots": [{**DEFINITION["pots"][0], "max_magic_number": None}, DEFINITION["pots"][1]]},
     "pots[0].max_magic_number: A HitRate pot needs a max magic number."),
    ({"pots": [DEFINITION["pots"][0], {**DEFINITION["pots"][1], "cap": D("50")}]},
     "pots[1].initial_seed: The initial seed is above the cap."),
    ({"contribution_value": D("1.5")}, "contribution_value: A percentage contribution is a fraction between 0 and 1."),
    ({"jackpot_type": "Raffle"}, "ticket_cost: A raffle needs a ticket cost."),
    ({"currency": "XXX"}, "currency: "),
    ({"mystery": 1}, "mystery: Unknown field."),
    ({"pots": []}, "pots: A jackpot needs at least one pot."),
])
def test_a_definition_that_cannot_work_is_refused_with_the_admins_words(operator, currencies, mapper, change,
                                                                         message):
    with pytest.raises(DomainError) as refused:
        template_save(template=JackpotTemplate(operator=operator, name="Broken"),
                      definition=changed(DEFINITION, **change), actor=mapper.user)

    assert refused.value.code == "INVALID_CONFIGURATION" and message in refused.value.message
    assert not JackpotTemplate.objects.exists()


# --- the admin ----------------------------------------------------------------------------


def template_form(operator, definition, **changes) -> dict:
    return {"name": "Weekend drop", "operator": operator.pk, "brand": "", "description": "",
            "definition": jsonutil.dumps(definition), "note": "", **changes}


def test_a_mapper_creates_a_template_in_the_admin(mapper, operator, currencies):
    response = mapper.post("/admin/sources/jackpottemplate/add/", template_form(operator, DEFINITION))

    assert response.status_code == 302, response.content.decode()[:3000]
    template = JackpotTemplate.objects.get(name="Weekend drop")
    assert template.current_version == 1
    assert template.versions.get().definition["pots"][1]["drop_ceiling"] == "500"
    assert template.history.get().history_user.username == "mapper"


def test_editing_the_definition_in_the_admin_publishes_a_version(mapper, operator, template):
    page = mapper.get(f"/admin/sources/jackpottemplate/{template.pk}/change/").content.decode()
    assert "&quot;drop_ceiling&quot;: 500" in page  # the current definition, decimals as numbers

    response = mapper.post(f"/admin/sources/jackpottemplate/{template.pk}/change/", template_form(
        operator, changed(DEFINITION, min_base_wager=D("0.20")), note="higher minimum"), follow=True)

    assert "Version 2 of Weekend drop published." in response.content.decode()
    assert template.versions.get(version=2).note == "higher minimum"


def test_the_admin_refuses_a_bad_definition_with_the_same_words(mapper, operator, currencies):
    response = mapper.post("/admin/sources/jackpottemplate/add/",
                           template_form(operator, changed(DEFINITION, house_share=D("0.2"))))

    assert response.status_code == 200
    assert "pots: Pot shares plus the house share add up to 0.9, not 1." in response.content.decode()
    assert not JackpotTemplate.objects.exists()


def test_create_instance_action_ends_on_the_new_instance(mapper, operator, template):
    source = factories.SourceFactory(operator=operator, source_id="weekend-games")
    url = "/admin/sources/jackpottemplate/"
    ask = mapper.post(url, {"action": "create_instance", "_selected_action": [template.pk]})
    assert ask.status_code == 200 and "Create an instance from Weekend drop" in ask.content.decode()

    done = mapper.post(url, {"action": "create_instance", "_selected_action": [template.pk], "apply": "yes",
                             "name": "Weekend drop, April", "version": "", "brand": "", "timestamp_start": "",
                             "timestamp_end": "", "sources": [source.pk], "priority": "1"}, follow=True)

    instance = JackpotInstance.objects.get(name="Weekend drop, April")
    assert done.redirect_chain[-1][0] == f"/admin/sources/jackpotinstance/{instance.pk}/change/"
    page = done.content.decode()
    assert "Created the instance" in page and "from Weekend drop version 1" in page
    assert re.search(r"template <a href=\"[^\"]+\">Weekend drop</a>, version 1", page)  # "created from"
    assert SourceMapping.objects.get(jackpot=instance).source == source
    assert instance.history.first().history_user.username == "mapper"


def test_create_instance_action_shows_a_refusal_on_its_form(mapper, operator, template):
    done = mapper.post("/admin/sources/jackpottemplate/", {
        "action": "create_instance", "_selected_action": [template.pk], "apply": "yes", "name": "Backwards",
        "timestamp_start": "2030-01-02 00:00", "timestamp_end": "2030-01-01 00:00", "priority": "100"})

    assert done.status_code == 200
    assert "timestamp_end: The end must come after the start." in done.content.decode()
    assert not JackpotInstance.objects.exists()


def test_save_an_instance_as_a_template(mapper, operator, currencies):
    instance = factories.three_pot_instance(operator=operator, name="Mega")

    done = mapper.post("/admin/sources/jackpotinstance/", {
        "action": "save_as_template", "_selected_action": [instance.pk], "apply": "yes", "name": "Mega template"},
        follow=True)

    template = JackpotTemplate.objects.get(name="Mega template")
    assert "as the template" in done.content.decode()
    assert template.versions.get().definition == definition_of_instance(instance)


def test_templates_are_scoped(mapper, template, staff_client, currencies):
    rival = factories.OperatorFactory(id="rival")
    rival_template = JackpotTemplate(operator=rival, name="Rival drop")
    template_save(template=rival_template, definition=DEFINITION, actor=None)

    listing = mapper.get("/admin/sources/jackpottemplate/").content.decode()
    assert "Weekend drop" in listing and "Rival drop" not in listing
    assert mapper.get(f"/admin/sources/jackpottemplate/{rival_template.pk}/change/").status_code == 302
    assert mapper.get(f"/admin/sources/jackpottemplate/{rival_template.pk}/history/").status_code == 404
    mapper.post("/admin/sources/jackpottemplate/", {"action": "create_instance",
                                                   "_selected_action": [rival_template.pk], "apply": "yes",
                                                   "priority": "100"})
    assert not JackpotInstance.objects.exists()


def test_auditors_read_a_template_and_change_nothing(template, operator, staff_client):
    auditor = staff_client("auditor", AUDITORS, operators=[operator])

    page = auditor.get(f"/admin/sources/jackpottemplate/{template.pk}/change/")

    assert page.status_code == 200 and "&quot;drop_ceiling&quot;: 500" in page.content.decode()
    assert auditor.post("/admin/sources/jackpottemplate/", {
        "action": "create_instance", "_selected_action": [template.pk], "apply": "yes"}).status_code in (200, 302)
    assert not JackpotInstance.objects.exists()
