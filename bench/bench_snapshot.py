"""Time catalog snapshots and auto-sync diffs on large schemas.

    .venv/bin/python bench/bench_snapshot.py [--tables 300,3000] [--repeat 5] [--major 18]

Starts a throwaway PostgreSQL server (every available major unless --major), builds a schema of N
tables (with indexes, foreign keys, checks, comments, enums, views and functions in proportion), and
prints, per size: the time to snapshot it (median of --repeat), the time to verify it (snapshot +
fingerprint), the time of the cheap catalog_token check, the time to diff it against a changed copy,
and the number of statements and round trips one snapshot takes.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.pgserver import PgServer, available_bindirs, running_server, server_major
from initjob.schema import catalog
from initjob.schema.diff import plan_sync


def schema_sql(tables: int) -> str:
    """A schema of ``tables`` tables and, in proportion, every other object kind."""
    out = ["CREATE SCHEMA bench;"]
    out += [f"CREATE TYPE bench.state{i} AS ENUM ('new', 'open', 'done');" for i in range(max(1, tables // 60))]
    out.append("CREATE FUNCTION bench.touch() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;")
    for i in range(tables):
        ref = f", parent_id bigint REFERENCES bench.t{i - 1} (id) ON DELETE CASCADE" if i else ""
        out.append(
            f"CREATE TABLE bench.t{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            f"name text NOT NULL DEFAULT '', email varchar(200) UNIQUE, amount numeric(12,2) CHECK (amount >= 0), "
            f"state bench.state{i % max(1, tables // 60)} DEFAULT 'new', "
            f"created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz{ref});"
        )
        out.append(f"CREATE INDEX t{i}_name_idx ON bench.t{i} (lower(name)) WHERE amount > 0;")
        out.append(f"COMMENT ON TABLE bench.t{i} IS 'table {i}';")
        if i % 10 == 0:
            # Only integers are interpolated into this benchmark DDL.
            out.append(f"CREATE VIEW bench.v{i} AS SELECT id, name, amount FROM bench.t{i} WHERE amount > 0;")  # noqa: S608
            out.append(f"CREATE TRIGGER t{i}_touch BEFORE UPDATE ON bench.t{i} "
                       "FOR EACH ROW EXECUTE FUNCTION bench.touch();")
            out.append(f"CREATE FUNCTION bench.f{i}(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + {i} $$;")
    return "\n".join(out)


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_round_trips(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int]:
    """(statements sent, Sync messages = round trips) during one snapshot, read from libpq's trace."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        catalog.read_snapshot(conn, ["bench"])
        conn.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t")[2].split()[0] for line in trace if line.startswith("F\t")]
    return sent.count("Bind"), sent.count("Sync")  # Bind: prepared statements skip Parse


def bench(server: PgServer, tables: int, repeat: int) -> None:
    dbname = f"bench_{tables}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(server.url(dbname), autocommit=True) as conn:
        start = time.perf_counter()
        statements = schema_sql(tables).split("\n")
        for i in range(0, len(statements), 500):  # commit every 500 statements: bounded lock table
            conn.execute("\n".join(statements[i : i + 500]).encode())
        build = time.perf_counter() - start
        desired = catalog.read_snapshot(conn, ["bench"])
        snap = median_time(lambda: catalog.read_snapshot(conn, ["bench"]), repeat)
        verify = median_time(lambda: catalog.fingerprint(catalog.read_snapshot(conn, ["bench"])), repeat)
        token = median_time(lambda: catalog.catalog_token(conn, ["bench"]), repeat)
        changed = _changed_copy(desired)
        diff = median_time(lambda: plan_sync(desired, changed), repeat)
        steps = len(plan_sync(desired, changed).steps)
        queries, syncs = count_round_trips(conn)
        size = len(catalog.snapshot_to_json(desired))
    print(f"  {tables:>5} tables: built in {build:5.1f} s | snapshot {snap:6.3f} s | "
          f"verify (snapshot + fingerprint) {verify:6.3f} s | catalog_token {token:6.3f} s | "
          f"diff {diff:6.3f} s ({steps} steps) | "
          f"{queries} statements in {syncs} round trip(s) | JSON {size / 1e6:.1f} MB")


def _changed_copy(s: catalog.Snapshot) -> catalog.Snapshot:
    """Every tenth table gains a column and an index: a diff that touches much of the schema."""
    tables = []
    for i, t in enumerate(s.tables):
        if i % 10 == 0:
            idx = catalog.Index(f"{t.name}_extra_idx", f"CREATE INDEX {t.name}_extra_idx ON bench.{t.name} (note)")
            t = dataclasses.replace(t, columns=(*t.columns, catalog.Column("note", "text")),
                                    indexes=(*t.indexes, idx))
        tables.append(t)
    return dataclasses.replace(s, tables=tuple(tables))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="300,3000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--major", type=int)
    args = parser.parse_args()
    for bindir in available_bindirs():
        major = server_major(bindir)
        if args.major and major != args.major:
            continue
        with running_server(bindir) as server:
            print(f"PostgreSQL {major}")
            for n in (int(x) for x in args.tables.split(",")):
                bench(server, n, args.repeat)


if __name__ == "__main__":
    main()
