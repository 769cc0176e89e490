"""Archive: a whole month of the ledger leaves the database for export files (issue 15).

A year of traffic at 1,000 contributions a second is 31 billion contributions and a multiple
of that in pot increments: the database keeps the recent months (ARCHIVE_KEEP_MONTHS) and
`archive_contributions` moves older months out, one month at a time, in one transaction:

1. refuse while the month holds anything unsettled: an async contribution not processed, a
   webhook still being delivered, a wallet transaction not final, a win withheld or waiting
   for its Credit;
2. lock the month's partitions against writes, add up what the month carried per instance
   (its processed contributions) and per pot (its increments): `ArchivedTotal` rows, which
   `reconcile` adds to the rows still in the database, so it stays exact;
3. write the month's rows to `<ARCHIVE_DIR>/<YYYY-MM>/` as Django JSON Lines, gzipped (one
   file per table, `manage.py loaddata` reads them back), with their SHA-256 in a manifest;
4. keep the wins (the meters and the regulator's last hits need them) and their Credits,
   unlinked from the archived contribution (whose trace id and gameround stay in the win's
   evidence); remove the month's deliveries, attempts and other wallet transactions;
5. drop the month's partitions (PostgreSQL), or delete the month's rows (rows that landed in
   the default partition, and SQLite).
"""

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.core import serializers
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from contributions import partitions
from contributions.models import (
    ArchivedMonth,
    ArchivedTotal,
    Contribution,
    PotIncrement,
    WalletTransaction,
    WebhookAttempt,
    WebhookDelivery,
    Win,
)
from portal.errors import DomainError
from portal.money import ZERO

# Never exported: a session token is not kept after use (cleared when processed anyway).
NOT_EXPORTED = {"token"}


@dataclass(frozen=True)
class Export:
    name: str
    rows: object  # a queryset


def months_archivable(*, keep_months: int, now=None) -> list[date]:
    """Months holding contributions older than the current month and the `keep_months` before
    it, oldest first (on PostgreSQL: read from the partitions, not from their rows)."""
    cutoff = partitions.add_months(partitions.month_of(now or timezone.now()), -keep_months)
    if partitions.is_partitioned():
        found = {m for m in partitions.partitions_of("contributions_contribution") if m < cutoff}
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT created_month FROM contributions_contribution_default "
                           "WHERE created_month < %s", [cutoff])
            found |= {row[0] for row in cursor.fetchall()}
    else:
        found = set(Contribution.objects.filter(created_month__lt=cutoff).order_by().values_list(
            "created_month", flat=True).distinct())
    return sorted(found - set(ArchivedMonth.objects.values_list("month", flat=True)))


def month_unsettled(month: date) -> list[str]:
    """Why the month cannot be archived yet (empty: it can)."""
    of_month = {"contribution__created_month": month}
    checks = [
        (Contribution.objects.filter(created_month=month, status=Contribution.Status.ACCEPTED),
         "async contributions not processed yet"),
        (WebhookDelivery.objects.filter(**of_month, status__in=[WebhookDelivery.Status.PENDING,
                                                                WebhookDelivery.Status.DELIVERING]),
         "webhook deliveries still being sent"),
        (WalletTransaction.objects.filter(**of_month).exclude(status__in=[
            WalletTransaction.Status.SUCCEEDED, WalletTransaction.Status.FAILED, WalletTransaction.Status.CANCELLED]),
         "wallet transactions not final"),
        (Win.objects.filter(**of_month, status__in=[Win.Status.WITHHELD, Win.Status.PENDING_CREDIT]),
         "wins withheld or waiting for their Credit"),
    ]
    return [f"{rows.count()} {what}" for rows, what in checks if rows.exists()]


def _exports(month: date) -> list[Export]:
    of_month = {"contribution__created_month": month}
    return [
        Export("contributions", Contribution.objects.filter(created_month=month)),
        Export("increments", PotIncrement.objects.filter(created_month=month)),
        Export("wins", Win.objects.filter(**of_month)),
        Export("webhook_deliveries", WebhookDelivery.objects.filter(**of_month)),
        Export("webhook_attempts", WebhookAttempt.objects.filter(delivery__contribution__created_month=month)),
        Export("wallet_transactions", WalletTransaction.objects.filter(**of_month)),
    ]


def _write(export: Export, folder: Path) -> dict:
    """One table's rows of the month as Django JSON Lines, gzipped; its rows and digest."""
    model = export.rows.model
    fields = [f.name for f in model._meta.concrete_fields if not f.primary_key and f.name not in NOT_EXPORTED]
    path = folder / f"{export.name}.jsonl.gz"
    counted = [0]

    def rows():
        for row in export.rows.order_by("pk").iterator(chunk_size=5000):
            counted[0] += 1
            yield row

    with gzip.open(path, "wt", encoding="utf-8") as stream:
        serializers.serialize("jsonl", rows(), fields=fields, stream=stream)
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return {"file": path.name, "model": model._meta.label_lower, "rows": counted[0], "sha256": digest.hexdigest()}


def _sums(rows, group: tuple[str, ...], fields: tuple[str, ...]) -> dict[tuple, dict]:
    """{group values: {"rows": n, field: exact sum}}: summed by PostgreSQL, or here as Decimals."""
    if connection.vendor == "postgresql":
        return {tuple(r[g] for g in group): r for r in rows.order_by().values(*group).annotate(
            rows=Count("pk"), **{f: Sum(f) for f in fields})}
    totals: dict[tuple, dict] = {}
    for values in rows.values_list(*group, *fields):
        key, amounts = values[:len(group)], values[len(group):]
        line = totals.setdefault(key, {"rows": 0, **{f: ZERO for f in fields}})
        line["rows"] += 1
        for name, amount in zip(fields, amounts, strict=True):
            line[name] += amount
    return totals


def _lock(month: date) -> None:
    """The month's partitions take no writes until the archive commits (a late status change
    would slip past the totals)."""
    if not partitions.is_partitioned():
        return
    names = [partitions.partitions_of(table).get(month) for table in partitions.PARTITIONED]
    with connection.cursor() as cursor:
        for name in filter(None, names):
            cursor.execute(f"LOCK TABLE {name} IN SHARE MODE")


def month_archive(*, month: date, directory: Path, actor: str, now=None) -> ArchivedMonth:
    """Archive one month of the ledger (see the module); refused with ARCHIVE_REFUSED."""
    now = now or timezone.now()
    if month.day != 1 or partitions.add_months(month, 1) > partitions.month_of(now):
        raise DomainError("ARCHIVE_REFUSED", f"{month:%Y-%m} is not a month that has ended")
    folder = Path(directory) / f"{month:%Y-%m}"
    with transaction.atomic():
        _lock(month)
        if ArchivedMonth.objects.filter(month=month).exists():
            raise DomainError("ARCHIVE_REFUSED", f"{month:%Y-%m} was archived already")
        unsettled = month_unsettled(month)
        if unsettled:
            raise DomainError("ARCHIVE_REFUSED", f"{month:%Y-%m} still has {', '.join(unsettled)}")

        processed = Contribution.objects.filter(created_month=month, status=Contribution.Status.PROCESSED,
                                                jackpot__isnull=False)
        by_instance = _sums(processed, ("jackpot_id",), ("amount_base", "house_amount"))
        by_pot = _sums(PotIncrement.objects.filter(created_month=month), ("pot_id", "pot__jackpot_id"),
                       ("value_delta", "seed_delta", "overflow"))

        folder.mkdir(parents=True, exist_ok=True)
        files = [_write(export, folder) for export in _exports(month)]
        manifest = {"month": f"{month:%Y-%m}", "archived_at": now.isoformat(), "files": files}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

        counts = {f["file"].split(".")[0]: f["rows"] for f in files}
        archive = ArchivedMonth.objects.create(
            month=month, archived_at=now, archived_by=actor[:150], directory=str(folder), manifest=manifest,
            contributions=counts["contributions"], increments=counts["increments"], wins_unlinked=counts["wins"])
        ArchivedTotal.objects.bulk_create(
            [ArchivedTotal(archive=archive, jackpot_id=jackpot, rows=line["rows"],
                           amount_base=line["amount_base"] or ZERO, house_amount=line["house_amount"] or ZERO)
             for (jackpot,), line in by_instance.items()]
            + [ArchivedTotal(archive=archive, jackpot_id=jackpot, pot_id=pot, rows=line["rows"],
                             value_delta=line["value_delta"] or ZERO, seed_delta=line["seed_delta"] or ZERO,
                             overflow=line["overflow"] or ZERO)
               for (pot, jackpot), line in by_pot.items()])
        _unlink_wins(month)
        _remove(month)
    return archive


def _unlink_wins(month: date) -> None:
    """Wins stay (meters, last hits, History); the archived contribution stays named in each."""
    for win in Win.objects.filter(contribution__created_month=month).select_related("contribution"):
        contribution = win.contribution
        win.evidence = {**win.evidence, "archived_contribution": {
            "trace_id": str(contribution.trace_id), "gameround_id": contribution.gameround_id,
            "month": f"{month:%Y-%m}"}}
        Win.objects.filter(pk=win.pk).update(contribution=None, evidence=win.evidence)
    WalletTransaction.objects.filter(contribution__created_month=month, win__isnull=False).update(contribution=None)


def _remove(month: date) -> None:
    of_month = {"contribution__created_month": month}
    WebhookAttempt.objects.filter(delivery__contribution__created_month=month).delete()
    WebhookDelivery.objects.filter(**of_month).delete()
    WalletTransaction.objects.filter(**of_month).delete()
    for table, model in zip(partitions.PARTITIONED, (Contribution, PotIncrement), strict=True):
        if partitions.is_partitioned() and partitions.partition_drop(table, month):
            continue
        # No partition of its own (the default partition; SQLite): the month's rows, in chunks.
        rows = model.objects.filter(created_month=month)
        if model is Contribution:
            PotIncrement.objects.filter(created_month=month).delete()
        while ids := list(rows.values_list("pk", flat=True)[:5000]):
            model.objects.filter(pk__in=ids).delete()
