"""Process faults: SIGTERM and SIGINT mid-migration and while waiting, SIGKILL mid-migration, and a
no-transaction file killed half-way, which the next run resumes where it stopped.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Server, base_env, finish, initjob, spawn, write_migrations
from helpers_figures import initjob_backends, kill_all, record, wait_until

from initjob.db.lock import lock_key

# The long statement reads its duration from a table, so the test can make the next run fast.
SETUP = ("CREATE TABLE ctl (sleep_s float NOT NULL);\nINSERT INTO ctl VALUES (60);\n"
         "CREATE TABLE ledger (v int NOT NULL);\n")
SLEEP = "SELECT pg_sleep(sleep_s) FROM ctl"


def env_for(db_url: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), **extra)


def start_and_wait_for(env: dict[str, str], admin: str, dbname: str, pattern: str,
                       active: bool = True) -> tuple[subprocess.Popen[str], int]:
    """Start a run and return once its session is executing (or, not ``active``, last ran) a statement
    matching ``pattern``."""
    proc = spawn("run", env=env)

    def running() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"initjob exited early with {proc.returncode}: {proc.communicate()[1]}")
        rows = [r for r in initjob_backends(admin, dbname, like=pattern) if r[1] == "active" or not active]
        return int(rows[0][0]) if rows else None

    try:
        pid = wait_until(running, 60, f"a statement like {pattern!r}")
    except BaseException:
        kill_all([proc])
        raise
    return proc, pid


def advisory_locks(admin: str, dbname: str) -> int:
    with psycopg.connect(admin, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                        " WHERE l.locktype = 'advisory' AND d.datname = %s", (dbname,)).fetchone()
    return int(row[0]) if row else 0


def backend_gone(admin: str, pid: int) -> bool:
    with psycopg.connect(admin, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() == (0,)


def query(admin: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(admin, autocommit=True) as c:
        cur = c.execute(sql.encode(), params or None)
        return cur.fetchall() if cur.description else []


def history(admin: str) -> list[tuple[Any, ...]]:
    return query(admin, "SELECT version::int, success, statements_done FROM initjob.history ORDER BY version")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_migration_rolls_back_and_releases_the_lock(tmp_path: Path, server: Server, dbname: str,
                                                               db_url: str, signum: signal.Signals) -> None:
    """SIGTERM/SIGINT while a migration runs: exit 143/130, the statement cancelled, nothing of the file
    left, the lock and the session gone at once; the next run applies the file."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, {
        "0001_setup.up.sql": SETUP,
        "0002_slow.up.sql": f"CREATE TABLE half (id int);\nINSERT INTO ledger VALUES (2);\n{SLEEP};\n",
    })
    proc, pid = start_and_wait_for(env_for(db_url, sql_dir), admin, dbname, "%pg_sleep%")
    sent = time.monotonic()
    proc.send_signal(signum)
    result = finish(proc, timeout=30)
    exited = time.monotonic() - sent
    assert result.code == 128 + signum, result.stderr
    assert result.failure["kind"] == "interrupted"
    gone = wait_until(lambda: backend_gone(admin, pid), 5, "the runner's session to end") and time.monotonic() - sent
    assert advisory_locks(admin, dbname) == 0
    assert query(admin, "SELECT to_regclass('public.half')") == [(None,)]
    assert query(admin, "SELECT count(*) FROM ledger") == [(0,)]
    assert history(admin) == [(1, True, 0)]
    query(admin, "UPDATE ctl SET sleep_s = 0")
    assert initjob("run", env=env_for(db_url, sql_dir)).code == 0
    assert query(admin, "SELECT v FROM ledger") == [(2,)]
    record(f"signal.{signum.name}.mid_migration", exit_code=result.code, exit_after_signal_s=round(exited, 2),
           session_gone_after_s=round(gone, 2), rolled_back=True, next_run_exit=0)


@pytest.mark.parametrize("target", ["refused", "silent"])
def test_sigterm_while_waiting_for_the_database(tmp_path: Path, target: str) -> None:
    """SIGTERM while the database is not there yet (port closed, or a host that never answers): exit 143 at once."""
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id int);\n"})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if target == "silent":
        listener.listen(16)  # the kernel completes the handshake; nobody ever answers
    else:
        listener.close()
    try:
        env = env_for(f"postgresql://postgres:{'x' * 8}@127.0.0.1:{port}/db", sql_dir, INITJOB_WAIT_TIMEOUT="60")
        proc = spawn("run", env=env)
        try:
            time.sleep(2.5)
            assert proc.poll() is None
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            result = finish(proc, timeout=30)
            exited = time.monotonic() - sent
        except BaseException:
            kill_all([proc])
            raise
    finally:
        listener.close()
    assert result.code == 143, result.stderr
    assert exited < 5
    record(f"signal.SIGTERM.waiting_for_db_{target}", exit_code=143, exit_after_signal_s=round(exited, 2))


def test_sigterm_while_waiting_for_the_lock(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """SIGTERM while another session holds the migration lock: exit 143 at once, nothing applied."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id int);\n"})
    with psycopg.connect(admin, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("initjob"),))
        proc, _ = start_and_wait_for(env_for(db_url, sql_dir, INITJOB_LOCK_TIMEOUT="120"), admin, dbname,
                                       "%pg_try_advisory_lock%", active=False)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        result = finish(proc, timeout=30)
        exited = time.monotonic() - sent
    assert result.code == 143, result.stderr
    assert exited < 5
    assert query(admin, "SELECT to_regclass('public.t')") == [(None,)]
    record("signal.SIGTERM.waiting_for_lock", exit_code=143, exit_after_signal_s=round(exited, 2))


def test_sigkill_mid_migration_next_run_completes(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """SIGKILL while a migration runs: the server ends the orphaned statement (its client is gone),
    so the lock is free within seconds; nothing of the file is left; the next run applies it."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, {
        "0001_setup.up.sql": SETUP,
        "0002_slow.up.sql": f"CREATE TABLE half (id int);\nINSERT INTO ledger VALUES (2);\n{SLEEP};\n",
    })
    proc, _ = start_and_wait_for(env_for(db_url, sql_dir), admin, dbname, "%pg_sleep%")
    killed = time.monotonic()
    proc.kill()
    proc.communicate(timeout=10)
    wait_until(lambda: advisory_locks(admin, dbname) == 0, 20, "the killed runner's lock to go")
    freed = time.monotonic() - killed
    assert query(admin, "SELECT to_regclass('public.half')") == [(None,)]
    assert history(admin) == [(1, True, 0)]
    query(admin, "UPDATE ctl SET sleep_s = 0")
    start = time.monotonic()
    result = initjob("run", env=env_for(db_url, sql_dir))
    assert result.code == 0, result.stderr
    assert query(admin, "SELECT v FROM ledger") == [(2,)]
    record("signal.SIGKILL.mid_migration", lock_free_after_kill_s=round(freed, 2), half_applied=False,
           next_run_exit=0, next_run_s=round(time.monotonic() - start, 2))


def test_sigkill_mid_no_transaction_file_resumes(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """SIGKILL half-way through a no-transaction file: verify exits 3 naming it half-done, and the next
    run resumes at the first statement not done: every statement ran exactly once."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, {
        "0001_setup.up.sql": SETUP,
        "0002_steps.up.sql": "-- initjob:no-transaction\nINSERT INTO ledger VALUES (1);\n"
                             f"{SLEEP};\nINSERT INTO ledger VALUES (2);\n"
                             "CREATE INDEX CONCURRENTLY ledger_v_idx ON ledger (v);\n",
    })
    env = env_for(db_url, sql_dir)
    proc, _ = start_and_wait_for(env, admin, dbname, "%pg_sleep%")
    proc.kill()
    proc.communicate(timeout=10)
    wait_until(lambda: advisory_locks(admin, dbname) == 0, 20, "the killed runner's lock to go")
    assert history(admin) == [(1, True, 0), (2, False, 1)]
    verify = initjob("verify", env=env)
    assert verify.code == 3
    status = initjob("status", "--json", env=env)
    doc = json.loads(status.stdout)
    assert [a["state"] for a in doc["applied"]] == ["applied", "half-done (1 statements)"]
    query(admin, "UPDATE ctl SET sleep_s = 0")
    result = initjob("run", env=env)
    assert result.code == 0, result.stderr
    resumed = result.event("migration.resumed")
    assert resumed["from_statement"] == 2
    assert query(admin, "SELECT v FROM ledger ORDER BY v") == [(1,), (2,)]
    assert history(admin) == [(1, True, 0), (2, True, 4)]
    assert query(admin, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ledger_v_idx'::regclass") == [(True,)]
    assert initjob("verify", env=env).code == 0
    record("signal.SIGKILL.no_transaction_half_way", verify_exit=3, resumed_from_statement=2,
           statements_run_once=True, next_run_exit=0)


def test_sigkill_during_concurrent_index_build_is_rebuilt(tmp_path: Path, server: Server, dbname: str,
                                                          db_url: str) -> None:
    """SIGKILL while CREATE INDEX CONCURRENTLY waits for an old snapshot: the next run finds the index
    the killed build left (invalid: dropped and rebuilt; valid: kept), never skips it silently."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, {
        "0001_setup.up.sql": SETUP + "INSERT INTO ledger SELECT generate_series(1, 1000);\n",
        "0002_index.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY ledger_v_idx ON ledger (v);\n",
    })
    env = env_for(db_url, sql_dir, INITJOB_DDL_LOCK_TIMEOUT="120")
    assert initjob("run", env=env_for(db_url, write_migrations(tmp_path / "first", {
        "0001_setup.up.sql": SETUP + "INSERT INTO ledger SELECT generate_series(1, 1000);\n"}))).code == 0
    with psycopg.connect(admin) as old_snapshot:
        old_snapshot.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        old_snapshot.execute("SELECT count(*) FROM ctl").fetchone()  # a snapshot the index build must wait out
        proc, pid = start_and_wait_for(env, admin, dbname, "%CREATE INDEX CONCURRENTLY%")
        wait_until(lambda: query(admin, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid)
                   == [("Lock",)], 30, "the index build to wait for the old snapshot")
        proc.kill()
        proc.communicate(timeout=10)
        wait_until(lambda: advisory_locks(admin, dbname) == 0, 20, "the killed runner's lock to go")
        left = query(admin, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ledger_v_idx')")
    result = initjob("run", env=env)
    assert result.code == 0, result.stderr
    assert query(admin, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ledger_v_idx'::regclass") == [(True,)]
    assert history(admin) == [(1, True, 0), (2, True, 1)]
    handled = "rebuilt" if "migration.invalid_index_dropped" in result.names() else "kept"
    if left == [(False,)]:
        assert handled == "rebuilt"
    record("signal.SIGKILL.create_index_concurrently", left_behind=("invalid" if left == [(False,)] else str(left)),
           handled=handled, next_run_exit=0)
