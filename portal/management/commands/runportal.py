"""Serve the portal: HTTP and WebSockets from one ASGI server (uvicorn).

Embedded mode (no REDIS_URL) runs a single process with tasks and periodic jobs in-process.
With Redis, run `honcho start` (Procfile) for web + worker + beat, or this command with
--workers for web processes only.
"""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from contributions.management.commands.run_reference_wallet import start_demo_wallet
from portal.celery import PERIODIC
from portal.tasks import EmbeddedScheduler


class Command(BaseCommand):
    help = "Serve HTTP and WebSockets (uvicorn); in embedded mode also run periodic jobs in-process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1,
                            help="Web processes (only with REDIS_URL: embedded state lives in one process).")
        parser.add_argument("--demo-wallet", action="store_true",
                            help="Also run the reference wallet on 127.0.0.1:8201 (what seed_demo configures).")

    def handle(self, *args, host, port, workers, demo_wallet, **options):
        embedded = settings.TASK_MODE == "thread"
        if embedded and workers != 1:
            self.stderr.write("Embedded mode keeps tasks and live events in one process: using 1 worker.")
            workers = 1
        if embedded:
            # JackpotUpdate is published by a ticker on the server's own loop in this mode
            # (portal.live.ensure_embedded_ticker), next to the in-memory channel layer.
            EmbeddedScheduler({k: v for k, v in PERIODIC.items() if k != "jackpot-updates"}).start()
        if demo_wallet:
            wallet = start_demo_wallet()
            self.stdout.write(f"Reference wallet on {wallet.url} (demo players, see run_reference_wallet).")
        mode = "embedded (SQLite/in-process)" if embedded else f"{settings.TASK_MODE} tasks"
        self.stdout.write(self.style.SUCCESS(f"Portal on http://{host}:{port}/ ({mode}). Ctrl-C stops it."))
        if settings.DEMO_MODE:
            self.stdout.write(f"Demo casino (the lobby widget): http://{host}:{port}/demo/casino/")
        uvicorn.run(
            "portal.asgi:application", host=host, port=port, workers=workers, lifespan="off",
            log_level="info", proxy_headers=True,
            # Frames over WS_MAX_FRAME_CHARS get an Error; only beyond this does uvicorn close (1009).
            ws_max_size=settings.WS_MAX_MESSAGE_BYTES,
        )
