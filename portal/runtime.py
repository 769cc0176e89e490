"""How this process runs, in one place: the runtime mode is decided once (`settings.RUNTIME`,
from what is configured) and only this module acts on it.

* **services** (`REDIS_URL` set; always in production): Celery workers run the tasks and
  Celery beat the periodic table (`portal.celery.periodic`); Redis carries live events
  (channels-redis) and the coalescing marks of `portal.live`.
* **embedded** (nothing configured: `make run`): one process. An APScheduler
  `BackgroundScheduler` is its worker and its beat (tasks on its threads, the periodic table
  on its clock), started with the ASGI server (`lifespan`); live events go through the
  in-memory channel layer on the server's event loop.

The test suite runs in either mode (`make test` runs it in both) with Celery's own eager
setting (`CELERY_TASK_ALWAYS_EAGER` in settings_test.py): in either mode a task then runs in
the calling process as it is sent (after commit), and nothing runs on a clock -- a test ticks
the periodic table by hand, or starts a real worker (services) or asks for the embedded
runtime as `make run` has it (the `embedded_runtime` fixture turns eager off).

What the rest of the code uses: `dispatch`/`enqueue` (tasks), `redis()` (the process's client,
or None), `channel_send` (live events), `lifespan` (portal/asgi.py), `describe()` (runportal).
"""

import asyncio
import atexit
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import redis as redis_client
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
SERVICES = "services"
EMBEDDED_TASK_THREADS = 8  # tasks and periodic jobs at once (webhook and wallet calls wait on I/O)


def mode() -> str:
    return settings.RUNTIME


def embedded() -> bool:
    return settings.RUNTIME == EMBEDDED


def eager() -> bool:
    """Tasks run in the calling process as they are sent, and no periodic table (tests)."""
    return settings.CELERY_TASK_ALWAYS_EAGER


def describe() -> str:
    if embedded():
        return "embedded: tasks and periodic jobs in this process, in-memory channel layer"
    return "services: Celery worker and beat, Redis channel layer"


# --- Redis ---------------------------------------------------------------------------------

_redis = None
_redis_lock = threading.Lock()


def redis():
    """The process's Redis client (one connection pool) in the services mode; None embedded."""
    global _redis
    if embedded():
        return None
    with _redis_lock:
        if _redis is None:
            _redis = redis_client.Redis.from_url(settings.REDIS_URL)
        return _redis


def redis_health() -> str:
    """For /health: "ok", "unavailable" or "not configured" (embedded)."""
    if embedded():
        return "not configured"
    try:
        redis_client.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
    except redis_client.RedisError:
        return "unavailable"
    return "ok"


# --- tasks ---------------------------------------------------------------------------------


def dispatch(task, *args, countdown: float | None = None) -> None:
    """Send a task now: to the broker (services), or to the embedded scheduler's threads; under
    Celery's eager setting it runs at once in the calling process, in either mode."""
    if not embedded() or eager():
        task.apply_async(args=args, countdown=countdown)
        return
    run_at = datetime.now(UTC) + timedelta(seconds=countdown or 0)
    # misfire_grace_time=None: a task waiting for a free thread runs late rather than never.
    _scheduler().add_job(_run, "date", run_date=run_at, args=(task, args), misfire_grace_time=None)


def enqueue(task, *args, countdown: float | None = None) -> None:
    """Send a task once the current transaction commits (immediately outside one). A failure
    to send is logged, never turned into an error for a request that already committed."""
    transaction.on_commit(lambda: dispatch(task, *args, countdown=countdown), robust=True)


def _run(task, args: tuple = ()) -> None:
    """One task on a scheduler thread, as a worker runs it. Its threads live on; their database
    connections must not (they would pin the database)."""
    close_old_connections()
    try:
        task.apply(args=args, throw=False)
    finally:
        connections.close_all()


_embedded: BackgroundScheduler | None = None
_embedded_lock = threading.Lock()


def _scheduler() -> BackgroundScheduler:
    """The embedded worker: started on first use (a task sent before the server started, a
    test without a server), with the periodic table once the server starts (`beat_start`)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = BackgroundScheduler(executors={"default": ThreadPoolExecutor(EMBEDDED_TASK_THREADS)},
                                            timezone=UTC)
            _embedded.start()
            # A command that sent tasks (seed_demo's contributions) lets them finish before it
            # exits; anything lost on a crash is the sweepers' (periodic table).
            atexit.register(stop)
        return _embedded


def periodic_tasks() -> dict:
    """name -> (Celery task, every N seconds) of the periodic table. The apps' task modules are
    imported first, as a Celery worker does at start: a web process may not have imported them
    yet (autodiscovery is lazy)."""
    from portal.celery import app, periodic

    app.loader.import_default_modules()
    return {name: (app.tasks[task_name], every) for name, (task_name, every) in periodic().items()}


def beat_start() -> None:
    """Embedded: run the periodic table on the scheduler (Celery beat's job in the services mode)."""
    scheduler = _scheduler()
    for name, (task, every) in periodic_tasks().items():
        # One run at a time per job; runs missed while busy collapse into one.
        scheduler.add_job(_run, "interval", seconds=every, args=(task,), id=name, name=name, replace_existing=True,
                          max_instances=1, coalesce=True, misfire_grace_time=None)


def stop() -> None:
    """Stop the embedded worker and beat, waiting for running tasks (server shutdown, tests)."""
    global _embedded
    with _embedded_lock:
        scheduler, _embedded = _embedded, None
    if scheduler is not None:
        scheduler.shutdown(wait=True)


# --- live events ---------------------------------------------------------------------------

_server_loop: asyncio.AbstractEventLoop | None = None


def channel_send(fan_out: Callable[[], Awaitable[None]]) -> None:
    """Run a channel-layer send from any thread or loop. Services: on the caller's loop, or a
    loop of its own for sync code (Redis connects from anywhere). Embedded: the in-memory
    layer's queues belong to the ASGI server's loop, so the send is handed to that loop; with
    no server in this process there is nobody to tell."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if embedded():
        loop = _server_loop
        if loop is None or loop.is_closed():
            return
        if running is loop:
            loop.create_task(fan_out())
        else:
            asyncio.run_coroutine_threadsafe(fan_out(), loop)
        return
    if running is not None:
        running.create_task(fan_out())  # called from async code: schedule, do not block the loop
        return
    async_to_sync(fan_out)()


async def lifespan(scope, receive, send) -> None:
    """The ASGI lifespan protocol (portal/asgi.py; uvicorn `lifespan="on"`). Embedded: the
    server's loop carries the in-memory channel layer, and the worker and beat start with the
    server and stop with it. Services: nothing to do (Celery runs elsewhere)."""
    global _server_loop
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if embedded():
                try:
                    _server_loop = asyncio.get_running_loop()
                    if not eager():
                        await asyncio.to_thread(beat_start)
                except Exception as exc:  # noqa: BLE001 - the server says why it does not start
                    logger.exception("the embedded runtime did not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if embedded():
                await asyncio.to_thread(stop)
                _server_loop = None
            await send({"type": "lifespan.shutdown.complete"})
            return
