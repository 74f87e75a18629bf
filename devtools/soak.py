"""Randomized fault soak: three runners at once, one fault at a random moment, then runs until exit 0.

Every trial runs a generated chain of about 60 migrations (tables, indexes, backfills, three
no-transaction files with ``CREATE INDEX CONCURRENTLY``, one slow file) with 3 concurrent
``initjob run`` against a multi-host DATABASE_URL (a primary and its streaming standby on
127.0.0.1, ``target_session_attrs=read-write``), injects one fault at a random moment (SIGKILL or
SIGTERM of a runner, ``pg_terminate_backend`` of initjob's sessions, a server restart, a failover),
then runs ``initjob run`` until it exits 0 (at most 3 times) and checks the invariants: the final run
exits 0; every version in the history exactly once; every migration's row in ``soak_log`` exactly
once; the schema (``pg_dump --schema-only``) equal to a clean build of the chain; no invalid index;
``verify`` exits 0; no runner exited 1 (a bug) or hung.  Trial ``i`` of seed ``s`` draws everything
from ``Random(f"{s}:{i}")``: ``--seed s --only i`` replays it.

    ./dev soak [--trials 200] [--seed 1] [--faults sigkill,failover] [--only I] [--reliability RELIABILITY.md]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools import pgserver  # noqa: E402

FAULTS = ("sigkill", "sigterm", "terminate", "restart", "failover")
RUNNERS = 3
TRIES = 3
RUNNER_TIMEOUT_S = 180.0
SLOW_S = 1.5
NO_TRANSACTION_AT = (18, 33, 49)
SLOW_AT = 27
CHAIN_LENGTH = 60
LONG_TRIALS = 200
_BEGIN, _END = "<!-- soak:begin -->", "<!-- soak:end -->"


# ---------------------------------------------------------------- the chain


def generate_chain(seed: int, length: int = CHAIN_LENGTH) -> dict[str, str]:
    """``length`` migrations; each also inserts its version into ``soak_log`` (exactly-once check on data)."""
    rng = random.Random(f"chain:{seed}")
    files = {"0001_log.up.sql": "CREATE TABLE soak_log (v int NOT NULL);\nINSERT INTO soak_log VALUES (1);\n"}
    tables: list[str] = []
    for v in range(2, length + 1):
        log = f"INSERT INTO soak_log VALUES ({v});\n"  # noqa: S608 (a migration file's text)
        if v in NO_TRANSACTION_AT and tables:
            t = rng.choice(tables)
            body = (f"-- initjob:no-transaction\n{log}"
                    f"CREATE INDEX CONCURRENTLY {t}_cic_{v} ON {t} (b, a);\n"
                    f"UPDATE {t} SET a = a WHERE id = 1;\n")
            files[f"{v:04d}_concurrent_{v}.up.sql"] = body
            continue
        if v == SLOW_AT:
            files[f"{v:04d}_slow.up.sql"] = f"{log}SELECT pg_sleep({SLOW_S});\n"
            continue
        kind = "table" if len(tables) < 3 else rng.choice(["table", "index", "backfill", "check", "view"])
        files[f"{v:04d}_{kind}_{v}.up.sql"] = log + _step(kind, v, tables, rng)
    return files


def _step(kind: str, v: int, tables: list[str], rng: random.Random) -> str:
    if kind == "table":
        t = f"t{v}"
        tables.append(t)
        rows = rng.randint(500, 3000)
        create = f"CREATE TABLE {t} (id bigint PRIMARY KEY, a int NOT NULL DEFAULT 0, b text);\n"
        fill = f"INSERT INTO {t} SELECT g, g % 13, 'row ' || g FROM generate_series(1, {rows}) g;\n"  # noqa: S608
        return create + fill
    t = rng.choice(tables)
    if kind == "index":
        return f"CREATE INDEX {t}_a_{v} ON {t} (a);\n"
    if kind == "backfill":
        return f"ALTER TABLE {t} ADD COLUMN c{v} int;\nUPDATE {t} SET c{v} = a * {v};\n"
    if kind == "check":
        return f"ALTER TABLE {t} ADD CONSTRAINT {t}_ck_{v} CHECK (a >= 0) NOT VALID;\n" \
               f"ALTER TABLE {t} VALIDATE CONSTRAINT {t}_ck_{v};\n"
    return f"CREATE VIEW v{v} AS SELECT id, a FROM {t} WHERE a > {v % 13};\n"  # noqa: S608


def write_chain(root: Path, files: dict[str, str]) -> Path:
    mig = root / "sql" / "migrations"
    mig.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (mig / name).write_text(text)
    return root / "sql"


# ---------------------------------------------------------------- running initjob


def base_env(url: str, sql_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "INITJOB_", "DATABASE_URL", "USE_MIGRATIONS"))}
    env.update(DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOG_FORMAT="json",
               INITJOB_WAIT_TIMEOUT="30", INITJOB_LOCK_TIMEOUT="120",
               INITJOB_TERMINATION_LOG="/nonexistent/termination-log")
    return env


def with_app(url: str, name: str) -> str:
    return url + ("&" if "?" in url else "?") + f"application_name={name}"


def run_once(env: dict[str, str], *args: str) -> int:
    done = subprocess.run([sys.executable, "-m", "initjob", *(args or ("run",))], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=RUNNER_TIMEOUT_S)
    return done.returncode


def schema_dump(server: pgserver.PgServer, dbname: str) -> str:
    """``pg_dump --schema-only``, without the per-dump random ``\\restrict`` key of recent releases."""
    out = subprocess.run([str(server.bindir / "pg_dump"), "--schema-only", "--no-owner", "-d", server.url(dbname)],
                         capture_output=True, text=True, check=True)
    return "\n".join(ln for ln in out.stdout.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict")))


def create_db(server: pgserver.PgServer) -> str:
    name = f"soak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def drop_db(server: pgserver.PgServer, name: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# ---------------------------------------------------------------- a trial


@dataclass
class Trial:
    index: int
    fault: str
    at_s: float
    detail: str = ""
    applied_at_fault: int = -1  # history rows when the fault hit: -1 no history yet, 60 the chain was done
    runner_codes: list[int] = field(default_factory=list)
    runs_to_converge: int = 0
    problems: list[str] = field(default_factory=list)
    took_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class Soak:
    """The pair, the chain, and the reference schema from a clean build."""

    pair: pgserver.Pair
    sql_dir: Path
    versions: int
    reference: str
    clean_s: float
    seed: int


def prepare(pair: pgserver.Pair, workdir: Path, seed: int) -> Soak:
    files = generate_chain(seed)
    sql_dir = write_chain(workdir, files)
    db = create_db(pair.primary)
    # The fault window is the chain's own duration: from the runner's connection to its exit.
    proc = subprocess.Popen([sys.executable, "-m", "initjob", "run"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=base_env(with_app(pair.url(db), "soak-r0"), sql_dir))
    connected(pair.primary, db, [proc])
    start = time.monotonic()
    code = proc.wait(timeout=RUNNER_TIMEOUT_S)
    clean_s = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"the clean build of the chain exited {code}")
    reference = schema_dump(pair.primary, db)
    drop_db(pair.primary, db)
    return Soak(pair, sql_dir, len(files), reference, clean_s, seed)


def run_trial(soak: Soak, index: int, fault: str | None = None) -> Trial:
    rng = random.Random(f"{soak.seed}:{index}")
    fault = fault or rng.choice(FAULTS)
    trial = Trial(index, fault, round(rng.uniform(0.0, soak.clean_s), 2))
    start = time.monotonic()
    pair = soak.pair
    db = create_db(pair.primary)
    if fault == "failover":
        pair.wait_streaming()  # the standby must have the database before it can take over
    url = pair.url(db)
    logs = Path(tempfile.mkdtemp(prefix="initjob-soak-"))
    outputs = [(logs / f"r{n}.log").open("w") for n in range(RUNNERS)]  # closed in the finally below
    procs = [subprocess.Popen([sys.executable, "-m", "initjob", "run"], cwd=ROOT,
                              env=base_env(with_app(url, f"soak-r{n}"), soak.sql_dir),
                              stdout=subprocess.DEVNULL, stderr=out)
             for n, out in enumerate(outputs)]
    try:
        # The moment counts from the first runner's connection: process start-up on a busy machine
        # varies more than the chain takes, and a fault before any runner exists tests nothing.
        connected(pair.primary, db, procs)
        time.sleep(trial.at_s)
        trial.applied_at_fault = applied(pair.primary, db)
        trial.detail = inject(pair, db, procs, fault, rng)
        trial.runner_codes = [wait_for(p, trial) for p in procs]
        check_runners(trial, logs)
        converge(soak, db, url, trial)
        if trial.runs_to_converge:
            check_invariants(soak, db, url, trial)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for out in outputs:
            out.close()
        if fault == "failover":
            pair.rebuild_standby()
        if trial.passed:
            drop_db(pair.primary, db)
            for f in logs.iterdir():
                f.unlink()
            logs.rmdir()
        else:
            trial.problems.append(f"database {db} and runner logs in {logs} kept")
    trial.took_s = round(time.monotonic() - start, 2)
    return trial


def connected(server: pgserver.PgServer, db: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30.0
              ) -> None:
    """Return once a runner has a session on ``db`` (or every runner has exited, or ``timeout``)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(server.url(), autocommit=True) as c:
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                            " AND application_name LIKE 'soak-r%%'", (db,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)


def applied(server: pgserver.PgServer, db: str) -> int:
    """How far the chain had got (history rows, -1 before the history table exists)."""
    with psycopg.connect(server.url(db), autocommit=True) as c:
        exists = c.execute("SELECT to_regclass('initjob.history') IS NOT NULL").fetchone()
        if not (exists and exists[0]):
            return -1
        row = c.execute("SELECT count(*) FROM initjob.history").fetchone()
    return int(row[0]) if row else -1


def inject(pair: pgserver.Pair, db: str, procs: list[subprocess.Popen[bytes]], fault: str,
           rng: random.Random) -> str:
    """Do ``fault`` now; say what was hit."""
    if fault in ("sigkill", "sigterm"):
        holder = lock_holder(pair.primary, db, procs)
        target = holder or rng.choice(procs)
        which = f"r{procs.index(target)}{' (lock holder)' if target is holder else ''}"
        if target.poll() is not None:
            return f"{which} had already exited"
        target.send_signal(signal.SIGKILL if fault == "sigkill" else signal.SIGTERM)
        return which
    if fault == "terminate":
        with psycopg.connect(pair.primary.url(), autocommit=True) as c:
            rows = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = %s AND application_name LIKE 'soak-r%%'", (db,)).fetchall()
        return f"{len(rows)} sessions"
    if fault == "restart":
        mode = rng.choice(["fast", "immediate"])
        pair.primary.restart(mode)
        return mode
    pair.failover()
    return "primary stopped -m immediate, standby promoted"


def lock_holder(server: pgserver.PgServer, db: str, procs: list[subprocess.Popen[bytes]]
                ) -> subprocess.Popen[bytes] | None:
    try:
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=3) as c:
            row = c.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                            " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s", (db,)).fetchone()
    except psycopg.Error:
        return None
    match = re.fullmatch(r"soak-r(\d+)", str(row[0])) if row else None
    return procs[int(match[1])] if match else None


def wait_for(proc: subprocess.Popen[bytes], trial: Trial) -> int:
    try:
        return proc.wait(timeout=RUNNER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        trial.problems.append(f"a runner hung for {RUNNER_TIMEOUT_S}s")
        return proc.wait()


def check_runners(trial: Trial, logs: Path) -> None:
    """A runner may be stopped or give up with a retryable code; it may never crash (exit 1)."""
    for n, code in enumerate(trial.runner_codes):
        if code == 1:
            crashed = [ln for ln in (logs / f"r{n}.log").read_text().splitlines() if "run.crashed" in ln]
            trial.problems.append(f"runner r{n} exited 1: {crashed[-1][:300] if crashed else '?'}")


def converge(soak: Soak, db: str, url: str, trial: Trial) -> None:
    env = base_env(url, soak.sql_dir)
    for attempt in range(1, TRIES + 1):
        if run_once(env) == 0:
            trial.runs_to_converge = attempt
            return
    trial.problems.append(f"no exit 0 in {TRIES} runs")


def check_invariants(soak: Soak, db: str, url: str, trial: Trial) -> None:
    server = soak.pair.primary
    with psycopg.connect(server.url(db), autocommit=True) as c:
        history = c.execute("SELECT count(*), count(DISTINCT version), bool_and(success) FROM initjob.history"
                            ).fetchone()
        log = c.execute("SELECT count(*), count(DISTINCT v) FROM soak_log").fetchone()
        invalid = c.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
    if history != (soak.versions, soak.versions, True):
        trial.problems.append(f"history rows, versions, all succeeded = {history}, want {soak.versions} once")
    if log != (soak.versions, soak.versions):
        trial.problems.append(f"soak_log rows, distinct = {log}, want each of {soak.versions} once")
    if invalid != (0,):
        trial.problems.append(f"{invalid} invalid index(es) left")
    if schema_dump(server, db) != soak.reference:
        trial.problems.append("schema differs from a clean build of the chain")
    code = run_once(base_env(url, soak.sql_dir), "verify")
    if code != 0:
        trial.problems.append(f"verify exited {code}")


# ---------------------------------------------------------------- the whole soak


def trials(soak: Soak, count: int, faults: tuple[str, ...], only: int | None) -> Iterator[Trial]:
    indexes = [only] if only is not None else list(range(count))
    for i in indexes:
        # Round-robin over the faults keeps the counts even; the moment and target stay random.
        yield run_trial(soak, i, faults[i % len(faults)])


def summary(results: list[Trial], soak: Soak) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for fault in FAULTS:
        mine = [t for t in results if t.fault == fault]
        if mine:
            per[fault] = {"trials": len(mine), "passed": sum(t.passed for t in mine),
                          "runs_to_converge": dict(sorted(Counter(t.runs_to_converge for t in mine).items())),
                          "mid_chain": sum(0 <= t.applied_at_fault < soak.versions for t in mine),
                          "runner_exit_codes": dict(sorted(Counter(c for t in mine for c in t.runner_codes).items()))}
    return {"seed": soak.seed, "trials": len(results), "passed": sum(t.passed for t in results),
            "migrations": soak.versions, "clean_build_s": round(soak.clean_s, 2), "faults": per,
            "mean_trial_s": round(sum(t.took_s for t in results) / max(len(results), 1), 2)}


def markdown(figures: dict[str, Any]) -> str:
    lines = [f"`./dev soak --seed {figures['seed']}`: {figures['trials']} trials, {figures['passed']} passed; chain of "
             f"{figures['migrations']} migrations (the chain takes {figures['clean_build_s']} s with one runner); "
             f"{figures['mean_trial_s']} s per trial on average.", "",
             "| fault | trials | passed | follow-up runs to exit 0 (runs: trials) "
             "| fault hit mid-chain | exit codes of the 3 concurrent runners |",
             "|---|---|---|---|---|---|"]
    for fault, f in figures["faults"].items():
        runs = ", ".join(f"{k}: {v}" for k, v in f["runs_to_converge"].items())
        codes = ", ".join(f"{k}: {v}" for k, v in f["runner_exit_codes"].items())
        lines.append(f"| {fault} | {f['trials']} | {f['passed']} | {runs} | {f.get('mid_chain', '?')} | {codes} |")
    return "\n".join(lines)


def write_reliability(path: Path, text: str) -> None:
    doc = path.read_text()
    if _BEGIN not in doc or _END not in doc:
        raise SystemExit(f"{path} has no {_BEGIN} … {_END} block for the soak figures")
    head, rest = doc.split(_BEGIN, 1)
    tail = rest.split(_END, 1)[1]
    path.write_text(f"{head}{_BEGIN}\n{text}\n{_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=LONG_TRIALS)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--only", type=int, help="replay trial I of --seed alone")
    parser.add_argument("--reliability", type=Path,
                        help=f"write the figures into this file's soak block (runs of {LONG_TRIALS}+ trials only)")
    args = parser.parse_args(argv)
    # `timeout` and CI stop with SIGTERM: exit through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    faults = tuple(args.faults.split(","))
    if not set(faults) <= set(FAULTS):
        parser.error(f"--faults must be among {', '.join(FAULTS)}")
    results: list[Trial] = []
    with pgserver.running_pair() as pair, tempfile.TemporaryDirectory(prefix="initjob-soak-chain-") as work:
        soak = prepare(pair, Path(work), args.seed)
        try:
            for trial in trials(soak, args.trials, faults, args.only):
                results.append(trial)
                print(json.dumps(vars(trial) | {"passed": trial.passed}), flush=True)
        finally:
            # Stopped early (a deadline, Ctrl-C): the trials that finished still count, and say so.
            figures = summary(results, soak)
            print(json.dumps(figures), flush=True)
            # A replay (--only) or a short run must not overwrite the long soak's figures.
            if args.reliability and results and args.only is None and args.trials >= LONG_TRIALS:
                write_reliability(args.reliability, markdown(figures))
    return 0 if figures["passed"] == figures["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
