"""Reads of the ledger worth a name; chiefly reconciliation: cached pot totals = ledger."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from contributions.models import ArchivedTotal, Contribution, PotIncrement, WalletTransaction, Win
from contributions.partitions import add_months
from portal.money import ZERO, convert, ledger
from sources.mechanics import commitment_digest, mechanic_of
from sources.models import JackpotInstance, Pot, PotAdjustment, PotTransfer

ZERO_SUM = Value(ZERO, output_field=DecimalField(max_digits=38, decimal_places=8))


def _exact_in_database() -> bool:
    """PostgreSQL sums numerics exactly; SQLite (the embedded mode) would sum in floating
    point, so there the rows are added up here, as Decimals."""
    return connection.vendor == "postgresql"


def _sum(queryset, field_name: str) -> Decimal:
    if _exact_in_database():
        return queryset.aggregate(total=Coalesce(Sum(field_name), ZERO_SUM))["total"]
    return sum(queryset.values_list(field_name, flat=True), ZERO)


def _unbalanced(processed) -> list[str]:
    """Contributions whose parts (increments + house) do not add up to their amount."""
    if _exact_in_database():
        rows = (processed.annotate(parts=Coalesce(Sum(F("increments__value_delta") + F("increments__seed_delta")),
                                                  ZERO_SUM))
                .exclude(amount_base=F("parts") + F("house_amount")).values_list("trace_id", flat=True)[:50])
        return [str(t) for t in rows]
    parts: dict[int, Decimal] = {}
    for contribution_id, value, seed in PotIncrement.objects.filter(contribution__in=processed).values_list(
            "contribution_id", "value_delta", "seed_delta"):
        parts[contribution_id] = parts.get(contribution_id, ZERO) + value + seed
    return [str(trace) for pk, trace, amount, house in processed.values_list("pk", "trace_id", "amount_base",
                                                                             "house_amount")
            if parts.get(pk, ZERO) + house != amount][:50]


@dataclass
class PotCheck:
    pot_id: str
    value: Decimal
    expected_value: Decimal
    seed_fund: Decimal
    expected_seed_fund: Decimal
    seed_deficit: Decimal
    expected_seed_deficit: Decimal
    explanation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.value == self.expected_value and self.seed_fund == self.expected_seed_fund
                and self.seed_deficit == self.expected_seed_deficit)


@dataclass
class Reconciliation:
    instance_id: str
    name: str
    contributions: int = 0
    contributed: Decimal = ZERO  # instance currency
    to_pots: Decimal = ZERO
    to_seed_funds: Decimal = ZERO
    to_house: Decimal = ZERO
    won: Decimal = ZERO
    pots: list[PotCheck] = field(default_factory=list)
    unbalanced_contributions: list[str] = field(default_factory=list)  # trace ids
    # The wallet side: a contribution must stand on a Debit that stands, and money taken at
    # the wallet must have its contribution (or be given back).
    debits_not_standing: list[tuple[str, str, str]] = field(default_factory=list)  # trace id, tx id, status
    debits_without_contribution: list[tuple[str, str]] = field(default_factory=list)  # tx id, status
    # Transfers between pots (a retirement): each a pair of ledger rows, out here or in here.
    transferred_out: Decimal = ZERO  # instance currency
    transferred_in: Decimal = ZERO
    unpaired_transfers: list[int] = field(default_factory=list)  # PotTransfer ids

    @property
    def ok(self) -> bool:
        split_ok = self.contributed == self.to_pots + self.to_seed_funds + self.to_house
        return (split_ok and not self.unbalanced_contributions and all(p.ok for p in self.pots)
                and not self.debits_not_standing and not self.debits_without_contribution
                and not self.unpaired_transfers)


def reconcile_instance(instance: JackpotInstance) -> Reconciliation:
    """Prove that contributions = pot increments + seed funds + house, and that every pot's
    cached value, seed fund and deficit equal what its ledger rows add up to."""
    processed = Contribution.objects.filter(jackpot=instance, status=Contribution.Status.PROCESSED)
    increments = PotIncrement.objects.filter(pot__jackpot=instance)
    report = Reconciliation(instance_id=str(instance.pk), name=instance.name)
    report.contributions = processed.count()
    report.contributed = _sum(processed, "amount_base")
    report.to_house = _sum(processed, "house_amount")
    report.to_pots = _sum(increments, "value_delta")
    report.to_seed_funds = _sum(increments, "seed_delta")
    report.won = _sum(Win.objects.filter(jackpot=instance), "amount_base")
    carried = archived_totals(jackpot=instance)  # what archived months took out of the tables
    report.contributions += carried["rows"]
    report.contributed += carried["amount_base"]
    report.to_house += carried["house_amount"]
    carried = archived_totals(jackpot=instance, pot="any")
    report.to_pots += carried["value_delta"]
    report.to_seed_funds += carried["seed_delta"]

    report.unbalanced_contributions = _unbalanced(processed)
    report.debits_not_standing, report.debits_without_contribution = debit_disagreements(instance)
    report.transferred_out, report.transferred_in, report.unpaired_transfers = transfer_check(instance)

    for pot in Pot.objects.filter(jackpot=instance).order_by("tier", "pot_id"):
        ledger_says = pot_balance(pot)
        report.pots.append(PotCheck(
            explanation=pot_explanation(*pot_rows(pot)),
            pot_id=pot.pot_id,
            value=pot.current_value,
            expected_value=ledger_says.value,
            seed_fund=pot.seed_fund,
            expected_seed_fund=ledger_says.seed_fund,
            seed_deficit=pot.seed_deficit,
            expected_seed_deficit=ledger_says.seed_deficit,
        ))
    return report


def pot_rows(pot: Pot, *, since=None, until=None) -> tuple:
    """The ledger rows behind a pot: adjustments, contribution increments and wins, booked in
    [since, until) if given -- adjustments and wins when written, increments when their
    contribution was processed (the daily close cuts days with these)."""
    adjustments = PotAdjustment.objects.filter(pot=pot)
    increments = PotIncrement.objects.filter(pot=pot)
    wins = Win.objects.filter(pot=pot)
    if since is not None:
        adjustments = adjustments.filter(created_at__gte=since)
        increments = increments.filter(contribution__processed_at__gte=since)
        wins = wins.filter(created_at__gte=since)
    if until is not None:
        adjustments = adjustments.filter(created_at__lt=until)
        increments = increments.filter(contribution__processed_at__lt=until)
        wins = wins.filter(created_at__lt=until)
    return adjustments, increments, wins


@dataclass(frozen=True)
class PotBalance:
    value: Decimal
    seed_fund: Decimal
    seed_deficit: Decimal

    @property
    def liability(self) -> Decimal:
        """What the pot holds for players: its value and its seed fund (the reserve)."""
        return self.value + self.seed_fund


def pot_balance(pot: Pot, *, until=None) -> PotBalance:
    """What a pot's value, seed fund and seed deficit add up to on its ledger (before `until`,
    or now): initial seed + increments - wins + reseeds + adjustments. `reconcile` compares
    it with the pot's cached totals; the daily close opens and closes each day with it."""
    adjustments, increments, wins = pot_rows(pot, until=until)
    carried = archived_totals(pot=pot, until=until)  # increments of archived months
    return PotBalance(
        value=_sum(adjustments, "value_delta") + _sum(increments, "value_delta") + carried["value_delta"]
        - _sum(wins, "amount_base") + _sum(wins, "reseed_value"),
        seed_fund=_sum(adjustments, "seed_delta") + _sum(increments, "seed_delta") + carried["seed_delta"]
        - _sum(wins, "seed_used"),
        seed_deficit=_sum(wins, "seed_deficit"),
    )


def transfer_check(instance: JackpotInstance) -> tuple[Decimal, Decimal, list[int]]:
    """Transfers from or to the instance's pots: the amounts out and in, and the transfers whose
    two ledger rows do not pair up -- a `transfer_out` on the source taking exactly what the
    transfer says, a `transfer_in` on the target adding exactly that, converted at the recorded
    multipliers (value and seed fund each; the target may hold some of the value in its seed
    fund). The pots' balances (`pot_balance`) already include both rows."""
    out = into = ZERO
    unpaired = []
    transfers = (PotTransfer.objects.filter(Q(source__jackpot=instance) | Q(target__jackpot=instance))
                 .select_related("source", "target").prefetch_related("legs").order_by("id"))
    for transfer in transfers:
        if transfer.source.jackpot_id == instance.pk:
            out += transfer.value_out + transfer.seed_out
        if transfer.target.jackpot_id == instance.pk:
            into += transfer.value_in + transfer.seed_in
        legs = sorted((leg.kind, leg.pot_id, leg.value_delta, leg.seed_delta) for leg in transfer.legs.all())
        expected = sorted([
            (PotAdjustment.Kind.TRANSFER_IN, transfer.target_id, transfer.value_in, transfer.seed_in),
            (PotAdjustment.Kind.TRANSFER_OUT, transfer.source_id, -transfer.value_out, -transfer.seed_out),
        ])
        converted = sum((convert(amount, transfer.source_multiplier, transfer.target_multiplier)
                         for amount in (transfer.value_out, transfer.seed_out)), ZERO)
        if legs != expected or transfer.value_in + transfer.seed_in != converted:
            unpaired.append(transfer.pk)
    return out, into, unpaired


def debit_disagreements(instance: JackpotInstance) -> tuple[list, list]:
    """Debits that disagree with the ledger: linked to a contribution but not standing (e.g.
    cancelled at the wallet while the contribution stands), and Debits that took money (or
    whose outcome is unknown, or whose cancel failed) with no contribution for longer than
    WALLET_ORPHAN_SECONDS -- what the orphan sweeper should have given back by then."""
    Status = WalletTransaction.Status
    debits = WalletTransaction.objects.filter(jackpot=instance, kind=WalletTransaction.Kind.DEBIT)
    not_standing = (debits.filter(contribution__isnull=False).exclude(status=Status.SUCCEEDED)
                    .order_by("id").values_list("contribution__trace_id", "transaction_id", "status")[:50])
    cutoff = timezone.now() - timedelta(seconds=settings.WALLET_ORPHAN_SECONDS)
    unlinked = (debits.filter(contribution__isnull=True, updated_at__lte=cutoff)
                .exclude(status__in=[Status.FAILED, Status.CANCELLED])
                .order_by("id").values_list("transaction_id", "status")[:50])
    return [(str(t), x, s) for t, x, s in not_standing], list(unlinked)


def pot_explanation(adjustments, increments, wins) -> list[str]:
    """The ledger rows behind a pot, summed by kind: what its value and seed fund should be made of."""
    lines = []
    for kind, value, seed, count in adjustments.values_list("kind").annotate(
            v=Sum("value_delta"), s=Sum("seed_delta"), n=Count("id")).values_list("kind", "v", "s", "n"):
        lines.append(f"{count} {kind} adjustments: value {ledger(value):+f}, seed fund {ledger(seed):+f}"
                     if count > 1 else f"{kind} {ledger(value):+f} (seed fund {ledger(seed):+f})")
    totals = increments.aggregate(v=Coalesce(Sum("value_delta"), ZERO_SUM), s=Coalesce(Sum("seed_delta"), ZERO_SUM),
                                  n=Count("id"))
    lines.append(f"{totals['n']} contribution increments: value {ledger(totals['v']):+f}, "
                 f"seed fund {ledger(totals['s']):+f}")
    won = wins.aggregate(w=Coalesce(Sum("amount_base"), ZERO_SUM), r=Coalesce(Sum("reseed_value"), ZERO_SUM),
                         u=Coalesce(Sum("seed_used"), ZERO_SUM), n=Count("id"))
    lines.append(f"{won['n']} wins: value -{ledger(won['w']):f}, reseeded +{ledger(won['r']):f}, "
                 f"seed fund -{ledger(won['u']):f}")
    return lines


def drop_verification(win: Win) -> dict | None:
    """Everything needed to check a must-drop win against the commitment published before it:
    recompute SHA-256 of "value:salt" and compare; name the contribution that reached the
    committed point and check it is the one that won (the mechanic's `verify`)."""
    commitment = win.commitment
    if commitment is None:
        return None
    recomputed = commitment_digest(commitment.secret_text)
    value, _, salt = commitment.secret_text.partition(":")
    contribution = win.contribution
    increment = contribution.increments.filter(pot=win.pot).first() if contribution is not None else None
    previous = following = None
    if increment is not None:  # the pot's contributions just before and after the winning one, same generation
        same_generation = PotIncrement.objects.filter(pot=win.pot, generation=increment.generation).select_related(
            "contribution")
        previous = same_generation.filter(pk__lt=increment.pk).order_by("-pk").first()
        following = same_generation.filter(pk__gt=increment.pk).order_by("pk").first()
    settled = (win.evidence or {}).get("deadline", {}).get("settled_at")  # a clock drop won at its deadline
    verdict = mechanic_of(win.pot).verify(
        commitment=commitment,
        value_before=increment.value_after - increment.value_delta if increment else None,
        value_after=win.amount_base,
        at=contribution.processed_at if contribution is not None else None,
        previous_at=previous.contribution.processed_at if previous else None,
        ceiling=win.pot.drop_ceiling,
        following_at=following.contribution.processed_at if following else None,
        settled_at=datetime.fromisoformat(settled) if settled else None,
    )
    crossing = (f"contribution {contribution.pk} (gameround {contribution.gameround_id}, trace {contribution.trace_id})"
                if contribution is not None else "no contribution")
    return {
        "win": win, "commitment": commitment, "kind": commitment.get_kind_display(), "value": value, "salt": salt,
        "secret_text": commitment.secret_text, "published": commitment.commitment, "recomputed": recomputed,
        "matches": recomputed == commitment.commitment, "consistent": verdict.consistent,
        "where": verdict.where, "crossing": crossing, "published_at": commitment.created_at,
        "rule": verdict.rule,
    }


def archived_totals(*, jackpot=None, pot=None, until=None) -> dict:
    """What archived months (`archive_contributions`) carried forward: an instance's processed
    contributions (`jackpot`), one pot's increments (`pot`), or all its pots' (`jackpot` and
    pot="any"); of months ended by `until` (every month if None). Zero before any archive."""
    if pot == "any":
        lines = ArchivedTotal.objects.filter(jackpot=jackpot, pot__isnull=False)
    elif pot is not None:
        lines = ArchivedTotal.objects.filter(pot=pot)
    else:
        lines = ArchivedTotal.objects.filter(jackpot=jackpot, pot__isnull=True)
    totals = {"rows": 0, "amount_base": ZERO, "house_amount": ZERO, "value_delta": ZERO, "seed_delta": ZERO,
              "overflow": ZERO}
    for line in lines.select_related("archive"):
        ended = add_months(line.archive.month, 1)
        if until is not None and datetime(ended.year, ended.month, 1, tzinfo=UTC) > until:
            continue
        for name in totals:
            totals[name] += getattr(line, name)
    return totals
