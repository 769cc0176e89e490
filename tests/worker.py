"""Real Celery worker processes for tests: started against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """`celery -A portal worker` in its own process group (so SIGKILL takes the whole pool)."""

    def __init__(self, *, beat: bool = False, concurrency: int = 2, env: dict | None = None, log: Path):
        self.log = log
        self.beat = beat
        self.concurrency = concurrency
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-l", "INFO",
                   "-c", str(self.concurrency), "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if self.beat:
            command += ["-B", "-s", str(self.log.with_suffix(".beat-schedule"))]
        self.output = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.output,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            if " ready." in self.log.read_text():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no cleanup, no acknowledgements."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "output", None):
            self.output.close()


def purge_broker() -> None:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def wait_until(predicate, timeout: float = 60.0, every: float = 0.2, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick:
            tick()
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")
