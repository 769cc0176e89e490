"""The ledger by month (issue 15, records): contributions (and their increments) land in their
month's partition on PostgreSQL, idempotency holds across months, and `archive_contributions`
moves old months to files while `reconcile` stays exact."""

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from contributions import partitions
from contributions.models import (
    ArchivedMonth,
    BoundaryKey,
    Contribution,
    PotIncrement,
    WalletTransaction,
    Win,
)
from contributions.selectors import reconcile_instance
from contributions.services.archive import month_archive
from portal.errors import DomainError
from sources.models import JackpotInstance
from tests import factories
from tests.conftest import body_of
from tests.contributions.conftest import NEVER

pytestmark = pytest.mark.django_db(transaction=True)

JANUARY, FEBRUARY, MARCH = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


@pytest.fixture
def at(monkeypatch):
    """Time stands where the test puts it (the rows' created_at and the portal's clock)."""
    moment = {}
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: moment.get("now") or real_now())

    def move(when: datetime) -> datetime:
        moment["now"] = when
        return when

    return move


@pytest.fixture
def months():
    """Partitions for the test's months (the migration makes the current ones only)."""
    for month in (JANUARY, FEBRUARY, MARCH):
        for table in partitions.PARTITIONED:
            if partitions.is_partitioned():
                partitions.partition_ensure(table, month)


@pytest.fixture
def jackpots(currencies, operator, brand1):
    pot = factories.hit_rate_pot
    # Every contribution of 0.10 EUR hits "always" (chance 0.10 / (0.1 * 1) = 1): wins in the ledger.
    lucky = factories.make_instance(operator=operator, name="Lucky", contribution_value=D("0.1"),
                                    pots=[pot("main", share="0.5", cost="0.1", magic=1, seed="5")])
    steady = factories.make_instance(
        operator=operator, name="Steady", opt_in_required=True, contribution_value=D("0.10"),
        contribution_type=JackpotInstance.ContributionType.FIXED,
        pots=[pot(p, share="0.25", seed_share="0.15", seed=seed, magic=NEVER, tier=t)
              for t, (p, seed) in enumerate([("minor", "10"), ("major", "100"), ("mega", "1000")], start=1)])
    return {"lucky": lucky, "steady": steady}


def play(gateway, contribution, instance, n, **fields):
    response = gateway.contribute(contribution(instance_id=str(instance.pk), gameround_id=f"{instance.name}-{n}",
                                               **fields))
    assert response.status_code == 200, response.content
    return response


def where(model, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def totals(instance) -> dict:
    report = reconcile_instance(instance)
    assert report.ok, report
    return {"contributions": report.contributions, "contributed": report.contributed, "to_pots": report.to_pots,
            "to_seed_funds": report.to_seed_funds, "to_house": report.to_house, "won": report.won,
            "pots": [(p.pot_id, p.value, p.expected_value, p.seed_fund, p.expected_seed_fund) for p in report.pots]}


def test_a_months_boundary_is_crossed_and_a_repeat_months_later_is_recognised(at, months, jackpots, brand1,
                                                                            gateway, contribution):
    from players.services import optin_set

    optin_set(brand=brand1, player_id="p1", instance=jackpots["steady"], opt_in=True, currency="EUR")
    at(datetime(2025, 1, 31, 23, 59, 58, tzinfo=UTC))
    last_of_january = play(gateway, contribution, jackpots["steady"], 1, player_id="p1")
    at(datetime(2025, 2, 1, 0, 0, 1, tzinfo=UTC))
    first_of_february = play(gateway, contribution, jackpots["steady"], 2, player_id="p1")
    at(datetime(2025, 3, 15, 12, tzinfo=UTC))
    repeat = gateway.contribute(contribution(instance_id=str(jackpots["steady"].pk), gameround_id="Steady-1",
                                             player_id="p1"))

    january, february = (Contribution.objects.get(trace_id=body_of(r)["trace_id"])
                         for r in (last_of_january, first_of_february))
    assert (january.created_month, february.created_month) == (JANUARY, FEBRUARY)
    assert {i.created_month for i in january.increments.all()} == {JANUARY}
    assert repeat.status_code == 200 and repeat.headers["Idempotent-Replayed"] == "true"
    assert body_of(repeat)["trace_id"] == str(january.trace_id)
    assert Contribution.objects.count() == 2
    if connection.vendor == "postgresql":
        assert where(Contribution, january.pk) == "contributions_contribution_y2025m01"
        assert where(Contribution, february.pk) == "contributions_contribution_y2025m02"
        assert where(PotIncrement, february.increments.first().pk) == "contributions_potincrement_y2025m02"
        # Both were written within minutes of the boundary: their keys guard against a duplicate
        # racing into the other month's partition.
        assert set(BoundaryKey.objects.values_list("gameround_id", flat=True)) == {"Steady-1", "Steady-2"}


@postgresql_only
def test_a_concurrent_duplicate_on_the_other_side_of_the_boundary_is_refused(at, months, jackpots, brand1):
    """The per-month unique key cannot see the other month; the boundary key can."""
    from django.db import IntegrityError, transaction

    from players.models import Player

    player = Player.objects.create(brand=brand1, player_id="p1")
    fields = {"brand": brand1, "player": player, "player_ref": "p1", "gameround_id": "r-1", "target_kind": "instance",
              "target_id": str(jackpots["steady"].pk), "player_country": "MT", "currency": "EUR",
              "base_wager": D("1")}
    at(datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC))
    Contribution.objects.create(**fields)
    at(datetime(2025, 2, 1, 0, 0, 0, tzinfo=UTC))
    with pytest.raises(IntegrityError), transaction.atomic():
        Contribution.objects.create(**fields)
    at(datetime(2025, 2, 15, tzinfo=UTC))  # mid-month: the month's own unique key holds
    with pytest.raises(IntegrityError), transaction.atomic():
        Contribution.objects.create(**{**fields, "gameround_id": "r-2"})
        Contribution.objects.create(**{**fields, "gameround_id": "r-2"})


def test_archiving_a_month_moves_it_to_files_and_reconcile_stays_exact(at, months, jackpots, brand1, gateway,
                                                                     contribution, tmp_path):
    from players.services import optin_set

    optin_set(brand=brand1, player_id="p1", instance=jackpots["steady"], opt_in=True, currency="EUR")
    at(datetime(2025, 1, 20, tzinfo=UTC))
    for n in range(3):
        play(gateway, contribution, jackpots["steady"], n, player_id="p1")
    play(gateway, contribution, jackpots["lucky"], 1, player_id="p2")  # a win in January
    at(datetime(2025, 2, 10, tzinfo=UTC))
    for n in range(3, 5):
        play(gateway, contribution, jackpots["steady"], n, player_id="p1")
    play(gateway, contribution, jackpots["lucky"], 2, player_id="p2")
    january_win = Win.objects.get(contribution__created_month=JANUARY)
    january_trace = january_win.contribution.trace_id
    before = {name: totals(instance) for name, instance in jackpots.items()}
    at(datetime(2025, 3, 5, tzinfo=UTC))

    call_command("archive_contributions", "--keep-months", "1", "--dir", str(tmp_path))  # January only

    after = {name: totals(instance) for name, instance in jackpots.items()}
    assert after == before  # reconcile is exact, with the same totals
    assert not Contribution.objects.filter(created_month=JANUARY).exists()
    assert not PotIncrement.objects.filter(created_month=JANUARY).exists()
    assert Contribution.objects.filter(created_month=FEBRUARY).count() == 3
    archive = ArchivedMonth.objects.get()
    assert (archive.month, archive.contributions, archive.increments, archive.wins_unlinked) == (JANUARY, 4, 10, 1)
    january_win.refresh_from_db()
    assert january_win.contribution is None  # the win stays (meters, last hits); its contribution is named
    assert january_win.evidence["archived_contribution"]["trace_id"] == str(january_trace)
    manifest = json.loads((tmp_path / "2025-01" / "manifest.json").read_text())
    files = {f["file"]: f["rows"] for f in manifest["files"]}
    assert files["contributions.jsonl.gz"] == 4 and files["increments.jsonl.gz"] == 10
    with gzip.open(tmp_path / "2025-01" / "contributions.jsonl.gz", "rt") as stream:
        rows = [json.loads(line) for line in stream]
    assert {r["fields"]["gameround_id"] for r in rows} == {"Steady-0", "Steady-1", "Steady-2", "Lucky-1"}
    assert all("token" not in r["fields"] for r in rows)
    if connection.vendor == "postgresql":  # the month's partitions are gone, not emptied
        assert JANUARY not in partitions.partitions_of("contributions_contribution")
        assert JANUARY not in partitions.partitions_of("contributions_potincrement")
    if WalletTransaction.objects.exists():  # with a wallet: the January Debits went with their month
        assert not WalletTransaction.objects.filter(kind="Debit", gameround_id__in=["Steady-0", "Steady-1"]).exists()

    at(datetime(2025, 3, 6, tzinfo=UTC))
    play(gateway, contribution, jackpots["steady"], 9, player_id="p1")  # life goes on
    assert reconcile_instance(jackpots["steady"]).ok
    assert reconcile_instance(jackpots["steady"]).contributions == before["steady"]["contributions"] + 1


def test_a_month_with_unsettled_rows_is_not_archived(at, months, jackpots, gateway, contribution, tmp_path):
    JackpotInstance.objects.filter(pk=jackpots["lucky"].pk).update(withhold_limit=D("1"))
    at(datetime(2025, 1, 20, tzinfo=UTC))
    play(gateway, contribution, jackpots["lucky"], 1, player_id="p2")  # a win above the limit: withheld
    at(datetime(2025, 3, 5, tzinfo=UTC))

    with pytest.raises(DomainError) as refused:
        month_archive(month=JANUARY, directory=tmp_path, actor="test")
    with pytest.raises(DomainError) as current:
        month_archive(month=MARCH, directory=tmp_path, actor="test")

    assert refused.value.message == "2025-01 still has 1 wins withheld or waiting for their Credit"
    assert current.value.message == "2025-03 is not a month that has ended"
    assert Contribution.objects.filter(created_month=JANUARY).count() == 1 and not ArchivedMonth.objects.exists()


@postgresql_only
def test_rows_of_a_month_without_a_partition_wait_in_the_default_one_and_move_when_it_is_made(
        at, jackpots, gateway, contribution):
    for table in partitions.PARTITIONED:  # no partition for June 2024 (an earlier run may have made one)
        partitions.partition_drop(table, date(2024, 6, 1))
    at(datetime(2024, 6, 10, tzinfo=UTC))
    response = play(gateway, contribution, jackpots["lucky"], 1, player_id="p2")
    row = Contribution.objects.get(trace_id=body_of(response)["trace_id"])
    assert where(Contribution, row.pk) == "contributions_contribution_default"

    assert partitions.partition_ensure("contributions_contribution", date(2024, 6, 1))
    partitions.partition_ensure("contributions_potincrement", date(2024, 6, 1))

    assert where(Contribution, row.pk) == "contributions_contribution_y2024m06"
    assert reconcile_instance(jackpots["lucky"]).ok
    partitions.partitions_ensure(ahead=2)
    assert partitions.partitions_ensure(ahead=2) == []  # made once
    assert {date(2024, 7, 1), date(2024, 8, 1)} <= set(partitions.partitions_of("contributions_potincrement"))
