"""Run the reference Standard Wallet with the demo players (demos and tests; not for real money)."""

import time

from django.core.management.base import BaseCommand

from demo.world import DEMO_PLAYERS, DEMO_SECRET, DEMO_WALLET_PORT, start_demo_wallet


class Command(BaseCommand):
    help = "Run the reference Standard Wallet server (in memory: players, balances, tokens, transactions)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=DEMO_WALLET_PORT)
        parser.add_argument("--secret", default=DEMO_SECRET, help="The HMAC secret configured for the brand.")

    def handle(self, *args, host, port, secret, **options):
        server = start_demo_wallet(host, port, secret)
        self.stdout.write(self.style.SUCCESS(f"Reference wallet on {server.url} (secret {secret!r})."))
        for player_id, token, balance, currency, _ in DEMO_PLAYERS:
            self.stdout.write(f"  {player_id:<24} token {token:<16} {balance} {currency}")
        self.stdout.write("  other players are created on first use with 1000.00; Ctrl-C stops it.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
