"""Bench data, run inside Django (`manage.py shell -c "exec(open('bench/setup.py').read())"`).

Prints one JSON line with what the load generator needs."""

import json
import os
from decimal import Decimal as D

from contributions.models import WalletConfig
from players.models import OptIn, Player
from portal.auth import service_authenticate
from portal.models import Brand, Currency, Operator
from portal.money import iso_exponent
from portal.services import service_account_save
from sources import services as catalogue
from sources.models import JackpotInstance, Pot

for code, rate in {"EUR": "1", "GBP": "0.8592", "USD": "1.0762", "SEK": "11.6761"}.items():
    Currency.objects.update_or_create(code=code, defaults={"multiplier": D(rate), "exponent": iso_exponent(code)})
operator, _ = Operator.objects.get_or_create(pk="bench", defaults={"name": "Bench"})
plain_brand, _ = Brand.objects.get_or_create(operator=operator, code="b1")
wallet_brand, _ = Brand.objects.get_or_create(operator=operator, code="w1")
WalletConfig.objects.update_or_create(brand=wallet_brand, defaults={
    "base_url": os.environ["BENCH_WALLET_URL"], "secret_key": "demo-wallet-secret", "timeout_seconds": 5})
service_account_save(operator=operator, username="bench", password="bench-pass-123")


def three_pots(name, **fields):
    instance = JackpotInstance.objects.filter(name=name).first()
    if instance:
        return instance
    instance = JackpotInstance.objects.create(name=name, operator=operator, currency_id="EUR", state="Active",
                                              house_share=D("0.30"), **fields)
    for pot_id, tier, share, seed, magic in [("minor", 1, "0.25", "10", 2_000), ("major", 2, "0.25", "100", 50_000),
                                             ("mega", 3, "0.2", "1000", 1_000_000)]:
        catalogue.pot_create(pot=Pot(jackpot=instance, pot_id=pot_id, tier=tier, share=D(share),
                                     seed_share=D("0.15"), initial_seed=D(seed), mechanic="HitRate",
                                     cost_per_attempt=D("0.1"), max_magic_number=magic))
    return instance


operator_funded = three_pots("Bench site-wide", contribution_type="Percentage", contribution_value=D("0.01"))
operator_funded.allowed_brands.set([plain_brand])
player_funded = three_pots("Bench side bet", contribution_type="Fixed", contribution_value=D("0.10"),
                           opt_in_required=True)
player_funded.allowed_brands.set([wallet_brand])
players = Player.objects.bulk_create(
    [Player(brand=wallet_brand, player_id=f"p-{n}", country="MT", currency="EUR") for n in range(1000)],
    ignore_conflicts=True)
players = Player.objects.filter(brand=wallet_brand)
OptIn.objects.bulk_create([OptIn(player=p, jackpot=player_funded, opted_in=True) for p in players],
                          ignore_conflicts=True)
print("BENCH " + json.dumps({
    "token": service_authenticate(username="bench", password="bench-pass-123"),
    "plain_brand": plain_brand.key, "wallet_brand": wallet_brand.key,
    "operator_funded": str(operator_funded.pk), "player_funded": str(player_funded.pk),
}))
