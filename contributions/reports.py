"""Reads behind the finance and regulator reports: the figures of a business day (the daily
close), each pot's meters, and the hit-frequency audit of HitRate pots.

The ledger's truth is `selectors.reconcile_instance`: a day opens and closes with the same
sums (`selectors.pot_balance`), cut at the day's bounds, so the last closed day ends exactly
where `reconcile` says the pots stand.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import BigIntegerField, Count, F, FloatField, Max, Min, Q, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Least

from contributions.models import Contribution, DailyClose, DailyCloseLine, DailyClosePot, Win
from contributions.selectors import _exact_in_database, _sum, pot_balance, pot_rows
from portal.money import ZERO, ledger
from portal.scoping import Scope, filter_by_brand
from sources.mechanics import mechanic_of
from sources.models import JackpotInstance, Pot
from sources.selectors import visible_instances

# --- business days ------------------------------------------------------------------------


EARLIEST, LATEST = date(1970, 1, 2), date(9998, 12, 30)  # a day and its neighbours stay representable


def parse_date(text: str) -> date:
    """A YYYY-MM-DD date the reports can work with (ValueError otherwise)."""
    day = date.fromisoformat(text.strip())
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{day} is out of range")
    return day


def business_zone(operator_id: str) -> ZoneInfo:
    """The time zone an operator's days end in: its own (BUSINESS_TIME_ZONES), else the default."""
    return ZoneInfo(settings.BUSINESS_TIME_ZONES.get(operator_id, settings.BUSINESS_TIME_ZONE))


def day_window(business_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a business day: local midnight to local midnight (23 or 25 hours on the
    days the clocks change)."""
    start = datetime.combine(business_date, time.min, tzinfo=zone)
    end = datetime.combine(business_date + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def business_date_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def last_closable_date(zone: ZoneInfo, now: datetime) -> date:
    """The latest business day that has been over for DAILY_CLOSE_GRACE_SECONDS."""
    return business_date_of(now - timedelta(seconds=settings.DAILY_CLOSE_GRACE_SECONDS), zone) - timedelta(days=1)


def first_business_date(instance: JackpotInstance, zone: ZoneInfo) -> date:
    return business_date_of(instance.created_at, zone)


def day_start(day: date | None) -> datetime | None:
    """The first instant of a UTC day (the hit audit's `since` / `until`)."""
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


# --- exact sums ---------------------------------------------------------------------------


def exact_sums(queryset, fields: dict[str, str], by: list[str]) -> dict[tuple, dict]:
    """Per group of `by` values: the row count `n` and the exact sum of each field (named by
    the keys of `fields`). Summed by PostgreSQL; elsewhere (SQLite would add in floating
    point) row by row as Decimals, as `reconcile` does."""
    groups: dict[tuple, dict] = {}
    if _exact_in_database():
        sums = {"n": Count("pk"), **{f"sum_{name}": Sum(column) for name, column in fields.items()}}
        rows = (queryset.order_by().values(*by).annotate(**sums) if by
                else [row] if (row := queryset.order_by().aggregate(**sums))["n"] else [])
        for row in rows:
            groups[tuple(row[b] for b in by)] = {
                "n": row["n"], **{name: ZERO if row[f"sum_{name}"] is None else row[f"sum_{name}"] for name in fields}}
        return groups
    for row in queryset.order_by().values_list(*by, *fields.values()).iterator(chunk_size=5000):
        key, values = tuple(row[:len(by)]), row[len(by):]
        group = groups.setdefault(key, {"n": 0, **{name: ZERO for name in fields}})
        group["n"] += 1
        for name, value in zip(fields, values, strict=True):
            group[name] += value if value is not None else ZERO
    return groups


# --- the daily close ----------------------------------------------------------------------

STATUS_COLUMNS = {
    Win.Status.PAID: "won_paid",
    Win.Status.RECORDED: "won_recorded",
    Win.Status.WITHHELD: "won_withheld",
    Win.Status.PENDING_CREDIT: "won_pending_credit",
    Win.Status.REJECTED: "won_rejected",
}
UNPAID = [Win.Status.WITHHELD, Win.Status.PENDING_CREDIT]


def pot_day(pot: Pot, start: datetime, end: datetime) -> DailyClosePot:
    """One pot's day (unsaved): opening and closing balances from the ledger, and every row
    booked in between, by kind."""
    opening, closing = pot_balance(pot, until=start), pot_balance(pot, until=end)
    day = DailyClosePot(
        pot=pot, pot_key=pot.pot_id, tier=pot.tier,
        opening_value=opening.value, opening_seed_fund=opening.seed_fund, opening_seed_deficit=opening.seed_deficit,
        closing_value=closing.value, closing_seed_fund=closing.seed_fund, closing_seed_deficit=closing.seed_deficit,
        adjustments={},
    )
    adjustments, increments, wins = pot_rows(pot, since=start, until=end)
    for (player_funded,), row in exact_sums(increments, {"value": "value_delta", "seed": "seed_delta",
                                                         "overflow": "overflow"},
                                            ["contribution__player_funded"]).items():
        day.increments += row["n"]
        day.contributed_value += row["value"]
        day.contributed_seed += row["seed"]
        day.overflow += row["overflow"]
        if player_funded:
            day.player_funded += row["value"] + row["seed"]
        else:
            day.operator_funded += row["value"] + row["seed"]
    for (kind,), row in sorted(exact_sums(adjustments, {"value": "value_delta", "seed": "seed_delta"},
                                          ["kind"]).items()):
        day.adjusted_value += row["value"]
        day.adjusted_seed += row["seed"]
        day.adjustments[kind] = {"count": row["n"], "value": f"{ledger(row['value']):f}",
                                 "seed": f"{ledger(row['seed']):f}"}
    for (status,), row in exact_sums(wins, {"won": "amount_base", "reseeded": "reseed_value", "used": "seed_used",
                                            "deficit": "seed_deficit"}, ["status"]).items():
        day.wins += row["n"]
        day.won += row["won"]
        day.reseeded += row["reseeded"]
        day.seed_used += row["used"]
        day.deficit_added += row["deficit"]
        column = STATUS_COLUMNS.get(status)
        if column:
            setattr(day, column, getattr(day, column) + row["won"])
    day.unpaid_wins = _sum(Win.objects.filter(pot=pot, created_at__lt=end, status__in=UNPAID), "amount_base")
    return day


def day_lines(instance: JackpotInstance, start: datetime, end: datetime) -> list[DailyCloseLine]:
    """The day's contributions (when processed) and wins (when won) of an instance, by brand,
    currency, country and source (unsaved)."""
    lines: dict[tuple, DailyCloseLine] = {}

    def line(brand_id, currency, country, source) -> DailyCloseLine:
        key = (brand_id, currency, country or "", source or "")
        if key not in lines:
            lines[key] = DailyCloseLine(brand_id=key[0], currency=key[1], country=key[2], source=key[3])
        return lines[key]

    contributions = Contribution.objects.filter(jackpot=instance, status=Contribution.Status.PROCESSED,
                                                processed_at__gte=start, processed_at__lt=end)
    for (brand_id, currency, country, source, player_funded), row in exact_sums(
            contributions, {"wagers": "base_wager", "amount": "amount", "base": "amount_base",
                            "house": "house_amount"},
            ["brand_id", "currency", "player_country", "source__source_id", "player_funded"]).items():
        target = line(brand_id, currency, country, source)
        target.contributions += row["n"]
        target.wagers += row["wagers"]
        target.contributed += row["amount"]
        target.contributed_base += row["base"]
        target.house_base += row["house"]
        if player_funded:
            target.player_funded_base += row["base"]
        else:
            target.operator_funded_base += row["base"]
    wins = Win.objects.filter(jackpot=instance, created_at__gte=start, created_at__lt=end)
    for (brand_id, currency, country, player_country, source), row in exact_sums(
            wins, {"base": "amount_base", "paid": "amount"},
            ["player__brand_id", "currency", "contribution__player_country", "player__country",
             "contribution__source__source_id"]).items():
        target = line(brand_id, currency, country or player_country, source)  # raffle wins: where the player is
        target.wins += row["n"]
        target.won_base += row["base"]
        target.won += row["paid"]
    return [lines[key] for key in sorted(lines)]


def close_figures(instance: JackpotInstance, start: datetime, end: datetime
                  ) -> tuple[list[DailyClosePot], list[DailyCloseLine]]:
    pots = [pot_day(pot, start, end) for pot in Pot.objects.filter(jackpot=instance).order_by("-tier", "pot_id")]
    return pots, day_lines(instance, start, end)


POT_FIGURES = [f.name for f in DailyClosePot._meta.concrete_fields
               if f.name not in ("id", "close", "pot", "adjustments")]
LINE_FIGURES = [f.attname for f in DailyCloseLine._meta.concrete_fields if f.name not in ("id", "close")]


def _text(value) -> str:
    return f"{ledger(value):f}" if isinstance(value, Decimal) else str(value)


def figures_digest(pots: list[DailyClosePot], lines: list[DailyCloseLine]) -> str:
    """SHA-256 of the figures, in a canonical text form: two computations of a day agree
    exactly when their digests do. (Wins are split by their status when computed.)"""
    document = {
        "pots": [[*(_text(getattr(p, name)) for name in POT_FIGURES), p.adjustments] for p in pots],
        "lines": [[_text(getattr(line, name)) for name in LINE_FIGURES] for line in lines],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def is_empty(pots: list[DailyClosePot], lines: list[DailyCloseLine]) -> bool:
    """Nothing held and nothing moved: a retired instance has nothing left to report."""
    return not lines and all(
        not (p.opening_liability or p.closing_liability or p.opening_seed_deficit or p.closing_seed_deficit
             or p.increments or p.wins or p.adjustments or p.unpaid_wins) for p in pots)


def scoped_lines(lines, scope: Scope):
    """Lines of the brands a user sees: the pots' figures belong to the whole jackpot, the
    breakdown to each brand."""
    return filter_by_brand(lines, scope)


DIMENSIONS = {"brand": "brand", "currency": "currency", "country": "country", "source": "source"}


def line_totals(lines, dimension: str) -> list[dict]:
    """Totals of `lines` by one dimension (and the instance currency their base amounts are in)."""
    key = DIMENSIONS[dimension]
    fields = {"contributions": "contributions", "wagers": "wagers", "contributed": "contributed",
              "contributed_base": "contributed_base", "player_funded_base": "player_funded_base",
              "operator_funded_base": "operator_funded_base", "house_base": "house_base", "wins": "wins",
              "won_base": "won_base", "won": "won"}
    by = ["brand__operator_id", "brand__code"] if key == "brand" else [key]
    groups = exact_sums(lines, fields, [*by, "close__jackpot__currency_id"])
    totals = []
    for values, row in sorted(groups.items(), key=lambda item: tuple(str(v) for v in item[0])):
        *label, base_currency = values
        totals.append({"key": ":".join(str(v) for v in label), "base_currency": base_currency, **row,
                       "count_contributions": int(row["contributions"]), "count_wins": int(row["wins"])})
    return totals


# --- meters (NJ 13:69E-1.39A) ---------------------------------------------------------------


@dataclass
class PotMeters:
    """A pot's regulator meters and parameters, in the instance currency. Figures are the
    whole pot's (every brand it serves); `last_hits` only the brands the reader sees."""

    pot: Pot
    qualifying_wagers: int  # the progressive in-meter: contributions that incremented the pot
    wagers: dict[str, Decimal]  # base wagers of those contributions, by request currency
    contributed: Decimal  # to the value and the reserve together
    to_value: Decimal
    to_reserve: Decimal
    overflow: Decimal  # the overflow meter: what passed the cap (part of to_reserve)
    hits: int  # the hits meter: times won
    won: Decimal  # the wins meter: amounts won
    won_by_status: dict[str, Decimal]
    adjusted_value: Decimal
    adjusted_reserve: Decimal
    current_value: Decimal  # the display meter
    reserve: Decimal  # the reserved pool meter (seed fund)
    seed_deficit: Decimal
    increment_rate: Decimal  # parameters: share of each contribution to the value ...
    hidden_rate: Decimal  # ... and to the reserve
    limit: Decimal | None
    last_hits: list[Win] = field(default_factory=list)


def pot_meters(pot: Pot, scope: Scope, *, hits: int = 25) -> PotMeters:
    adjustments, increments, wins = pot_rows(pot)
    fed = exact_sums(increments, {"value": "value_delta", "seed": "seed_delta", "overflow": "overflow"}, [])
    fed = fed.get((), {"n": 0, "value": ZERO, "seed": ZERO, "overflow": ZERO})
    adjusted = exact_sums(adjustments, {"value": "value_delta", "seed": "seed_delta"}, []).get(
        (), {"value": ZERO, "seed": ZERO})
    by_status = exact_sums(wins, {"won": "amount_base"}, ["status"])
    wagers = exact_sums(Contribution.objects.filter(increments__pot=pot), {"wagers": "base_wager"}, ["currency"])
    pot_share = pot.share * (1 - pot.seed_share) if pot.is_progressive else ZERO
    return PotMeters(
        pot=pot, qualifying_wagers=fed["n"], wagers={c: row["wagers"] for (c,), row in sorted(wagers.items())},
        contributed=fed["value"] + fed["seed"], to_value=fed["value"], to_reserve=fed["seed"],
        overflow=fed["overflow"], hits=sum(row["n"] for row in by_status.values()),
        won=sum((row["won"] for row in by_status.values()), ZERO),
        won_by_status={status: row["won"] for (status,), row in sorted(by_status.items())},
        adjusted_value=adjusted["value"], adjusted_reserve=adjusted["seed"],
        current_value=pot.current_value, reserve=pot.seed_fund, seed_deficit=pot.seed_deficit,
        increment_rate=pot_share, hidden_rate=pot.share - pot_share, limit=mechanic_of(pot).cap(pot),
        last_hits=list(filter_by_brand(Win.objects.filter(pot=pot), scope, "player__brand")
                       .select_related("player__brand", "contribution").order_by("-id")[:hits]),
    )


# --- hit-frequency audit ------------------------------------------------------------------


@dataclass
class HitAudit:
    """Observed hits of a HitRate pot against the number its stored draws make expected.

    Each draw stores its odds (num/den: the contribution against cost x magic number) and its
    outcome, so the expected number of hits is the sum of min(1, num/den) over the draws."""

    pot: Pot
    draws: int
    hits: int  # draws recorded as hits (a hit another pot outranked is still a hit)
    expected: float
    variance: float
    method: str
    p_value: float | None
    alpha: float
    inconsistent: int  # draws whose recorded outcome is not `draw < num`
    awarded: int  # wins of the pot over the same contributions

    @property
    def flagged(self) -> bool:
        return self.inconsistent > 0 or (self.p_value is not None and self.p_value < self.alpha)

    @property
    def ratio(self) -> float | None:
        return self.hits / self.expected if self.expected else None

    @property
    def z(self) -> float | None:
        return (self.hits - self.expected) / self.variance ** 0.5 if self.variance > 0 else None


def hit_probability_test(*, hits: int, draws: int, expected: float, lowest: float, highest: float
                         ) -> tuple[str, float | None]:
    """Two-sided test of the observed hits against the draws' own odds.

    * Every draw had the same odds (fixed contributions): hits are binomial -- the exact
      binomial test.
    * Odds differ (percentage contributions): hits are a sum of Bernoulli trials with
      different odds; the exact Poisson test with the same mean is used. Its variance (the
      sum of p) is at least the true one (the sum of p(1 - p)), so it errs towards not
      flagging: a flag is never an artefact of the approximation.
    """
    from scipy import stats  # here: scipy takes a second to import, and only this audit needs it

    if draws == 0:
        return "", None
    if highest - lowest <= 1e-15:
        return "exact binomial", float(stats.binomtest(hits, draws, min(max(highest, 0.0), 1.0)).pvalue)
    if expected <= 0:
        return "exact Poisson", 1.0 if hits == 0 else 0.0
    below = stats.poisson.cdf(hits, expected)
    above = stats.poisson.sf(hits - 1, expected)
    return "exact Poisson", float(min(1.0, 2 * min(below, above)))


def hit_audit(pot: Pot, *, since: datetime | None = None, until: datetime | None = None,
              alpha: float | None = None) -> HitAudit:
    """Audit one HitRate pot's draws (of contributions processed in [since, until), if given)."""
    alpha = settings.HIT_AUDIT_ALPHA if alpha is None else alpha
    _, increments, _ = pot_rows(pot, since=since, until=until)
    draws = increments.filter(draw__mechanic="HitRate").annotate(
        odds=Least(Value(1.0), Cast(KT("draw__num"), FloatField()) / Cast(KT("draw__den"), FloatField())),
        drawn=Cast(KT("draw__draw"), BigIntegerField()), below=Cast(KT("draw__num"), BigIntegerField()))
    recorded_hit = Q(draw__hit=True)
    drawn_hit = Q(drawn__lt=F("below"))
    totals = draws.aggregate(
        draws=Count("pk"), hits=Count("pk", filter=recorded_hit),
        expected=Coalesce(Sum("odds"), Value(0.0)),
        variance=Coalesce(Sum(F("odds") * (Value(1.0) - F("odds"))), Value(0.0)),
        lowest=Coalesce(Min("odds"), Value(0.0)), highest=Coalesce(Max("odds"), Value(0.0)),
        inconsistent=Count("pk", filter=(recorded_hit & ~drawn_hit) | (~recorded_hit & drawn_hit)),
    )
    method, p_value = hit_probability_test(hits=totals["hits"], draws=totals["draws"], expected=totals["expected"],
                                           lowest=totals["lowest"], highest=totals["highest"])
    awarded = Win.objects.filter(pot=pot, contribution__isnull=False)
    if since is not None:
        awarded = awarded.filter(contribution__processed_at__gte=since)
    if until is not None:
        awarded = awarded.filter(contribution__processed_at__lt=until)
    return HitAudit(pot=pot, draws=totals["draws"], hits=totals["hits"], expected=float(totals["expected"]),
                    variance=float(totals["variance"]), method=method, p_value=p_value, alpha=alpha,
                    inconsistent=totals["inconsistent"], awarded=awarded.count())


def hit_rate_pots(instances) -> list[Pot]:
    return list(Pot.objects.filter(jackpot__in=instances, mechanic=Pot.Mechanic.HIT_RATE)
                .select_related("jackpot").order_by("jackpot__name", "-tier", "pot_id"))



# --- what a reader may see ----------------------------------------------------------------


def visible_closes(scope: Scope, *, date_from: date, date_to: date, instance=None, current: bool = True):
    """Closes of the instances a reader sees, in a range of business days (the current
    revision of each, unless `current` is False), with their pots."""
    closes = DailyClose.objects.filter(jackpot__in=visible_instances(scope), business_date__gte=date_from,
                                       business_date__lte=date_to)
    if current:
        closes = closes.filter(superseded_at__isnull=True)
    if instance is not None:
        closes = closes.filter(jackpot=instance)
    return (closes.select_related("jackpot", "computed_by").prefetch_related("pots")
            .order_by("business_date", "jackpot__name", "jackpot_id", "revision"))


def visible_lines(closes, scope: Scope):
    """The breakdown lines of `closes` that belong to brands the reader sees."""
    return scoped_lines(DailyCloseLine.objects.filter(close__in=closes), scope).select_related(
        "brand", "close__jackpot").order_by("close__business_date", "close__jackpot__name", "brand__operator_id",
                                            "brand__code", "currency", "country", "source")
