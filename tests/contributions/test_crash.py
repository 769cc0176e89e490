"""A web worker killed (SIGKILL) in the middle of group-committed batches loses nothing it
answered, and whatever it did not answer is either absent or, retried with the same
gameround, answered with its single stored outcome (SPEC 7: a 200 is durable)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import pytest

from contributions.models import Contribution
from contributions.selectors import reconcile_instance
from portal import jsonutil
from sources.models import Pot
from tests import factories, worker
from tests.worker import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebProcess:
    """The production web process (uvicorn, pooled threads, group commit) in its own group."""

    def __init__(self, log: Path) -> None:
        self.port, self.log = free_port(), log

    def __enter__(self) -> "WebProcess":
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": worker.test_database_url(),
               "CELERY_TASK_ALWAYS_EAGER": "1", "GROUP_COMMIT_WINDOW_MS": "20", "LOG_LEVEL": "WARNING"}
        self.output = open(self.log, "a")  # noqa: SIM115 - closed on exit
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1", "--port",
             str(self.port), "--lifespan", "off", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"web process did not start: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.output.close()


def post(url: str, path: str, body: dict, token: str | None = None) -> tuple[int, dict, str | None]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url + path, data=jsonutil.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, jsonutil.loads(response.read()), response.headers.get("Idempotent-Replayed")
    except urllib.error.HTTPError as error:
        return error.code, jsonutil.loads(error.read()), None


def test_a_killed_web_process_loses_no_answered_contribution_and_retries_find_one_outcome(
        currencies, operator, service_token, contribution, tmp_path):
    factories.BrandFactory(operator=operator, code="brand1")  # (not the fixture: no wallet variant needed)
    token = service_token
    instance = factories.three_pot_instance(operator=operator)
    Pot.objects.filter(jackpot=instance).update(max_magic_number=4, cost_per_attempt=D("0.5"))  # wins too
    bodies = [contribution(instance_id=str(instance.pk), player_id=f"p{n % 7}", gameround_id=f"crash-{n}",
                           base_wager=D("3.33")) for n in range(160)]
    answered: dict[str, dict] = {}
    lock = threading.Lock()
    enough = threading.Event()
    statuses: Counter = Counter()

    with WebProcess(tmp_path / "web.log") as web:
        def send(body: dict) -> None:
            try:
                status, answer, _ = post(web.url, "/jackpots/contribute", body, token)
            except OSError:
                return  # the process died under this request: no answer
            statuses[status] += 1
            if status == 200:
                with lock:
                    answered[body["gameround_id"]] = answer
                    if len(answered) >= 10:
                        enough.set()

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        assert enough.wait(120), f"too few answers before the kill: {statuses}; {web.log.read_text()[-3000:]}"
        web.kill()  # in the middle: requests are in flight and batches are being committed
        for thread in threads:
            thread.join(timeout=60)

    assert 10 <= len(answered) < len(bodies), "the kill did not land in the middle of the traffic"
    stored = {c.gameround_id: c for c in Contribution.objects.filter(jackpot=instance)}
    for gameround, answer in answered.items():  # every 200 is durable, with the answered outcome
        assert gameround in stored, f"{gameround} was answered 200 but is not in the ledger"
        assert str(stored[gameround].trace_id) == answer["trace_id"]
        assert jsonutil.loads(stored[gameround].result_json) == answer

    with WebProcess(tmp_path / "web-again.log") as web:
        for body in bodies:
            if body["gameround_id"] in answered:
                continue
            status, answer, replayed = post(web.url, "/jackpots/contribute", body, token)
            assert status == 200, answer
            if body["gameround_id"] in stored:  # committed but not answered: its single stored outcome
                assert replayed == "true" and answer["trace_id"] == str(stored[body["gameround_id"]].trace_id)

    assert Contribution.objects.filter(jackpot=instance).count() == len(bodies)
    assert reconcile_instance(instance).ok
