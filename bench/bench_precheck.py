"""What the data prechecks cost on one large table, beside the statement each one guards.

    .venv/bin/python bench/bench_precheck.py [--rows 1000000] [--reps 3] [--major 15]

Fills ``app.t`` (bigint key, an email, a short code, a number, a reference) with ``--rows`` rows that
all fit, then times each check as ``initjob run`` makes it (``db.precheck.count``) and the DDL it
guards, run in a transaction that is rolled back. Prints the median of each, their ratio and the
load average: a check is one read of the table (a sort for a unique key), about what the step's own
scan costs, paid before the lock's work instead of under it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.pgserver import available_bindirs, running_server, server_major  # noqa: E402
from initjob.db import precheck  # noqa: E402
from initjob.schema import checks  # noqa: E402
from initjob.schema.model import Column, Constraint, Index, Table  # noqa: E402

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.p (id bigint PRIMARY KEY);
CREATE TABLE app.t (id bigint PRIMARY KEY, email text, code text, n bigint, p_id bigint);
INSERT INTO app.p SELECT g FROM generate_series(1, 1000) g;
INSERT INTO app.t SELECT g, 'user' || g || '@example.com', left(md5(g::text), 4), g, 1 + g % 1000
FROM generate_series(1, %(rows)s) g;
"""

T = Table("app", "t", constraints=(Constraint("t_pkey", "p", "PRIMARY KEY (id)"),))
CASES: list[tuple[str, checks.DataCheck | None, str]] = [
    ("SET NOT NULL", checks.for_not_null(T, Column("email", "text"), "email"),
     "ALTER TABLE app.t ALTER COLUMN email SET NOT NULL"),
    ("unique index on lower(email)",
     checks.for_index(T, Index("k", "CREATE UNIQUE INDEX k ON app.t USING btree (lower(email))"), "k"),
     "CREATE UNIQUE INDEX k ON app.t (lower(email))"),
    ("text to varchar(8)", checks.for_retype(T, Column("code", "text"), Column("code", "character varying(8)"), "c"),
     "ALTER TABLE app.t ALTER COLUMN code TYPE varchar(8) USING code::text"),
    ("bigint to integer", checks.for_retype(T, Column("n", "bigint"), Column("n", "integer"), "n"),
     "ALTER TABLE app.t ALTER COLUMN n TYPE integer"),
    ("foreign key", checks.for_constraint(T, Constraint("f", "f", "FOREIGN KEY (p_id) REFERENCES app.p(id)"), "f"),
     "ALTER TABLE app.t ADD CONSTRAINT f FOREIGN KEY (p_id) REFERENCES app.p (id)"),
    ("check", checks.for_constraint(T, Constraint("c", "c", "CHECK ((n > 0))"), "c"),
     "ALTER TABLE app.t ADD CONSTRAINT c CHECK (n > 0)"),
]


def median_s(action: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.monotonic()
        action()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def rolled_back(conn: psycopg.Connection[Any], ddl: str) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(ddl.encode())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--major", type=int, default=15)
    opts = parser.parse_args(argv)
    bindir = {server_major(b): b for b in available_bindirs()}[opts.major]
    with running_server(bindir) as srv, psycopg.connect(srv.url(), autocommit=True) as conn:
        conn.execute(SCHEMA.replace("%(rows)s", str(int(opts.rows))).encode())
        conn.execute("VACUUM ANALYZE app.t")
        print(f"PostgreSQL {opts.major}, app.t with {opts.rows:,} rows, median of {opts.reps}, "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"{'step':<30} {'precheck s':>10} {'the DDL s':>10} {'ratio':>6}  offending")
        for name, check, ddl in CASES:
            assert check is not None, name
            found: list[precheck.Finding | None] = []
            took = median_s(lambda check=check, found=found: found.append(precheck.count(conn, check)), opts.reps)
            ddl_took = median_s(lambda ddl=ddl: rolled_back(conn, ddl), opts.reps)
            rows = found[-1].rows if found[-1] else "skipped"
            print(f"{name:<30} {took:>10.3f} {ddl_took:>10.3f} {took / ddl_took:>6.2f}  {rows}")
        print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
