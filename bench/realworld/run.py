"""The real-world corpus: real projects' SQL through the real `initjob` command, checked against psql.

    python bench/realworld/run.py [--only NAME ...] [--majors 15,18] [--results FILE]

For each item (bench/realworld/extract.py writes its tree to a temporary directory), on a throwaway
PostgreSQL started as the tests start theirs:

- a migration chain applies from empty, rolls back as far as its down files allow, applies again,
  and after each step ``pg_dump --schema-only`` equals what psql makes of the same files;
- a declarative tree syncs on a fresh database, then evolves (a column, a table with a foreign key,
  an index, a view, a function; then the view and function changed), each step compared the same way;
- a no-op rerun and ``initjob verify`` exit 0, and four runners started at once on a fresh database all
  exit 0 with the same schema.

A down file that fails is run by psql on the same database state: when psql fails the same way the file
is broken upstream and recorded as such.  The results table goes to bench/realworld/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import extract  # noqa: E402

from devtools import pgserver  # noqa: E402

_MIGRATION = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.+)\.(?P<dir>up|down)\.sql$")


@dataclass
class Pg:
    """A running server and the client programs that match its major."""

    server: pgserver.PgServer
    clients: Path

    def uri(self, db: str) -> str:
        return self.server.url(db)

    def create_db(self, setup: str = "") -> str:
        name = f"rw_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if setup:
            with psycopg.connect(self.uri(name), autocommit=True) as conn:
                conn.execute(setup.encode())
        return name

    def psql(self, db: str, script: str) -> tuple[bool, str, float]:
        """Run a psql script (stop at the first error); (ok, error text, seconds)."""
        with tempfile.NamedTemporaryFile("w", suffix=".psql", delete=False) as f:
            f.write(script)
        start = time.perf_counter()
        done = subprocess.run([str(self.clients / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.uri(db),
                               "-f", f.name], capture_output=True, text=True, check=False)
        os.unlink(f.name)
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "FATAL" in line]
        return done.returncode == 0, "\n".join(errors[:3]), time.perf_counter() - start

    def dump(self, db: str) -> list[str]:
        """``pg_dump --schema-only`` without initjob's schema, \\restrict lines, comments and blank lines."""
        done = subprocess.run([str(self.clients / "pg_dump"), "--schema-only", "--exclude-schema=initjob",
                               self.uri(db)], capture_output=True, text=True, check=True)
        return [line for line in done.stdout.splitlines()
                if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))]


@dataclass
class Run:
    """One invocation of the real initjob command."""

    code: int
    seconds: float
    events: list[dict[str, Any]]
    stderr: str

    def failure(self) -> str:
        failed = [e for e in self.events if e.get("event") == "run.failed"]
        text = str(failed[-1].get("reason", "")) if failed else self.stderr.strip().splitlines()[-1:][0]
        return " ".join(text.split())[:300]

    def failed_file(self) -> str | None:
        failed = [e for e in self.events if e.get("event") == "run.failed"]
        return str(failed[-1]["file"]) if failed and failed[-1].get("file") else None


def initjob_env(pg: Pg, db: str, item: extract.Item, sql_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": pg.uri(db), "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_FORMAT": "json",
                "USE_MIGRATIONS": "true" if item.mode == "migrations" else "false",
                "INITJOB_WAIT_TIMEOUT": "30", "INITJOB_LOCK_TIMEOUT": "600"})
    return env


def initjob(env: dict[str, str], *args: str) -> Run:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "initjob", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=1800)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return Run(done.returncode, time.perf_counter() - start, events, done.stderr)


def concurrent(env: dict[str, str], runners: int = 4) -> list[int]:
    procs = [subprocess.Popen([sys.executable, "-m", "initjob", "run"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(runners)]
    return [p.wait(timeout=1800) for p in procs]


def check_runners(pg: Pg, item: extract.Item, sql_dir: Path, expected: str, row: Row) -> None:
    """Four runners at once on a fresh database: all exit 0 and make the schema psql made in ``expected``."""
    c = pg.create_db(item.setup)
    codes = concurrent(initjob_env(pg, c, item, sql_dir))
    row.checks["4 runners"] = ("all exit 0" if set(codes) == {0} else f"exits {codes}") + (
        "" if pg.dump(c) == pg.dump(expected) else ", schema differs")


def same(a: list[str], b: list[str]) -> str:
    """'yes', or the first lines that differ between two normalised dumps."""
    if a == b:
        return "yes"
    only_a = [line for line in a if line not in set(b)][:3]
    only_b = [line for line in b if line not in set(a)][:3]
    return f"NO (initjob only: {only_a}; psql only: {only_b})"


# ---------------------------------------------------------------- migration chains


@dataclass
class File:
    version: int
    path: Path
    transactional: bool


def chain_files(sql_dir: Path) -> tuple[list[File], dict[int, File]]:
    """Up files in version order and down files by version, as they are on disk."""
    ups: list[File] = []
    downs: dict[int, File] = {}
    for path in (sql_dir / "migrations").iterdir():
        m = _MIGRATION.match(path.name)
        if m is None:
            continue
        f = File(int(m["version"]), path, not path.read_text().lstrip().startswith("-- initjob:no-transaction"))
        if m["dir"] == "up":
            ups.append(f)
        else:
            downs[f.version] = f
    return sorted(ups, key=lambda f: f.version), downs


def psql_script(files: list[File]) -> str:
    """Each file in its own transaction (or none, as initjob would), one psql session."""
    lines = []
    for f in files:
        lines += ["BEGIN;", f"\\i {f.path}", "COMMIT;"] if f.transactional else [f"\\i {f.path}"]
    return "\n".join(lines) + "\n"


@dataclass
class Row:
    item: str
    major: int
    mode: str
    files: str
    checks: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def check_chain(pg: Pg, item: extract.Item, row: Row) -> None:
    sql_dir = Path(item.sql_dir)
    ups, downs = chain_files(sql_dir)
    row.files = f"{len(ups)} up, {len(downs)} down"
    a, b = pg.create_db(item.setup), pg.create_db(item.setup)
    env = initjob_env(pg, a, item, sql_dir)
    first = initjob(env, "run")
    ok, err, row.seconds["psql"] = pg.psql(b, psql_script(ups))
    row.seconds["initjob"] = first.seconds
    row.checks["apply"] = "exit 0" if first.code == 0 else f"exit {first.code}: {first.failure()}"
    if not ok:
        row.notes.append(f"psql fails applying the chain too: {' '.join(err.split())}")
    if first.code != 0:
        return
    row.checks["= psql"] = same(pg.dump(a), pg.dump(b))
    noop = initjob(env, "run")
    row.checks["no-op"] = f"exit {noop.code}" + ("" if "run.nothing_to_do" in {e["event"] for e in noop.events}
                                                  else " (not a no-op)")
    rolled = rollback(pg, item, env, a, b, ups, downs, row)
    again = initjob(env, "run")
    ok, err, _ = pg.psql(b, psql_script(ups[len(ups) - rolled:]) if rolled else "")
    row.checks["re-apply = psql"] = (same(pg.dump(a), pg.dump(b)) if again.code == 0 and ok
                                     else f"initjob exit {again.code} {again.failure()}; psql ok={ok} {err}")
    verify = initjob(env, "verify")
    row.checks["verify"] = f"exit {verify.code}"
    check_runners(pg, item, sql_dir, b, row)


def rollback(pg: Pg, item: extract.Item, env: dict[str, str], a: str, b: str, ups: list[File],
             downs: dict[int, File], row: Row) -> int:
    """Roll back the newest migrations that have a down file; return how many were rolled back."""
    steps = 0
    for f in reversed(ups):
        if f.version not in downs:
            break
        steps += 1
    if steps == 0:
        row.checks["rollback"] = "no down files at the head"
        return 0
    back = initjob(env, "rollback", "--steps", str(steps))
    done = steps
    if back.code != 0:
        failed = back.failed_file()
        versions = [f.version for f in reversed(ups)][:steps]
        done = next((i for i, v in enumerate(versions) if failed and downs[v].path.name in failed), steps)
        broken = downs[versions[done]] if done < steps else None
        pg.psql(b, psql_script([downs[v] for v in versions[:done]]))
        if broken is not None:
            ok, err, _ = pg.psql(b, psql_script([broken]))
            verdict = "psql fails the same way: broken upstream" if not ok else "psql runs it: initjob's fault"
            row.notes.append(f"{broken.path.name}: initjob: {back.failure()} — {verdict}"
                             + (f" ({' '.join(err.split())})" if err else ""))
    else:
        pg.psql(b, psql_script([downs[f.version] for f in reversed(ups)][:steps]))
    row.checks["rollback"] = f"{done}/{steps} steps" + (", = psql " + same(pg.dump(a), pg.dump(b)))
    return done


# ---------------------------------------------------------------- declarative trees


def check_schema(pg: Pg, item: extract.Item, row: Row) -> None:
    sql_dir = Path(item.sql_dir)
    files = sorted((sql_dir / "schema").rglob("*.sql"))
    row.files = f"{len(files)} file(s), {sum(f.stat().st_size for f in files) // 1024} KB"
    a, b = pg.create_db(item.setup), pg.create_db(item.setup)
    env = initjob_env(pg, a, item, sql_dir)
    first = initjob(env, "run")
    ok, err, row.seconds["psql"] = pg.psql(b, "BEGIN;\n" + "".join(f"\\i {f}\n" for f in files) + "COMMIT;\n")
    row.seconds["initjob"] = first.seconds
    row.checks["apply"] = "exit 0" if first.code == 0 else f"exit {first.code}: {first.failure()}"
    if not ok:
        row.notes.append(f"psql fails applying the files too: {' '.join(err.split())}")
    if first.code != 0:
        return
    row.checks["= psql"] = same(pg.dump(a), pg.dump(b))
    noop = initjob(env, "run")
    row.checks["no-op"] = f"exit {noop.code}"
    for n, step in enumerate(item.evolutions, start=1):
        for rel, text in step.files.items():
            (sql_dir / rel).write_text(text)
        files = sorted((sql_dir / "schema").rglob("*.sql"))
        synced = initjob(env, "run")
        fresh = pg.create_db(item.setup)
        pg.psql(fresh, "BEGIN;\n" + "".join(f"\\i {f}\n" for f in files) + "COMMIT;\n")
        verify = initjob(env, "verify")
        row.checks[f"evolve {n}"] = (f"{same(pg.dump(a), pg.dump(fresh))}, verify exit {verify.code}"
                                     if synced.code == 0 else f"exit {synced.code}: {synced.failure()}")
        b = fresh
    row.checks["verify"] = f"exit {initjob(env, 'verify').code}"
    check_runners(pg, item, sql_dir, b, row)


# ---------------------------------------------------------------- driver


def clients_for(bindir: Path) -> Path:
    """psql and pg_dump of the server's own major (a pg_dump older than the server refuses to dump it)."""
    if (bindir / "psql").is_file() and (bindir / "pg_dump").is_file():
        return bindir
    found = shutil.which("pg_dump")
    return Path(found).parent if found else bindir


def run_major(bindir: Path, items: list[extract.Item]) -> list[Row]:
    rows = []
    with pgserver.running_server(bindir, conf={"max_locks_per_transaction": "1024"}) as server:
        pg = Pg(server, clients_for(bindir))
        for item in items:
            tree = Path(tempfile.mkdtemp(prefix=f"realworld-{item.name}-"))
            shutil.copytree(item.sql_dir, tree / "sql")
            item.sql_dir = str(tree / "sql")
            row = Row(item.name, server.major, item.mode, "")
            try:
                (check_chain if item.mode == "migrations" else check_schema)(pg, item, row)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
            print(json.dumps(row.__dict__), flush=True)
            rows.append(row)
    return rows


COLUMNS = ["apply", "= psql", "no-op", "rollback", "re-apply = psql", "evolve 1", "evolve 2", "verify", "4 runners"]


def table(rows: list[Row], items: list[extract.Item]) -> str:
    out = ["| item | PG | mode | files | initjob s | psql s | " + " | ".join(COLUMNS) + " |",
           "|" + "---|" * (6 + len(COLUMNS))]
    for r in rows:
        cells = [r.checks.get(c, "—").replace("|", "\\|") for c in COLUMNS]
        out.append(f"| {r.item} | {r.major} | {r.mode} | {r.files} | {r.seconds.get('initjob', 0):.1f} | "
                   f"{r.seconds.get('psql', 0):.1f} | " + " | ".join(cells) + " |")
    out += ["", "Notes:", ""]
    for item in items:
        out.append(f"- **{item.name}** ({item.repo} @ {item.commit[:12]}): " + "; ".join(item.notes))
        for n, step in enumerate(item.evolutions, start=1):
            out.append(f"  - evolve {n}: {step.what}")
    for r in rows:
        for note in r.notes:
            out.append(f"- {r.item} on PG {r.major}: {note}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--majors", default="", help="comma-separated majors (default: every available one)")
    parser.add_argument("--results", type=Path, default=None, help="write the table here (RESULTS.md)")
    args = parser.parse_args(argv)
    if extract.missing():
        print("realworld: mirrors missing: " + ", ".join(extract.missing()) + "\n  get them with the session tool "
              "`fetch` (github:<owner>/<name>), which puts them under /work/.mirror/, or set INITJOB_MIRROR",
              file=sys.stderr)
        return 2
    bindirs = pgserver.available_bindirs()
    if args.majors:
        wanted = {int(m) for m in args.majors.split(",")}
        bindirs = [d for d in bindirs if pgserver.server_major(d) in wanted]
    out = Path(tempfile.mkdtemp(prefix="realworld-"))
    rows: list[Row] = []
    try:
        items = extract.extract(out, args.only)
        for bindir in bindirs:
            rows += run_major(bindir, [extract.Item(**{**i.__dict__}) for i in items])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    text = table(rows, items)
    print(text)
    if args.results:
        args.results.write_text(args.results.read_text().split("<!-- table -->")[0] + "<!-- table -->\n\n" + text
                                if args.results.exists() else text)
    return 0 if all(r.checks.get("apply") == "exit 0" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
