"""The Celery app. Periodic schedules are declared here, in one place, each with why."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# name -> (task, every N seconds). The embedded scheduler (portal.tasks) runs the same table
# when there is no broker, so the portal behaves alike in both modes.
PERIODIC = {
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
    # Instances activate and end by their timestamps.
    "follow-schedules": ("sources.follow_schedules", 30.0),
    # Coalesced live JackpotUpdate: one message per changed instance every few seconds,
    # however many contributions moved it.
    # (Read from the environment here: Django settings are not loaded when this module is.)
    "jackpot-updates": ("portal.publish_jackpot_updates", float(os.environ.get("JACKPOT_UPDATE_INTERVAL_SECONDS", "2"))),
}

app.conf.beat_schedule = {
    name: {"task": task, "schedule": float(every)} for name, (task, every) in PERIODIC.items()
}
