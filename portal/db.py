"""Database helpers the ORM does not offer."""

from django.db import connection


def insert_new(obj) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, in one round trip: True (and obj.pk
    set) if the row is new, False if a unique key already holds it (a concurrent duplicate
    waits here until the first one commits)."""
    meta = type(obj)._meta
    quote = connection.ops.quote_name
    columns, placeholders, values = insert_parts(obj, typed=False)
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


def insert_parts(obj, *, typed: bool = True) -> tuple[str, str, list]:
    """(columns, placeholders, values) of an INSERT of `obj`, for statements that insert it
    as a part of something larger. Typed placeholders (PostgreSQL casts) carry their
    column's type, so the row can also be inserted from a SELECT."""
    meta = type(obj)._meta
    quote = connection.ops.quote_name
    fields = [f for f in meta.local_concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(f"%s::{f.db_type(connection)}" if typed else "%s" for f in fields)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    return columns, placeholders, values
