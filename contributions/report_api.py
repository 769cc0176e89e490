"""The reports as JSON, `/api/reports/...`: the daily close, a jackpot's meters, the hit audit.

Read with a service token (its operator, whole) or a logged-in staff session (the user's
scope, as on the staff pages). Outside the gateway's `/v1/` paths, so the portal's session
middleware runs. Pot figures belong to the whole jackpot; breakdown lines and hits only to
the brands the reader sees.
"""

import uuid
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.security import APIKeyCookie

from contributions.models import DailyClose, DailyCloseLine, DailyClosePot
from contributions.reports import (
    day_start,
    hit_audit,
    hit_rate_pots,
    line_totals,
    parse_date,
    pot_meters,
    visible_closes,
    visible_lines,
)
from portal.auth import ServiceBearer, ServicePrincipal
from portal.errors import DomainError, invalid_value
from portal.http import ErrorOut, json_response
from portal.money import plain
from portal.scoping import Scope, operator_scope, scope_for
from sources.models import Pot
from sources.selectors import visible_instances

MAX_DAYS = 92  # a quarter per request


class StaffSession(APIKeyCookie):
    """A logged-in, active staff user's session (the scope is the user's). GET only: no CSRF."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = "A staff user's portal session (log in at /login/)."

    def __init__(self) -> None:
        super().__init__(csrf=False)

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active and user.is_staff:
            return user
        return None


router = Router(tags=["reports"], auth=[ServiceBearer(), StaffSession()])


def reader_scope(request) -> Scope:
    principal = request.auth
    if isinstance(principal, ServicePrincipal):
        return operator_scope(principal.operator_id)
    return scope_for(principal)


def _date(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise invalid_value(f"{name} {text[:40]!r} is not a date (YYYY-MM-DD) we can report on") from exc


def _amount(value) -> Decimal:
    """An amount as a JSON number, exactly (jsonutil writes Decimals without a float)."""
    return plain(value)


def _pot(pot: DailyClosePot) -> dict:
    return {
        "pot_id": pot.pot_key,
        "opening": {"value": _amount(pot.opening_value), "seed_fund": _amount(pot.opening_seed_fund),
                    "seed_deficit": _amount(pot.opening_seed_deficit), "liability": _amount(pot.opening_liability)},
        "contributions": {"count": pot.increments, "to_value": _amount(pot.contributed_value),
                          "to_seed_fund": _amount(pot.contributed_seed), "overflow": _amount(pot.overflow),
                          "player_funded": _amount(pot.player_funded), "operator_funded": _amount(pot.operator_funded)},
        "adjustments": {"value": _amount(pot.adjusted_value), "seed_fund": _amount(pot.adjusted_seed),
                        "by_kind": {kind: {"count": a["count"], "value": _amount(Decimal(a["value"])),
                                           "seed_fund": _amount(Decimal(a["seed"]))}
                                    for kind, a in pot.adjustments.items()}},
        "wins": {"count": pot.wins, "won": _amount(pot.won), "reseeded": _amount(pot.reseeded),
                 "seed_used": _amount(pot.seed_used), "seed_deficit_added": _amount(pot.deficit_added),
                 "paid": _amount(pot.won_paid), "recorded": _amount(pot.won_recorded),
                 "withheld": _amount(pot.won_withheld), "pending_credit": _amount(pot.won_pending_credit),
                 "rejected": _amount(pot.won_rejected)},
        "unpaid_wins": _amount(pot.unpaid_wins),
        "closing": {"value": _amount(pot.closing_value), "seed_fund": _amount(pot.closing_seed_fund),
                    "seed_deficit": _amount(pot.closing_seed_deficit), "liability": _amount(pot.closing_liability)},
        "balanced": pot.balanced,
    }


def _line(line: DailyCloseLine) -> dict:
    return {
        "brand_id": line.brand.key, "currency": line.currency, "country": line.country, "source_id": line.source,
        "contributions": line.contributions, "wagers": _amount(line.wagers), "contributed": _amount(line.contributed),
        "contributed_base": _amount(line.contributed_base), "player_funded_base": _amount(line.player_funded_base),
        "operator_funded_base": _amount(line.operator_funded_base), "house_base": _amount(line.house_base),
        "wins": line.wins, "won_base": _amount(line.won_base), "won": _amount(line.won),
    }


def _total(row: dict) -> dict:
    return {"key": row["key"], "base_currency": row["base_currency"], "contributions": row["count_contributions"],
            "wagers": _amount(row["wagers"]), "contributed": _amount(row["contributed"]),
            "contributed_base": _amount(row["contributed_base"]), "house_base": _amount(row["house_base"]),
            "wins": row["count_wins"], "won_base": _amount(row["won_base"]), "won": _amount(row["won"])}


def close_document(close: DailyClose, lines: list[DailyCloseLine]) -> dict:
    return {
        "instance_id": str(close.jackpot_id), "instance_name": close.jackpot.name,
        "currency": close.jackpot.currency_id, "business_date": close.business_date.isoformat(),
        "time_zone": close.time_zone, "window_start": close.window_start.isoformat(),
        "window_end": close.window_end.isoformat(), "revision": close.revision, "trigger": close.trigger,
        "computed_at": close.computed_at.isoformat(),
        "computed_by": close.computed_by.get_username() if close.computed_by else None,
        "reason": close.reason, "digest": close.digest, "superseded": not close.is_current,
        "pots": [_pot(pot) for pot in close.pots.all()],
        "lines": [_line(line) for line in lines],
    }


class DailyCloseQuery(Schema):
    date: str | None = None
    date_to: str | None = None
    instance_id: str | None = None


class DailyCloseOut(Schema):
    date_from: str | None
    date_to: str | None
    closes: list[dict]
    totals: dict[str, list[dict]]


@router.get("/api/reports/daily-close", response={200: DailyCloseOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut},
            summary="Closed business days: each pot's opening, movements and closing liability, and the day's "
                    "contributions and wins by brand, currency, country and source")
def daily_close(request, filters: Query[DailyCloseQuery]):
    """`date` (default: the latest closed day you can see) to `date_to` (default: `date`), at most
    92 days; optionally one `instance_id`. Amounts are exact JSON numbers in the instance currency
    (`*_base`, pots) or the line's currency."""
    scope = reader_scope(request)
    instance = None
    if filters.instance_id:
        instance = visible_instances(scope).filter(pk=_uuid(filters.instance_id)).first()
        if instance is None:
            raise DomainError("INSTANCE_NOT_FOUND", filters.instance_id[:64])
    date_from = _date(filters.date, "date")
    if date_from is None:
        latest = (DailyClose.objects.filter(jackpot__in=visible_instances(scope), superseded_at__isnull=True)
                  .order_by("-business_date").values_list("business_date", flat=True).first())
        if latest is None:
            return json_response({"date_from": None, "date_to": None, "closes": [], "totals": {}})
        date_from = latest
    date_to = _date(filters.date_to, "date_to") or date_from
    if date_to < date_from or (date_to - date_from).days >= MAX_DAYS:
        raise invalid_value(f"date_to must be on or after date and within {MAX_DAYS} days of it")
    closes = list(visible_closes(scope, date_from=date_from, date_to=date_to, instance=instance))
    lines = visible_lines(closes, scope)
    by_close: dict[int, list] = {}
    for line in lines:
        by_close.setdefault(line.close_id, []).append(line)
    return json_response({
        "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
        "closes": [close_document(close, by_close.get(close.pk, [])) for close in closes],
        "totals": {dimension: [_total(row) for row in line_totals(lines, dimension)]
                   for dimension in ("brand", "currency", "country", "source")},
    })


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise DomainError("INSTANCE_NOT_FOUND", text[:64]) from exc


def meters_document(instance, scope: Scope) -> dict:
    pots = []
    for pot in Pot.objects.filter(jackpot=instance).order_by("-tier", "pot_id"):
        meters = pot_meters(pot, scope)
        pots.append({
            "pot_id": pot.pot_id, "mechanic": pot.mechanic, "is_progressive": pot.is_progressive,
            "parameters": {"base_amount": _amount(pot.initial_seed), "reset_amount": _amount(pot.initial_seed),
                           "increment_rate": _amount(meters.increment_rate),
                           "hidden_rate": _amount(meters.hidden_rate),
                           "limit": None if meters.limit is None else _amount(meters.limit)},
            "meters": {
                "qualifying_wagers": meters.qualifying_wagers,
                "wagers_by_currency": {c: _amount(v) for c, v in meters.wagers.items()},
                "contributions": _amount(meters.contributed), "to_value": _amount(meters.to_value),
                "to_reserve": _amount(meters.to_reserve), "overflow": _amount(meters.overflow),
                "hits": meters.hits, "wins": _amount(meters.won),
                "wins_by_status": {s: _amount(v) for s, v in meters.won_by_status.items()},
                "adjustments_value": _amount(meters.adjusted_value),
                "adjustments_reserve": _amount(meters.adjusted_reserve),
                "current_value": _amount(meters.current_value), "reserve": _amount(meters.reserve),
                "seed_deficit": _amount(meters.seed_deficit),
            },
            "last_hits": [{"win_id": win.pk, "at": win.created_at.isoformat(), "brand_id": win.player.brand.key,
                           "player_id": win.player.player_id, "generation": win.generation,
                           "amount_base": _amount(win.amount_base), "amount": _amount(win.amount),
                           "currency": win.currency, "status": win.status} for win in meters.last_hits],
        })
    return {"instance_id": str(instance.pk), "name": instance.name, "currency": instance.currency_id,
            "state": instance.state, "at": timezone.now().isoformat(), "pots": pots}


@router.get("/api/reports/meters/{instance_id}", response={200: dict, 401: ErrorOut, 404: ErrorOut},
            summary="A jackpot's meters per pot (NJ 13:69E-1.39A): qualifying wagers, contributions, hits, wins, "
                    "overflow, current value and reserve, and the last 25 hits")
def meters(request, instance_id: str):
    scope = reader_scope(request)
    instance = visible_instances(scope).filter(pk=_uuid(instance_id)).first()
    if instance is None:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id[:64])
    return json_response(meters_document(instance, scope))


class AuditQuery(Schema):
    instance_id: str | None = None
    since: str | None = None
    until: str | None = None


def audit_document(audit) -> dict:
    return {"instance_id": str(audit.pot.jackpot_id), "instance_name": audit.pot.jackpot.name,
            "pot_id": audit.pot.pot_id, "draws": audit.draws, "hits": audit.hits,
            "expected": audit.expected, "p_value": audit.p_value, "method": audit.method,
            "flagged": audit.flagged, "inconsistent_draws": audit.inconsistent, "awarded": audit.awarded}


@router.get("/api/reports/hit-audit", response={200: dict, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut},
            summary="Each HitRate pot's observed hits against the number its stored draws make expected, with "
                    "a two-sided exact test; flagged below HIT_AUDIT_ALPHA")
def hit_audit_report(request, filters: Query[AuditQuery]):
    """`since` / `until` (YYYY-MM-DD, UTC days; `until` exclusive) limit the draws to contributions
    processed in that range."""
    scope = reader_scope(request)
    instances = visible_instances(scope)
    if filters.instance_id:
        instances = instances.filter(pk=_uuid(filters.instance_id))
        if not instances.exists():
            raise DomainError("INSTANCE_NOT_FOUND", filters.instance_id[:64])
    since, until = day_start(_date(filters.since, "since")), day_start(_date(filters.until, "until"))
    audits = [hit_audit(pot, since=since, until=until) for pot in hit_rate_pots(instances)]
    return json_response({"alpha": settings.HIT_AUDIT_ALPHA, "since": filters.since, "until": filters.until,
                          "pots": [audit_document(a) for a in audits]})

