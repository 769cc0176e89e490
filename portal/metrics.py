"""Prometheus metrics: the metric objects, the functions code calls to record, and the scrape.

`prometheus_client` is Prometheus' official Python client: its multiprocess mode is what lets
several uvicorn workers and Celery's worker processes answer as one.

Two modes, chosen by the environment before the process starts:

* `PROMETHEUS_MULTIPROC_DIR` set (production: several web workers plus Celery): each process
  writes its values to files in that directory, and a scrape, answered by any web worker,
  merges every process's files (`MultiProcessCollector`). The runtime sets the variable for
  every process (web, worker, beat) and creates the directory; it must be set before the
  process starts, as `prometheus_client` reads it once, at import. The directory must not
  keep a previous run's files: `_multiprocess_start` (below) empties it when no process that
  wrote to it is alive any more, and otherwise removes the live gauges of dead processes
  (a restarted worker's open sockets must not stay counted). Counters of dead processes stay:
  totals never go back.
* not set (embedded mode, tests): one process, the default registry.

What the database knows (backlogs) is counted at scrape time by `portal.monitoring`.
Everything here is about labels and values only; no app is imported.
"""

import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterable

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from portal.logs import log_fields, log_scope

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# --- multiprocess bookkeeping ----------------------------------------------------------------


def _pid_of(name: str) -> int | None:
    stem = name.rsplit(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _multiprocess_start(path: str, pid: int) -> None:
    """Run once per process, before it writes anything (under a lock, as several start at once).

    Every process that imports this module leaves `started_<pid>.pid`, so it counts as alive
    here before it has written a value. Then: nobody alive -> a new run, empty the directory;
    otherwise the live gauges of dead processes are removed (`mark_process_dead`).
    """
    if values.ValueClass is values.MutexValue:
        raise RuntimeError("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported; "
                           "set it in the environment of the process")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        files = [name for name in os.listdir(path) if name.endswith((".db", ".pid")) and _pid_of(name) != pid]
        pids = {p for p in map(_pid_of, files) if p is not None}
        alive = {p for p in pids if _alive(p)}
        if not alive:
            for name in files:
                os.remove(os.path.join(path, name))
        else:
            for dead in pids - alive:
                mark_process_dead(dead, path)
                marker = os.path.join(path, f"started_{dead}.pid")
                if os.path.exists(marker):
                    os.remove(marker)
        open(os.path.join(path, f"started_{pid}.pid"), "w").close()


# Before any metric exists: a metric without labels opens this process's file at once.
if MULTIPROC_DIR:
    _multiprocess_start(MULTIPROC_DIR, os.getpid())


# Seconds: from a few milliseconds (the hot path) to the tens of seconds a stalled wallet or
# webhook receiver takes, so a stall shows in its own bucket instead of +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)

CONTRIBUTIONS = Counter(
    "jackpot_contributions", "Contribution requests answered, by outcome (ok, replayed, error) and error code.",
    ["endpoint", "mode", "operator", "outcome", "code"])
CONTRIBUTION_SECONDS = Histogram(
    "jackpot_contribution_duration_seconds", "Time to answer a contribution request.",
    ["endpoint", "mode", "operator"], buckets=LATENCY_BUCKETS)
ASYNC_BATCH = Histogram(
    "jackpot_async_batch_size", "Accepted async contributions taken by one processing task.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
SYNC_BATCH = Histogram(
    "jackpot_sync_batch_size", "Synchronous contributions committed together (group commit) in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128))
WEBHOOK_ATTEMPTS = Counter(
    "jackpot_webhook_attempts", "Webhook delivery attempts, by operator and result (2xx, 4xx, 5xx, error).",
    ["operator", "result"])
WEBHOOK_SECONDS = Histogram(
    "jackpot_webhook_attempt_duration_seconds", "Duration of one webhook attempt.", ["operator"],
    buckets=LATENCY_BUCKETS)
WALLET_CALLS = Counter(
    "jackpot_wallet_calls", "HTTP calls to operators' wallets (each retry counts), by brand, endpoint and result.",
    ["brand", "op", "result"])
WALLET_SECONDS = Histogram(
    "jackpot_wallet_call_duration_seconds", "Duration of one HTTP call to a wallet.", ["brand", "op"],
    buckets=LATENCY_BUCKETS)
# livesum: the sum over the processes alive now; a dead worker's sockets are gone with it.
SOCKETS = Gauge("jackpot_sockets_open", "Open, authenticated WebSockets by kind.", ["kind"],
                multiprocess_mode="livesum")
SOCKETS_REFUSED = Counter("jackpot_sockets_refused", "WebSockets closed at connect (4401: bad token).", ["kind"])
LOCKOUTS = Counter("jackpot_login_lockouts", "Logins refused after repeated failures (throttling).", ["surface"])


# --- recording (called by the code that knows) ---------------------------------------------

# Error codes pass through from wallets: a label value must not be whatever a remote server
# answers, so odd ones become OTHER and at most this many distinct codes are kept per process.
MAX_CODES = 100
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_codes: set[str] = set()


def _code_label(code) -> str:
    code = str(code or "")
    if not _CODE.fullmatch(code):
        return "OTHER"
    if code not in _codes:
        if len(_codes) >= MAX_CODES:
            return "OTHER"
        _codes.add(code)
    return code


def _result(status: int | None) -> str:
    return f"{status // 100}xx" if status else "error"


def webhook_attempt(*, operator: str, status: int | None, seconds: float) -> None:
    """One webhook POST: `status` is None when no answer came (timeout, refused, guard)."""
    WEBHOOK_ATTEMPTS.labels(operator, _result(status)).inc()
    WEBHOOK_SECONDS.labels(operator).observe(seconds)


def wallet_call(*, brand: str, op: str, status: int | None, seconds: float) -> None:
    """One HTTP call to a wallet (a retry is another call); `op` is the endpoint's path."""
    WALLET_CALLS.labels(brand, op, _result(status)).inc()
    WALLET_SECONDS.labels(brand, op).observe(seconds)


def async_batch(size: int) -> None:
    """Contributions one processing task took (none: another worker had them already)."""
    if size:
        ASYNC_BATCH.observe(size)


def sync_batch(size: int) -> None:
    SYNC_BATCH.observe(size)


def _socket_kind(consumer) -> str:
    return type(consumer).__name__.removesuffix("Consumer").lower() or "other"  # player, service, staff


def socket_opened(consumer) -> None:
    """An authenticated socket; remembered on the consumer so that it is counted down once."""
    consumer.metrics_kind = _socket_kind(consumer)
    SOCKETS.labels(consumer.metrics_kind).inc()


def socket_closed(consumer) -> None:
    """Called on every disconnect: only a socket that was counted goes down, and only once."""
    kind = consumer.__dict__.pop("metrics_kind", None)
    if kind is not None:
        SOCKETS.labels(kind).dec()


def socket_refused(consumer) -> None:
    SOCKETS_REFUSED.labels(_socket_kind(consumer)).inc()


def login_lockout(surface: str) -> None:
    LOCKOUTS.labels(surface).inc()


# --- the gateway: outcome, code and latency of every contribution, in one place ------------

CONTRIBUTION_PATHS = ("/jackpots/contribute", "/jackpots/contribute/source", "/jackpots/contribute/instance")


def _contribution_answered(request, response, seconds: float) -> None:
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    code = ""
    if response.status_code != 200:
        try:  # the spec's error body; anything else (a proxy's page, a redirect) by its status
            code = json.loads(response.content).get("code") or ""
        except (ValueError, AttributeError):
            code = ""
    contribution_answered(path=request.path, status=response.status_code, code=code, replayed=replayed,
                          seconds=seconds)


def contribution_answered(*, path: str, status: int, code: str, replayed: bool, seconds: float) -> None:
    """Count and time one answered contribution request (`code`: the error body's, if any)."""
    endpoint = path if path in CONTRIBUTION_PATHS else "other"
    context = log_fields()  # what the request learnt: operator, mode
    operator, mode = context.get("operator", ""), context.get("mode", "unknown")
    if status == 200:
        outcome, label = ("replayed" if replayed else "ok"), ""
    else:
        outcome, label = "error", _code_label(code or f"HTTP_{status}")
    CONTRIBUTIONS.labels(endpoint, mode, operator, outcome, label).inc()
    CONTRIBUTION_SECONDS.labels(endpoint, mode, operator).observe(seconds)
    logger.debug("contribution answered %s %s in %.1f ms", status, label, seconds * 1000)


@sync_and_async_middleware
def gateway_metrics(get_response):
    """Opens the log scope of each request, and counts and times contribution requests.

    The outermost middleware (MIDDLEWARE): the latency is the whole of Django's handling, and
    everything logged while answering carries the request's context.
    """

    def counted(request) -> bool:
        return request.path.startswith("/jackpots/contribute") and request.method == "POST"

    if iscoroutinefunction(get_response):

        async def middleware(request):
            with log_scope():
                started = time.perf_counter()
                response = await get_response(request)
                if counted(request):
                    _contribution_answered(request, response, time.perf_counter() - started)
                return response

    else:

        def middleware(request):
            with log_scope():
                started = time.perf_counter()
                response = get_response(request)
                if counted(request):
                    _contribution_answered(request, response, time.perf_counter() - started)
                return response

    return middleware


# --- the scrape -----------------------------------------------------------------------------


class _Collectors:
    """Several collectors as one registry for `generate_latest` (it only calls collect())."""

    def __init__(self, *collectors) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(*extra) -> bytes:
    """The text format of every metric, plus `extra` collectors (computed now).

    Multiprocess: a fresh registry with the collector that merges every process's files;
    our metric objects are not registered in it (they would be counted twice)."""
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
        return generate_latest(_Collectors(registry, *extra))
    return generate_latest(_Collectors(REGISTRY, *extra))
