"""The daily close: each instance's business day, computed from the ledger and stored once.

1. A day can be closed once it is over in its business time zone (plus
   DAILY_CLOSE_GRACE_SECONDS, so its last contributions have committed), and after the day
   before it (the instance's first day excepted): days are closed in order.
2. Its figures (`reports.close_figures`) are stored with their digest; a closed day is never
   computed again silently. The schedule and `close_day` skip closed days.
3. `day_close(force=True)`, by a user allowed to (`contributions.recompute_dailyclose`) with
   a reason, computes the day again as a new revision. The revision it replaces keeps its
   figures, marked superseded by the new one; equal digests show nothing changed.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from contributions.models import Contribution, DailyClose, DailyCloseLine, DailyClosePot, Win
from contributions.reports import (
    business_zone,
    close_figures,
    day_window,
    figures_digest,
    first_business_date,
    is_empty,
    last_closable_date,
)
from portal.errors import DomainError
from sources.models import JackpotInstance, PotAdjustment

logger = logging.getLogger(__name__)


def day_close(*, instance: JackpotInstance, business_date: date, trigger: str, actor=None, reason: str = "",
              force: bool = False, now: datetime | None = None) -> DailyClose:
    """Close one business day of an instance (see the module); returns the stored close."""
    now = now or timezone.now()
    zone = business_zone(instance.operator_id)
    start, end = day_window(business_date, zone)
    if business_date > last_closable_date(zone, now):
        raise DomainError("DAY_NOT_OVER", f"{business_date} ({zone.key}) is not over yet: it can be closed "
                                       f"after {end:%Y-%m-%d %H:%M} {zone.key} and a grace period")
    first = first_business_date(instance, zone)
    if business_date < first:
        raise DomainError("BEFORE_INSTANCE", f"{instance.name} did not exist on {business_date} (created {first})")
    current = DailyClose.objects.filter(jackpot=instance, business_date=business_date,
                                        superseded_at__isnull=True).first()
    if current is not None and not force:
        raise DomainError("DAY_CLOSED", f"{instance.name} {business_date} is closed (revision {current.revision}, "
                                     f"{current.computed_at:%Y-%m-%d %H:%M} UTC); computing it again needs --force, "
                                     "who and why")
    if force:
        reason = (reason or "").strip()[:500]
        if actor is None or not getattr(actor, "is_active", False) or not actor.has_perm(
                "contributions.recompute_dailyclose"):
            raise DomainError("FORBIDDEN", "A recompute names an active user allowed to recompute closed days")
        if len(reason) < 3:
            raise DomainError("REASON_REQUIRED", "Give a reason for the recompute (it is kept with the revision)")
    if current is None and business_date > first and not DailyClose.objects.filter(
            jackpot=instance, business_date=business_date - timedelta(days=1)).exists():
        raise DomainError("PREVIOUS_DAY_OPEN", f"{instance.name}: close {business_date - timedelta(days=1)} first "
                                            "(days are closed in order)")

    pots, lines = close_figures(instance, start, end)
    close = DailyClose(
        jackpot=instance, business_date=business_date, time_zone=zone.key, window_start=start, window_end=end,
        revision=current.revision + 1 if current else 1, trigger=DailyClose.Trigger.RECOMPUTE if current else trigger,
        computed_at=now, computed_by=actor if force else None, reason=reason if force else "",
        digest=figures_digest(pots, lines))
    with transaction.atomic():
        if current is not None and not DailyClose.objects.filter(
                pk=current.pk, superseded_at__isnull=True).update(superseded_at=now):
            raise DomainError("DAY_CLOSED", f"{instance.name} {business_date} was just computed again by someone else")
        try:
            with transaction.atomic():
                close.save()
        except IntegrityError as exc:  # another run closed it meanwhile
            raise DomainError("DAY_CLOSED", f"{instance.name} {business_date} was just closed by another run") from exc
        if current is not None:
            DailyClose.objects.filter(pk=current.pk).update(superseded_by=close)
        for row in [*pots, *lines]:
            row.close = close
        DailyClosePot.objects.bulk_create(pots)
        DailyCloseLine.objects.bulk_create(lines)
    return close


@dataclass
class Step:
    """One day of one instance in a run: closed (`close`), skipped (`skipped`) or refused (`error`)."""

    instance: JackpotInstance
    business_date: date
    close: DailyClose | None = None
    error: DomainError | None = None
    skipped: str = ""
    problems: list[str] = field(default_factory=list)  # a close that does not add up, or breaks the chain


def days_close(*, trigger: str, now: datetime | None = None, until: date | None = None, instances=None,
               limit: int | None = None, progress: Callable[[Step], None] | None = None) -> list[Step]:
    """Close, for each instance, every day that is over and not closed yet, in order, up to
    `until` (a business date) if given, at most `limit` days in all. A terminated instance
    whose last day held nothing and moved nothing is not closed any further."""
    now = now or timezone.now()
    queryset = JackpotInstance.objects.order_by("created_at", "pk") if instances is None else instances
    steps: list[Step] = []
    # One query for every instance's last closed day (a run every few minutes finds most closed).
    for instance in queryset.annotate(last_closed=Max("daily_closes__business_date",
                                                      filter=Q(daily_closes__superseded_at__isnull=True))):
        zone = business_zone(instance.operator_id)
        last = last_closable_date(zone, now)
        if until is not None:
            last = min(last, until)
        latest = instance.last_closed
        day = latest + timedelta(days=1) if latest else first_business_date(instance, zone)
        while day <= last:
            if limit is not None and len(steps) >= limit:
                return steps
            step = Step(instance=instance, business_date=day)
            if instance.state == JackpotInstance.State.TERMINATED and _retired(instance, latest):
                step.skipped = "terminated, nothing held or moved"
                steps.append(step)
                if progress:
                    progress(step)
                break
            try:
                step.close = day_close(instance=instance, business_date=day, trigger=trigger, now=now)
            except DomainError as error:
                step.error = error
                logger.warning("daily close of %s %s refused: %s", instance.pk, day, error.message)
            else:
                step.problems = close_problems(step.close)
                for problem in step.problems:
                    logger.error("daily close of %s %s: %s", instance.pk, day, problem)
            steps.append(step)
            if progress:
                progress(step)
            if step.error:
                break
            latest = day
            day += timedelta(days=1)
    return steps


def _retired(instance: JackpotInstance, latest: date | None) -> bool:
    """A terminated instance whose last closed day held and moved nothing, and whose pots have
    had no ledger row since (a late adjustment or transfer reopens its days)."""
    if latest is None:
        return False
    close = DailyClose.objects.filter(jackpot=instance, business_date=latest, superseded_at__isnull=True).first()
    if close is None or not is_empty(list(close.pots.all()), list(close.lines.all())):
        return False
    since = close.window_end
    return not (PotAdjustment.objects.filter(pot__jackpot=instance, created_at__gte=since).exists()
                or Win.objects.filter(jackpot=instance, created_at__gte=since).exists()
                or Contribution.objects.filter(jackpot=instance, processed_at__gte=since).exists())


def close_problems(close: DailyClose) -> list[str]:
    """What is wrong with a stored close: pots whose day does not add up, and breaks of the
    chain from the day before."""
    return [*(f"pot {pot.pot_key}: opening + movements does not equal closing"
              for pot in close.pots.all() if not pot.balanced),
            *(f"chain: {line}" for line in chain_breaks(close))]


def chain_breaks(close: DailyClose) -> list[str]:
    """Pots whose opening differs from the previous day's closing (a row booked into a day
    after it was closed, or removed from one): what a recompute of that day would explain."""
    previous = DailyClose.objects.filter(jackpot_id=close.jackpot_id, superseded_at__isnull=True,
                                         business_date=close.business_date - timedelta(days=1)).first()
    if previous is None:
        return []
    before = {p.pot_key: p for p in previous.pots.all()}
    breaks = []
    for pot in close.pots.all():
        last = before.get(pot.pot_key)
        if last is None:
            if pot.opening_liability or pot.opening_seed_deficit:
                breaks.append(f"{pot.pot_key}: opens with {pot.opening_liability} but did not exist the day before")
            continue
        if (pot.opening_value, pot.opening_seed_fund, pot.opening_seed_deficit) != (
                last.closing_value, last.closing_seed_fund, last.closing_seed_deficit):
            breaks.append(f"{pot.pot_key}: opens at value {pot.opening_value}, seed fund {pot.opening_seed_fund}, "
                          f"deficit {pot.opening_seed_deficit}; the day before closed at {last.closing_value}, "
                          f"{last.closing_seed_fund}, {last.closing_seed_deficit}")
    return breaks
