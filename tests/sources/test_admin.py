"""The catalogue in the Django admin: game-mapping admins at work, with history."""

import re
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.roles import AUDITORS, GAME_MAPPING_ADMINS
from sources.models import Game, GameGroup, JackpotInstance, Pot, PotAdjustment
from tests import factories


@pytest.fixture
def mapper(operator, staff_client):
    return staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])


@pytest.fixture
def group(operator):
    source = factories.SourceFactory(operator=operator, source_id="egyptian-games")
    group = factories.GameGroupFactory(operator=operator, name="Egyptian games", source=source)
    factories.GameFactory(group=group, provider="pragmatic", game_code="book-of-dead")
    return group


def inline_data(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": initial,
            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


def test_game_mapping_admin_edits_a_game_group_and_history_names_them(mapper, group, operator):
    game = group.games.get()
    data = {
        "name": "Egyptian & pyramid games", "operator": operator.pk, "brand": "", "source": group.source_id,
        **inline_data("games", [
            {"id": game.pk, "group": group.pk, "provider": "pragmatic", "game_code": "book-of-dead", "name": ""},
            {"provider": "netent", "game_code": "pyramid-king", "name": "Pyramid King"},
        ], initial=1),
    }

    response = mapper.post(f"/admin/sources/gamegroup/{group.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    group.refresh_from_db()
    assert group.name == "Egyptian & pyramid games"
    assert Game.objects.filter(group=group, game_code="pyramid-king").exists()
    history = mapper.get(f"/admin/sources/gamegroup/{group.pk}/history/").content.decode()
    assert "mapper" in history
    assert "Egyptian games" in history and "Egyptian &amp; pyramid games" in history  # before and after
    latest = group.history.first()
    assert latest.history_user.username == "mapper"


def instance_form(operator, **changes) -> dict:
    data = {
        "name": "Weekend jackpot", "operator": operator.pk, "brand": "", "jackpot_type": "Jackpot",
        "currency": "EUR", "state": "Pending", "allowed_countries": "", "allowed_currencies": "",
        "contribution_type": "Percentage", "contribution_value": "0.01", "house_share": "0.3",
        "win_selector": "Highest", "ticket_basis": "contribution",
        **inline_data("pots", [
            {"pot_id": "minor", "tier": 1, "share": "0.4", "seed_share": "0.1", "initial_seed": "10",
             "is_progressive": "on", "mechanic": "HitRate", "cost_per_attempt": "0.1", "max_magic_number": "50"},
            {"pot_id": "major", "tier": 2, "share": "0.3", "seed_share": "0.1", "initial_seed": "100",
             "is_progressive": "on", "mechanic": "HitRate", "cost_per_attempt": "0.1", "max_magic_number": "500"},
        ]),
        **inline_data("currency_limits", []),
        **inline_data("source_mappings", []),
        **inline_data("windows", []),
    }
    data.update(changes)
    return data


def test_instance_with_pots_is_created_and_its_seeds_are_booked(mapper, operator, currencies):
    response = mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator))

    assert response.status_code == 302, response.content.decode()[:3000]
    instance = JackpotInstance.objects.get(name="Weekend jackpot")
    assert {p.pot_id: p.current_value for p in instance.pots.all()} == {"minor": D("10"), "major": D("100")}
    assert PotAdjustment.objects.filter(pot__jackpot=instance, kind="initial_seed").count() == 2


@pytest.mark.parametrize(("changes", "message"), [
    ({"house_share": "0.2"}, "add up to 0.9, not 1"),
    ({"pots-0-initial_seed": "200", "pots-0-cap": "150"}, "The initial seed is above the cap."),
    ({"pots-1-max_magic_number": ""}, "A HitRate pot needs a max magic number."),
    ({"contribution_type": "Percentage", "contribution_value": "1.5"}, "A percentage contribution is a fraction"),
    ({"jackpot_type": "Raffle"}, "A raffle needs a ticket cost."),
])
def test_configuration_that_cannot_work_is_refused_with_a_clear_message(mapper, operator, currencies, changes,
                                                                         message):
    response = mapper.post("/admin/sources/jackpotinstance/add/", instance_form(operator, **changes))

    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert not JackpotInstance.objects.exists()


def test_games_export_and_import_as_csv(mapper, group):
    export = mapper.post("/admin/sources/game/export/", {"format": "0", "resource": "",
                                                          "gameresource_group": "on",
                                                          "gameresource_provider": "on",
                                                          "gameresource_game_code": "on",
                                                          "gameresource_name": "on"})
    assert export.status_code == 200, export.content.decode()[:2000]
    assert b"Egyptian games,pragmatic,book-of-dead" in export.content

    csv = b"group,provider,game_code,name\nEgyptian games,netent,cleopatra-gold,Cleopatra Gold\n" \
          b"Egyptian games,netent,sphinx-wild,Sphinx Wild\n"
    preview = mapper.post("/admin/sources/game/import/", {
        "format": "0", "import_file": SimpleUploadedFile("games.csv", csv, content_type="text/csv"),
    })
    assert preview.status_code == 200
    confirm = {name: value for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', preview.content.decode())}
    assert "import_file_name" in confirm, preview.content.decode()[:3000]
    done = mapper.post("/admin/sources/game/process_import/", confirm)

    assert done.status_code == 302
    assert set(group.games.values_list("game_code", flat=True)) == {"book-of-dead", "cleopatra-gold", "sphinx-wild"}


def test_import_refuses_groups_of_another_operator(mapper, group):
    rival = factories.OperatorFactory(id="rival")
    factories.GameGroupFactory(operator=rival, name="Rival games")
    csv = b"group,provider,game_code,name\nRival games,netent,stolen,Stolen\n"

    preview = mapper.post("/admin/sources/game/import/", {
        "format": "0", "import_file": SimpleUploadedFile("games.csv", csv, content_type="text/csv"),
    })

    assert "Rival games" in preview.content.decode()  # named in the row error
    assert not Game.objects.filter(game_code="stolen").exists()


def test_auditor_can_read_but_not_change_the_catalogue(operator, group, staff_client):
    auditor = staff_client("auditor", AUDITORS, operators=[operator])

    assert auditor.get(f"/admin/sources/gamegroup/{group.pk}/change/").status_code == 200
    response = auditor.post(f"/admin/sources/gamegroup/{group.pk}/change/", {"name": "hijacked"})

    assert response.status_code == 403
    assert GameGroup.objects.get(pk=group.pk).name == "Egyptian games"


def test_scoped_admin_does_not_show_another_operators_catalogue(mapper, group):
    rival_group = factories.GameGroupFactory(operator=factories.OperatorFactory(id="rival"), name="Rival games")

    listing = mapper.get("/admin/sources/gamegroup/").content.decode()

    assert "Egyptian games" in listing and "Rival games" not in listing
    assert mapper.get(f"/admin/sources/gamegroup/{rival_group.pk}/change/").status_code == 302  # "does not exist"
    assert mapper.get(f"/admin/sources/gamegroup/{rival_group.pk}/history/").status_code == 404


def test_pot_values_are_read_only_in_the_admin(mapper, operator, currencies):
    instance = factories.three_pot_instance(operator=operator)
    page = mapper.get(f"/admin/sources/jackpotinstance/{instance.pk}/change/").content.decode()
    assert 'name="pots-0-current_value"' not in page
    assert Pot.objects.filter(jackpot=instance).count() == 3
