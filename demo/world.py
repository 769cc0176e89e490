"""The demo world: the seed documents' operator, brands, jackpots, players and accounts
(`seed_demo` writes them), and the demo wallet's players (`run_reference_wallet`,
`runportal --demo-wallet`). Published passwords: never in production (the demo app is not
installed there)."""

from decimal import Decimal as D

from demo.reference_wallet import WalletServer
from portal.roles import AUDITORS, GAME_MAPPING_ADMINS, OPS_STAFF

CURRENCIES = {
    "EUR": ("Euro", D("1")),
    "GBP": ("Pound sterling", D("0.8592")),
    "USD": ("US dollar", D("1.0762")),
    "SEK": ("Swedish krona", D("11.6761")),
    "NOK": ("Norwegian krone", D("11.7020")),
    "JPY": ("Japanese yen", D("162.35")),
    "CAD": ("Canadian dollar", D("1.4753")),
}
# "Always fair" values: natural amounts per currency (min, max, default).
FAIR = {
    "EUR": (D("0.10"), D("5.00"), D("0.10")),
    "GBP": (D("0.10"), D("5.00"), D("0.10")),
    "USD": (D("0.10"), D("5.00"), D("0.10")),
    "SEK": (D("1"), D("50"), D("1")),
    "NOK": (D("1"), D("50"), D("1")),
    "JPY": (D("10"), D("500"), D("10")),
}
STAFF = [
    # username, password, role, scope
    ("admin", "admin-demo-pass", None, "all"),
    ("ops", "ops-demo-pass", OPS_STAFF, "thrilltech"),
    ("ops-brand1", "ops-demo-pass", OPS_STAFF, "thrilltech:brand1"),
    ("mapper", "mapper-demo-pass", GAME_MAPPING_ADMINS, "thrilltech"),
    ("auditor", "auditor-demo-pass", AUDITORS, "all"),
]
SERVICE = ("demo-service", "demo-service-pass")
CONFIG_SERVICE = ("demo-config", "demo-config-pass")  # may use the configuration API (/v1/config/)
EGYPTIAN_GAMES = [("pragmatic", "book-of-dead", "Book of Dead"), ("pragmatic", "pyramid-king", "Pyramid King"),
                  ("netent", "cleopatra-gold", "Cleopatra Gold"), ("netent", "sphinx-wild", "Sphinx Wild")]
SOURCES = [("casino-sitewide", "Casino site-wide"), ("deposit", "Deposits"),
           ("egyptian-games", "Egyptian-themed games"),
           ("provider-game-code", "Provider game (a game code as its own source)"),
           ("must-drop", "Must-drop jackpots")]

# The seeds' instance ids, in the roles the seeds give them.
MEGA_ID = "209cc142-ccb2-4e28-a763-0a031b560d74"  # seed 000: opted in to, with a chosen value (0.30)
RAFFLE_ID = "f0dee1ae-6231-458a-ad6d-4dc0c941e5c3"  # seed 000: player_00001 holds 8 tickets
DIRECT_ID = "0a1cfeea-5b07-4f2b-b2f1-2e4cd2aa991d"  # seed 004: contributed to directly by id
DEPOSIT_ID = "a49ff35f-6ecd-491f-b373-85e6caabacf1"  # seed 004: the instance of the webhook example
GAME_RAFFLE_ID = "7d3c5b1e-2f4a-4e8b-9c6d-0a1b2c3d4e5f"  # seed 000's "raffle_instance_b_id": 3 tickets
ROLES = {  # id: (name, how it is reached)
    MEGA_ID: ("Casino Mega Jackpot",
              "source casino-sitewide; opt-in side bet of 0.10 EUR (player's choice 0.10-5.00), 3 HitRate pots"),
    DEPOSIT_ID: ("Deposit Drop", "source deposit; operator-funded 1% of the deposit"),
    RAFFLE_ID: ("Pharaoh's Raffle", "source egyptian-games or a game code such as book-of-dead; weekly draw"),
    GAME_RAFFLE_ID: ("Provider Game Raffle", "source provider-game-code; daily draw"),
    DIRECT_ID: ("Must Drop", "source must-drop, or directly by id; must-drop pots (hourly, and by 500 EUR)"),
}
# The seeds' players (brand1): tickets held in the current raffle periods.
PLAYERS = [("player_00001", "MT"), ("player_id_token_00001", "MT"), ("player_01010", "MT")]
TICKETS = [(RAFFLE_ID, "egyptian-games", 8), (GAME_RAFFLE_ID, "provider-game-code", 3)]  # 1 per EUR wagered



# The demo wallet (the reference wallet with these players), on DEMO_WALLET_PORT: brand1's wallet.
DEMO_WALLET_PORT = 8201
DEMO_SECRET = "demo-wallet-secret"
DEMO_PLAYERS = [("player_00001", "token_00001", "1000.00", "EUR", "MT"),
                ("player_00002", "token_00002", "250.00", "EUR", "SE"),
                ("player_id_token_00001", "token_id_00001", "1000.00", "EUR", "MT")]


def start_demo_wallet(host: str = "127.0.0.1", port: int = DEMO_WALLET_PORT, secret: str = DEMO_SECRET) -> WalletServer:
    """The demo wallet: known players, and any other player created on first use with 1000."""
    server = WalletServer(secret=secret, host=host, port=port, auto_create_balance=D("1000"))
    for player_id, token, balance, currency, country in DEMO_PLAYERS:
        server.state.add_player(player_id, token, balance, currency, country)
    return server.start()
