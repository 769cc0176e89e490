"""The portal's own Celery task. How tasks are sent (Celery, or the embedded scheduler's
threads) and the periodic table's runner are the runtime's (portal/runtime.py); the periodic
table itself is portal/celery.py's."""

from celery import shared_task


@shared_task(name="portal.publish_jackpot_updates")
def publish_jackpot_updates() -> int:
    from portal import live

    return live.publish_jackpot_updates()
