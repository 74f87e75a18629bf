"""The catalog token's cost at 1,000 and 5,000 tables, per catalog, against reading those rows once.

    .venv/bin/python bench/bench_token.py [--tables 1000 5000] [--reps 7] [--major 15]

The no-op run of every pod start reads one query, the catalog token (``schema/token.py``): a digest of
the row versions of every catalog row a snapshot of the managed schemas is made from. This builds the
generated tree of bench/gentree.py (statements run directly, no initjob), then prints, per size:

* the whole token query, server-side (EXPLAIN ANALYZE execution time, median of ``--reps``) and as
  the client sees it (round trip included);
* each catalog's part on its own (EXPLAIN ANALYZE of that one sub-select, the CTEs included), with
  the rows it digests;
* the floor: ``SELECT count(*)`` over exactly those rows, all catalogs, in one query (reading the
  rows once, no digest).

And the load average before and after: run it on a quiet machine, or read the figures as relative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gentree  # noqa: E402

from devtools.pgserver import available_bindirs, running_server, server_major  # noqa: E402
from initjob.schema import token  # noqa: E402
from initjob.schema.reads import CATALOGS  # noqa: E402

SCHEMAS = [gentree.SCHEMA, "public"]


def build(conn: psycopg.Connection[Any], n_tables: int) -> None:
    """The generated tree, a few hundred statements per transaction, and a comment on every tenth table
    (comments are what pg_description holds)."""
    stmts = gentree.statements(n_tables)
    stmts += [f"COMMENT ON TABLE {gentree.SCHEMA}.t{i:05d} IS 'table {i}';" for i in range(0, n_tables, 10)]
    for start in range(0, len(stmts), 500):
        with conn.transaction():
            for statement in stmts[start:start + 500]:
                conn.execute(statement.encode())
    conn.execute("VACUUM ANALYZE")


def server_ms(conn: psycopg.Connection[Any], query: sql.Composable, reps: int) -> float:
    """Median EXPLAIN ANALYZE execution time of ``query`` (ms), after one warm-up."""
    explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ") + query
    times = []
    for _ in range(reps + 1):
        plan = conn.execute(explain, {"schemas": SCHEMAS}).fetchone()
        assert plan is not None
        times.append(float(plan[0][0]["Execution Time"]))
    return statistics.median(times[1:])


def client_ms(conn: psycopg.Connection[Any], reps: int) -> float:
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        token.catalog_token(conn, SCHEMAS)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:])


def report(conn: psycopg.Connection[Any], n_tables: int, reps: int) -> None:
    whole = server_ms(conn, token._token_query(), reps)
    floor = server_ms(conn, token.floor_query(), reps)
    print(f"  {n_tables} tables: token {whole:7.1f} ms server-side, {client_ms(conn, reps):7.1f} ms at the client; "
          f"reading the same rows once (count only) {floor:6.1f} ms; {whole / floor:.2f}x")
    for catalog in CATALOGS:
        part = server_ms(conn, token.part_query(catalog), reps)
        rows = conn.execute(token.count_query(catalog), {"schemas": SCHEMAS}).fetchone()
        print(f"    {catalog:18} {part:7.2f} ms  {rows[0] if rows else 0:8d} rows")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--major", type=int, default=15)
    opts = parser.parse_args(argv)
    bindir = {server_major(b): b for b in available_bindirs()}[opts.major]
    load = [os.getloadavg()[0]]
    with running_server(bindir, conf={"max_locks_per_transaction": "1024"}) as srv:
        print(f"pg{srv.major}, {opts.reps} runs each after a warm-up")
        for n in opts.tables:
            name = f"bench_token_{n}"
            with psycopg.connect(srv.url(), autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(srv.url(name), autocommit=True) as conn:
                build(conn, n)
                report(conn, n, opts.reps)
    load.append(os.getloadavg()[0])
    print(f"load average {load[0]:.1f} -> {load[1]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
