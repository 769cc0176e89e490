"""How tasks leave a request: always after commit, by id, in one of three modes.

* "celery": to the broker (production; REDIS_URL set);
* "thread": a small in-process pool (the embedded default, no broker needed);
* "inline": synchronously right after commit (the test suite).

The embedded scheduler runs the periodic table of `portal.celery.PERIODIC` in a daemon
thread when there is no Celery beat.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="portal-task")
        return _pool


def _run_local(task, args: tuple, countdown: float | None) -> None:
    def call() -> None:
        if countdown:
            time.sleep(countdown)
        try:
            task.apply(args=args, throw=False)
        finally:
            # Pool threads live on; their connections must not (they would pin the database).
            connections.close_all()

    _executor().submit(call)


def dispatch(task, *args, countdown: float | None = None) -> None:
    """Send a task now (no transaction involved)."""
    mode = settings.TASK_MODE
    if mode == "celery":
        task.apply_async(args=args, countdown=countdown)
    elif mode == "thread":
        _run_local(task, args, countdown)
    else:  # inline: delays are not simulated; a test that needs them drives time itself
        task.apply(args=args, throw=True)


def enqueue(task, *args, countdown: float | None = None) -> None:
    """Send a task once the current transaction commits (immediately outside one). A failure
    to send is logged, never turned into an error for a request that already committed."""
    transaction.on_commit(lambda: dispatch(task, *args, countdown=countdown), robust=True)


class EmbeddedScheduler(threading.Thread):
    """Celery beat's job for the embedded mode: run each periodic task on its interval."""

    def __init__(self, periodic: dict[str, tuple[str, float]]) -> None:
        super().__init__(name="portal-scheduler", daemon=True)
        self.periodic = periodic
        self.stopping = threading.Event()

    def tasks(self) -> dict:
        """name -> task. The apps' task modules are imported first, as a Celery worker does at
        start: a web process may not have imported them yet (autodiscovery is lazy)."""
        from celery import current_app

        current_app.loader.import_default_modules()
        return {name: current_app.tasks[task_name] for name, (task_name, _) in self.periodic.items()}

    def run(self) -> None:
        tasks = None
        while tasks is None:
            try:
                tasks = self.tasks()
            except Exception:  # noqa: BLE001 - say why, and try again rather than stop for good
                logger.exception("the periodic tasks could not be loaded; retrying in 30 s")
                if self.stopping.wait(30):
                    return
        due = {name: time.monotonic() + every for name, (_, every) in self.periodic.items()}
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for name, (_, every) in self.periodic.items():
                if now >= due[name]:
                    due[name] = now + every
                    try:
                        close_old_connections()
                        tasks[name].apply(throw=False)
                    except Exception:  # noqa: BLE001 - one failing job must not stop the others
                        logger.exception("periodic task %s failed", name)
                    finally:
                        close_old_connections()


@shared_task(name="portal.publish_jackpot_updates")
def publish_jackpot_updates() -> int:
    from portal import live

    return live.publish_jackpot_updates()
