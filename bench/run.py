"""The benchmark: one command, the production stack, load from separate processes.

    python bench/run.py [--seconds 20] [--concurrency 32] [--web-workers 2] [--celery-concurrency 4]

It creates a fresh PostgreSQL database, starts the stack as the README runs it in
production (uvicorn web processes, a Celery worker and beat on Redis, the reference wallet),
then measures:

* sync contributions per second and p50/p95/p99 latency (wrk, a separate process), on a
  three-pot HitRate instance, without and with a wallet (Debit per contribution);
* async contributions accepted per second, and processed per second end to end (accepted
  to webhook received by a local receiver);
* WebSocket fan-out: 1,000 subscribed sockets, delay from a pot change to the last socket's
  JackpotUpdate;
* the raw PostgreSQL ceiling for the same durable work (bench/pg_ceiling.py), one per
  transaction and in batches of 8, 32 and 128, and a bare ASGI floor (bench/asgi_floor.py),
  with our ratio to each;
* the reconciliation after all that (must be exact).

Results are printed and appended to bench/RESULTS.md (machine, date, commit).
"""

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpuprofile  # noqa: E402 - bench/cpuprofile.py, next to this script

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DB = "jackpot_bench"
PG = "postgres://postgres@127.0.0.1:5432"
WEB, WALLET, HOOK, FLOOR = 8700, 8701, 8702, 8703


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def stack_env(args) -> dict:
    return {
        **os.environ,
        "PORTAL_PRODUCTION": "1", "DJANGO_SECRET_KEY": "bench-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"{PG}/{DB}", "REDIS_URL": "redis://127.0.0.1:6379/14",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
        "JACKPOT_UPDATE_INTERVAL_SECONDS": str(args.tick), "BENCH_WALLET_URL": f"http://127.0.0.1:{WALLET}",
        "PYTHONUNBUFFERED": "1",
        # The reference wallet is local and fast: let every connection have a Debit in flight
        # (the production default bulkhead of 6 per brand and process would refuse most of them).
        "WALLET_MAX_CALLS_PER_BRAND": "40", "WALLET_MAX_CALLS": "40",
    }


def run(command: list[str], env: dict, **kwargs) -> str:
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kwargs).stdout


class Stack:
    def __init__(self, env: dict, args) -> None:
        self.env, self.args, self.processes = env, args, []
        self.logs = ROOT / "var" / "bench"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str], env: dict | None = None) -> None:
        out = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
        self.processes.append((name, subprocess.Popen(command, cwd=ROOT, env=env or self.env, stdout=out,
                                                      stderr=subprocess.STDOUT, start_new_session=True)))

    def up(self) -> None:
        a = self.args
        # The wallet is the demo app's, which a production process does not install.
        self.start("wallet", [PYTHON, "manage.py", "run_reference_wallet", "--port", str(WALLET)],
                   env={**self.env, "PORTAL_PRODUCTION": "0"})
        self.start("web", [PYTHON, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1",
                           "--port", str(WEB), "--workers", str(a.web_workers), "--no-access-log",
                           "--log-level", "warning", "--lifespan", "off", "--backlog", "4096"])
        self.start("worker", [PYTHON, "-m", "celery", "-A", "portal", "worker", "-l", "WARNING",
                              "-c", str(a.celery_concurrency), "--prefetch-multiplier", "16",
                              "--without-gossip", "--without-mingle", "--without-heartbeat"])
        self.start("beat", [PYTHON, "-m", "celery", "-A", "portal", "beat", "-l", "WARNING",
                            "-s", str(self.logs / "beat-schedule")])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{WEB}/health", timeout=2).read()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the web server did not come up; see var/bench/web.log")

    def pid(self, name: str) -> int:
        return next(process.pid for process_name, process in self.processes if process_name == name)

    def down(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wrk(args, env_extra: dict, seconds: float, port: int = WEB) -> dict:
    env = {**os.environ, **env_extra}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.concurrency), "-d", f"{int(seconds)}s", "--timeout", "10s",
         "-s", str(ROOT / "bench" / "contribute.lua"), f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk has exited: its CPU is ours to read
    cpuprofile.LOAD_SECONDS += (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def sync_figures(result: dict) -> str:
    return (f"{result['per_second']:.0f}/s, p50 {result['p50_us'] / 1000:.1f} ms, p95 {result['p95_us'] / 1000:.1f} ms, "
            f"p99 {result['p99_us'] / 1000:.1f} ms, errors {result['errors']}")


async def receive_webhooks(expected_after: callable, timeout: float) -> dict:
    """A webhook receiver on loopback: counts deliveries and when they arrived."""
    from aiohttp import web

    arrivals: list[float] = []
    seen: set[str] = set()

    async def hook(request):
        await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id not in seen:  # at-least-once delivery: count each webhook once
            seen.add(webhook_id)
            arrivals.append(time.monotonic())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", HOOK).start()
    try:
        return await expected_after(arrivals, timeout)
    finally:
        await runner.cleanup()


def async_run(args, base_env: dict) -> dict:
    async def scenario(arrivals, timeout):
        started = time.monotonic()
        before = cpuprofile.cpu_snapshot()
        result = await asyncio.to_thread(wrk, args, {**base_env, "CALLBACK": f"http://127.0.0.1:{HOOK}/hook",
                                                     "PREFIX": f"async-{int(time.time())}"}, args.seconds)
        # wrk stops counting at its deadline; requests in flight then are accepted too, so the
        # database says how many webhooks to wait for (once those last requests are in).
        accepted, previous = -1, -2
        while accepted != previous:  # until the requests still in flight when wrk stopped are in
            await asyncio.sleep(1)
            previous, accepted = accepted, int(run(["psql", f"{PG}/{DB}", "-tAc", "SELECT count(*) FROM "
                                                    "contributions_contribution WHERE callback_url <> ''"],
                                                   base_env).strip())
        deadline = time.monotonic() + timeout
        while len(arrivals) < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        result.update(accepted=accepted, delivered=len(arrivals),
                      processed_per_second=len(arrivals) / ((arrivals[-1] if arrivals else started) - started or 1),
                      cpu=cpuprofile.cpu_report(before, cpuprofile.cpu_snapshot(), len(arrivals)))
        return result

    return asyncio.run(receive_webhooks(scenario, timeout=args.seconds * 20 + 120))


async def fan_out(token: str, instance: str, sockets: int, tick: float) -> dict:
    import websockets

    url = f"ws://127.0.0.1:{WEB}/v1/events/service?token={token}"
    connections = []
    for _ in range(sockets):
        ws = await websockets.connect(url, max_size=None, open_timeout=30)
        await ws.send(json.dumps({"SubscribeRequest": {"events": [{"source": "thrillpots",
                                                                   "event_type": "JackpotUpdate"}]}}))
        connections.append(ws)

    async def drain(ws):
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=3 * tick + 1)
        except TimeoutError:
            return

    await asyncio.gather(*(drain(ws) for ws in connections))  # snapshots and earlier ticks

    async def first_update(ws) -> float:
        while True:
            message = json.loads(await ws.recv())
            if message["msg_name"] == "JackpotUpdate" and message["data"]["id"] == instance:
                return time.monotonic()

    # Wait out the coalescing interval: this change is then announced at once (the leading
    # edge); under continuous traffic updates come once per interval by design.
    await asyncio.sleep(2 * tick)
    # Measured on a quiet machine: not amid the leftovers of the previous phase (Celery
    # draining, autovacuum) or of 1,000 sockets subscribing.
    quiet_after = await asyncio.to_thread(cpuprofile.settle)
    waiting = [asyncio.create_task(first_update(ws)) for ws in connections]
    body = json.dumps({"token": "t", "brand_id": "bench:b1", "player_id": "fan", "player_country": "MT",
                       "instance_id": instance, "gameround_id": f"fan-{time.time()}", "currency": "EUR",
                       "base_wager": 10}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{WEB}/jackpots/contribute", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    changed = time.monotonic()
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
    arrivals = await asyncio.wait_for(asyncio.gather(*waiting), timeout=30)
    for ws in connections:
        await ws.close()
    return {"sockets": sockets, "first_ms": (min(arrivals) - changed) * 1000, "last_ms": (max(arrivals) - changed) * 1000,
            "spread_ms": (max(arrivals) - min(arrivals)) * 1000, "quiet_after_s": quiet_after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2)  # one per core: each has its database lane
    parser.add_argument("--celery-concurrency", type=int, default=4)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--tick", type=float, default=1.0, help="JackpotUpdate coalescing interval (s).")
    parser.add_argument("--no-record", action="store_true", help="Do not append to bench/RESULTS.md.")
    args = parser.parse_args()

    env = stack_env(args)
    log(f"fresh database {DB}")
    run(["psql", PG + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"], env)
    run(["psql", PG + "/postgres", "-qc", f"CREATE DATABASE {DB}"], env)
    run(["redis-cli", "-n", "14", "flushdb"], env)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env)
    stack = Stack(env, args)
    figures: dict = {}
    try:
        log(f"stack: uvicorn x{args.web_workers}, celery worker -c {args.celery_concurrency}, beat, wallet")
        stack.up()
        setup = run([PYTHON, "manage.py", "shell", "-c", "exec(open('bench/setup.py').read())"], env)
        data = json.loads(next(line for line in setup.splitlines() if line.startswith("BENCH "))[6:])
        base = {"TOKEN": data["token"], "PLAYERS": "1000"}
        log("warm-up")
        wrk(args, {**base, "BRAND": data["plain_brand"], "INSTANCE": data["operator_funded"], "PREFIX": "warm"}, 3)

        log(f"sync, no wallet: {args.concurrency} connections, {args.seconds:g} s")
        before = cpuprofile.cpu_snapshot()
        figures["sync"] = wrk(args, {**base, "BRAND": data["plain_brand"], "INSTANCE": data["operator_funded"],
                                     "PREFIX": "sync"}, args.seconds)
        figures["sync_cpu"] = cpuprofile.cpu_report(before, cpuprofile.cpu_snapshot(), figures["sync"]["requests"])
        log("  " + sync_figures(figures["sync"]))

        # The profile has a run of its own: a sampling profiler slows the process it samples.
        log("sync again, with one web worker sampled by py-spy (not counted above)")
        raw = stack.logs / "web-profile.raw"
        raw.unlink(missing_ok=True)
        workers = cpuprofile.web_pids() or [stack.pid("web")]  # one worker: uvicorn has no supervisor
        spy = cpuprofile.sample(workers[-1], 8, raw)
        wrk(args, {**base, "BRAND": data["plain_brand"], "INSTANCE": data["operator_funded"], "PREFIX": "profiled"},
            10)
        figures["sync_profile"] = cpuprofile.finish(spy, raw)

        log("sync, with a wallet (a Debit at the reference wallet per contribution)")
        figures["sync_wallet"] = wrk(args, {**base, "BRAND": data["wallet_brand"], "INSTANCE": data["player_funded"],
                                            "PREFIX": "wallet"}, args.seconds)
        log("  " + sync_figures(figures["sync_wallet"]))

        log("async: accepted, then processed until the last webhook (the Celery worker sampled by py-spy)")
        raw = stack.logs / "worker-profile.raw"
        raw.unlink(missing_ok=True)
        spy = cpuprofile.sample(stack.pid("worker"), args.seconds, raw, subprocesses=True)
        figures["async"] = async_run(args, {**base, "BRAND": data["plain_brand"], "INSTANCE": data["operator_funded"]})
        figures["async_profile"] = cpuprofile.finish(spy, raw)
        a = figures["async"]
        log(f"  accepted {a['per_second']:.0f}/s (p99 {a['p99_us'] / 1000:.1f} ms); processed end to end "
            f"{a['processed_per_second']:.0f}/s ({a['delivered']}/{a['accepted']} webhooks)")

        log(f"WebSocket fan-out to {args.sockets} sockets (tick {args.tick:g} s)")
        figures["fan_out"] = asyncio.run(fan_out(data["token"], data["operator_funded"], args.sockets, args.tick))
        f = figures["fan_out"]
        log(f"  pot change -> first socket {f['first_ms']:.0f} ms, last socket {f['last_ms']:.0f} ms "
            f"(fan-out spread {f['spread_ms']:.0f} ms)")
    finally:
        stack.down()

    figures["ceilings"] = []
    for writers, batch in ((args.concurrency, 1), (2, 8), (2, 32), (2, 128)):
        log(f"raw PostgreSQL ceiling for the same work: {writers} writers, {batch} per transaction, "
            f"{args.seconds:g} s")
        ceiling = json.loads(run([PYTHON, "bench/pg_ceiling.py", f"{PG}/{DB}", str(writers), str(args.seconds),
                                  str(batch)], env).strip().splitlines()[-1])
        figures["ceilings"].append(ceiling)
        log(f"  {ceiling['per_second']:.0f} contributions/s; our sync rate is "
            f"{figures['sync']['per_second'] / ceiling['per_second']:.2f} of it")
    figures["pg_ceiling"] = figures["ceilings"][0]
    figures["ratio"] = figures["sync"]["per_second"] / figures["pg_ceiling"]["per_second"]

    log(f"bare ASGI floor: uvicorn x{args.web_workers}, no framework, the same wrk load")
    floor = subprocess.Popen([PYTHON, "-m", "uvicorn", "bench.asgi_floor:app", "--host", "127.0.0.1", "--port",
                              str(FLOOR), "--workers", str(args.web_workers), "--no-access-log", "--log-level",
                              "warning", "--backlog", "4096"], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{FLOOR}/", data=b'{"base_wager": 1, "currency": "EUR", "gameround_id": "w"}'),
                    timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        figures["asgi_floor"] = wrk(args, {"TOKEN": "x", "PLAYERS": "1000", "BRAND": "b", "INSTANCE": "i",
                                           "PREFIX": "floor"}, args.seconds, port=FLOOR)
    finally:
        os.killpg(floor.pid, signal.SIGTERM)
        floor.wait(timeout=20)
    log(f"  {figures['asgi_floor']['per_second']:.0f} requests/s; our sync rate is "
        f"{figures['sync']['per_second'] / figures['asgi_floor']['per_second']:.2f} of it")

    log("reconciliation")
    reconcile = subprocess.run([PYTHON, "manage.py", "reconcile"], cwd=ROOT, env=env, capture_output=True, text=True)
    figures["reconcile_ok"] = reconcile.returncode == 0
    log("  " + reconcile.stdout.strip().splitlines()[-1] if reconcile.stdout else reconcile.stderr)

    report(args, figures)


def cpu_line(title: str, cpu: dict) -> str:
    parts = ", ".join(f"{group} {ms:.2f}" for group, ms in cpu["ms_per_request"].items())
    total = sum(cpu["ms_per_request"].values())
    return f"- {title}: {total:.2f} ms of CPU in all ({parts}); the machine was {cpu['machine_busy']:.0%} busy."


def where_time_goes(figures: dict) -> list[str]:
    lines = ["Where the time goes (CPU ms per contribution, from /proc):", "",
             cpu_line("sync, no wallet", figures["sync_cpu"]),
             cpu_line("async, per contribution processed end to end", figures["async"]["cpu"])]
    if figures.get("sync_profile"):
        lines += ["", "One web worker under the sync load (py-spy, on-CPU samples by the package of the running "
                      "frame):", ""]
        lines += [f"- {share:.0%} {label}" for label, share in figures["sync_profile"]]
    if figures.get("async_profile"):
        lines += ["", "The Celery worker processing the async load (py-spy, its processes together):", ""]
        lines += [f"- {share:.0%} {label}" for label, share in figures["async_profile"]]
    return [*lines, ""]


def report(args, figures: dict) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    s, w, a, f = (figures[k] for k in ("sync", "sync_wallet", "async", "fan_out"))
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {commit}",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}. Stack: uvicorn ×{args.web_workers}, "
        f"Celery worker -c {args.celery_concurrency}, beat (tick {args.tick:g} s), reference wallet, PostgreSQL and "
        f"Redis on the same machine; load from wrk ({args.concurrency} connections, {args.seconds:g} s per run).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| sync, no wallet | {s['per_second']:.0f}/s · p50 {s['p50_us'] / 1000:.1f} ms · p95 {s['p95_us'] / 1000:.1f} ms · "
        f"p99 {s['p99_us'] / 1000:.1f} ms · {s['errors']} errors | ≥ 1,000/s, p99 < 50 ms |",
        f"| sync, with wallet | {w['per_second']:.0f}/s · p50 {w['p50_us'] / 1000:.1f} ms · p95 {w['p95_us'] / 1000:.1f} ms · "
        f"p99 {w['p99_us'] / 1000:.1f} ms · {w['errors']} errors | ≥ 400/s |",
        f"| async accepted | {a['per_second']:.0f}/s · p99 {a['p99_us'] / 1000:.1f} ms | ≥ 3,000/s |",
        f"| async processed end to end | {a['processed_per_second']:.0f}/s ({a['delivered']}/{a['accepted']} webhooks) "
        f"| ≥ 1,000/s |",
        f"| fan-out to {f['sockets']} sockets | last socket {f['last_ms']:.0f} ms after the pot change "
        f"(first {f['first_ms']:.0f} ms; spread {f['spread_ms']:.0f} ms; machine quiet after "
        f"{f.get('quiet_after_s', 0):.0f} s) | < 1 s |",
        *(f"| PostgreSQL ceiling, {x['writers']} writers × {x['batch']} per transaction | {x['per_second']:.0f}/s · "
          f"our sync = {s['per_second'] / x['per_second']:.2f} of it | |" for x in figures["ceilings"]),
        f"| bare ASGI floor (uvicorn ×{args.web_workers}, no framework) | {figures['asgi_floor']['per_second']:.0f}/s · "
        f"our sync = {s['per_second'] / figures['asgi_floor']['per_second']:.2f} of it | |",
        f"| reconciliation | {'exact' if figures['reconcile_ok'] else 'DIFFERENCES'} | exact |",
        "",
        *where_time_goes(figures),
    ]
    text = "\n".join(lines)
    print("\n" + text)
    if not args.no_record:
        results = ROOT / "bench" / "RESULTS.md"
        with results.open("a") as out:
            out.write("\n" + text)
        log(f"appended to {results.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
