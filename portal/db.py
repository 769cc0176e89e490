"""Database helpers the ORM does not offer, and the one place that bends a library's
internals (each such use has a test that fails loudly when an upgrade changes it:
tests/portal/test_framework_seams.py).

Framework privates used here, and why no public API does it:
* `ConnectionPool._check` (psycopg_pool): Django builds the pool itself with
  check=ConnectionPool.check_connection and no way to pass another (OPTIONS["pool"] cannot
  hold `check`: Django passes it explicitly), so ours is swapped in on the pool it made.
"""

from contextlib import contextmanager

from django.db import IntegrityError, connection, connections, router, transaction
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


def ids_reserve(model, count: int) -> list[int]:
    """`count` pks from the model's table sequence (PostgreSQL; none elsewhere), for a later
    `bulk_insert(..., ids=)`: taken before a transaction's locks, they are one query less
    under them. Unused ones are gaps, as any rolled-back insert leaves."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql" or count <= 0:
        return []
    meta = model._meta
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, count])
        return [pk for (pk,) in cursor.fetchall()]


def bulk_insert(objs: list, *, ids: list[int] | None = None) -> None:
    """INSERT many new rows of one model, like `bulk_create(objs)` (each object gets its pk),
    through PostgreSQL's COPY: the rows are formatted by psycopg's C code instead of the ORM's
    SQL compiler, which cost a quarter of a contribution batch's CPU. The pks come from `ids`
    (`ids_reserve`), or from the table's sequence first (one query). Other databases:
    `bulk_create`.

    Each field's own `pre_save` and `get_db_prep_save` prepare its value, as for `save()`; a
    constraint violation raises Django's IntegrityError, as any query does."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    meta, quote = model._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.generated]
    with connection.wrap_database_errors, connection.cursor() as cursor:
        unnumbered = [obj for obj in objs if obj.pk is None]
        spare = list(ids or ())
        if len(spare) < len(unnumbered):
            spare += ids_reserve(model, len(unnumbered) - len(spare))
        for obj, pk in zip(unnumbered, spare, strict=False):
            obj.pk = pk
        # A relation set to an object saved just before (above, or by an earlier bulk_insert):
        # its pk is known only now (what bulk_create does for its objects too).
        for field in fields:
            if field.is_relation and (field.many_to_one or field.one_to_one):
                for obj in objs:
                    if getattr(obj, field.attname) is None and field.is_cached(obj):
                        related = field.get_cached_value(obj)
                        if related is None:
                            continue
                        value = getattr(related, field.target_field.attname)
                        if value is None:  # as bulk_create refuses it
                            raise ValueError(f"bulk_insert() prohibited to prevent data loss due to unsaved "
                                             f"related object '{field.name}'.")
                        setattr(obj, field.attname, value)
        columns = ", ".join(quote(field.column) for field in fields)
        with cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields])


def bulk_update(objs: list, fields: list[str], *, match: tuple[str, ...] = ()) -> int:
    """UPDATE `fields` of many rows of one model to their objects' values, like
    `bulk_update(objs, fields)`, in one statement that joins a VALUES list on PostgreSQL
    (Django's bulk_update builds a CASE per field and row: half a worker's CPU on a batch).
    `match`: more columns to find each row by besides the pk (a partitioned table's key).
    Other databases: `bulk_update`. Returns how many rows were updated."""
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields)
    meta, quote = model._meta, connection.ops.quote_name
    keys = [meta.pk, *(meta.get_field(name) for name in match)]
    changed = [meta.get_field(name) for name in fields]
    columns = [*keys, *changed]
    # Character values are cast to text: a cast to varchar(n) would cut a long value short,
    # where the assignment to the column refuses it.
    casts = ["text" if field.db_type(connection).startswith("varchar") else field.db_type(connection)
             for field in columns]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in columns]
    table = quote(meta.db_table)
    sql = (f"UPDATE {table} SET " + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in changed)
           + f" FROM (VALUES {', '.join([row] * len(objs))}) AS v ({', '.join(quote(f.column) for f in columns)})"
           + " WHERE " + " AND ".join(f"{table}.{quote(f.column)} = v.{quote(f.column)}" for f in keys))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@contextmanager
def commit_unflushed():
    """A transaction whose commit does not wait for its WAL to reach the disk (PostgreSQL's
    `synchronous_commit = off`, for this transaction only; elsewhere a plain transaction).
    For writes that only matter with a later write that does wait: PostgreSQL flushes its WAL
    in order, so that later commit makes this one durable too (a crash in between loses both).
    Inside an enclosing transaction it is a plain savepoint: the enclosing commit waits."""
    outermost = not connection.in_atomic_block  # inside another transaction it would be that one's setting
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
