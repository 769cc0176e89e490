"""Where the time goes during a load phase: CPU seconds per process group (from /proc), and a
py-spy sample of a web process (threads holding the GIL only: Python at work, not waiting)
summarised by the package of the running frame.

Both answer the question a target out of reach raises: on this machine, what does one
contribution cost, and in whose code?
"""

import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = str(Path(__file__).resolve().parents[1])


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (group, parent pid, CPU seconds so far). A process that is not recognised by its
    command line belongs to its parent's group (uvicorn's workers are spawned interpreters)."""
    found: dict[int, tuple[str | None, int, float]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[int(pid)] = (_group(comm, cmdline), int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)

    def group_of(pid: int, depth: int = 0) -> str:
        group, parent, _ = found.get(pid, ("other", 0, 0.0))
        if group is None:
            return group_of(parent, depth + 1) if parent in found and depth < 5 else "other"
        return group

    return {pid: (group_of(pid), parent, cpu) for pid, (_, parent, cpu) in found.items()}


def _group(comm: str, cmdline: str) -> str | None:
    if comm == "postgres" or cmdline.startswith("postgres"):
        return "PostgreSQL"
    if comm.startswith("redis"):
        return "Redis"
    if comm == "wrk":
        return "load (wrk)"
    if "uvicorn" in cmdline:
        return "web (uvicorn)"
    if "celery" in cmdline:
        return "Celery worker + beat"
    if "run_reference_wallet" in cmdline:
        return "reference wallet"
    if "bench/run.py" in cmdline:
        return "bench (receiver, sockets)"
    if "multiprocessing" in cmdline:
        return None  # a spawned child: its parent's group
    return "other"


# CPU seconds of load generators that have exited (wrk): bench/run.py adds them as they end.
LOAD_SECONDS = 0.0


def cpu_snapshot() -> dict:
    """CPU seconds used so far by each process group, and the machine's busy/total seconds."""
    groups: Counter = Counter()
    for group, _, cpu in _processes().values():
        groups[group] += cpu
    groups["load (wrk)"] += LOAD_SECONDS
    cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cpu[3] + cpu[4]
    return {"groups": groups, "busy": (sum(cpu) - idle) / TICKS, "total": sum(cpu) / TICKS}


def cpu_report(before: dict, after: dict, requests: int) -> dict:
    """CPU used during the phase, per group, in ms per request, and how busy the machine was."""
    used = {g: after["groups"][g] - before["groups"].get(g, 0.0) for g in after["groups"]}
    busy, total = after["busy"] - before["busy"], after["total"] - before["total"]
    return {
        "ms_per_request": {g: s * 1000 / max(requests, 1) for g, s in sorted(used.items(), key=lambda kv: -kv[1])
                           if s > 0.05},
        "machine_busy": busy / total if total else 0.0,
    }


def web_pids() -> list[int]:
    """uvicorn's worker processes (not the supervising parent)."""
    processes = _processes()
    return sorted(pid for pid, (group, parent, _) in processes.items()
                  if group == "web (uvicorn)" and processes.get(parent, ("",))[0] == "web (uvicorn)")


def sample(pid: int, seconds: float, out: Path, *, subprocesses: bool = False) -> subprocess.Popen | None:
    """Start py-spy on one process, or on it and its children (None when py-spy is not installed)."""
    spy = shutil.which("py-spy") or str(Path(os.sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                             "--format", "raw", "--full-filenames", "--gil", "--output", str(out),
                             *(["--subprocesses"] if subprocesses else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


PACKAGES = [
    # (label, substring of the frame's file path); the first that matches wins.
    ("our code (contributions, sources, players, portal)", (f"{ROOT}/contributions/", f"{ROOT}/sources/",
                                                            f"{ROOT}/players/", f"{ROOT}/portal/")),
    ("Django ORM (query building, model instances)", ("/django/db/models/",)),
    ("Django database layer (cursors, transactions)", ("/django/db/",)),
    ("Django request handling (ASGI handler, urls, responses)", ("/django/",)),
    ("django-ninja + pydantic (routing, auth, schemas)", ("/ninja/", "/pydantic")),
    ("psycopg (PostgreSQL driver, pool)", ("/psycopg",)),
    ("asgiref (sync/async hand-off)", ("/asgiref/",)),
    ("uvicorn + asyncio (HTTP, event loop)", ("/uvicorn/", "/asyncio/", "/httptools", "/uvloop")),
    ("threads and queues", ("/threading.py", "/concurrent/", "/queue.py")),
    ("JSON (simplejson)", ("/simplejson/", "/json/")),
    ("decimal, uuid, hashlib, secrets", ("/decimal.py", "/_pydecimal", "/uuid.py", "/hashlib", "/secrets.py",
                                         "/random.py")),
    ("Redis client", ("/redis/",)),
]


def finish(spy: subprocess.Popen | None, raw: Path) -> list[tuple[str, float]]:
    """Wait for a sampling run started by `sample` (killed if it overruns), then summarise it."""
    if spy is not None:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
    return summarise(raw)


def summarise(raw: Path, top: int = 12) -> list[tuple[str, float]]:
    """Share of on-CPU samples by the package of the innermost frame that is not the
    standard library's plumbing."""
    counts: Counter = Counter()
    total = 0
    if not raw.exists():
        return []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        label = next((name for name, needles in PACKAGES if any(n in leaf for n in needles)), "other (stdlib, C)")
        counts[label] += int(number)
        total += int(number)
    return [(label, n / total) for label, n in counts.most_common(top)] if total else []


def settle(busy_below: float = 0.3, seconds: float = 2.0, limit: float = 60.0) -> float:
    """Wait until the machine is quiet (less than `busy_below` busy for `seconds`), so that a
    phase is not measured amid the leftovers of the previous one (Celery draining, autovacuum).
    Returns how long it waited."""
    started = time.monotonic()
    quiet_since = None
    previous = cpu_snapshot()
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        current = cpu_snapshot()
        total = current["total"] - previous["total"]
        busy = (current["busy"] - previous["busy"]) / total if total else 0.0
        previous = current
        if busy < busy_below:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= seconds:
                break
        else:
            quiet_since = None
    return time.monotonic() - started
