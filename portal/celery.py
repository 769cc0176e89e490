"""The Celery app. Periodic schedules are declared here, in one place, each with why."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def periodic() -> dict[str, tuple[str, float]]:
    """name -> (task, every N seconds): Celery beat's schedule, and the embedded runtime's
    (portal/runtime.py), so the portal behaves alike in both modes. Read from the settings when
    first needed (they are not loaded yet when this module is imported)."""
    from django.conf import settings

    return {
        # Webhook retries become due on their backoff schedule; this sends them (and frees
        # attempts a killed worker left claimed). Its period is the resolution of the backoff.
        "sweep-webhooks": ("contributions.sweep_webhooks", 5.0),
        # Async contributions accepted but never processed (message lost with the broker, or a
        # worker killed mid-task) are queued again; processing is idempotent.
        "sweep-accepted": ("contributions.sweep_accepted", 15.0),
        # Wallet: pending Credits are retried (never cancelled, same transaction id), and Debits
        # left without a contribution by a crash are cancelled.
        "sweep-wallet": ("contributions.sweep_wallet", 30.0),
        # Raffles are drawn when their period ends (and recurring ones reopen); the period is the
        # latest a draw can run after its end.
        "draw-raffles": ("contributions.draw_raffles", 30.0),
        # Business days are closed once over (plus a grace period), each once: the run after a
        # day's end closes it; after downtime, runs catch up a bounded number of days each.
        "close-days": ("contributions.close_days", 300.0),
        # Clock-deadline must-drops whose deadline passed before their drop time was reached are
        # won by the last contribution before the deadline. A contribution after the deadline
        # settles it at once; otherwise this period is the longest a winner waits to hear.
        "settle-drops": ("contributions.settle_drops", 5.0),
        # PostgreSQL: the ledger's monthly partitions are made months ahead (contributions/partitions.py).
        "ensure-partitions": ("contributions.ensure_partitions", 6 * 3600.0),
        # Instances activate and end by their timestamps.
        "follow-schedules": ("sources.follow_schedules", 30.0),
        # Coalesced live JackpotUpdate: one message per changed instance every few seconds,
        # however many contributions moved it.
        "jackpot-updates": ("portal.publish_jackpot_updates", float(settings.JACKPOT_UPDATE_INTERVAL_SECONDS)),
    }


@app.on_after_configure.connect
def _beat_schedule(sender: Celery, **kwargs) -> None:
    """Celery beat's schedule, once the configuration (and with it Django's settings) is loaded."""
    for name, (task, every) in periodic().items():
        sender.add_periodic_task(every, sender.signature(task), name=name)
