"""An operator's webhook secret can be read once: when it is created (admin) or rotated (admin
action or `manage.py rotate_webhook_secret`) -- issue 13, item 5."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.models import Operator


def test_rotate_command_prints_the_new_secret_and_history_names_the_command(operator, staff_client):
    before = operator.webhook_secret
    out, err = StringIO(), StringIO()

    call_command("rotate_webhook_secret", "--operator", "thrilltech", stdout=out, stderr=err)

    operator.refresh_from_db()
    assert out.getvalue().strip() == operator.webhook_secret != before
    assert operator.webhook_secret_previous == before  # still signs alongside for the grace period
    assert "shown once" in err.getvalue() and "24 hours" in err.getvalue()
    # The admin History of the operator: no user, and which command did it.
    entry = operator.history.first()
    assert entry.history_user is None
    assert entry.history_change_reason == "webhook secret rotated (manage.py rotate_webhook_secret)"
    page = staff_client("auditor", None, everything=True).get("/admin/portal/operator/thrilltech/history/")
    assert "webhook secret rotated (manage.py rotate_webhook_secret)" in page.content.decode()


def test_rotate_command_for_an_unknown_operator_says_so(operator):
    with pytest.raises(CommandError, match="No operator 'nobody'"):
        call_command("rotate_webhook_secret", "--operator", "nobody", stdout=StringIO(), stderr=StringIO())


def test_a_new_operator_s_webhook_secret_is_shown_once_when_it_is_added(db, staff_client):
    client = staff_client("root", None, everything=True)

    response = client.post("/admin/portal/operator/add/", {
        "id": "newcasino", "name": "New Casino", "enabled": "on",
        "brands-TOTAL_FORMS": "0", "brands-INITIAL_FORMS": "0", "brands-MIN_NUM_FORMS": "0",
        "brands-MAX_NUM_FORMS": "1000", "_save": "Save"})

    secret = Operator.objects.get(pk="newcasino").webhook_secret
    assert response.status_code == 200, response.content[:500]
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "messages" not in response.cookies
    # From then on only masked.
    assert secret not in client.get("/admin/portal/operator/newcasino/change/").content.decode()
