"""Database helpers the ORM does not offer."""

from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver


def pool_check(conn) -> None:
    """The check of each connection the psycopg pool hands out: one the server ended is
    discarded and replaced instead of failing a request (CONN_HEALTH_CHECKS, settings.py).

    A dead connection seldom comes alone (a restart or pg_terminate_backend ends them all)
    and the pool sleeps a growing backoff (1 s, 2 s, 4 s ...) before each further try, so one
    request met every dead connection in turn (7 s for 4 of them). On the first one, every
    idle connection is checked at once: the next try gets a live one."""
    from psycopg_pool import ConnectionPool

    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)
        if pool is not None:
            pool.check()
        raise


@receiver(connection_created, dispatch_uid="portal.db.pool_check")
def _use_pool_check(sender, connection, **kwargs) -> None:
    """Django builds the pool with check=ConnectionPool.check_connection and no way to pass
    another (its OPTIONS["pool"] cannot hold `check`): swap ours in on the pool it made."""
    pool = getattr(connection, "pool", None)
    if pool is not None and getattr(pool, "_check", None) not in (None, pool_check):
        pool._check = pool_check


def insert_new(obj) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, in one round trip: True (and obj.pk
    set) if the row is new, False if a unique key already holds it (a concurrent duplicate
    waits here until the first one commits)."""
    meta = type(obj)._meta
    quote = connection.ops.quote_name
    fields = [f for f in meta.local_concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join("%s" for _ in fields)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
           f"ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = "default"
    return True
