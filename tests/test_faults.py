"""Server and network faults: a server that starts late, restarts or kills our backend mid-run, and a
network that stalls or drops connections (a TCP proxy on 127.0.0.1).  Outcome every time: nothing
half-applied, and the run either resumes within INITJOB_WAIT_TIMEOUT and exits 0, or exits with the
documented code and the next run completes.

Tests that stop or restart a server use this module's own server, never the suite's shared one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Result, Server, base_env, finish, initjob, spawn, write_migrations
from helpers_figures import initjob_backends, kill_all, record, wait_until
from helpers_proxy import running_proxy

from devtools import pgserver

SETUP = ("CREATE TABLE ctl (sleep_s float NOT NULL);\nINSERT INTO ctl VALUES (3);\n"
         "CREATE TABLE ledger (v int NOT NULL);\n")
# The file a fault hits: a table, a row, and a pause during which the fault happens.
SLOW = "CREATE TABLE half (id int);\nINSERT INTO ledger VALUES (2);\nSELECT pg_sleep(sleep_s) FROM ctl;\n"
LAST = "INSERT INTO ledger VALUES (3);\n"


@pytest.fixture(scope="module")
def own() -> Iterator[pgserver.PgServer]:
    """A server of this module's own, free to be stopped and restarted."""
    dirs = pgserver.available_bindirs()
    if not dirs:
        pytest.skip("no PostgreSQL server binaries")
    workdir = Path(tempfile.mkdtemp(prefix="initjob-faults-"))
    srv = pgserver.init_server(dirs[0], workdir)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def fresh_db(admin_url: str) -> str:
    import uuid

    name = f"f_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def with_db(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def files() -> dict[str, str]:
    return {"0001_setup.up.sql": SETUP, "0002_slow.up.sql": SLOW, "0003_last.up.sql": LAST}


def env_for(url: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), **extra)


def assert_whole(admin: str) -> None:
    """Each migration applied exactly once, completely, and recorded."""
    with psycopg.connect(admin, autocommit=True) as c:
        assert c.execute("SELECT v FROM ledger ORDER BY v").fetchall() == [(2,), (3,)]
        assert c.execute("SELECT to_regclass('public.half') IS NOT NULL").fetchone() == (True,)
        assert c.execute("SELECT version::int, success FROM initjob.history ORDER BY 1").fetchall() == [
            (1, True), (2, True), (3, True)]


def assert_consistent(admin: str) -> None:
    """Whatever happened, migration 0002 is all there with its row, or not there at all."""
    with psycopg.connect(admin, autocommit=True) as c:
        table = c.execute("SELECT to_regclass('public.half') IS NOT NULL").fetchone()
        rows = c.execute("SELECT count(*) = 1 FROM ledger WHERE v = 2").fetchone() if table else (False,)
        recorded = c.execute("SELECT count(*) = 1 FROM initjob.history WHERE version = 2").fetchone()
    assert table == rows == recorded, f"half-applied: table={table} row={rows} history={recorded}"


def reconnects(result: Result) -> int:
    return sum(1 for e in result.events if e.get("event") == "db.reconnect")


def start_and_wait_for_sleep(env: dict[str, str], admin: str, dbname: str) -> tuple[subprocess.Popen[str], int]:
    proc = spawn("run", env=env)

    def sleeping() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"initjob exited early with {proc.returncode}: {proc.communicate()[1]}")
        rows = [r for r in initjob_backends(admin, dbname, like="%pg_sleep%") if r[1] == "active"]
        return int(rows[0][0]) if rows and progress_reader_connected() else None

    def progress_reader_connected() -> bool:
        # The progress reader's side connection opens a moment into the statement; wait for it, so
        # that the connections a test counts from here on are the job's reaction to the fault alone.
        with psycopg.connect(admin, autocommit=True) as c:
            return bool(c.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s"
                                  " AND application_name = 'initjob-progress'", (dbname,)).fetchone())

    try:
        pid = wait_until(sleeping, 60, "migration 0002 to be running")
    except BaseException:
        kill_all([proc])
        raise
    return proc, pid


# ---------------------------------------------------------------- the server


def test_server_starts_five_seconds_after_the_job(tmp_path: Path, own: pgserver.PgServer) -> None:
    """The job starts while the server is down; the server comes up 5 s later; the job waits and exits 0."""
    dbname = fresh_db(own.url())
    url = own.url(dbname)
    sql_dir = write_migrations(tmp_path, {**files(), "0002_slow.up.sql": SLOW.replace("pg_sleep(sleep_s)", "1")})
    own.stop("fast")
    try:
        proc = spawn("run", env=env_for(url, sql_dir, INITJOB_WAIT_TIMEOUT="60"))
        time.sleep(5)
        if proc.poll() is not None:
            kill_all([proc])
            raise AssertionError("the job gave up before the server started")
    finally:
        own.start()
    result = finish(proc, timeout=90)
    assert result.code == 0, result.stderr
    waited = float(result.event("db.connected")["waited_s"])
    attempts = sum(1 for e in result.events if e.get("event") == "db.wait")
    assert attempts >= 1 and waited > 2, "the job did not wait for the server"
    assert_whole(url)
    record("fault.server_starts_late", server_up_after_s=5, job_waited_s=round(waited, 2), connect_attempts=attempts,
           exit_code=0)


def test_server_restarted_mid_migration(tmp_path: Path, own: pgserver.PgServer) -> None:
    """`pg_ctl restart -m fast` while a migration runs: its transaction dies with the server, the job
    waits for the server again, reruns that file from the history, and exits 0."""
    dbname = fresh_db(own.url())
    url = own.url(dbname)
    sql_dir = write_migrations(tmp_path, files())
    proc, _ = start_and_wait_for_sleep(env_for(url, sql_dir, INITJOB_WAIT_TIMEOUT="60"), own.url(), dbname)
    start = time.monotonic()
    own.restart("fast")
    restarted = time.monotonic() - start
    result = finish(proc, timeout=120)
    assert result.code == 0, result.stderr
    assert reconnects(result) >= 1
    assert_whole(url)
    applied = [e["version"] for e in result.events if e.get("event") == "migration.applied"]
    assert applied.count("0002") == 1
    record("fault.server_restart_mid_migration", restart_took_s=round(restarted, 2), reconnects=reconnects(result),
           exit_code=0, run_s=round(time.monotonic() - start, 2))


def test_backend_terminated_mid_migration(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """pg_terminate_backend on the job's session mid-migration: reconnect, rerun the file, exit 0."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, files())
    proc, pid = start_and_wait_for_sleep(env_for(db_url, sql_dir), admin, dbname)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))
    start = time.monotonic()
    result = finish(proc, timeout=60)
    assert result.code == 0, result.stderr
    assert reconnects(result) == 1
    assert_whole(admin)
    record("fault.backend_terminated", reconnects=1, exit_code=0, recovered_in_s=round(time.monotonic() - start, 2))


# ---------------------------------------------------------------- the network


def test_network_stalls_before_connecting(tmp_path: Path, server: Server, dbname: str) -> None:
    """A proxy that accepts but never forwards: each attempt ends at the connect timeout, and the job
    exits 4 close to INITJOB_WAIT_TIMEOUT instead of hanging; the next run through a healed path works."""
    sql_dir = write_migrations(tmp_path, files())
    port = int(psycopg.conninfo.conninfo_to_dict(server.url(dbname))["port"])  # type: ignore[arg-type]
    with running_proxy(port) as proxy:
        url = server.uri(dbname).replace(f":{port}/", f":{proxy.port}/")
        proxy.stall()
        start = time.monotonic()
        result = initjob("run", env=env_for(url, sql_dir, INITJOB_WAIT_TIMEOUT="4"), timeout=60)
        took = time.monotonic() - start
        assert result.code == 4, result.stderr
        assert "\n" not in result.failure["reason"]
        # The deadline, plus at most one connect timeout (libpq's minimum is 2 s), plus start-up.
        assert took < 4 + 2 + 5, f"the job took {took:.1f}s for a 4 s deadline"
        proxy.resume()
        assert initjob("run", env=env_for(url, sql_dir)).code == 0
    assert_whole(server.url(dbname))
    record("fault.network_stall_at_connect", wait_timeout_s=4, exit_code=4, took_s=round(took, 2), next_run_exit=0)


def test_network_stalls_mid_migration(tmp_path: Path, server: Server, dbname: str) -> None:
    """The proxy stops forwarding while a migration runs (the kernel still acknowledges, so TCP
    keepalives see nothing): the watchdog notices the missing answer, cuts the socket, and the job
    reconnects; once the path heals it resumes from the history and exits 0, nothing half-applied."""
    from initjob.db import watchdog
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, files())
    port = int(psycopg.conninfo.conninfo_to_dict(admin)["port"])  # type: ignore[arg-type]
    with running_proxy(port) as proxy:
        url = server.uri(dbname).replace(f":{port}/", f":{proxy.port}/")
        proc, _ = start_and_wait_for_sleep(env_for(url, sql_dir, INITJOB_WAIT_TIMEOUT="60"), admin, dbname)
        proxy.stall()
        stalled_at = time.monotonic()
        before = proxy.accepted
        try:
            # The watchdog's side connection, then the job's first reconnect attempt, reach the proxy.
            wait_until(lambda: proxy.accepted >= before + 2, watchdog.CHECK_EVERY_S + 30, "the job to notice the stall",
                       every=0.2)
        except BaseException:
            kill_all([proc])
            raise
        noticed = time.monotonic() - stalled_at
        proxy.resume()
        result = finish(proc, timeout=120)
    assert result.code == 0, result.stderr
    stalled = result.event("db.stalled")
    assert reconnects(result) >= 1
    assert_whole(admin)
    assert noticed < watchdog.CHECK_EVERY_S + watchdog.PROBE_TIMEOUT_S * 2 + 10
    record("fault.network_stall_mid_migration", noticed_after_s=round(noticed, 2), reason=stalled["reason"],
           exit_code=0, total_s=round(time.monotonic() - stalled_at, 2))


def test_network_drops_connections_mid_migration(tmp_path: Path, server: Server, dbname: str) -> None:
    """Every connection reset (RST) mid-migration, as a restarted NAT or pooler would: reconnect, exit 0."""
    admin = server.url(dbname)
    sql_dir = write_migrations(tmp_path, files())
    port = int(psycopg.conninfo.conninfo_to_dict(admin)["port"])  # type: ignore[arg-type]
    with running_proxy(port) as proxy:
        url = server.uri(dbname).replace(f":{port}/", f":{proxy.port}/")
        proc, _ = start_and_wait_for_sleep(env_for(url, sql_dir), admin, dbname)
        start = time.monotonic()
        proxy.cut()
        result = finish(proc, timeout=60)
    assert result.code == 0, result.stderr
    assert reconnects(result) >= 1
    assert_consistent(admin)
    assert_whole(admin)
    record("fault.network_reset_mid_migration", reconnects=reconnects(result), exit_code=0,
           recovered_in_s=round(time.monotonic() - start, 2))


# ---------------------------------------------------------------- the watchdog, in process and fast


def test_watchdog_leaves_a_slow_statement_alone(server: Server, dbname: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement the server is still running is asked about, found active, and left to finish."""
    from initjob.db import watchdog
    monkeypatch.setattr(watchdog, "CHECK_EVERY_S", 0.5)
    info = server.url(dbname)
    with psycopg.connect(info, autocommit=True) as conn:
        watchdog.watch(conn, info)
        nobody = conn.info.backend_pid + 10_000_000
        assert watchdog.probe(info, nobody) == f"backend {nobody} is gone"
        start = time.monotonic()
        conn.execute("SELECT pg_sleep(2.5)")
        assert not conn.broken
        assert time.monotonic() - start >= 2.5


def test_watchdog_cuts_a_stalled_connection(server: Server, dbname: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a stalled proxy a query would wait forever; the watchdog fails it as a lost connection."""
    from initjob.db import watchdog
    monkeypatch.setattr(watchdog, "CHECK_EVERY_S", 1.0)
    monkeypatch.setattr(watchdog, "PROBE_TIMEOUT_S", 2.0)
    port = int(psycopg.conninfo.conninfo_to_dict(server.url(dbname))["port"])  # type: ignore[arg-type]
    with running_proxy(port) as proxy:
        info = server.uri(dbname).replace(f":{port}/", f":{proxy.port}/")
        conn = psycopg.connect(info, autocommit=True)
        try:
            watchdog.watch(conn, info)
            proxy.stall()
            start = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
            took = time.monotonic() - start
        finally:
            conn.close()
    assert took < 1.0 + 2.0 + 3.0
    record("watchdog.cut_in_process", check_every_s=1.0, probe_timeout_s=2.0, failed_after_s=round(took, 2))
