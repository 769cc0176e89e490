"""Staff report pages: the daily close (with charts and CSV), a jackpot's meters, the
hit-frequency audit. Read-only; every query within the user's scope. Pot figures belong to
the whole jackpot (as its page shows its pots); breakdowns and hits to the brands in scope."""

import csv
import uuid
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from contributions.models import DailyClose, DailyClosePot
from contributions.reports import (
    day_start,
    exact_sums,
    hit_audit,
    hit_rate_pots,
    line_totals,
    parse_date,
    pot_meters,
    visible_closes,
    visible_lines,
)
from contributions.services.closing import chain_breaks
from contributions.views import Echo
from portal.charts import value_chart
from portal.money import ZERO, iso_exponent
from portal.staffviews import POT_ORDER, spreadsheet_text, staff_page
from sources.models import Pot
from sources.selectors import visible_instances

CHART_DAYS = 30
DIMENSIONS = [("brand", "Brand"), ("currency", "Currency"), ("country", "Country"), ("source", "Source")]


def date_param(request, name: str) -> date | None:
    """A YYYY-MM-DD query parameter, or None (a bad one is ignored, as a bad filter is)."""
    try:
        return parse_date(request.GET.get(name, ""))
    except ValueError:
        return None


def instance_param(request, scope):
    """The `instance` filter: a jackpot the user sees, or None."""
    try:
        pk = uuid.UUID(request.GET.get("instance", "").strip())
    except ValueError:
        return None
    return visible_instances(scope).filter(pk=pk).first()


def latest_closed_day(scope) -> date | None:
    return (DailyClose.objects.filter(jackpot__in=visible_instances(scope), superseded_at__isnull=True)
            .order_by("-business_date").values_list("business_date", flat=True).first())


def liability_charts(scope, *, until: date, instance=None) -> list:
    """Per instance currency: the closing liability (pots and seed funds) of the last
    CHART_DAYS closed days, what flowed in (contributions) and what went out (wins)."""
    closes = visible_closes(scope, date_from=until - timedelta(days=CHART_DAYS - 1), date_to=until,
                            instance=instance)
    days = exact_sums(DailyClosePot.objects.filter(close__in=closes),
                      {"value": "closing_value", "seed": "closing_seed_fund", "in_value": "contributed_value",
                       "in_seed": "contributed_seed", "won": "won"},
                      ["close__jackpot__currency_id", "close__business_date"])
    charts = []
    for currency in sorted({currency for currency, _ in days}):
        points = sorted((day, row) for (c, day), row in days.items() if c == currency)
        at = [datetime.combine(day, time(12), tzinfo=UTC) for day, _ in points]
        digits = iso_exponent(currency)
        series = [("Closing liability", [r["value"] + r["seed"] for _, r in points]),
                  ("Contributed to the pots", [r["in_value"] + r["in_seed"] for _, r in points]),
                  ("Won", [r["won"] for _, r in points])]
        charts.append({"currency": currency, "charts": [
            (title, value_chart(list(zip(at, values, strict=True)), digits=digits, currency=currency,
                                label=f"{title} per closed day ({currency})"))
            for title, values in series]})
    return charts


@staff_page
def daily_close(request, scope):
    instance = instance_param(request, scope)
    day = date_param(request, "date") or latest_closed_day(scope)
    closes, lines, totals, charts = [], [], {}, []
    if day is not None:
        closes = list(visible_closes(scope, date_from=day, date_to=day, instance=instance))
        lines = visible_lines(closes, scope)
        totals = {label: line_totals(lines, dimension) for dimension, label in DIMENSIONS}
        charts = liability_charts(scope, until=day, instance=instance)
    liability: dict[str, dict] = {}
    for close in closes:
        row = liability.setdefault(close.jackpot.currency_id, {"opening": ZERO, "closing": ZERO, "unpaid": ZERO})
        for pot in close.pots.all():
            row["opening"] += pot.opening_liability
            row["closing"] += pot.closing_liability
            row["unpaid"] += pot.unpaid_wins
    return render(request, "contributions/daily_close.html", {
        "day": day, "previous_day": day - timedelta(days=1) if day else None,
        "next_day": day + timedelta(days=1) if day else None, "instance": instance,
        "instances": visible_instances(scope).order_by("name"),
        "rows": [(close, chain_breaks(close)) for close in closes], "totals": totals,
        "liability": sorted(liability.items()), "charts": charts, "chart_days": CHART_DAYS,
        "default_zone": settings.BUSINESS_TIME_ZONE, "brand_scoped": not scope.everything and bool(
            scope.partial_operator_ids),
    })


@staff_page
def daily_close_detail(request, scope, close_id: int):
    close = get_object_or_404(DailyClose.objects.filter(jackpot__in=visible_instances(scope)).select_related(
        "jackpot", "computed_by", "superseded_by"), pk=close_id)
    revisions = (DailyClose.objects.filter(jackpot=close.jackpot, business_date=close.business_date)
                 .select_related("computed_by").order_by("revision"))
    lines = visible_lines([close], scope)
    return render(request, "contributions/daily_close_detail.html", {
        "close": close, "pots": list(close.pots.all()), "lines": lines, "revisions": revisions,
        "breaks": chain_breaks(close) if close.is_current else [],
        "totals": {label: line_totals(lines, dimension) for dimension, label in DIMENSIONS},
    })


POT_COLUMNS = ["business_date", "time_zone", "instance_id", "instance", "currency", "revision", "computed_at", "pot_id",
               "opening_value", "opening_seed_fund", "opening_seed_deficit", "opening_liability", "contributions",
               "contributed_value", "contributed_seed", "overflow", "player_funded", "operator_funded",
               "adjusted_value", "adjusted_seed", "wins", "won", "reseeded", "seed_used", "deficit_added",
               "won_paid", "won_recorded", "won_withheld", "won_pending_credit", "won_rejected", "unpaid_wins",
               "closing_value", "closing_seed_fund", "closing_seed_deficit", "closing_liability", "balanced"]
LINE_COLUMNS = ["business_date", "instance_id", "instance", "instance_currency", "operator", "brand", "currency",
                "country", "source", "contributions", "wagers", "contributed", "contributed_base",
                "player_funded_base", "operator_funded_base", "house_base", "wins", "won_base", "won"]


@staff_page
def daily_close_csv(request, scope):
    """Closed days as CSV: `part=pots` (each pot's day) or `part=lines` (contributions and wins
    by brand, currency, country and source: the user's brands only), from `date` to `date_to`."""
    instance = instance_param(request, scope)
    day_to = date_param(request, "date_to") or date_param(request, "date") or latest_closed_day(scope) or timezone.now().date()
    day_from = date_param(request, "date") or day_to
    if day_to < day_from:
        day_from, day_to = day_to, day_from
    day_from = max(day_from, day_to - timedelta(days=366))  # a year per export at most
    closes = visible_closes(scope, date_from=day_from, date_to=day_to, instance=instance)
    lines_part = request.GET.get("part") == "lines"
    writer = csv.writer(Echo())

    def amount(value) -> str:
        return f"{value:f}"  # our own formatting of a Decimal: stays a number

    def pot_rows():
        yield writer.writerow(POT_COLUMNS)
        for close in closes:
            instance_name = spreadsheet_text(close.jackpot.name)
            for pot in close.pots.all():
                yield writer.writerow([
                    close.business_date.isoformat(), close.time_zone, close.jackpot_id, instance_name,
                    close.jackpot.currency_id, close.revision, close.computed_at.isoformat(),
                    spreadsheet_text(pot.pot_key), *(amount(v) for v in (
                        pot.opening_value, pot.opening_seed_fund, pot.opening_seed_deficit, pot.opening_liability)),
                    pot.increments, *(amount(v) for v in (
                        pot.contributed_value, pot.contributed_seed, pot.overflow, pot.player_funded,
                        pot.operator_funded, pot.adjusted_value, pot.adjusted_seed)),
                    pot.wins, *(amount(v) for v in (
                        pot.won, pot.reseeded, pot.seed_used, pot.deficit_added, pot.won_paid, pot.won_recorded,
                        pot.won_withheld, pot.won_pending_credit, pot.won_rejected, pot.unpaid_wins,
                        pot.closing_value, pot.closing_seed_fund, pot.closing_seed_deficit, pot.closing_liability)),
                    "yes" if pot.balanced else "no",
                ])

    def line_rows():
        yield writer.writerow(LINE_COLUMNS)
        for line in visible_lines(closes, scope).iterator(chunk_size=2000):
            close = line.close
            text = [spreadsheet_text(v) for v in (close.jackpot.name, line.brand.operator_id, line.brand.code,
                                                  line.currency, line.country, line.source)]
            yield writer.writerow([
                close.business_date.isoformat(), close.jackpot_id, text[0], close.jackpot.currency_id, *text[1:],
                line.contributions, *(amount(v) for v in (
                    line.wagers, line.contributed, line.contributed_base, line.player_funded_base,
                    line.operator_funded_base, line.house_base)),
                line.wins, amount(line.won_base), amount(line.won),
            ])

    response = StreamingHttpResponse(line_rows() if lines_part else pot_rows(), content_type="text/csv")
    name = f"daily-close-{'lines' if lines_part else 'pots'}-{day_from:%Y%m%d}-{day_to:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_page
def meters_page(request, scope, instance_id):
    instance = get_object_or_404(visible_instances(scope).select_related("currency"), pk=instance_id)
    pots = list(Pot.objects.filter(jackpot=instance).order_by(*POT_ORDER))
    return render(request, "contributions/meters.html", {
        "instance": instance, "meters": [pot_meters(pot, scope) for pot in pots], "now": timezone.now(),
    })


@staff_page
def hit_audit_page(request, scope):
    instance = instance_param(request, scope)
    if request.GET.get("instance") and instance is None:
        raise Http404("No such jackpot")
    since, until = date_param(request, "since"), date_param(request, "until")
    instances = visible_instances(scope)
    if instance is not None:
        instances = instances.filter(pk=instance.pk)
    audits = [hit_audit(pot, since=day_start(since), until=day_start(until)) for pot in hit_rate_pots(instances)]
    return render(request, "contributions/hit_audit.html", {
        "audits": audits, "alpha": settings.HIT_AUDIT_ALPHA, "instance": instance, "since": since,
        "until": until, "instances": visible_instances(scope).order_by("name"),
        "flagged": sum(a.flagged for a in audits),
    })
