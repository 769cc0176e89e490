"""The games CSV import finds a group by name only among the groups the importing user may
change; a name several operators use is a row error, never a crash (issue 11, item 18)."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.roles import GAME_MAPPING_ADMINS
from sources.models import Game
from tests import factories


@pytest.fixture
def groups(operator, brand1):
    """Two operators each with a group called "Slots"; thrilltech's is operator-wide."""
    rival = factories.OperatorFactory(id="rival")
    return {"mine": factories.GameGroupFactory(operator=operator, name="Slots"),
            "rival": factories.GameGroupFactory(operator=rival, name="Slots")}


def import_csv(client, csv: bytes):
    """Upload, and confirm when the preview allows it; returns the preview page."""
    preview = client.post("/admin/sources/game/import/", {
        "format": "0", "import_file": SimpleUploadedFile("games.csv", csv, content_type="text/csv")})
    assert preview.status_code == 200
    confirm = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', preview.content.decode()))
    if "import_file_name" in confirm:
        assert client.post("/admin/sources/game/process_import/", confirm).status_code == 302
    return preview.content.decode()


def test_a_group_name_another_operator_uses_imports_into_the_users_own(groups, operator, staff_client):
    mapper = staff_client("mapper", GAME_MAPPING_ADMINS, operators=[operator])

    page = import_csv(mapper, b"group,provider,game_code,name\nSlots,netent,starburst,Starburst\n")

    assert "more than one" not in page
    assert list(groups["mine"].games.values_list("game_code", flat=True)) == ["starburst"]
    assert not groups["rival"].games.exists()


def test_a_user_of_both_operators_gets_a_row_error_naming_them(groups, staff_client):
    root = staff_client("root", None)

    page = import_csv(root, b"group,provider,game_code,name\nSlots,netent,starburst,Starburst\n")

    assert "Game group &#x27;Slots&#x27; exists for several operators (rival, thrilltech)" in page
    assert not Game.objects.exists()


def test_an_operator_column_says_which_group(groups, staff_client):
    root = staff_client("root", None)

    import_csv(root, b"group,provider,game_code,name,operator\nSlots,netent,starburst,Starburst,rival\n")

    assert list(groups["rival"].games.values_list("game_code", flat=True)) == ["starburst"]
    assert not groups["mine"].games.exists()


def test_a_brand_scoped_user_cannot_import_into_an_operator_wide_group(operator, brand1, staff_client):
    """They see the operator-wide group (read-only) but may not change it, so neither add games to it."""
    factories.GameGroupFactory(operator=operator, name="Table games")
    mapper = staff_client("b1mapper", GAME_MAPPING_ADMINS, brands=[brand1])

    page = import_csv(mapper, b"group,provider,game_code,name\nTable games,netent,blackjack,Blackjack\n")

    assert not Game.objects.exists()
    assert "Unknown game group &#x27;Table games&#x27; (or not yours to change)" in page
