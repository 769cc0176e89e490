"""Monthly partitions of the ledger's two big tables on PostgreSQL.

`contributions_contribution` and `contributions_potincrement` grow with every contribution
(at 1,000/s: 2.6 billion contributions a month, and one increment per pot of each). On
PostgreSQL each is range-partitioned by `created_month` (the UTC month its contribution was
created in; an increment carries its contribution's), so a month is one table per ledger
table: its indexes stay a month's size, vacuum works a month at a time, date-bounded reads
touch the months they name, and `archive_contributions` removes a month by dropping its
tables instead of deleting billions of rows. SQLite (the embedded mode) keeps plain tables.

What partitioning costs, decided here once:

* PostgreSQL requires the partition key in every unique index, so the primary keys are
  (id, created_month) and the idempotency key is unique per month. A repeat in a later month
  is still recognised (the pipeline looks a key up across all months before inserting); two
  concurrent duplicates that straddle a month's boundary are caught by
  `contributions_boundarykey`, a small table without partitions that a trigger fills with
  the keys of contributions created within BOUNDARY_MINUTES of a month's start or end (the
  unique violation is the same IntegrityError the pipeline already handles).
* A foreign key must reference a unique key that holds the partition key, and Django's
  foreign keys are single columns: rows that point at a contribution (increments, wins,
  webhook deliveries, wallet transactions) do so without a database constraint
  (db_constraint=False). The ledger is append-only and those rows are written in the
  contribution's own transaction; `archive_contributions` removes or unlinks them with it.

Partitions are made ahead (PARTITIONS_AHEAD months, by the migration and a daily beat task);
a row whose month has none yet lands in the default partition and is moved out when its
month's partition is made.
"""

import re
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

PARTITIONED = ("contributions_contribution", "contributions_potincrement")
BOUNDARY_MINUTES = 10


def month_of(moment: datetime) -> date:
    """The first day of `moment`'s month, in UTC."""
    return moment.astimezone(UTC).date().replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month:%Y}m{month:%m}"


def is_partitioned(table: str = "contributions_contribution") -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
        return cursor.fetchone() is not None


def partitions_of(table: str) -> dict[date, str]:
    """{month: partition table} of a partitioned table (the default partition not included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)", [table])
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        match = re.fullmatch(re.escape(table) + r"_y(\d{4})m(\d{2})", name)
        if match:
            found[date(int(match[1]), int(match[2]), 1)] = name
    return found


def partition_ensure(table: str, month: date) -> bool:
    """Make `table`'s partition of `month` (True if it was missing). Rows of that month that
    landed in the default partition meanwhile are moved into it, in one transaction."""
    name = partition_name(table, month)
    bounds = f"FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return False
        cursor.execute(f"SELECT 1 FROM {table}_default WHERE created_month = %s LIMIT 1", [month])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES {bounds}")
            return True
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"WITH moved AS (DELETE FROM {table}_default WHERE created_month = %s RETURNING *) "
                       f"INSERT INTO {name} SELECT * FROM moved", [month])
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES {bounds}")
    return True


def partitions_ensure(*, now: datetime | None = None, ahead: int = 3) -> list[str]:
    """The partitions of this month and the next `ahead` months, for both tables (made if
    missing); also prunes boundary keys no duplicate can race any more. Names made."""
    if not is_partitioned():
        return []
    now = now or timezone.now()
    made = []
    for table in PARTITIONED:
        for offset in range(ahead + 1):
            month = add_months(month_of(now), offset)
            if partition_ensure(table, month):
                made.append(partition_name(table, month))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contributions_boundarykey WHERE created_at < %s - interval '1 day'", [now])
    return made


def partition_drop(table: str, month: date) -> bool:
    """Detach and drop `table`'s partition of `month` (False: it has none; its rows, if any,
    are in the default partition)."""
    name = partitions_of(table).get(month)
    if name is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
        cursor.execute(f"DROP TABLE {name}")
    return True


# --- the conversion (migration contributions 0010) --------------------------------------------


def _columns(cursor, index_oid: int) -> list[str]:
    cursor.execute(
        "SELECT a.attname FROM pg_index ix, unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attnum = k.attnum WHERE ix.indexrelid = %s AND a.attrelid = ix.indrelid "
        "ORDER BY k.ord", [index_oid])
    return [row[0] for row in cursor.fetchall()]


def partition_table(cursor, table: str, months: list[date]) -> None:
    """Turn `table` (with a `created_month` column) into a table range-partitioned by it:
    the same columns, defaults, checks, foreign keys (outgoing) and indexes, every unique
    key extended by the partition key; its rows copied into monthly partitions (and a
    default one); the id sequence carried on. Incoming foreign keys must be gone already."""
    old = f"{table}_unpartitioned"
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(
        "SELECT ix.indexrelid, i.relname, pg_get_indexdef(ix.indexrelid), ix.indisunique, ix.indisprimary, "
        "con.conname IS NOT NULL FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('u', 'p') "
        "WHERE ix.indrelid = %s::regclass ORDER BY i.relname", [old])
    indexes = [(name, definition, unique, primary, constraint, _columns(cursor, oid))
               for oid, name, definition, unique, primary, constraint in cursor.fetchall()]
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [old])
    foreign_keys = cursor.fetchall()
    cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
                   f"INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (created_month)")
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    cursor.execute(f"SELECT DISTINCT created_month FROM {old}")
    for month in sorted({row[0] for row in cursor.fetchall()} | set(months)):
        cursor.execute(f"CREATE TABLE {partition_name(table, month)} PARTITION OF {table} FOR VALUES "
                       f"FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')")
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    cursor.execute(f"SELECT pg_get_serial_sequence('{old}', 'id')")
    (old_sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT setval('{sequence}', GREATEST((SELECT last_value FROM {old_sequence}), "
                   f"(SELECT COALESCE(MAX(id), 0) FROM {table}), 1))")
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")
    for name, definition, unique, primary, constraint, columns in indexes:
        keyed = ", ".join([*columns, "created_month"] if "created_month" not in columns else columns)
        if primary:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY ({keyed})")
        elif unique and constraint:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({keyed})")
        elif unique:  # a unique index with a condition: the same, keyed by month too
            head, _, tail = definition.partition(" USING ")
            method, _, rest = tail.partition(" (")
            rest = rest[rest.index(")"):]
            cursor.execute(f"CREATE UNIQUE INDEX {name} ON {table} USING {method} ({keyed}{rest}")
        else:
            cursor.execute(re.sub(r" ON (ONLY )?(\S+\.)?" + re.escape(old) + " ", f" ON {table} ", definition))
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


BOUNDARY_TRIGGER = f"""
CREATE FUNCTION contributions_boundary_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', NEW.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    -- Near a month's boundary a concurrent duplicate could land in the next month's partition,
    -- out of reach of the per-month unique key: this insert makes it a unique violation.
    IF NEW.created_at < month_start + interval '{BOUNDARY_MINUTES} minutes'
            OR NEW.created_at >= month_start + interval '1 month' - interval '{BOUNDARY_MINUTES} minutes' THEN
        INSERT INTO contributions_boundarykey (brand_id, player_ref, gameround_id, target_kind, target_id, created_at)
        VALUES (NEW.brand_id, NEW.player_ref, NEW.gameround_id, NEW.target_kind, NEW.target_id, NEW.created_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER contributions_boundary_key AFTER INSERT ON contributions_contribution
    FOR EACH ROW EXECUTE FUNCTION contributions_boundary_key();
"""
