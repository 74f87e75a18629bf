"""What a fresh auto-sync run must do beyond the floor and the SQL itself, each part timed on its own.

    .venv/bin/python bench/fresh_parts.py [--tables 10] [--reps 15]

Issue 24's fresh-run goal holds initjob to 1.2x (the Python floor + ``psql -1 -f`` of the same file),
an allowance of 0.2 x that sum for everything initjob adds. This times, in one process with every
module already imported (so no import cost is counted), on a new empty database each round, the
parts a run owes to a promise, with initjob's own functions:

- ``lock``: the lock's own session (a second connection) and the advisory lock on it (one runner);
- ``tables``: initjob's tables made on a fresh database (history, state, markers: ``history.ensure``);
- ``marker``: the backup marker (LSN, restore point, its row);
- ``state``: the state recorded with the files (snapshot, fingerprint, catalog token: what drift
  detection and the no-op compare against), inside the files' transaction as a run does it.

``one_run(..., mode="migrations")`` times the same parts for a fresh migrations run (the state of the
schemas migrations mode manages, recorded in the last file's transaction): bench/curves.py's bound of the
migrations goal adds them to the Python floor and initjob's work per file.

and in the same rounds the floor (a process: ``import psycopg``, connect, ``select 1``) and psql.
When the parts alone exceed the allowance, no initjob that keeps these promises meets the goal at
this size, whatever else it cuts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gentree  # noqa: E402
from harness import FLOOR  # noqa: E402  (bench/, this script's directory, is on sys.path)

from devtools import pgserver  # noqa: E402
from initjob.config import ApplySettings  # noqa: E402
from initjob.db import history, lock, marker  # noqa: E402
from initjob.db import record as recorded  # noqa: E402
from initjob.schema import scope  # noqa: E402

PARTS = ("lock", "tables", "marker", "state")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_run(url: str, text: str, mode: str = "auto-sync") -> dict[str, float]:
    """The parts, in a run's order, on the empty database at ``url``; ``text``: the SQL applied (untimed)."""
    out: dict[str, float] = {}
    settings = ApplySettings(history_schema="initjob", applied_by="bench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select 1")
        holder: list[psycopg.Connection[Any]] = []

        def take_lock() -> None:
            holder.append(psycopg.connect(url, autocommit=True))
            lock.acquire(holder[0], lock.lock_key("initjob"), 5.0)

        out["lock"] = timed(take_lock)
        out["tables"] = timed(lambda: history.ensure(conn, "initjob"))
        out["marker"] = timed(lambda: marker.take(conn, "initjob", mode=mode, release=None, by="bench",
                                                  fingerprint=None, planned=["schema.sql"], backup_dir=None,
                                                  pg_dump=None, dsn=url))
        conn.execute("BEGIN")
        conn.execute(text.encode())

        def state() -> None:
            # As each mode's run finds them: auto-sync the tree's schemas, migrations every user schema.
            schemas = [gentree.SCHEMA] if mode == "auto-sync" else scope.managed_schemas(conn, "initjob")
            for statement in recorded.state_statements(conn, settings, mode, schemas,
                                                       {} if mode == "auto-sync" else None):
                conn.execute(statement)

        out["state"] = timed(state)
        conn.execute("COMMIT")
        holder[0].close()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=10)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    psql = shutil.which("psql") or "/usr/bin/psql"
    load = os.getloadavg()[0]
    samples: dict[str, list[float]] = {name: [] for name in (*PARTS, "floor", "psql")}
    with pgserver.running_server() as server, tempfile.TemporaryDirectory() as tmp:
        gentree.write_tree(Path(tmp), args.tables, 1)
        path = next((Path(tmp) / "schema").iterdir())
        text = path.read_text()

        def fresh(name: str) -> str:
            with psycopg.connect(server.url(), autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                admin.execute("CHECKPOINT")
            return server.url(name)

        for r in range(args.reps):
            for part, seconds in one_run(fresh(f"parts{r}"), text).items():
                samples[part].append(seconds)
            floor = [sys.executable, "-c", FLOOR, fresh(f"floor{r}")]
            samples["floor"].append(timed(lambda: subprocess.run(floor, check=True)))  # noqa: B023 (called here)
            psql_argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", fresh(f"psql{r}"), "-f", str(path)]
            samples["psql"].append(timed(lambda: subprocess.run(psql_argv, check=True)))  # noqa: B023
    med = {name: statistics.median(v) * 1000 for name, v in samples.items()}
    allowance = 0.2 * (med["floor"] + med["psql"])
    parts = sum(med[p] for p in PARTS)
    print(f"fresh auto-sync of {args.tables} tables: medians of {args.reps} rounds, load {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    for name in (*PARTS, "floor", "psql"):
        print(f"  {name:8s} {med[name]:7.1f} ms  [{min(samples[name]) * 1000:.1f}-{max(samples[name]) * 1000:.1f}]")
    verdict = "above it: bounded" if parts > allowance else "within it: not bounded"
    print(f"  the parts together {parts:.1f} ms; the allowance 0.2 x (floor + psql) {allowance:.1f} ms; {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
