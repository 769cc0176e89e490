"""Run the reference Standard Wallet (demos and tests; not for real money)."""

import time
from decimal import Decimal

from django.core.management.base import BaseCommand

from contributions.reference_wallet import WalletServer

DEMO_SECRET = "demo-wallet-secret"
DEMO_PLAYERS = [("player_00001", "token_00001", "1000.00", "EUR", "MT"),
                ("player_00002", "token_00002", "250.00", "EUR", "SE"),
                ("player_id_token_00001", "token_id_00001", "1000.00", "EUR", "MT")]


def start_demo_wallet(host: str = "127.0.0.1", port: int = 8201, secret: str = DEMO_SECRET) -> WalletServer:
    """The demo wallet: known players, and any other player created on first use with 1000."""
    server = WalletServer(secret=secret, host=host, port=port, auto_create_balance=Decimal("1000"))
    for player_id, token, balance, currency, country in DEMO_PLAYERS:
        server.state.add_player(player_id, token, balance, currency, country)
    return server.start()


class Command(BaseCommand):
    help = "Run the reference Standard Wallet server (in memory: players, balances, tokens, transactions)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8201)
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
