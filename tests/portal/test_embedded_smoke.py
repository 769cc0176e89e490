"""`make run`'s embedded runtime, started as `make run` starts it -- migrate, seed_demo and
runportal on a fresh SQLite database with no REDIS_URL, in processes of their own -- answers a
contribution, delivers an async one's webhook from its in-process scheduler, and sends
JackpotUpdate to a socket over the in-memory channel layer, the coalesced one from its
periodic table. Then it stops on SIGINT (Ctrl-C) as a person stops it."""

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from portal import jsonutil
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEPOSIT_ID = "a49ff35f-6ecd-491f-b373-85e6caabacf1"  # seed_demo's operator-funded Deposit Drop (no wallet call)
SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_env(tmp_path: Path) -> dict:
    """A shell with nothing configured (as on a fresh checkout), its database in tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "PROMETHEUS_MULTIPROC_DIR")}
    return {**env, "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PORTAL_DEMO": "1", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "JACKPOT_UPDATE_INTERVAL_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_make_run_serves_contributions_webhooks_and_live_updates(tmp_path):
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput", "-v0")
    seeded = manage(env, "seed_demo")
    assert "demo-service" in seeded

    port = free_port()
    log = open(tmp_path / "runportal.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "manage.py", "runportal", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"{url}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "runportal.log").read_text()
                time.sleep(0.1)
        assert health.json()["redis"] == "not configured"  # the embedded runtime: no Redis at all

        token = requests.post(f"{url}/authenticate/service", timeout=10, data=jsonutil.dumps(
            {"username": "demo-service", "password": "demo-service-pass"})).json()["token"]  # as the README
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def contribute(gameround: str, **extra):
            body = {"instance_id": DEPOSIT_ID, "token": "t", "brand_id": "thrilltech:brand1", "player_id": "smoke",
                    "player_country": "MT", "gameround_id": gameround, "base_wager": D("100"), "currency": "EUR",
                    **extra}
            return requests.post(f"{url}/jackpots/contribute", data=jsonutil.dumps(body), headers=headers, timeout=10)

        with connect(f"ws://127.0.0.1:{port}/v1/events/service?token={token}", open_timeout=10) as ws, \
                Receiver() as receiver:
            def recv_update() -> dict:
                while True:
                    message = jsonutil.loads(ws.recv(timeout=15))
                    if message["msg_name"] == "JackpotUpdate" and message["data"]["id"] == DEPOSIT_ID:
                        return message

            ws.send(jsonutil.dumps(SUBSCRIBE_ALL))
            before = recv_update()  # the snapshot on subscribe

            first = contribute("smoke-1")
            leading = recv_update()  # the first change is announced at once
            second = contribute("smoke-2")  # within the interval: marked dirty ...
            ticked = recv_update()  # ... and sent by the periodic table's "jackpot-updates"

            accepted = contribute("smoke-3", callback={"web_hook": receiver.url, "win_result_only": False})
            [webhook] = receiver.wait_for(1, timeout=30)  # processed and delivered by the in-process scheduler
    finally:
        server.send_signal(signal.SIGINT)
        try:
            stopped = server.wait(timeout=20)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()

    assert first.status_code == 200 and first.json()["contribution_amount"] == D("1")
    assert second.status_code == 200

    def total(update):
        return sum(pot["current_value"] for pot in update["data"]["pots"])

    assert total(before) < total(leading) < total(ticked)
    assert accepted.status_code == 200 and "trace_id" in accepted.json()
    delivered = jsonutil.loads(webhook.body)
    assert (delivered["type"], delivered["trace_id"]) == ("data", accepted.json()["trace_id"])
    assert stopped == 0, (tmp_path / "runportal.log").read_text()
