"""Database helpers the ORM does not offer, and the one place that bends a library's
internals (each such use has a test that fails loudly when an upgrade changes it:
tests/portal/test_framework_seams.py).

Framework privates used here, and why no public API does it:
* `ConnectionPool._check` (psycopg_pool): Django builds the pool itself with
  check=ConnectionPool.check_connection and no way to pass another (OPTIONS["pool"] cannot
  hold `check`: Django passes it explicitly), so ours is swapped in on the pool it made.
"""

from django.db import IntegrityError, transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from psycopg_pool import ConnectionPool


class SweepingCheck:
    """The check of each connection the psycopg pool hands out: one the server ended is
    discarded and replaced instead of failing a request (CONN_HEALTH_CHECKS, settings.py).

    A dead connection seldom comes alone (a restart or pg_terminate_backend ends them all)
    and the pool sleeps a growing backoff (1 s, 2 s, 4 s ...) before each further try, so one
    request met every dead connection in turn (7 s for 4 of them). On the first one, every
    idle connection is checked at once (the pool's public `check()`): the next try gets a
    live one."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def __call__(self, conn) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            self.pool.check()
            raise


@receiver(connection_created, dispatch_uid="portal.db.pool_check")
def _use_pool_check(sender, connection, **kwargs) -> None:
    pool = getattr(connection, "pool", None)
    if pool is not None and pool._check is not None and not isinstance(pool._check, SweepingCheck):
        pool._check = SweepingCheck(pool)


def insert_new(obj) -> bool:
    """INSERT the row: True (saved) if it is new, False if a unique key already holds it (a
    concurrent duplicate waits here until the first one commits). A savepoint, so a
    conflict leaves an enclosing transaction usable."""
    try:
        with transaction.atomic():
            obj.save(force_insert=True)
    except IntegrityError:
        return False
    return True
