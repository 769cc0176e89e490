"""Celery tasks: they take ids, load rows and call a service; each is safe to run twice.

The services that enqueue these tasks (callbacks, wins, drops) import this module, so a task
imports those services inside its body: that circle is the only one (pyproject.toml's import
contract names it)."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from contributions.models import DailyClose
from contributions.partitions import partitions_ensure
from contributions.services import payments
from contributions.services.closing import days_close
from portal.runtime import dispatch, enqueue

logger = logging.getLogger(__name__)


@shared_task(name="contributions.process")
def process_contribution(contribution_id: int) -> int:
    """Process this accepted contribution and a batch of others waiting; returns how many."""
    from contributions.services import callbacks

    return callbacks.contribution_process(contribution_id)


@shared_task(name="contributions.deliver_webhooks")
def deliver_webhooks() -> int:
    """Send the deliveries that are due, until none is left (a bounded number at a time, and
    of one operator's); returns how many were attempted."""
    from contributions.services import callbacks

    return callbacks.deliveries_send()


@shared_task(name="contributions.sweep_webhooks")
def sweep_webhooks() -> int:
    """Send what is due: retries whose backoff elapsed, and attempts a dead worker abandoned."""
    from contributions.services import callbacks

    due = callbacks.deliveries_due()
    for _ in range(0, len(due), settings.WEBHOOK_BATCH_SIZE):
        dispatch(deliver_webhooks)
    return len(due)


@shared_task(name="contributions.sweep_accepted")
def sweep_accepted() -> int:
    """Queue again async contributions accepted but not processed (lost message, killed worker)."""
    from contributions.services import callbacks

    stalled = callbacks.contributions_stalled(older_than_seconds=settings.ASYNC_REQUEUE_AFTER_SECONDS)
    for contribution_id in stalled:
        dispatch(process_contribution, contribution_id)
    return len(stalled)


@shared_task(name="contributions.send_credit")
def send_credit(transaction_id: int) -> None:
    payments.credit_send(transaction_id)


@shared_task(name="contributions.sweep_wallet")
def sweep_wallet() -> tuple[int, int]:
    """Retry pending Credits; cancel Debits a crash left without a contribution."""
    credits = payments.credits_due()
    for tx_id in credits:
        dispatch(send_credit, tx_id)
    orphans = payments.debits_orphaned()
    for tx_id in orphans:
        payments.debit_cancel_orphan(tx_id)
    return len(credits), len(orphans)


@shared_task(name="contributions.draw_raffles")
def draw_raffles() -> int:
    """Draw every raffle whose period has ended (each once: a unique row per period)."""
    from contributions.services import wins

    drawn = 0
    for instance_id in wins.raffles_due():
        try:
            drawn += wins.raffle_draw(instance_id) is not None
        except Exception:  # noqa: BLE001 - one raffle failing must not hold the others back
            logger.exception("raffle %s could not be drawn", instance_id)
    return drawn


@shared_task(name="contributions.close_days")
def close_days() -> int:
    """Close the business days that are over (each once, in order; a bounded number per run,
    so a catch-up never holds the embedded scheduler long); returns how many were closed."""
    steps = days_close(trigger=DailyClose.Trigger.SCHEDULE, limit=settings.DAILY_CLOSE_DAYS_PER_RUN)
    return sum(step.close is not None for step in steps)


@shared_task(name="contributions.settle_drops")
def settle_drops() -> int:
    """Settle the clock-deadline drops whose deadline passed before their drop: the last
    contribution before the deadline wins. Returns how many pots were settled."""
    from contributions.services import drops

    settled = 0
    for pot_id in drops.drops_due():
        try:
            settled += drops.drop_settle(pot_id) is not None
        except Exception:  # noqa: BLE001 - one pot failing must not hold the others back
            logger.exception("the deadline of pot %s could not be settled", pot_id)
    return settled


@shared_task(name="contributions.ensure_partitions")
def ensure_partitions() -> list[str]:
    """PostgreSQL: the ledger's monthly partitions exist ahead of time (and stale boundary
    keys are pruned); the names of partitions made."""
    return partitions_ensure(ahead=settings.PARTITIONS_AHEAD_MONTHS)


def enqueue_credit(transaction_id: int) -> None:
    enqueue(send_credit, transaction_id)


# Set while a drain is scheduled and has not started reading: arrivals in that time need no
# task of their own (the drain will see them); a drain deletes it before it reads.
DRAIN_SCHEDULED = "contributions:drain-scheduled"


@shared_task(name="contributions.drain_accepted")
def drain_accepted() -> int:
    """Process the waiting async contributions, batch after batch, until none is left; returns
    how many. Several drains may run at once: their batches are disjoint (SKIP LOCKED)."""
    from contributions.services import callbacks

    cache.delete(DRAIN_SCHEDULED)
    total = 0
    while done := callbacks.contribution_process(None):
        total += done
    return total


def enqueue_processing(contribution_id: int) -> None:
    """Once the accepting transaction commits, make sure a drain will see this contribution:
    schedule one unless one is already scheduled -- no task per contribution. (A lost drain
    is covered by the key's expiry and by the `sweep_accepted` sweeper.)"""

    def schedule() -> None:
        if cache.add(DRAIN_SCHEDULED, contribution_id, timeout=settings.ASYNC_DRAIN_SCHEDULED_SECONDS):
            try:
                dispatch(drain_accepted)
            except Exception:
                cache.delete(DRAIN_SCHEDULED)  # nothing is scheduled: the next arrival tries again
                raise

    transaction.on_commit(schedule, robust=True)


def enqueue_deliveries() -> None:
    enqueue(deliver_webhooks)
