"""The auto-sync corpus: every case in ``corpus_cases`` run through the real ``initjob`` command.

For each case: build ``before`` (with psql, or with ``initjob run`` for populated variants, then fill
it), point ``sql/schema/`` at ``after`` and check that ``initjob run`` refuses (exit 3, nothing
changed) without ``INITJOB_ALLOW_DESTRUCTIVE`` when the case loses data and exits 0 otherwise, that
``verify`` then exits 0, that a second run changes nothing, and that ``pg_dump --schema-only`` of the
result equals the dump of psql's build of ``after`` (normalised: object order, appended columns).

``./dev corpus [--major 15] [--jobs 3] [--every N] [--only SUBSTRING]`` runs it; the pytest suite runs
a deterministic sample (``tests/test_diff_corpus.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from corpus_cases import Case, all_cases  # noqa: E402

from devtools.pgserver import PgServer, available_bindirs, running_server, server_major  # noqa: E402

HISTORY_SCHEMA = "initjob"


@contextlib.contextmanager
def database(srv: PgServer) -> Iterator[str]:
    """A fresh database, dropped afterwards."""
    name = f"c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(srv.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(srv.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def uri(srv: PgServer, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(srv.url(dbname))
    return (f"postgresql://{params['user']}:{params.get('password', '')}@{params.get('host', '127.0.0.1')}:"
            f"{params['port']}/{dbname}")


def psql(srv: PgServer, dbname: str, text: str) -> None:
    """Run ``text`` with psql, stopping at the first error, as an operator's build would."""
    done = subprocess.run([str(srv.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri(srv, dbname)],
                          input=text, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")


def pg_dump(srv: PgServer, dbname: str) -> str:
    done = subprocess.run([str(srv.bindir / "pg_dump"), "--schema-only", "-N", HISTORY_SCHEMA, "-d",
                           uri(srv, dbname)], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


# pg_dump's session settings, comments and (from 18 on) \restrict keys are not schema.
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config.*|\\(un)?restrict .*|)$")


_DOLLAR = re.compile(r"\$[A-Za-z_]*\$")


def normalise_dump(text: str) -> list[str]:
    """The dump as a sorted list of statements, each table's column lines sorted.

    Columns added to an existing table land at its end (docs/modes.md); the order of objects in a dump
    follows their OIDs. Neither is a schema difference.
    """
    lines = [line for line in text.splitlines() if not _NOISE.match(line)]
    statements: list[str] = []
    current: list[str] = []
    quoted = False  # inside a dollar-quoted function body, where ";" ends nothing
    for line in lines:
        current.append(line)
        quoted ^= len(_DOLLAR.findall(line)) % 2 == 1
        if line.endswith(";") and not quoted:
            statements.append(_sort_columns(current))
            current = []
    if current:
        statements.append(_sort_columns(current))
    return sorted(statements)


def _sort_columns(lines: list[str]) -> str:
    closing = [i for i, line in enumerate(lines) if line.startswith(")")]
    if not lines[0].startswith(("CREATE TABLE", "CREATE UNLOGGED TABLE")) or not closing:
        return "\n".join(lines)
    end = closing[-1]  # ")" then maybe INHERITS, PARTITION BY, WITH
    body = sorted(line.strip().rstrip(",") for line in lines[1:end])
    return "\n".join([lines[0], *body, *lines[end:]])


def initjob(srv: PgServer, dbname: str, sql_dir: Path, *args: str, destructive: bool = False) -> tuple[
        int, list[dict[str, object]], str]:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": uri(srv, dbname), "INITJOB_SQL_DIR": str(sql_dir),
           "INITJOB_LOG_FORMAT": "json", "INITJOB_WAIT_TIMEOUT": "10", "INITJOB_DDL_LOCK_TIMEOUT": "5",
           "INITJOB_ALLOW_DESTRUCTIVE": "true" if destructive else "false",
           "INITJOB_TERMINATION_LOG": "/nonexistent/termination-log", "PYTHONWARNINGS": "error"}
    done = subprocess.run([sys.executable, "-m", "initjob", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    failed = [e for e in events if e.get("level") in ("error", "critical")]
    summary = json.dumps(failed[-1]) if failed else done.stderr[-1500:]
    return done.returncode, events, summary + done.stdout[-1500:]


def write_schema(sql_dir: Path, text: str) -> None:
    schema = sql_dir / "schema"
    schema.mkdir(parents=True, exist_ok=True)
    for old in schema.glob("*.sql"):
        old.unlink()
    (schema / "schema.sql").write_text(text)


def _diff(a: list[str], b: list[str]) -> str:
    only_a = [s for s in a if s not in b]
    only_b = [s for s in b if s not in a]
    return f"only in result: {only_a[:4]}; only in psql's build: {only_b[:4]}"


def run_case(srv: PgServer, case: Case) -> list[str]:
    """The problems found with one case; empty when it passes."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="initjob-corpus-") as tmp, database(srv) as db, database(srv) as ref:
        sql_dir = Path(tmp) / "sql"
        if case.rows:  # populated variants are built by initjob itself, then filled
            write_schema(sql_dir, case.before)
            code, _, out = initjob(srv, db, sql_dir, "run")
            if code:
                return [f"building before with initjob: exit {code}: {out[-800:]}"]
            psql(srv, db, case.rows)
        else:
            psql(srv, db, case.before)
        before_dump = normalise_dump(pg_dump(srv, db))
        write_schema(sql_dir, case.after)
        code, events, out = initjob(srv, db, sql_dir, "run")
        if case.refused:
            return _check_refused(srv, db, sql_dir, before_dump, code, out)
        if case.unfit and case.rows:
            return _check_unfit(srv, db, sql_dir, before_dump, case.destructive)
        if case.destructive:
            if code != 3:
                problems.append(f"run without the destructive flag: exit {code}, expected 3: {out[-1500:]}")
            elif normalise_dump(pg_dump(srv, db)) != before_dump:
                problems.append("refused run changed the schema")
            code, events, out = initjob(srv, db, sql_dir, "run", destructive=True)
        if code != 0:
            return [*problems, f"run: exit {code}: {out[-2500:]}"]
        code, _, out = initjob(srv, db, sql_dir, "verify")
        if code != 0:
            problems.append(f"verify after run: exit {code}: {out[-1500:]}")
        code, events, out = initjob(srv, db, sql_dir, "run", destructive=True)
        if code != 0 or any(e.get("event") == "sync.applied" for e in events):
            problems.append(f"second run: exit {code}, changed something: {out[-1500:]}")
        psql(srv, ref, case.after)
        got, want = normalise_dump(pg_dump(srv, db)), normalise_dump(pg_dump(srv, ref))
        if got != want:
            problems.append("dump differs from psql's build: " + _diff(got, want))
    return problems


def _check_refused(srv: PgServer, db: str, sql_dir: Path, before: list[str], code: int, out: str) -> list[str]:
    """A kind initjob does not manage: exit 3 naming what it refuses, with the flag too, nothing changed."""
    problems = [] if code == 3 and "not managed" in out else [f"run: exit {code}, expected a refusal: {out[-1500:]}"]
    code, _, out = initjob(srv, db, sql_dir, "run", destructive=True)
    if code != 3 or "not managed" not in out:
        problems.append(f"run with the destructive flag: exit {code}, expected a refusal: {out[-1500:]}")
    if normalise_dump(pg_dump(srv, db)) != before:
        problems.append("refused run changed the schema")
    return problems


def _check_unfit(srv: PgServer, db: str, sql_dir: Path, before: list[str], destructive: bool) -> list[str]:
    """Rows the desired schema cannot hold: exit 3 naming them (with the destructive flag where the change
    needs it), nothing changed."""
    code, _, out = initjob(srv, db, sql_dir, "run", destructive=destructive)
    problems = [] if code == 3 and "data_does_not_fit" in out else [
        f"run: exit {code}, expected data_does_not_fit: {out[-1500:]}"]
    if normalise_dump(pg_dump(srv, db)) != before:
        problems.append("refused run changed the schema")
    return problems


def run_corpus(srv: PgServer, cases: list[Case], jobs: int,
               report: Callable[[str, list[str]], None] = lambda name, problems: None) -> dict[str, list[str]]:
    """Every case's problems by name; ``report`` hears of each case as it finishes."""
    def one(case: Case) -> tuple[str, list[str]]:
        try:
            found = run_case(srv, case)
        except Exception as exc:  # a broken case is a failure of that case, not of the run
            found = [f"harness: {type(exc).__name__}: {exc}"]
        report(case.name, found)
        return case.name, found

    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(one, cases))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--major", type=int, action="append", help="PostgreSQL major (default: all available)")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--every", type=int, default=1, help="run every Nth case only")
    parser.add_argument("--start", type=int, default=0, help="skip the cases before this index")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--verbose", action="store_true")
    opts = parser.parse_args(argv)
    cases = [c for c in all_cases()[opts.start:: opts.every] if opts.only in c.name]
    bindirs = {server_major(b): b for b in available_bindirs()}
    failed_total = 0
    for major in opts.major or sorted(bindirs):
        started = time.monotonic()
        def report(name: str, problems: list[str], major: int = major) -> None:
            if problems:
                print(f"FAIL pg{major} {name}\n" + "\n".join(
                    "    " + (p if opts.verbose else p[:600]) for p in problems), flush=True)

        with running_server(bindirs[major]) as srv:
            results = run_corpus(srv, cases, opts.jobs, report)
        failed = {name: p for name, p in results.items() if p}
        print(f"pg{major}: {len(cases) - len(failed)}/{len(cases)} passed in {time.monotonic() - started:.0f}s")
        failed_total += len(failed)
    return 1 if failed_total else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
