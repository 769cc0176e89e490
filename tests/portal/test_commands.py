"""Operational commands: demo data, reconciliation, production checks."""

import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management import call_command

from contributions.selectors import reconcile_instance
from players.models import OptIn
from sources.models import Game, JackpotInstance

ROOT = Path(__file__).resolve().parents[2]


def test_seed_demo_is_safe_to_run_twice_and_prints_logins(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "ops-demo-pass" in out and "/admin/" in out and "/docs" in out and "demo-service" in out
    assert JackpotInstance.objects.count() == 5  # the seed documents' instances (issue 13)
    assert Game.objects.count() == 4
    assert OptIn.objects.filter(opted_in=True).count() == 1
    assert {u.username for u in User.objects.all()} == {"admin", "ops", "ops-brand1", "mapper", "auditor"}
    assert all(reconcile_instance(i).ok for i in JackpotInstance.objects.all())


def test_demo_contribution_from_the_readme_works(db, capsys):
    """The README's curl example against the demo data, with the demo wallet debiting it."""
    from django.test import Client

    from contributions.models import WalletConfig
    from demo.world import start_demo_wallet
    from portal import jsonutil

    call_command("seed_demo")
    wallet = start_demo_wallet(port=0)
    WalletConfig.objects.filter(brand__code="brand1").update(base_url=wallet.url)

    client = Client()
    token = jsonutil.loads(client.post("/authenticate/service", '{"username":"demo-service","password":"demo-service-pass"}',
                                       content_type="application/json").content)["token"]
    response = client.post(
        "/jackpots/contribute",
        '{"token":"token_00001","brand_id":"thrilltech:brand1","player_id":"player_00001","player_country":"UK",'
        '"source_id":"casino-sitewide","gameround_id":"1","currency":"EUR","base_wager":1}',
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    wallet.stop()
    assert response.status_code == 200, response.content
    assert jsonutil.loads(response.content)["contribution_amount"] == D("0.1")
    assert wallet.balance("player_00001") == 1000 - D("0.10")


def test_reconcile_command_reports_a_tampered_pot(db, capsys, operator, currencies):
    from django.core.management import CommandError

    from sources.models import Pot
    from tests import factories

    instance = factories.three_pot_instance(operator=operator, name="Tampered")
    Pot.objects.filter(jackpot=instance, pot_id="minor").update(current_value=11)

    try:
        call_command("reconcile")
        raise AssertionError("reconcile should fail")
    except CommandError as exc:
        assert "1 of 1 instances do not reconcile" in str(exc)
    assert "pot minor: value 11.00000000 (ledger 10.00000000)" in capsys.readouterr().out


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "PORTAL_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "p" * 20 + "-production-secret-key-for-the-deploy-check-0123456789",
        "DJANGO_ALLOWED_HOSTS": "jackpots.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/jackpot_portal",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    env.update({"PORTAL_PRODUCTION": "1", "DJANGO_SETTINGS_MODULE": "portal.settings"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_embedded_scheduler_finds_every_periodic_task_in_a_fresh_web_process():
    """`make run` has no worker: its scheduler runs the periodic table itself, in a process
    that has imported no task module yet (this once logged NotRegistered every 5 s)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    script = ("import django; django.setup()\n"
              "from portal import runtime\n"
              "print(runtime.mode(), ' '.join(sorted(runtime.periodic_tasks())))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)

    from portal.celery import app, periodic

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["embedded", *sorted(periodic())]
    assert set(app.conf.beat_schedule) == set(periodic())  # Celery beat's table is the same one
