"""Web-facing hardening (issue 11, items 8, 9, 15, 16, 17, 20)."""

import csv
import io
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal as D

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from contributions.models import Contribution, WebhookDelivery
from players.models import Player
from portal.auth import service_authenticate
from portal.models import Operator
from tests import factories
from tests.conftest import body_of
from tests.worker import ROOT, test_database_url

# --- 8: DEBUG is opt-in ------------------------------------------------------------------

ERROR_PAGE = """
import django
django.setup()
from django.conf import settings
from django.test import Client
response = Client(raise_request_exception=False).get("/verify/1/")
print(settings.DEBUG, response.status_code)
print(response.content.decode())
"""


@pytest.mark.parametrize("debug", [None, "1"])
def test_debug_is_off_unless_asked_for_and_error_pages_keep_the_urls_secret(debug):
    """The README's PostgreSQL/Redis mode (no PORTAL_PRODUCTION): a database error page must
    not show DATABASE_URL or REDIS_URL, unless a developer turned DEBUG on by name."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "PORTAL_PRODUCTION")}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_POOL_TIMEOUT": "1",
                # Nothing listens on port 9: the page errors, and the URLs carry passwords.
                "DATABASE_URL": "postgres://postgres:db-pass-0451@127.0.0.1:9/nowhere",
                "REDIS_URL": "redis://:redis-pass-0451@127.0.0.1:9/0"})
    if debug:
        env["DJANGO_DEBUG"] = debug
    result = subprocess.run([sys.executable, "-c", ERROR_PAGE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    first, page = result.stdout.split("\n", 1)
    if debug:
        assert first == "True 500"
        assert "db-pass-0451" in page  # what DEBUG shows: why it must never be a default
    else:
        assert first == "False 500"
        assert "db-pass-0451" not in page and "redis-pass-0451" not in page and "DATABASE_URL" not in page


def test_the_default_secret_key_is_random_not_a_constant_from_the_source():
    """Outside production the key was "embedded-dev-only-xxx...": anyone could sign service
    tokens for a portal run in the README's PostgreSQL/Redis mode."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "PORTAL_PRODUCTION")}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    script = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    keys = {subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout.strip() for _ in range(2)}
    assert len(keys) == 1  # every process of a checkout (web workers, Celery) signs alike
    key = keys.pop()
    assert len(key) >= 50 and "embedded-dev-only" not in key


# --- 9: CSV injection --------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tTAB", "\rCR"]


def test_contributions_csv_neutralises_formulas_and_keeps_numbers(currencies, operator, brand1, staff_client):
    instance = factories.make_instance(operator=operator, name="=1+1", pots=[factories.hit_rate_pot("p", share="1")])
    for n, text in enumerate(FORMULAS):
        player = Player.objects.create(brand=brand1, player_id=text, country="MT", currency="EUR")
        Contribution.objects.create(
            brand=brand1, player=player, player_ref=text, gameround_id=text, target_kind="source", target_id=text,
            jackpot=instance, player_country="MT", currency="EUR", base_wager=D(f"-{n}.5"), amount=D("-1.25"),
            amount_base=D("0.5"), processed_at=timezone.now())
    client = staff_client("root", None, everything=True)

    response = client.get("/contributions.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))

    assert len(rows) == len(FORMULAS)
    for row in rows:
        for column in ("player_id", "gameround_id", "target", "instance"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), (column, row[column])
            assert row[column][0] in "'s", row[column]
        assert row["base_wager"].startswith("-") and D(row["base_wager"]) < 0  # real numbers stay numbers
        assert row["contribution_amount"] == "-1.25000000"
    assert {r["player_id"] for r in rows} == {"'" + text for text in FORMULAS}


# --- 15: a password reset ends the tokens issued before it -------------------------------


def test_a_password_reset_ends_the_old_tokens(gateway, service_account):
    assert gateway.get("/v1/currencies").status_code == 200

    call_command("create_service_account", "--operator", "thrilltech", "--username", "integration",
                 "--password", "new-pass-1")

    response = gateway.get("/v1/currencies")
    assert (response.status_code, body_of(response)["code"]) == (401, "UNAUTHORIZED")
    contribution = gateway.contribute({"brand_id": "thrilltech:brand1"})  # the async gateway checks it too
    assert contribution.status_code == 401
    fresh = service_authenticate(username="integration", password="new-pass-1")
    assert Client().get("/v1/currencies", HTTP_AUTHORIZATION=f"Bearer {fresh}").status_code == 200


def test_a_token_without_the_password_mark_is_refused(gateway, service_account):
    from django.core import signing

    from portal.auth import SERVICE_SALT

    old_style = signing.dumps({"a": service_account.pk, "u": "integration", "o": "thrilltech"}, salt=SERVICE_SALT)
    response = Client().get("/v1/currencies", HTTP_AUTHORIZATION=f"Bearer {old_style}")
    assert response.status_code == 401


# --- 16: a rotated webhook secret is shown once, in the response ---------------------------


def test_rotated_webhook_secret_is_shown_in_the_page_not_in_a_cookie(operator, staff_client):
    client = staff_client("root", None, everything=True)
    before = operator.webhook_secret

    response = client.post("/admin/portal/operator/", {"action": "rotate_webhook_secret",
                                                        "_selected_action": [operator.pk]})

    secret = Operator.objects.get(pk=operator.pk).webhook_secret
    assert secret != before
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "messages" not in response.cookies
    assert secret not in client.get("/admin/portal/operator/").content.decode()


# --- 17: no open redirect -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_next_never_leaves_the_site(currencies, operator, brand1, staff_client, target):
    player = Player.objects.create(brand=brand1, player_id="p1", country="MT", currency="EUR")
    contribution = Contribution.objects.create(
        brand=brand1, player=player, player_ref="p1", gameround_id="r1", target_kind="source", target_id="s",
        player_country="MT", currency="EUR", base_wager=D("1"), amount=D("0"), amount_base=D("0"), is_async=True)
    delivery = WebhookDelivery.objects.create(contribution=contribution, brand=brand1, url="https://x", kind="data",
                                              payload="{}", status=WebhookDelivery.Status.FAILED)
    client = staff_client("root", None, everything=True)

    response = client.post(f"/callbacks/{delivery.pk}/resend", {"next": target})

    assert response.status_code == 302
    assert response["Location"] == f"/callbacks/{delivery.pk}/"
    same_site = client.post(f"/callbacks/{delivery.pk}/resend", {"next": "/callbacks/?status=failed"})
    assert same_site["Location"] == "/callbacks/?status=failed"


# --- 20: dead pooled connections are replaced before use ----------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_pooled_server_survives_pg_terminate_backend(currencies, operator, brand1, service_account, tmp_path):
    """uvicorn with the production pool settings; every backend of its pool is killed; every
    following request still succeeds."""
    factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    token = service_authenticate(username="integration", password="service-pass")
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "CELERY_TASK_ALWAYS_EAGER": "1",
           "DATABASE_URL": test_database_url() + "?application_name=pool-under-test",
           "DATABASE_POOL_MIN": "4", "DATABASE_POOL_MAX": "4", "CATALOGUE_CACHE_SECONDS": "0"}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1",
                               "--port", str(port), "--lifespan", "off", "--log-level", "warning"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/thrillpots/sources"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url, headers=headers, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)

        def pool_pids() -> list[int]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'pool-under-test'")
                return [pid for (pid,) in cursor.fetchall()]

        for _ in range(8):  # every pooled connection has served
            assert requests.get(url, headers=headers, timeout=10).status_code == 200
        killed = pool_pids()
        assert len(killed) >= 2
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [killed])

        started = time.monotonic()
        statuses = [requests.get(url, headers=headers, timeout=30).status_code for _ in range(12)]
        elapsed = time.monotonic() - started

        assert statuses == [200] * 12, (tmp_path / "server.log").read_text()[-3000:]
        assert not set(killed) & set(pool_pids())  # every dead connection was replaced
        # Without the sweep in portal/db.pool_check one request met the 4 dead connections in
        # turn, with the pool's backoff between them (7 s); now about 0.2 s for all 12.
        assert elapsed < 3, elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
