#!/usr/bin/env python3
"""Application traffic during a deploy: latency and errors of app transactions while initjob applies
a chain with an index build, a constraint validation and a column addition.

    .venv/bin/python bench/bench_traffic.py [--rows 1000000] [--seconds-after 2] [--json out.json]

A loopback load generator (4 worker threads, each its own connection: 70 % read transactions, 30 %
write transactions on the table being migrated, ``statement_timeout`` 2 s as a web app would set)
runs with a reporting session that holds a 2.5 s read transaction every 3 s (what makes a DDL
statement queue, and every query behind it).  Per variant, on a fresh database: warm up, run
``initjob run``, go on for ``--seconds-after``; the figures are over the deploy window (from the
start of ``initjob run`` to its exit).  Variants:

* ``no deploy``: the traffic alone, for reference;
* ``blocking, no lock_timeout``: ``CREATE INDEX``, ``ADD CONSTRAINT … CHECK``, ``ADD COLUMN``,
  ``INITJOB_DDL_LOCK_TIMEOUT=600`` (in effect none);
* ``blocking, lock_timeout 1 s``: the same files, ``INITJOB_DDL_LOCK_TIMEOUT=1``;
* ``online, lock_timeout 1 s``: ``CREATE INDEX CONCURRENTLY`` (a no-transaction file),
  ``ADD CONSTRAINT … NOT VALID`` then ``VALIDATE CONSTRAINT``, ``ADD COLUMN``; ``INITJOB_DDL_LOCK_TIMEOUT=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from devtools import pgserver  # noqa: E402

WORKERS = 4
APP_STATEMENT_TIMEOUT_MS = 2000
REPORT_EVERY_S, REPORT_HOLDS_S = 3.0, 2.5
WARM_UP_S = 2.0

SETUP = ("CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount int NOT NULL);\n"
         "INSERT INTO orders SELECT g, g % 5000, g % 1000 FROM generate_series(1, {rows}) g;\n")
BLOCKING = {
    "0002_index.up.sql": "CREATE INDEX orders_customer ON orders (customer);\n",
    "0003_check.up.sql": "ALTER TABLE orders ADD CONSTRAINT orders_amount_ck CHECK (amount >= 0);\n",
    "0004_column.up.sql": "ALTER TABLE orders ADD COLUMN note text;\n",
}
ONLINE = {
    "0002_index.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY orders_customer ON orders (customer);\n",
    "0003_check.up.sql": "ALTER TABLE orders ADD CONSTRAINT orders_amount_ck CHECK (amount >= 0) NOT VALID;\n",
    "0004_validate.up.sql": "ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_ck;\n",
    "0005_column.up.sql": "ALTER TABLE orders ADD COLUMN note text;\n",
}
VARIANTS: list[tuple[str, dict[str, str] | None, str]] = [
    ("no deploy", None, ""),
    ("blocking, no lock_timeout", BLOCKING, "600"),
    ("blocking, lock_timeout 1 s", BLOCKING, "1"),
    ("online, lock_timeout 1 s", ONLINE, "1"),
]


@dataclass
class Samples:
    """(end time, latency) of every app transaction, and (end time, error) of every failed one."""

    done: list[tuple[float, float]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(url: str, rows: int, stop: threading.Event, samples: Samples, seed: int) -> None:
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True, options=f"-c statement_timeout={APP_STATEMENT_TIMEOUT_MS}") as conn:
        while not stop.is_set():
            key = rng.randint(1, rows)
            start = time.monotonic()
            try:
                with conn.transaction():
                    if rng.random() < 0.7:
                        conn.execute("SELECT amount FROM orders WHERE id = %s", (key,)).fetchone()
                    else:
                        conn.execute("UPDATE orders SET amount = amount + 1 WHERE id = %s", (key,))
                end = time.monotonic()
                with samples.lock:
                    samples.done.append((end, end - start))
            except psycopg.Error as exc:
                with samples.lock:
                    samples.errors.append((time.monotonic(), exc.sqlstate or exc.__class__.__name__))


def reporter(url: str, stop: threading.Event) -> None:
    """A long read transaction now and then: what a DDL statement queues behind."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(REPORT_EVERY_S - REPORT_HOLDS_S):
            with conn.transaction():
                conn.execute("SELECT count(*) FROM orders WHERE id < 1000").fetchone()
                conn.execute("SELECT pg_sleep(%s)", (REPORT_HOLDS_S,))


def run_variant(server: pgserver.PgServer, name: str, chain: dict[str, str] | None, ddl_timeout: str,
                rows: int, after_s: float, workdir: Path) -> dict[str, Any]:
    db = f"traffic_{abs(hash(name)) % 10**8}"
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
        c.execute(f'CREATE DATABASE "{db}"'.encode())
    url = server.url(db)
    sql_dir = workdir / db / "sql"
    (sql_dir / "migrations").mkdir(parents=True)
    (sql_dir / "migrations" / "0001_orders.up.sql").write_text(SETUP.format(rows=rows))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))}
    env.update(DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOG_FORMAT="json",
               INITJOB_TERMINATION_LOG="/nonexistent/termination-log")
    subprocess.run([sys.executable, "-m", "initjob", "run"], env=env, cwd=ROOT, check=True, capture_output=True)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE orders")
    for fname, text in (chain or {}).items():
        (sql_dir / "migrations" / fname).write_text(text)
    stop, samples = threading.Event(), Samples()
    threads = [threading.Thread(target=worker, args=(url, rows, stop, samples, i)) for i in range(WORKERS)]
    threads.append(threading.Thread(target=reporter, args=(url, stop)))
    for t in threads:
        t.start()
    try:
        time.sleep(WARM_UP_S)
        start = time.monotonic()
        code, retries = 0, 0
        if chain is None:
            time.sleep(10)
        else:
            done = subprocess.run([sys.executable, "-m", "initjob", "run"], cwd=ROOT, capture_output=True, text=True,
                                  env=dict(env, INITJOB_DDL_LOCK_TIMEOUT=ddl_timeout))
            code = done.returncode
            retries = done.stderr.count('"migration.lock_timeout"')
        end = time.monotonic()
        time.sleep(after_s)
    finally:
        stop.set()
        for t in threads:
            t.join()
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
    window = sorted(lat for at, lat in samples.done if start <= at <= end)
    errors = [e for at, e in samples.errors if start <= at <= end + after_s]
    return {"variant": name, "initjob_exit": code, "deploy_s": round(end - start, 2), "lock_retries": retries,
            "transactions": len(window), "tx_per_s": round(len(window) / max(end - start, 0.001)),
            "p50_ms": round(_pct(window, 50) * 1000, 1),
            "p99_ms": round(_pct(window, 99) * 1000, 1), "max_ms": round((window[-1] if window else 0) * 1000, 1),
            "errors": len(errors), "error_kinds": sorted(set(errors))}


def _pct(values: list[float], p: int) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds-after", type=float, default=2.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with pgserver.running_server() as server, tempfile.TemporaryDirectory(prefix="initjob-traffic-") as work:
        for name, chain, timeout in VARIANTS:
            results.append(run_variant(server, name, chain, timeout, args.rows, args.seconds_after, Path(work)))
            print(json.dumps(results[-1]), flush=True)
    print("\n| variant | deploy s | initjob exit | DDL lock retries | app transactions/s | p50 ms | p99 ms | max ms "
          "| app errors |\n|---|---|---|---|---|---|---|---|---|")
    for r in results:
        kinds = f" ({', '.join(r['error_kinds'])})" if r["error_kinds"] else ""
        print(f"| {r['variant']} | {r['deploy_s']} | {r['initjob_exit']} | {r['lock_retries']} | {r['tx_per_s']} "
              f"| {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']}{kinds} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
