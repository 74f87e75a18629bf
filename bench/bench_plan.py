"""Time an auto-sync of 50 changes on a 1,000-table schema: the real ``initjob run``, end to end.

    .venv/bin/python bench/bench_plan.py [--tables 1000] [--changes 50] [--major 15]

Builds the schema of ``bench_snapshot.schema_sql`` (tables with identity keys, foreign keys, checks,
partial expression indexes, comments, enums, views, triggers, functions) with a first ``initjob run``,
then points ``sql/schema/`` at a copy with ``--changes`` changes (new columns, new indexes, changed
defaults, new tables, comments, grants in turn) and times the second run, which reads both catalogs,
plans and applies. Prints the plan's size and the time of planning alone (in-process) next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_snapshot import schema_sql  # noqa: E402

from devtools.pgserver import PgServer, available_bindirs, running_server, server_major  # noqa: E402
from initjob.schema import catalog  # noqa: E402
from initjob.schema.diff import plan_sync  # noqa: E402


def changes(tables: int, count: int) -> list[str]:
    """``count`` statements that change the schema, cycling through kinds of change."""
    kinds = [
        lambda i: f"ALTER TABLE bench.t{i} ADD COLUMN note{i} text;",
        lambda i: f"CREATE INDEX t{i}_created_idx ON bench.t{i} (created_at);",
        lambda i: f"ALTER TABLE bench.t{i} ALTER COLUMN name SET DEFAULT 'unnamed';",
        lambda i: f"CREATE TABLE bench.extra{i} (id bigint PRIMARY KEY, t_id bigint REFERENCES bench.t{i} (id));",
        lambda i: f"COMMENT ON COLUMN bench.t{i}.email IS 'contact';",
    ]
    step = max(1, tables // count)
    return [kinds[n % len(kinds)]((n * step) % tables) for n in range(count)]


def initjob_run(url: str, sql_dir: Path) -> tuple[float, dict[str, int]]:
    """The run's wall time, and the duration_ms of its events that carry one (the rehearsal's)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))},
           "DATABASE_URL": url, "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_FORMAT": "json"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "initjob", "run"], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"initjob run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return time.monotonic() - start, {str(e["event"]): int(e["duration_ms"]) for e in events if "duration_ms" in e}


def uri(srv: PgServer, dbname: str) -> str:
    p = psycopg.conninfo.conninfo_to_dict(srv.url(dbname))
    return f"postgresql://{p['user']}:{p.get('password', '')}@{p.get('host', '127.0.0.1')}:{p['port']}/{dbname}"


def bench(srv: PgServer, tables: int, count: int) -> None:
    with psycopg.connect(srv.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("bench_plan")))
    base = schema_sql(tables)
    changed = base + "\n" + "\n".join(changes(tables, count))
    with tempfile.TemporaryDirectory() as tmp:
        schema_dir = Path(tmp) / "sql" / "schema"
        schema_dir.mkdir(parents=True)
        (schema_dir / "schema.sql").write_text(base)
        first, _ = initjob_run(uri(srv, "bench_plan"), Path(tmp) / "sql")
        with psycopg.connect(srv.url("bench_plan"), autocommit=True) as conn:
            live = catalog.read_snapshot(conn, ["bench"])
            conn.execute("CREATE DATABASE bench_desired")
        with psycopg.connect(srv.url("bench_desired"), autocommit=True) as conn:
            conn.execute(changed.encode())
            desired = catalog.read_snapshot(conn, ["bench"])
        start = time.monotonic()
        plan = plan_sync(live, desired)
        planning = time.monotonic() - start
        (schema_dir / "schema.sql").write_text(changed)
        second, timed = initjob_run(uri(srv, "bench_plan"), Path(tmp) / "sql")
    rehearsal = timed.get("sync.rehearsed")
    print(f"pg{srv.major}: {tables} tables, {count} changes -> {len(plan.steps)} steps; "
          f"first build {first:.1f}s; plan only {planning * 1000:.0f} ms; "
          f"initjob run (shadow build + 2 snapshots + plan + rehearsal + apply + verify) {second:.1f}s, "
          f"of which the rehearsal on a copy {rehearsal / 1000 if rehearsal is not None else float('nan'):.1f}s; "
          f"load {os.getloadavg()[0]:.1f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--major", type=int, action="append")
    opts = parser.parse_args(argv)
    bindirs = {server_major(b): b for b in available_bindirs()}
    for major in opts.major or sorted(bindirs):
        with running_server(bindirs[major]) as srv:
            bench(srv, opts.tables, opts.changes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
