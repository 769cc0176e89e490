"""Test data builders. Pots are created through the catalogue service so the ledger books
their initial seed, exactly as the admin does."""

from decimal import Decimal as D

import factory
from django.contrib.auth.hashers import make_password

from portal.models import Brand, Currency, Operator, ServiceAccount
from portal.money import iso_exponent
from sources import services as catalogue
from sources.models import Game, GameGroup, JackpotInstance, Pot, Source, SourceMapping

RATES = {"EUR": D("1"), "GBP": D("0.8592"), "USD": D("1.0762"), "SEK": D("11.6761"), "JPY": D("162.35")}


def currencies(**extra) -> dict[str, Currency]:
    rates = {**RATES, **extra}
    return {
        code: Currency.objects.update_or_create(code=code, defaults={"multiplier": rate, "exponent": iso_exponent(code)})[0]
        for code, rate in rates.items()
    }


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator
        django_get_or_create = ["id"]

    id = factory.Sequence(lambda n: f"operator{n}")
    name = factory.LazyAttribute(lambda o: o.id.title())


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ["operator", "code"]

    operator = factory.SubFactory(OperatorFactory)
    code = factory.Sequence(lambda n: f"brand{n}")


class ServiceAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceAccount

    operator = factory.SubFactory(OperatorFactory)
    username = factory.Sequence(lambda n: f"service{n}")
    password = factory.LazyFunction(lambda: make_password("service-pass"))


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    operator = factory.SubFactory(OperatorFactory)
    brand = None
    source_id = factory.Sequence(lambda n: f"source-{n}")


class GameGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GameGroup

    operator = factory.SubFactory(OperatorFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    source = factory.SubFactory(SourceFactory, operator=factory.SelfAttribute("..operator"))


class GameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Game

    group = factory.SubFactory(GameGroupFactory)
    provider = "provider"
    game_code = factory.Sequence(lambda n: f"game-{n}")


def hit_rate_pot(pot_id: str, *, share: str, cost: str = "0.1", magic: int = 5, seed: str = "0",
                 seed_share: str = "0", tier: int = 0, **extra) -> dict:
    return {"pot_id": pot_id, "share": D(share), "seed_share": D(seed_share), "initial_seed": D(seed),
            "mechanic": Pot.Mechanic.HIT_RATE, "cost_per_attempt": D(cost), "max_magic_number": magic,
            "tier": tier, **extra}


def make_instance(*, operator: Operator, pots: list[dict], sources: list[Source] = (), allowed_brands=(),
                  currency: str = "EUR", **fields) -> JackpotInstance:
    fields.setdefault("name", f"Jackpot {JackpotInstance.objects.count() + 1}")
    fields.setdefault("state", JackpotInstance.State.ACTIVE)
    fields.setdefault("contribution_type", JackpotInstance.ContributionType.PERCENTAGE)
    fields.setdefault("contribution_value", D("0.1"))
    fields.setdefault("house_share", D(1) - sum((p["share"] for p in pots), D(0)))
    instance = JackpotInstance.objects.create(operator=operator, currency_id=currency, **fields)
    for spec in pots:
        catalogue.pot_create(pot=Pot(jackpot=instance, **spec))
    for priority, source in enumerate(sources, start=1):
        SourceMapping.objects.create(source=source, jackpot=instance, priority=priority)
    if allowed_brands:
        instance.allowed_brands.set(allowed_brands)
    return instance


def three_pot_instance(*, operator: Operator, **fields) -> JackpotInstance:
    """The SOP's three-pot template: 0.25/0.25/0.2 pots with 15% to seed funds, 0.3 house."""
    return make_instance(
        operator=operator,
        pots=[
            hit_rate_pot("minor", share="0.25", seed_share="0.15", seed="10", magic=5, tier=1),
            hit_rate_pot("major", share="0.25", seed_share="0.15", seed="100", magic=25, tier=2),
            hit_rate_pot("mega", share="0.2", seed_share="0.15", seed="1000", magic=1000, tier=3),
        ],
        **fields,
    )
