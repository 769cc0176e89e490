"""Demo data: the seed documents' world (`../shared/seeds/`), safe to run twice.

Every example of the two seed documents works against it as pasted: the instances carry the
seeds' ids and the roles the seeds give them, the seeds' players exist (player_00001 holds
8 + 3 raffle tickets, player_01010 none), and the seeds' sources and game code route to a
jackpot. The command updates what exists and creates what is missing.
"""

import uuid
from decimal import Decimal as D

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from contributions.models import WalletConfig
from contributions.schemas import parse_contribution
from contributions.services.engine import contribution_record
from demo.world import (
    CONFIG_SERVICE,
    CURRENCIES,
    DEMO_SECRET,
    DEMO_WALLET_PORT,
    DEPOSIT_ID,
    DIRECT_ID,
    EGYPTIAN_GAMES,
    FAIR,
    GAME_RAFFLE_ID,
    MEGA_ID,
    PLAYERS,
    RAFFLE_ID,
    ROLES,
    SERVICE,
    SOURCES,
    STAFF,
    TICKETS,
)
from players.services import optin_set, player_get_or_create
from portal import jsonutil
from portal.models import Brand, Currency, Operator, StaffScope
from portal.money import iso_exponent
from portal.services import service_account_save
from sources import services as catalogue
from sources.models import (
    Game,
    GameGroup,
    InstanceCurrencyLimit,
    JackpotInstance,
    Pot,
    Source,
    SourceMapping,
)


class Command(BaseCommand):
    help = "Load the seed documents' demo world: operator, brands, sources, games, jackpots, players, " \
           "accounts and staff users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="http://127.0.0.1:8000", help="Base URL printed in the summary.")

    def handle(self, *args, host, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates accounts with published passwords; it never runs in production.")
        with transaction.atomic():
            self.currencies()
            operator, brand1, brand2 = self.operator()
            sources = self.sources(operator)
            instances = self.instances(operator, brand1, brand2, sources)
            service_account_save(operator=operator, username=SERVICE[0], password=SERVICE[1])
            service_account_save(operator=operator, username=CONFIG_SERVICE[0], password=CONFIG_SERVICE[1],
                                 can_configure=True)
            # brand1 pays side bets through the reference wallet (`runportal --demo-wallet`);
            # brand2 has no wallet and records side bets without debiting anyone.
            WalletConfig.objects.update_or_create(
                brand=brand1, defaults={"base_url": f"http://127.0.0.1:{DEMO_WALLET_PORT}", "secret_key": DEMO_SECRET})
            self.staff(operator, brand1)
            for player_id, country in PLAYERS:
                player_get_or_create(brand=brand1, player_id=player_id, country=country, currency="EUR")
            # The seeds' contribution examples for player_00001 on the opt-in jackpot go through at once.
            optin_set(brand=brand1, player_id="player_00001", instance=instances[MEGA_ID], opt_in=True,
                      currency="EUR", country="MT", reason="demo data")
        self.tickets(operator)
        self.summary(host, operator)

    def currencies(self):
        for code, (name, multiplier) in CURRENCIES.items():
            Currency.objects.update_or_create(
                code=code, defaults={"name": name, "multiplier": multiplier, "exponent": iso_exponent(code)}
            )

    def operator(self):
        operator, _ = Operator.objects.get_or_create(pk="thrilltech", defaults={"name": "ThrillTech Demo Casino"})
        brand1, _ = Brand.objects.get_or_create(operator=operator, code="brand1", defaults={"name": "Brand One"})
        brand2, _ = Brand.objects.update_or_create(
            operator=operator, code="brand2", defaults={"name": "Brand Two", "side_bets_without_wallet": True})
        return operator, brand1, brand2

    def sources(self, operator):
        sources = {}
        for source_id, name in SOURCES:
            sources[source_id], _ = Source.objects.get_or_create(
                operator=operator, brand=None, source_id=source_id, defaults={"name": name}
            )
        group, _ = GameGroup.objects.get_or_create(
            operator=operator, name="Egyptian games", defaults={"source": sources["egyptian-games"]}
        )
        for provider, code, name in EGYPTIAN_GAMES:
            Game.objects.get_or_create(group=group, provider=provider, game_code=code, defaults={"name": name})
        return sources

    def instance(self, pk, operator, pots, mapping, **fields):
        instance = JackpotInstance.objects.filter(pk=pk).first()
        if instance is None:
            instance = JackpotInstance.objects.create(id=uuid.UUID(pk), name=ROLES[pk][0], operator=operator,
                                                      **fields)
            for spec in pots:
                catalogue.pot_create(pot=Pot(jackpot=instance, **spec))
        for source, priority in mapping:
            SourceMapping.objects.get_or_create(source=source, jackpot=instance, defaults={"priority": priority})
        if instance.is_raffle and instance.raffle_period_end is None:
            catalogue.raffle_period_open(instance, start=timezone.now())
            instance.save(update_fields=["raffle_period_start", "raffle_period_end"])
        return instance

    def instances(self, operator, brand1, brand2, sources) -> dict[str, JackpotInstance]:
        eur = Currency.objects.get(pk="EUR")
        percentage, active = JackpotInstance.ContributionType.PERCENTAGE, JackpotInstance.State.ACTIVE
        mega = self.instance(
            MEGA_ID, operator,
            pots=[
                {"pot_id": "minor", "tier": 1, "share": D("0.25"), "seed_share": D("0.15"), "initial_seed": D("10"),
                 "mechanic": Pot.Mechanic.HIT_RATE, "cost_per_attempt": D("0.1"), "max_magic_number": 50},
                {"pot_id": "major", "tier": 2, "share": D("0.25"), "seed_share": D("0.15"), "initial_seed": D("100"),
                 "mechanic": Pot.Mechanic.HIT_RATE, "cost_per_attempt": D("0.1"), "max_magic_number": 1000},
                {"pot_id": "mega", "tier": 3, "share": D("0.20"), "seed_share": D("0.15"), "initial_seed": D("1000"),
                 "mechanic": Pot.Mechanic.HIT_RATE, "cost_per_attempt": D("0.1"), "max_magic_number": 20000},
            ],
            mapping=[(sources["casino-sitewide"], 1)],
            currency=eur, state=active, opt_in_required=True,
            contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"),
            house_share=D("0.30"), withhold_limit=D("5000"),
        )
        for code, (low, high, default) in FAIR.items():
            InstanceCurrencyLimit.objects.get_or_create(
                jackpot=mega, currency_id=code,
                defaults={"min_value": low, "max_value": high, "default_value": default},
            )
        mega.allowed_brands.set([brand1, brand2])
        deposit = self.instance(
            DEPOSIT_ID, operator,
            pots=[{"pot_id": "deposit", "tier": 1, "share": D("0.90"), "seed_share": D("0.10"),
                   "initial_seed": D("50"), "mechanic": Pot.Mechanic.HIT_RATE, "cost_per_attempt": D("1"),
                   "max_magic_number": 500}],
            mapping=[(sources["deposit"], 1)],
            currency=eur, state=active, contribution_type=percentage, contribution_value=D("0.01"),
            house_share=D("0.10"),
        )
        raffle = self.instance(
            RAFFLE_ID, operator,
            pots=[{"pot_id": "prize", "tier": 1, "share": D("0.95"), "initial_seed": D("100"),
                   "mechanic": Pot.Mechanic.PRIZE}],
            mapping=[(sources["egyptian-games"], 1)],
            currency=eur, state=active, jackpot_type=JackpotInstance.Type.RAFFLE,
            contribution_type=percentage, contribution_value=D("0.005"),
            house_share=D("0.05"), ticket_cost=D("1"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
            raffle_recurring=True, raffle_period_seconds=7 * 24 * 3600,
        )
        game_raffle = self.instance(
            GAME_RAFFLE_ID, operator,
            pots=[{"pot_id": "prize", "tier": 1, "share": D("0.90"), "initial_seed": D("20"),
                   "mechanic": Pot.Mechanic.PRIZE}],
            mapping=[(sources["provider-game-code"], 1)],
            currency=eur, state=active, jackpot_type=JackpotInstance.Type.RAFFLE,
            contribution_type=percentage, contribution_value=D("0.01"),
            house_share=D("0.10"), ticket_cost=D("1"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
            raffle_recurring=True, raffle_period_seconds=24 * 3600,
        )
        must_drop = self.instance(
            DIRECT_ID, operator,
            pots=[
                {"pot_id": "hourly", "tier": 1, "share": D("0.3"), "seed_share": D("0.1"), "initial_seed": D("5"),
                 "mechanic": Pot.Mechanic.MUST_DROP_TIME, "drop_window_hours": 1},
                {"pot_id": "big", "tier": 2, "share": D("0.6"), "seed_share": D("0.1"), "initial_seed": D("100"),
                 "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT, "drop_ceiling": D("500")},
            ],
            mapping=[(sources["must-drop"], 1)],
            currency=eur, state=active, contribution_type=percentage, contribution_value=D("0.02"),
            house_share=D("0.10"),
        )
        return {str(i.pk): i for i in (mega, deposit, raffle, game_raffle, must_drop)}

    def tickets(self, operator):
        """player_00001's raffle tickets of the seed (8 and 3), earned by real contributions: one
        per raffle and period, so a second run replays them instead of adding tickets."""
        for raffle_id, source_id, wager in TICKETS:
            raffle = JackpotInstance.objects.get(pk=raffle_id)
            body = {"token": "token_00001", "brand_id": "thrilltech:brand1", "player_id": "player_00001",
                    "player_country": "MT", "source_id": source_id, "currency": "EUR", "base_wager": wager,
                    "gameround_id": f"demo-tickets-{raffle.pk.hex[:8]}-{raffle.raffle_period}"}
            contribution_record(operator_id=operator.pk, request=parse_contribution(jsonutil.dumps(body).encode()))

    def staff(self, operator, brand1):
        for username, password, role, scope in STAFF:
            user = User.objects.filter(username=username).first() or User(username=username)
            user.is_staff = True
            user.is_superuser = role is None
            user.set_password(password)
            user.save()
            if role:
                user.groups.set([Group.objects.get(name=role)])
            staff_scope, _ = StaffScope.objects.get_or_create(user=user)
            staff_scope.all_operators = scope == "all"
            staff_scope.save()
            staff_scope.operators.set([operator] if scope == "thrilltech" else [])
            staff_scope.brands.set([brand1] if scope == "thrilltech:brand1" else [])

    def summary(self, host, operator):
        out = self.stdout.write
        ws = host.replace("http", "ws", 1)
        out(self.style.SUCCESS("Demo data ready (the seed documents' world: their examples work as pasted)."))
        out(f"\n  Portal        {host}/           (staff pages)")
        out(f"  Admin         {host}/admin/")
        out(f"  API docs      {host}/docs       (OpenAPI: {host}/openapi.json)")
        out(f"  WebSocket API {host}/docs/websockets/ (AsyncAPI: {host}/asyncapi.json)")
        out(f"  Demo casino   {host}/demo/casino/ (the lobby widget; demo mode: make run, or PORTAL_DEMO=1)")
        out(f"  Health        {host}/health")
        out(f"  WebSockets    {ws}/v1/events/thrilltech/brand1?token=<player token>&currency=EUR")
        out(f"                {ws}/v1/events/service?token=<service token>")
        out("\n  Staff logins (username / password):")
        for username, password, role, scope in STAFF:
            out(f"    {username:<11} {password:<18} {role or 'superuser'} (scope: {scope})")
        out(f"\n  Gateway service account: {SERVICE[0]} / {SERVICE[1]} (operator thrilltech)")
        out(f"  Configuration API account: {CONFIG_SERVICE[0]} / {CONFIG_SERVICE[1]} "
            "(/v1/config/; try: python docs/config_api_example.py)")
        out(f"  Webhook secret of thrilltech (verifies callbacks): {operator.webhook_secret}")
        out("    (rotate: python manage.py rotate_webhook_secret --operator thrilltech)")
        out(f"  Wallets: brand1 debits side bets and credits wins at the reference wallet "
            f"http://127.0.0.1:{DEMO_WALLET_PORT} (player_00001 / token_00001 has 1000 EUR);")
        out("           brand2 has no wallet: it records side bets without debiting anyone.")
        out("\n  Jackpots:")
        for instance in instance_lines(operator):
            out(f"    {instance}")
        older = JackpotInstance.objects.filter(operator=operator, name__in=[n for n, _ in ROLES.values()]).exclude(
            pk__in=list(ROLES))
        if older.exists():  # a database from before the demo took the seeds' ids
            out(self.style.WARNING("    Jackpots of an older demo share these names and sources: start from an "
                                   "empty database (make clean) for the seeds' world alone."))
        out("\n  Players (brand1): player_00001 (opted in to the Casino Mega Jackpot; 8 + 3 raffle tickets), "
            "player_id_token_00001, player_01010.")
        out("\n  Try it:")
        out(f"    TOKEN=$(curl -s -X POST {host}/authenticate/service -H 'Content-Type: application/json' "
            f"-d '{{\"username\":\"{SERVICE[0]}\",\"password\":\"{SERVICE[1]}\"}}' | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"token\"])')")
        out(f"    curl -s -X POST {host}/jackpots/contribute -H \"Authorization: Bearer $TOKEN\" "
            "-H 'Content-Type: application/json' -d '{\"token\":\"token_00001\",\"brand_id\":\"thrilltech:brand1\","
            "\"player_id\":\"player_00001\",\"player_country\":\"UK\",\"source_id\":\"casino-sitewide\","
            "\"gameround_id\":\"1\",\"currency\":\"EUR\",\"base_wager\":1}'")


def instance_lines(operator) -> list[str]:
    """Every jackpot of the operator (the demo's and any added since), with how to reach it."""
    order = list(ROLES)
    instances = sorted(JackpotInstance.objects.filter(operator=operator),
                       key=lambda i: (order.index(str(i.pk)) if str(i.pk) in order else len(order), i.name))
    return [f"{i.name:<22} {i.pk}  ({ROLES.get(str(i.pk), ('', f'{i.jackpot_type}, {i.state}'))[1]})"
            for i in instances]
