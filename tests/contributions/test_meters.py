"""Meters per pot, as NJ 13:69E-1.39A defines them (issue 15, item 2): qualifying wagers,
contributions, hits, wins by level, overflow, current value and reserve, and the last 25
hits -- on a staff page and through the API, each within the reader's scope."""

from decimal import Decimal as D

import pytest
from django.test import Client

from contributions.models import PotIncrement, Win
from portal import jsonutil
from sources.mechanics import use_randomness
from sources.models import Pot
from tests import factories
from tests.conftest import body_of

NEVER = 10**9


class Draws:
    """Each HitRate pot's draw in turn (pots in creation order): a hit where the script says so."""

    def __init__(self, *hits: bool) -> None:
        self.hits = list(hits)

    def randbelow(self, n: int) -> int:
        return 0 if (self.hits.pop(0) if self.hits else False) else n - 1

    def token_hex(self, nbytes: int) -> str:
        return "0" * (2 * nbytes)


@pytest.fixture
def metered(gateway, contribution, currencies, operator, brand1, brand2):
    """30 contributions of 1 EUR: minor (seed 1, cap 2, 0.45 a contribution) reaches its cap on
    the 3rd (0.35 overflows), then hits on each of the last 27 (the 4th overflows whole);
    brand1 and brand2 players take turns."""
    instance = factories.make_instance(operator=operator, name="Metered", contribution_value=D("0.1"), pots=[
        factories.hit_rate_pot("minor", share="0.5", seed_share="0.1", seed="1", cost="0.1", magic=NEVER, tier=1,
                               cap=D("2")),
        factories.hit_rate_pot("major", share="0.3", seed="10", cost="1", magic=NEVER, tier=2),
    ])
    for number in range(30):
        brand = "thrilltech:brand1" if number % 2 == 0 else "thrilltech:brand2"
        with use_randomness(Draws(number >= 3, False)):
            response = gateway.contribute(contribution(instance_id=str(instance.pk), base_wager=D("10"),
                                                       brand_id=brand, player_id=f"player-{brand[-1]}",
                                                       gameround_id=f"m-{number}"))
        assert response.status_code == 200, body_of(response)
    return instance


def test_meters_count_what_the_pot_went_through(metered, staff_client):
    admin = staff_client("root", None)
    body = jsonutil.loads(admin.get(f"/api/reports/meters/{metered.pk}").content)
    minor = next(p for p in body["pots"] if p["pot_id"] == "minor")
    major = next(p for p in body["pots"] if p["pot_id"] == "major")
    meters = minor["meters"]
    assert meters["qualifying_wagers"] == 30 == major["meters"]["qualifying_wagers"]
    assert meters["wagers_by_currency"] == {"EUR": D("300")}
    assert (meters["to_value"], meters["to_reserve"]) == (D("12.7"), D("2.3"))  # 30 x 0.45 - overflow; 30 x 0.05 + overflow
    assert meters["contributions"] == D("15")
    assert meters["overflow"] == D("0.8")  # 0.35 on the 3rd contribution, all 0.45 of the 4th
    assert meters["hits"] == 27 and meters["wins"] == D("2") + 26 * D("1.45")
    assert major["meters"]["hits"] == 0 and major["meters"]["wins"] == 0
    pot = Pot.objects.get(jackpot=metered, pot_id="minor")
    assert (meters["current_value"], meters["reserve"], meters["seed_deficit"]) == (
        pot.current_value, pot.seed_fund, pot.seed_deficit)
    assert minor["parameters"] == {"base_amount": D("1"), "reset_amount": D("1"), "increment_rate": D("0.45"),
                                   "hidden_rate": D("0.05"), "limit": D("2")}
    # The meters agree with the ledger rows they count.
    increments = PotIncrement.objects.filter(pot=pot)
    assert sum(i.overflow for i in increments) == meters["overflow"]
    assert Win.objects.filter(pot=pot).count() == meters["hits"]


def test_the_last_25_hits_newest_first(metered, staff_client):
    admin = staff_client("root", None)
    body = jsonutil.loads(admin.get(f"/api/reports/meters/{metered.pk}").content)
    hits = next(p for p in body["pots"] if p["pot_id"] == "minor")["last_hits"]
    newest = list(Win.objects.filter(pot__jackpot=metered, pot__pot_id="minor").order_by("-id")[:25])
    assert [h["win_id"] for h in hits] == [w.pk for w in newest]
    assert {h["brand_id"] for h in hits} == {"thrilltech:brand1", "thrilltech:brand2"}
    page = admin.get(f"/reports/meters/{metered.pk}/").content.decode()
    assert "Last 25 hits of minor" in page and "Last 0 hits of major" in page


def test_a_brand_scoped_auditor_sees_the_pots_meters_but_only_its_players_hits(metered, staff_client, brand1,
                                                                              brand2, operator):
    auditor = staff_client("audrey", "Auditors", brands=[brand1])
    body = jsonutil.loads(auditor.get(f"/api/reports/meters/{metered.pk}").content)
    minor = next(p for p in body["pots"] if p["pot_id"] == "minor")
    assert minor["meters"]["hits"] == 27  # the pot's meter: every brand it serves
    assert minor["last_hits"] and {h["brand_id"] for h in minor["last_hits"]} == {"thrilltech:brand1"}
    page = auditor.get(f"/reports/meters/{metered.pk}/").content.decode()
    assert "player-1" in page and "player-2" not in page
    own = factories.make_instance(operator=operator, brand=brand2, name="Brand2's own",
                                  pots=[factories.hit_rate_pot("solo", share="1")])
    assert auditor.get(f"/reports/meters/{own.pk}/").status_code == 404
    assert auditor.get(f"/api/reports/meters/{own.pk}").status_code == 404


def test_meters_through_the_api_with_a_service_token(metered, service_token):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {service_token}").get(f"/api/reports/meters/{metered.pk}")
    assert response.status_code == 200
    assert [p["pot_id"] for p in jsonutil.loads(response.content)["pots"]] == ["major", "minor"]
    other = factories.ServiceAccountFactory(operator=factories.OperatorFactory(id="elsewhere"), username="elsewhere")
    token = body_of(Client().post("/authenticate/service", {"username": other.username, "password": "service-pass"},
                                  content_type="application/json"))["token"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/reports/meters/{metered.pk}").status_code == 404
