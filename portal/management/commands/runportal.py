"""Serve the portal: HTTP and WebSockets from one ASGI server (uvicorn).

In the embedded runtime (no REDIS_URL) one process serves, runs the tasks and the periodic
jobs (portal/runtime.py, started by the server's lifespan). With Redis, run `honcho start`
(Procfile) for web + worker + beat, or this command with --workers for web processes only.
"""

import uvicorn
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import runtime


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
        if runtime.embedded() and workers != 1:
            self.stderr.write("The embedded runtime keeps tasks and live events in one process: using 1 worker.")
            workers = 1
        if demo_wallet:
            if not apps.is_installed("demo"):
                raise CommandError("--demo-wallet needs the demo app, which production does not install.")
            # Imported here: the demo is loaded only when asked for (and never in production).
            from demo.world import start_demo_wallet

            wallet = start_demo_wallet()
            self.stdout.write(f"Reference wallet on {wallet.url} (demo players, see run_reference_wallet).")
        self.stdout.write(self.style.SUCCESS(
            f"Portal on http://{host}:{port}/ ({runtime.describe()}). Ctrl-C stops it."))
        if settings.DEMO_MODE:
            self.stdout.write(f"Demo casino (the lobby widget): http://{host}:{port}/demo/casino/")
        uvicorn.run(
            # lifespan: the embedded runtime starts and stops with the server (runtime.lifespan).
            "portal.asgi:application", host=host, port=port, workers=workers, lifespan="on",
            log_level="info", proxy_headers=True,
            # Frames over WS_MAX_FRAME_CHARS get an Error; only beyond this does uvicorn close (1009).
            ws_max_size=settings.WS_MAX_MESSAGE_BYTES,
        )
