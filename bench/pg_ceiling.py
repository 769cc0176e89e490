"""The same durable work one contribution needs, straight to PostgreSQL with no framework:
upsert a player, insert the contribution, insert three pot increments, update the three (hot,
shared) pot rows. With a batch size B, one transaction does that for B contributions (the pots
updated once with the batch's sums), as group commit does. Run with N processes for D seconds;
prints contributions/s.

    python bench/pg_ceiling.py DSN N D [B]
"""

import json
import multiprocessing
import os
import sys
import time
import uuid

import psycopg

SCHEMA = """
DROP TABLE IF EXISTS ceiling_player, ceiling_contribution, ceiling_increment, ceiling_pot;
CREATE TABLE ceiling_player (id bigserial PRIMARY KEY, brand int NOT NULL, player_id text NOT NULL,
  country text, currency text, last_seen timestamptz, UNIQUE (brand, player_id));
CREATE TABLE ceiling_contribution (id bigserial PRIMARY KEY, trace_id uuid UNIQUE NOT NULL, brand int NOT NULL,
  player_ref text NOT NULL, gameround text NOT NULL, amount numeric(28, 8), amount_base numeric(28, 8),
  house numeric(28, 8), result text, created_at timestamptz DEFAULT now(), UNIQUE (brand, player_ref, gameround));
CREATE TABLE ceiling_increment (id bigserial PRIMARY KEY, contribution_id bigint NOT NULL, pot_id int NOT NULL,
  value_delta numeric(28, 8), seed_delta numeric(28, 8), value_after numeric(28, 8));
CREATE TABLE ceiling_pot (id int PRIMARY KEY, current_value numeric(28, 8), seed_fund numeric(28, 8));
INSERT INTO ceiling_pot VALUES (1, 10, 0), (2, 100, 0), (3, 1000, 0);
"""


def worker(dsn: str, seconds: float, index: int, counts, batch: int) -> None:
    done = 0
    with psycopg.connect(dsn) as conn:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with conn.transaction(), conn.cursor() as cur:
                players = [f"p-{((done + n) * 7 + index) % 1000}" for n in range(batch)]
                cur.executemany("INSERT INTO ceiling_player (brand, player_id, country, currency, last_seen) "
                                "VALUES (1, %s, 'MT', 'EUR', now()) ON CONFLICT (brand, player_id) DO UPDATE "
                                "SET last_seen = excluded.last_seen", [(p,) for p in set(players)])
                ids = []
                for n, player in enumerate(players):
                    cur.execute("INSERT INTO ceiling_contribution (trace_id, brand, player_ref, gameround, amount, "
                                "amount_base, house, result) VALUES (%s, 1, %s, %s, 0.025, 0.025, 0.0075, %s) "
                                "ON CONFLICT DO NOTHING RETURNING id",
                                (uuid.uuid4(), player, f"{index}-{done + n}", '{"contribution_amount":0.025}'))
                    ids.append(cur.fetchone()[0])
                cur.execute("UPDATE ceiling_pot AS p SET current_value = p.current_value + v.d * %s, "
                            "seed_fund = p.seed_fund + v.s * %s FROM (VALUES (1, 0.0053125, 0.0009375), "
                            "(2, 0.0053125, 0.0009375), (3, 0.00425, 0.00075)) AS v(id, d, s) "
                            "WHERE p.id = v.id RETURNING p.id, p.current_value", (batch, batch))
                after = dict(cur.fetchall())
                cur.executemany("INSERT INTO ceiling_increment (contribution_id, pot_id, value_delta, seed_delta, "
                                "value_after) VALUES (%s, %s, 0.005, 0.001, %s)",
                                [(cid, pot, value) for cid in ids for pot, value in after.items()])
            done += batch
    counts[index] = done


def main() -> None:
    dsn, concurrency, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    counts = multiprocessing.Array("l", concurrency)
    processes = [multiprocessing.Process(target=worker, args=(dsn, seconds, i, counts, batch)) for i in range(concurrency)]
    started = time.monotonic()
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(json.dumps({"contributions": total, "batch": batch, "writers": concurrency, "seconds": round(elapsed, 2),
                      "per_second": round(total / elapsed, 1)}))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ceiling_player, ceiling_contribution, ceiling_increment, ceiling_pot")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
