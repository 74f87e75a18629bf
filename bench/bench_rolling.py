#!/usr/bin/env python3
"""A rolling update on a populated table: application errors and latency with INITJOB_PHASE=all
against expand + contract (docs/zero-downtime.md), in auto-sync and in migrations mode.

    .venv/bin/python bench/bench_rolling.py [--rows 20000] [--clients 3] [--overlap 2] [--json out.json]

Release 1 has ``users (id, name NOT NULL, legacy text)``; release 2 drops ``legacy`` and adds a
required ``email``.  Clients of release 1 insert without ``email`` and read ``legacy``; clients of
release 2 insert with ``email`` and read it.  Every client is its own connection on 127.0.0.1 with
``statement_timeout`` 2 s, as a web app would set.  The timeline of each variant, on a fresh database:

1. release 1's clients run (warm-up 1 s);
2. the pre-deploy step: ``all`` (with INITJOB_ALLOW_DESTRUCTIVE=true), or ``expand``;
3. the rollout: release 2's clients start, release 1's go on for ``--overlap`` seconds, then stop;
4. phases only: the backfill (``UPDATE users SET email = … WHERE email IS NULL``), then ``contract``
   (with the destructive opt-in: it drops ``legacy``), release 2's clients still running;
5. one more second of traffic.

``all`` cannot add a NOT NULL column without a default to a table with rows (it fails, exit 5), so
its release 2 declares ``email text NOT NULL DEFAULT ''``, what a team without phases has to write;
the phased release declares ``email text NOT NULL`` (expand adds it nullable, contract sets NOT
NULL after the backfill).  Figures: application errors by release and SQLSTATE, p99 and max latency
of all application transactions from the first deploy step to the end, each step's duration and exit.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from devtools import pgserver  # noqa: E402

APP_STATEMENT_TIMEOUT_MS = 2000
WARM_UP_S = 1.0

V1 = """CREATE TABLE public.users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    legacy text
);
"""
V2_ALL = """CREATE TABLE public.users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL DEFAULT ''
);
"""
V2_PHASED = V2_ALL.replace(" DEFAULT ''", "")
POPULATE = "INSERT INTO public.users (name, legacy) SELECT 'u' || g, 'l' || g FROM generate_series(1, {rows}) g"
BACKFILL = "UPDATE public.users SET email = name || '@example.com' WHERE email IS NULL"
M2_ALL = {"0002_release2.up.sql": "ALTER TABLE public.users ADD COLUMN email text NOT NULL DEFAULT '';\n"
                                  "ALTER TABLE public.users DROP COLUMN legacy;\n"}
M2_PHASED = {"0002_email.up.sql": "ALTER TABLE public.users ADD COLUMN email text;\n",
             "0003_contract.up.sql": "-- initjob:contract\nALTER TABLE public.users DROP COLUMN legacy;\n"
                                     "ALTER TABLE public.users ALTER COLUMN email SET NOT NULL;\n"}


@dataclass
class Samples:
    """(end time, latency) of every application transaction; (release, SQLSTATE) of every failed one."""

    done: list[tuple[float, float]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client(url: str, release: int, rows: int, stop: threading.Event, samples: Samples, seed: int) -> None:
    """One pod's connection: half writes, half reads, as its release knows the table."""
    rng = random.Random(seed)
    write, read = (("INSERT INTO public.users (name, legacy) VALUES (%s, 'x')",
                    "SELECT name, legacy FROM public.users WHERE id = %s") if release == 1 else
                   ("INSERT INTO public.users (name, email) VALUES (%s, 'n@example.com')",
                    "SELECT name, email FROM public.users WHERE id = %s"))
    with psycopg.connect(url, autocommit=True, application_name=f"app-r{release}",
                         options=f"-c statement_timeout={APP_STATEMENT_TIMEOUT_MS}") as conn:
        while not stop.is_set():
            start = time.monotonic()
            try:
                if rng.random() < 0.5:
                    conn.execute(write, (f"c{seed}",))
                else:
                    conn.execute(read, (rng.randint(1, rows),)).fetchall()
                with samples.lock:
                    samples.done.append((time.monotonic(), time.monotonic() - start))
            except psycopg.Error as exc:
                with samples.lock:
                    samples.errors.append((f"release {release}", exc.sqlstate or type(exc).__name__))
                time.sleep(0.01)  # a failing pod retries, it does not spin


class Pods:
    """A release's clients, started and stopped together."""

    def __init__(self, url: str, release: int, count: int, rows: int, samples: Samples) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=client, args=(url, release, rows, self.stop, samples,
                                                              release * 100 + i)) for i in range(count)]
        for t in self.threads:
            t.start()

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def initjob(env: dict[str, str], **extra: str) -> tuple[int, float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "initjob", "run"], cwd=ROOT, capture_output=True, text=True,
                          env=dict(env, **extra))
    if done.returncode != 0:
        print(f"    initjob {extra}: exit {done.returncode}: {done.stderr.strip().splitlines()[-2:]}", file=sys.stderr)
    return done.returncode, round(time.monotonic() - start, 2)


def run_variant(server: pgserver.PgServer, mode: str, phased: bool, args: argparse.Namespace,
                workdir: Path) -> dict[str, Any]:
    name = f"{mode}, {'expand + contract' if phased else 'all'}"
    db = f"rolling_{mode.replace('-', '_')}_{'phased' if phased else 'all'}"
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
        c.execute(f'CREATE DATABASE "{db}"'.encode())
    url = server.url(db)
    sql = workdir / db / "sql"
    migrations = mode == "migrations"
    (sql / ("migrations" if migrations else "schema")).mkdir(parents=True)
    first = sql / "migrations" / "0001_users.up.sql" if migrations else sql / "schema" / "users.sql"
    first.write_text(V1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))}
    env.update(DATABASE_URL=url, USE_MIGRATIONS=str(migrations).lower(), INITJOB_SQL_DIR=str(sql),
               INITJOB_LOG_FORMAT="json", INITJOB_TERMINATION_LOG="/nonexistent/termination-log",
               INITJOB_ALLOW_DESTRUCTIVE="true")
    assert initjob(env)[0] == 0
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(POPULATE.format(rows=args.rows).encode())
        c.execute("VACUUM ANALYZE public.users")
    if migrations:
        for fname, text in (M2_PHASED if phased else M2_ALL).items():
            (sql / "migrations" / fname).write_text(text)
    else:
        first.write_text(V2_PHASED if phased else V2_ALL)

    samples, steps = Samples(), {}
    old = Pods(url, 1, args.clients, args.rows, samples)
    time.sleep(WARM_UP_S)
    start = time.monotonic()
    steps["expand" if phased else "all"] = initjob(env, INITJOB_PHASE="expand" if phased else "all")
    new = Pods(url, 2, args.clients, args.rows, samples)
    time.sleep(args.overlap)
    old.end()
    if phased:
        with psycopg.connect(url, autocommit=True) as c:
            backfill = time.monotonic()
            c.execute(BACKFILL)
            steps["backfill"] = (0, round(time.monotonic() - backfill, 2))
        steps["contract"] = initjob(env, INITJOB_PHASE="contract")
    time.sleep(1.0)
    new.end()
    end = time.monotonic()
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
    window = sorted(lat for at, lat in samples.done if start <= at <= end)
    kinds = Counter(f"{release} {state}" for release, state in samples.errors)
    return {"variant": name, "steps": {k: {"exit": v[0], "s": v[1]} for k, v in steps.items()},
            "transactions": len(window), "errors": len(samples.errors), "error_kinds": dict(kinds),
            "p99_ms": round(_pct(window, 99) * 1000, 1), "max_ms": round((window[-1] if window else 0) * 1000, 1)}


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=3, help="connections per release")
    parser.add_argument("--overlap", type=float, default=2.0, help="seconds both releases run")
    parser.add_argument("--modes", default="auto-sync,migrations")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with pgserver.running_server() as server, tempfile.TemporaryDirectory(prefix="initjob-rolling-") as work:
        for mode in args.modes.split(","):
            for phased in (False, True):
                results.append(run_variant(server, mode, phased, args, Path(work)))
                print(json.dumps(results[-1]), flush=True)
    print("\n| variant | steps (exit, s) | app transactions | app errors | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        steps = ", ".join(f"{k} {v['exit']} {v['s']}" for k, v in r["steps"].items())
        kinds = f" ({', '.join(f'{k}: {n}' for k, n in sorted(r['error_kinds'].items()))})" if r["error_kinds"] else ""
        print(f"| {r['variant']} | {steps} | {r['transactions']} | {r['errors']}{kinds} | {r['p99_ms']} "
              f"| {r['max_ms']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
