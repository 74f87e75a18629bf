"""A ~10 MB auto-sync tree (issue 20 item 7: a 9.9 MB file took 200 s, 194 s of them without a log line):
the phase times of a fresh ``run``, a second ``run`` with one change, and ``verify``, for two trees of
initjob side by side (default: commit 4f7ad56, before the fix, and this checkout), with the longest
silence between two log lines.

    .venv/bin/python bench/bench_bigtree.py                      # 10,300 tables in 1 file (9.8 MB)
    .venv/bin/python bench/bench_bigtree.py --files 100 --tables 3000 --before HEAD~3

Each side runs from its own directory (``python -m`` puts the working directory first on sys.path),
the "before" side from ``git archive`` of the commit.  One throwaway PostgreSQL (the first available
major), a new database per side; the sides alternate per step so that load hits both alike.  Figures
come from the JSON events' timestamps, next to ``uptime``: this is a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import gentree  # noqa: E402  # bench/ holds scripts, not a package

from devtools.pgserver import running_server  # noqa: E402


def write_tree(sql_dir: Path, tables: int, files: int) -> int:
    """gentree's statements with a comment on every table and on one column, as a dump has them."""
    stmts: list[str] = []
    for s in gentree.statements(tables):
        stmts.append(s)
        if s.startswith("CREATE TABLE "):
            name = s.split()[2]
            stmts.append(f"COMMENT ON TABLE {name} IS 'Rows of {name}: one per business event, kept for audit.';")
            stmts.append(f"COMMENT ON COLUMN {name}.status IS 'new, done or deleted';")
    schema = sql_dir / "schema"
    schema.mkdir(parents=True, exist_ok=True)
    per, extra = divmod(len(stmts), files)
    pos, size = 0, 0
    for f in range(files):
        take = per + (1 if f < extra else 0)
        text = "\n\n".join(stmts[pos:pos + take]) + "\n"
        (schema / f"{f:03d}_part.sql").write_text(text)
        pos, size = pos + take, size + len(text.encode())
    return size


def checkout(rev: str, into: Path) -> Path:
    """The initjob package of ``rev`` (``"."``: this checkout) as a directory to run from."""
    if rev == ".":
        return ROOT
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "initjob"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(src: Path, args: list[str], env: dict[str, str]) -> tuple[int, float, list[dict[str, Any]]]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "initjob", *args], cwd=src, env=env, capture_output=True, text=True)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return done.returncode, time.monotonic() - start, events


def _ts(e: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(e["ts"]).replace("Z", "+00:00")).timestamp()


def describe(events: list[dict[str, Any]]) -> str:
    """Each event's name with the seconds since the one before; and the longest silence."""
    if not events:
        return "(no events)"
    stamps = [_ts(e) for e in events]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    phases = sum(1 for e in events if e.get("event") in ("phase.running", "statement.running", "statement.progress"))
    timed = ("build_ms", "read_ms", "plan_ms", "duration_ms")
    named = [f"{e['event']}+{g:.1f}" + "".join(f" {k}={e[k]}" for k in timed if k in e)
             for e, g in zip(events[1:], gaps, strict=False)
             if e.get("event") not in ("phase.running", "statement.running", "statement.progress")]
    return (f"longest silence {max(gaps, default=0):.1f} s, {phases} progress events; "
            + ", ".join(named))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=10_300)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--before", default="4f7ad56", help="the commit to compare with")
    parser.add_argument("--after", default=".", help="'.' is this checkout")
    parser.add_argument("--interval", default="10", help="INITJOB_PROGRESS_INTERVAL")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bigtree-"))
    size = write_tree(base / "sql", args.tables, args.files)
    print(f"tree: {args.tables} tables, {args.files} file(s), {size / 1e6:.1f} MB", flush=True)
    sides = {name: checkout(rev, base / name) for name, rev in (("before", args.before), ("after", args.after))}
    try:
        bench(args, base, sides)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def bench(args: argparse.Namespace, base: Path, sides: dict[str, Path]) -> None:
    with running_server(conf={"max_locks_per_transaction": "4096"}) as server:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            for name in sides:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f"bench_{name}")))
        envs = {name: {"PATH": "/usr/bin:/bin", "DATABASE_URL": server.url(f"bench_{name}"),
                       "INITJOB_SQL_DIR": str(base / "sql"), "INITJOB_LOG_FORMAT": "json",
                       "INITJOB_PROGRESS_INTERVAL": args.interval} for name in sides}
        change = base / "sql" / "schema" / f"{args.files - 1:03d}_part.sql"
        for step in ("run (fresh)", "run (one change)", "verify"):
            if step == "run (one change)":
                with change.open("a") as f:
                    f.write("\nCREATE TABLE gen.bench_added (id bigint PRIMARY KEY, note text);\n")
            for name, src in sides.items():
                code, seconds, events = run(src, ["verify" if step == "verify" else "run"], envs[name])
                load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
                print(f"{step:17} {name:6} exit {code} {seconds:7.1f} s | {describe(events)} | {load}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
