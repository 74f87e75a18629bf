"""Failover and standbys, for real: a primary and a streaming standby on 127.0.0.1 (``pg_basebackup -R``).

A multi-host DATABASE_URL rides through the loss of the primary mid-chain (a slow file, a
no-transaction file caught inside ``CREATE INDEX CONCURRENTLY``); a standby given as the target is
refused before any change, waited for when the URL names another host, and never exits 1.
The pair is this module's own: tests that fail over rebuild the standby for the next test.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EXAMPLE_SQL, Result, base_env, finish, initjob, spawn, write_migrations
from helpers_figures import kill_all, record, wait_until

from devtools import pgserver

SETUP = ("CREATE TABLE ctl (sleep_s float NOT NULL);\nINSERT INTO ctl VALUES (4);\n"
         "CREATE TABLE ledger (v int NOT NULL);\n"
         "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL);\n"
         "INSERT INTO items SELECT g, g % 97 FROM generate_series(1, 20000) g;\n")
SLOW = "CREATE TABLE half (id int);\nINSERT INTO ledger VALUES (2);\nSELECT pg_sleep(sleep_s) FROM ctl;\n"
CONCURRENT = ("-- initjob:no-transaction\nINSERT INTO ledger VALUES (3);\n"
              "CREATE INDEX CONCURRENTLY items_n ON items (n);\nINSERT INTO ledger VALUES (4);\n")
LAST = "INSERT INTO ledger VALUES (5);\nALTER TABLE items ADD COLUMN note text;\n"


def chain() -> dict[str, str]:
    return {"0001_setup.up.sql": SETUP, "0002_slow.up.sql": SLOW, "0003_index.up.sql": CONCURRENT,
            "0004_last.up.sql": LAST}


@pytest.fixture(scope="module")
def pair() -> Iterator[pgserver.Pair]:
    """A primary and its streaming standby, this module's own."""
    if not pgserver.available_bindirs():
        pytest.skip("no PostgreSQL server binaries")
    with pgserver.running_pair() as p:
        yield p


@pytest.fixture
def dbname(pair: pgserver.Pair) -> str:
    """A fresh database on the primary, already replayed by the standby."""
    name = f"fo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pair.primary.url(), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"'.encode())
    pair.wait_streaming()
    return name


def env_for(url: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), **extra)


def one_host(server: pgserver.PgServer, dbname: str, query: str = "") -> str:
    return server.url(dbname) + query


def assert_whole(url: str) -> None:
    """Every migration once, history and schema agreeing, no invalid index left behind."""
    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("SELECT v FROM ledger ORDER BY v").fetchall() == [(2,), (3,), (4,), (5,)]
        assert c.execute("SELECT version::int, success FROM initjob.history ORDER BY 1").fetchall() == [
            (1, True), (2, True), (3, True), (4, True)]
        assert c.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)
        assert c.execute("SELECT to_regclass('public.items_n') IS NOT NULL").fetchone() == (True,)


def schema_exists(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'initjob'").fetchone()
    return bool(row and row[0])


def events(result: Result, name: str) -> list[dict[str, Any]]:
    return [e for e in result.events if e.get("event") == name]


# ---------------------------------------------------------------- a standby as the target


@pytest.mark.parametrize("query", ["", "?target_session_attrs=read-write"], ids=["plain", "read_write"])
def test_standby_as_the_only_target_is_refused_at_once(tmp_path: Path, pair: pgserver.Pair, dbname: str,
                                                       query: str) -> None:
    """One host, a standby: exit 4 at once naming the server and saying it is a standby, before any
    change — not exit 1 with a ReadOnlySqlTransaction traceback, nor 'check the credentials'."""
    sql_dir = write_migrations(tmp_path, chain())
    start = time.monotonic()
    result = initjob("run", env=env_for(one_host(pair.standby, dbname, query), sql_dir,
                                        INITJOB_WAIT_TIMEOUT="30"))
    took = time.monotonic() - start
    assert result.code == 4, result.stderr
    failure = result.failure
    assert failure["kind"] == "not_writable"
    assert f"127.0.0.1:{pair.standby.port}" in failure["reason"]
    assert "credentials" not in failure["reason"]
    assert took < 10, f"a lone standby should be refused at once, took {took:.1f}s"
    assert not schema_exists(pair.primary.url(dbname))
    record("standby.only_target", variant=query or "plain", exit_code=4, took_s=round(took, 2))


def test_read_only_sessions_are_refused(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """A primary whose sessions are read-only (default_transaction_read_only = on): exit 4 naming the setting."""
    with psycopg.connect(pair.primary.url(), autocommit=True) as c:
        c.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on'.encode())
    result = initjob("run", env=env_for(one_host(pair.primary, dbname), write_migrations(tmp_path, chain())))
    assert result.code == 4, result.stderr
    assert "default_transaction_read_only" in result.failure["reason"]
    assert not schema_exists(pair.primary.url(dbname))


def test_standby_listed_first_is_skipped(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """Several hosts and no target_session_attrs, the standby first: libpq alone would take the standby
    every time; the job asks it for the writable host and migrates the primary."""
    sql_dir = write_migrations(tmp_path, {**chain(), "0002_slow.up.sql": SLOW.replace("pg_sleep(sleep_s)", "0")})
    url = (f"postgresql://{pgserver.SUPERUSER}:{pgserver.PASSWORD}@127.0.0.1:{pair.standby.port},"
           f"127.0.0.1:{pair.primary.port}/{dbname}")
    result = initjob("run", env=env_for(url, sql_dir))
    assert result.code == 0, result.stderr
    assert not events(result, "db.wait")
    assert_whole(pair.primary.url(dbname))


def test_primary_turned_read_only_mid_run(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """The server turns every session read-only while the job runs (ALTER SYSTEM + reload, as a
    provider does when a disk fills): the next file's write fails with 25006; the job reconnects,
    finds the server read-only and exits 4 naming the setting — not exit 5 blaming the file."""
    sql_dir = write_migrations(tmp_path, chain())
    admin = pair.primary.url(dbname)
    proc = spawn("run", env=env_for(one_host(pair.primary, dbname), sql_dir))
    try:
        wait_until(lambda: running_statement(admin, dbname, "%pg_sleep%"), 60, "the slow file")
        with psycopg.connect(pair.primary.url(), autocommit=True) as c:
            c.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            c.execute("SELECT pg_reload_conf()")
        result = finish(proc, timeout=60)
    finally:
        kill_all([proc])
        with psycopg.connect(pair.primary.url(), autocommit=True) as c:
            c.execute("ALTER SYSTEM RESET default_transaction_read_only")
            c.execute("SELECT pg_reload_conf()")
    assert result.code == 4, result.stderr
    assert "default_transaction_read_only" in result.failure["reason"]
    assert events(result, "db.reconnect")
    wait_until(lambda: initjob("run", env=env_for(one_host(pair.primary, dbname), sql_dir)).code == 0, 30,
               "the next run, once the server is writable again", every=1)
    assert_whole(admin)


def test_read_only_commands_work_on_a_standby(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """verify, status and plan only read: on a standby they answer about the replica's schema."""
    sql_dir = write_migrations(tmp_path, {**chain(), "0002_slow.up.sql": SLOW.replace("pg_sleep(sleep_s)", "1")})
    assert initjob("run", env=env_for(one_host(pair.primary, dbname), sql_dir)).code == 0
    pair.wait_streaming()
    env = env_for(one_host(pair.standby, dbname), sql_dir)
    for command in (["verify"], ["status", "--json"], ["plan"]):
        result = initjob(*command, env=env)
        assert result.code == 0, (command, result.stderr)
    (sql_dir / "migrations" / "0005_more.up.sql").write_text("CREATE TABLE more (id int);\n")
    assert initjob("verify", env=env).code == 3
    assert "0005" in initjob("plan", env=env).stdout


def test_auto_sync_read_only_commands_on_a_standby(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """Auto-sync's verify and plan build the desired state in a scratch database, which a standby
    cannot create: exit 2 naming INITJOB_SHADOW_DATABASE_URL (not exit 1); with it, they work."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(EXAMPLE_SQL, sql_dir)
    auto = base_env(INITJOB_SQL_DIR=str(sql_dir))
    assert initjob("run", env=dict(auto, DATABASE_URL=one_host(pair.primary, dbname))).code == 0
    pair.wait_streaming()
    (sql_dir / "schema" / "95_extra.sql").write_text("CREATE TABLE extra_t (id int);\n")
    on_standby = dict(auto, DATABASE_URL=one_host(pair.standby, dbname))
    for command in ("verify", "plan", "status"):
        result = initjob(command, env=on_standby)
        assert result.code == 2, (command, result.stderr)
        assert "INITJOB_SHADOW_DATABASE_URL" in result.failure["reason"]
    scratch = f"{dbname}_scratch"
    with psycopg.connect(pair.primary.url(), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{scratch}"'.encode())
    with_scratch = dict(on_standby, INITJOB_SHADOW_DATABASE_URL=one_host(pair.primary, scratch))
    assert initjob("verify", env=with_scratch).code == 3
    planned = initjob("plan", env=with_scratch)
    assert planned.code == 0 and "extra_t" in planned.stdout


def test_standby_in_a_multi_host_url_is_waited_for_until_the_deadline(tmp_path: Path, pair: pgserver.Pair,
                                                                      dbname: str) -> None:
    """Several hosts, none writable (the primary down, the standby not promoted): the job waits for a
    writable host and exits 4 at the deadline, naming the standby; it never hangs past it."""
    sql_dir = write_migrations(tmp_path, chain())
    pair.primary.stop("fast")
    try:
        for read_write in (False, True):
            start = time.monotonic()
            result = initjob("run", env=env_for(pair.url(dbname, read_write=read_write), sql_dir,
                                                INITJOB_WAIT_TIMEOUT="4"), timeout=60)
            took = time.monotonic() - start
            assert result.code == 4, result.stderr
            assert result.failure["kind"] == "not_writable"
            assert f"127.0.0.1:{pair.standby.port}" in result.failure["reason"]
            assert events(result, "db.wait"), "the job did not wait for a writable host"
            assert took < 4 + 2 + 5, f"{took:.1f}s for a 4 s deadline"
            record("standby.multi_host_deadline", read_write=read_write, exit_code=4, took_s=round(took, 2))
    finally:
        pair.primary.start()


def test_standby_promoted_while_the_job_waits(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """The primary is gone when the job starts and the standby is promoted 3 s later: the job waits
    for it within INITJOB_WAIT_TIMEOUT and migrates it."""
    sql_dir = write_migrations(tmp_path, {**chain(), "0002_slow.up.sql": SLOW.replace("pg_sleep(sleep_s)", "0")})
    url = pair.url(dbname)
    pair.primary.stop("immediate")
    proc = spawn("run", env=env_for(url, sql_dir, INITJOB_WAIT_TIMEOUT="60"))
    try:
        time.sleep(3)
        assert proc.poll() is None, "the job gave up before the standby was promoted"
        promoted_at = time.monotonic()
        pair.standby.promote()
        pair.primary, pair.standby = pair.standby, pair.primary
        result = finish(proc, timeout=90)
    finally:
        kill_all([proc])
    assert result.code == 0, result.stderr
    assert_whole(pair.primary.url(dbname))
    record("failover.promoted_while_waiting", exit_code=0, attempts=len(events(result, "db.wait")),
           done_after_promote_s=round(time.monotonic() - promoted_at, 2))
    pair.rebuild_standby()


# ---------------------------------------------------------------- failover mid-chain


def running_statement(admin: str, dbname: str, pattern: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'initjob%%'"
                        " AND state = 'active' AND query LIKE %s", (dbname, pattern)).fetchone()
    return bool(row and row[0])


def run_until_exit_0(env: dict[str, str], tries: int) -> list[int]:
    codes: list[int] = []
    for _ in range(tries):
        codes.append(initjob("run", env=env, timeout=120).code)
        if codes[-1] == 0:
            break
    return codes


@pytest.mark.parametrize("moment", ["slow_file", "concurrent_index"])
def test_primary_lost_mid_chain(tmp_path: Path, pair: pgserver.Pair, dbname: str, moment: str) -> None:
    """`pg_ctl stop -m immediate` on the primary mid-chain, then the standby promoted: the job reconnects
    to the new primary within INITJOB_WAIT_TIMEOUT, re-reads its history and finishes; history and
    schema agree and no invalid index is left (a build caught half-way is dropped and rebuilt)."""
    sql_dir = write_migrations(tmp_path, chain())
    admin = pair.primary.url(dbname)
    env = env_for(pair.url(dbname), sql_dir, INITJOB_WAIT_TIMEOUT="60")
    holder: psycopg.Connection[Any] | None = None
    proc = spawn("run", env=env)
    try:
        wait_until(lambda: running_statement(admin, dbname, "%pg_sleep%"), 60, "the slow file")
        if moment == "concurrent_index":
            # An old snapshot makes CREATE INDEX CONCURRENTLY wait with its index built but invalid.
            holder = psycopg.connect(admin, autocommit=True)
            holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            holder.execute("SELECT count(*) FROM ledger")
            wait_until(lambda: running_statement(admin, dbname, "%CONCURRENTLY%"), 60, "the index build")
            time.sleep(0.5)
        lost_at = time.monotonic()
        pair.primary.stop("immediate")
        if holder is not None:
            holder.close()
        time.sleep(1)  # what a cluster manager takes to decide, shortened
        pair.standby.promote()
        promoted_at = time.monotonic()
        pair.primary, pair.standby = pair.standby, pair.primary
        result = finish(proc, timeout=120)
    finally:
        kill_all([proc])
        if holder is not None and not holder.closed:
            holder.close()
    codes = [result.code]
    if result.code != 0:
        assert result.code in (4, 5), result.stderr  # retryable: the next run must finish
        codes += run_until_exit_0(env, 2)
    assert codes[-1] == 0, codes
    new_primary = pair.primary.url(dbname)
    assert_whole(new_primary)
    assert initjob("verify", env=env).code == 0
    reconnected = events(result, "db.reconnect")
    record("failover.primary_lost_mid_chain", moment=moment, exit_codes=codes, reconnects=len(reconnected),
           invalid_index_dropped=bool(events(result, "migration.invalid_index_dropped")),
           done_after_loss_s=round(time.monotonic() - lost_at, 2),
           done_after_promote_s=round(time.monotonic() - promoted_at, 2))
    pair.rebuild_standby()


def test_commits_never_replicated_are_applied_again(tmp_path: Path, pair: pgserver.Pair, dbname: str) -> None:
    """Replication cut, the chain finished on the primary, then failover: the promoted standby never
    saw those commits, so its history lacks them too, and the next run applies them there once."""
    sql_dir = write_migrations(tmp_path, {**chain(), "0002_slow.up.sql": SLOW.replace("pg_sleep(sleep_s)", "0")})
    first = {k: v for k, v in chain().items() if k.startswith("0001")}
    assert initjob("run", env=env_for(pair.url(dbname), write_migrations(tmp_path / "first", first))).code == 0
    pair.wait_streaming()
    with psycopg.connect(pair.standby.url(), autocommit=True) as c:
        c.execute("ALTER SYSTEM SET primary_conninfo = ''")  # the walreceiver stops: nothing more arrives
        c.execute("SELECT pg_reload_conf()")
    wait_until(lambda: not _streaming(pair.primary), 30, "replication to stop")
    done = initjob("run", env=env_for(pair.url(dbname), sql_dir))
    assert done.code == 0, done.stderr
    pair.failover()
    with psycopg.connect(pair.primary.url(dbname), autocommit=True) as c:
        assert c.execute("SELECT max(version)::int FROM initjob.history").fetchone() == (1,)
        c.execute("ALTER SYSTEM RESET primary_conninfo")
    again = initjob("run", env=env_for(pair.url(dbname), sql_dir))
    assert again.code == 0, again.stderr
    assert [e["version"] for e in events(again, "migration.applied")] == ["0002", "0003", "0004"]
    assert_whole(pair.primary.url(dbname))
    pair.rebuild_standby()


def _streaming(primary: pgserver.PgServer) -> bool:
    with psycopg.connect(primary.url(), autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_stat_replication").fetchone()
    return bool(row and row[0])

