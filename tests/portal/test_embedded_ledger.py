"""The ledger reconciles exactly after real traffic on whichever database the suite runs on
(`make test` runs this on PostgreSQL and again on SQLite, the embedded default of `make run`)."""

from io import StringIO

import pytest
from django.core.management import call_command

from contributions.models import Contribution
from tests.asgi import AsgiServer
from tests.seed import demo_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_reconcile_is_exact_after_a_simulate_run_against_the_demo(roles):
    with demo_world(), AsgiServer() as server:
        before = Contribution.objects.count()
        call_command("simulate", "--url", server.http, "--players", "12", "--contributions", "120",
                     "--concurrency", "1", "--seed", "3", "-v0", stdout=StringIO())
        assert Contribution.objects.count() - before == 120  # every bet stored

    report = StringIO()
    call_command("reconcile", stdout=report)  # raises (exits non-zero) on any difference
    assert "reconcile exactly" in report.getvalue()
