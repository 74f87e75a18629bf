"""Many runners at once: exactly one does the work, every row lands once, and the lock never blocks
in a transaction, so a CREATE INDEX CONCURRENTLY of the holder completes while others wait.  Also:
a migration waiting behind application traffic gives up after INITJOB_DDL_LOCK_TIMEOUT, so the
application's queries are never stalled for longer than that.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from conftest import Result, Server, base_env, finish, initjob, spawn, write_migrations, write_schema
from helpers_figures import initjob_backends, kill_all, record, wait_until

from initjob.db.lock import lock_key

RUNNERS = 16
MIGRATIONS = 50


def ledger_migrations(count: int = MIGRATIONS) -> dict[str, str]:
    """``count`` migrations, each adding one row to ``runlog``; every tenth also alters the table."""
    files = {"0001_runlog.up.sql":
             "CREATE TABLE runlog (version int NOT NULL, backend int NOT NULL DEFAULT pg_backend_pid(),\n"
             "  at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
             "INSERT INTO runlog (version) VALUES (1);\n"}
    for v in range(2, count + 1):
        body = f"INSERT INTO runlog (version) VALUES ({v});\n"  # noqa: S608 (a migration file's text)
        if v % 10 == 0:
            body = f"ALTER TABLE runlog ADD COLUMN c{v} int;\n" + body
        files[f"{v:04d}_step_{v}.up.sql"] = body
    return files


def start_runners(n: int, **env: str) -> tuple[list[Result], float]:
    """``n`` runners started together, each left to find its own way."""
    full = base_env(**env)
    start = time.monotonic()
    procs = [spawn("run", env=full) for _ in range(n)]
    try:
        results = [finish(p, timeout=240) for p in procs]
    except BaseException:
        kill_all(procs)
        raise
    return results, time.monotonic() - start


def gated_runners(n: int, admin_url: str, dbname: str, **env: str) -> tuple[list[Result], float]:
    """``n`` runners that all reach the lock before any may take it: the test holds the migration lock
    until every runner is connected and polling, then lets them race (process start-up on a 2-core
    machine is otherwise slower than the work, and the first runner would finish alone)."""
    full = base_env(**env)
    with psycopg.connect(admin_url, autocommit=True, application_name="gate") as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (lock_key("initjob"),))
        procs = [spawn("run", env=full) for _ in range(n)]
        try:
            try:
                wait_until(lambda: _polling(admin_url, dbname) >= n, 120, f"{n} runners polling the lock", every=0.2)
            finally:
                gate.execute("SELECT pg_advisory_unlock(%s)", (lock_key("initjob"),))
            start = time.monotonic()
            results = [finish(p, timeout=240) for p in procs]
        except BaseException:
            kill_all(procs)
            raise
    return results, time.monotonic() - start


def _polling(admin_url: str, dbname: str) -> int:
    return len(initjob_backends(admin_url, dbname, like="%pg_try_advisory_lock%"))


def lock_waits(results: list[Result]) -> list[float]:
    return [float(e["waited_s"]) for r in results for e in r.events if e.get("event") == "lock.acquired"]


def assert_all_ok(results: list[Result]) -> None:
    bad = [r for r in results if r.code != 0]
    assert not bad, f"{len(bad)} runner(s) failed; first:\n{bad[0].stderr if bad else ''}"


def ledger(url: str) -> list[tuple[int, int]]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT version, count(*)::int FROM runlog GROUP BY version ORDER BY version").fetchall()


def history_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT version::int, success FROM initjob.history ORDER BY version").fetchall()


def test_sixteen_runners_fifty_migrations(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """16 runners at once on an empty database: all exit 0, each of 50 migrations runs exactly once."""
    sql_dir = write_migrations(tmp_path, ledger_migrations())
    results, wall = gated_runners(RUNNERS, server.url(dbname), dbname, DATABASE_URL=db_url, USE_MIGRATIONS="true",
                                  INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOCK_TIMEOUT="120")
    assert_all_ok(results)
    assert ledger(db_url) == [(v, 1) for v in range(1, MIGRATIONS + 1)]
    assert history_rows(db_url) == [(v, True) for v in range(1, MIGRATIONS + 1)]
    applied = sorted(int(r.event("run.finished")["applied"]) for r in results)
    assert applied == [0] * (RUNNERS - 1) + [MIGRATIONS], "exactly one runner does the work"
    waiting = [e for r in results for e in r.events if e.get("event") == "lock.waiting"]
    assert waiting, "no runner waited: the test did not exercise the lock"
    # Who holds the lock is named while waiting (pg_locks joined with pg_stat_activity): here the gate.
    holders = [e["holder"] for e in waiting if e.get("holder")]
    assert holders and all((h["application"] == "gate" or h["application"].startswith("initjob")) and h["pid"]
                           for h in holders)
    waits = lock_waits(results)
    record("concurrency.migrations", runners=RUNNERS, migrations=MIGRATIONS, exit_0=len(results),
           rows_once=MIGRATIONS, wall_s=round(wall, 2), waited_on_lock=len(waits),
           max_lock_wait_s=round(max(waits), 2) if waits else 0.0)


def test_sixteen_runners_create_the_missing_database(tmp_path: Path, server: Server) -> None:
    """INITJOB_ENSURE_DATABASE with 16 runners on a missing database: created once, migrated once."""
    name = f"t_missing_{uuid.uuid4().hex[:10]}"
    url = server.uri(name)
    sql_dir = write_migrations(tmp_path, ledger_migrations())
    try:
        results, wall = start_runners(RUNNERS, DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                                      INITJOB_ENSURE_DATABASE="true", INITJOB_LOCK_TIMEOUT="120")
        assert_all_ok(results)
        created = [e for r in results for e in r.events if e.get("event") == "db.created"]
        assert len(created) == 1
        assert ledger(url) == [(v, 1) for v in range(1, MIGRATIONS + 1)]
        assert history_rows(url) == [(v, True) for v in range(1, MIGRATIONS + 1)]
        raced = sum(1 for r in results for e in r.events if e.get("event") == "db.create_raced")
        record("concurrency.ensure_database", runners=RUNNERS, migrations=MIGRATIONS, created=len(created),
               lost_create_race=raced, wall_s=round(wall, 2))
    finally:
        server.drop_db(name)


def test_sixteen_runners_auto_sync(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """Auto-sync with 16 runners on an empty database: the schema files run exactly once."""
    files = {"00_runlog.sql": "CREATE TABLE runlog (version int NOT NULL, at timestamptz DEFAULT clock_timestamp());\n"}
    for v in range(1, 11):
        files[f"{v:02d}_t{v}.sql"] = (f"CREATE TABLE t{v} (id bigint PRIMARY KEY, note text);\n"
                                      f"INSERT INTO runlog (version) VALUES ({v});\n")
    sql_dir = write_schema(tmp_path, files)
    results, wall = gated_runners(RUNNERS, server.url(dbname), dbname, DATABASE_URL=db_url,
                                  INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOCK_TIMEOUT="120")
    assert_all_ok(results)
    assert ledger(db_url) == [(v, 1) for v in range(1, 11)]
    appliers = [r for r in results if int(r.event("run.finished")["applied"]) > 0]
    assert len(appliers) == 1
    assert initjob("verify", DATABASE_URL=db_url, INITJOB_SQL_DIR=str(sql_dir)).code == 0
    waits = lock_waits(results)
    record("concurrency.auto_sync", runners=RUNNERS, files=len(files), rows_once=10, wall_s=round(wall, 2),
           waited_on_lock=len(waits))


def test_concurrent_index_completes_while_others_wait(tmp_path: Path, server: Server, dbname: str,
                                                      db_url: str) -> None:
    """4 runners; the holder builds an index CONCURRENTLY while 3 wait: it completes, the index is valid."""
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        c.execute("CREATE TABLE big AS SELECT g AS id, md5(g::text) AS tag FROM generate_series(1, 200000) g")
    sql_dir = write_migrations(tmp_path, {
        "0001_note.up.sql": "ALTER TABLE big ADD COLUMN note text;\n",
        "0002_tag_index.up.sql": "-- initjob:no-transaction\n"
                                 "CREATE INDEX CONCURRENTLY big_tag_idx ON big (tag);\n",
    })
    results, wall = gated_runners(4, server.url(dbname), dbname, DATABASE_URL=db_url, USE_MIGRATIONS="true",
                                  INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOCK_TIMEOUT="60",
                                  INITJOB_DDL_LOCK_TIMEOUT="30")
    assert_all_ok(results)
    with psycopg.connect(server.url(dbname)) as c:
        valid = c.execute("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 'big_tag_idx'::regclass").fetchone()
    assert valid == (True,)
    built = [e for r in results for e in r.events if e.get("event") == "migration.applied" and e["version"] == "0002"]
    assert len(built) == 1
    waiting_after = [r for r in results if not any(e.get("event") == "migration.applied" for e in r.events)]
    assert len(waiting_after) == 3, "three runners were polling the lock while the index was built"
    record("concurrency.create_index_concurrently", runners=4, exit_0=4, index_valid=True, wall_s=round(wall, 2),
           index_build_ms=built[0]["duration_ms"], rows=200000)


def test_waiting_runners_hold_no_transaction_and_name_the_holder(tmp_path: Path, server: Server, dbname: str,
                                                                 db_url: str) -> None:
    """While another session holds the lock, waiters poll in autocommit (no xmin, no lock wait) and
    log the holder's pid and application; on release they finish with exit 0."""
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id int);\n"})
    env = base_env(DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir), INITJOB_LOCK_TIMEOUT="60")
    admin = server.url(dbname)
    with psycopg.connect(admin, autocommit=True, application_name="lock-holder-test") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("initjob"),))
        holder_pid = holder.info.backend_pid
        procs = [spawn("run", env=env) for _ in range(2)]
        try:
            wait_until(lambda: len(initjob_backends(admin, dbname)) >= 2, 30, "two waiting runners")
            samples = []
            for _ in range(20):  # a second of samples: never a snapshot, never a blocked lock request
                with psycopg.connect(admin, autocommit=True) as c:
                    samples += c.execute(
                        "SELECT a.pid, a.backend_xmin::text, a.state,"
                        " EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)"
                        " FROM pg_stat_activity a WHERE a.datname = %s AND a.application_name LIKE 'initjob/%%'",
                        (dbname,)).fetchall()
                time.sleep(0.05)
            blocked = [s for s in samples if (s[1] is not None and s[2] != "active") or s[3]]
            assert not blocked, f"a waiting runner held a snapshot or waited on a lock: {blocked}"
            assert not [s for s in samples if s[2] and s[2].startswith("idle in transaction")]
        except BaseException:
            kill_all(procs)
            raise
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key("initjob"),))
        results = [finish(p, timeout=60) for p in procs]
    assert_all_ok(results)
    named = [e["holder"] for r in results for e in r.events if e.get("event") == "lock.waiting" and e.get("holder")]
    assert any(h["pid"] == holder_pid and h["application"] == "lock-holder-test" for h in named)
    record("lock.waiting_holder", samples=len(samples), snapshots_held=0, blocked_lock_requests=0)


def test_lock_timeout_exit_6_then_next_run_completes(tmp_path: Path, server: Server, dbname: str,
                                                     db_url: str) -> None:
    """A runner that cannot get the lock within INITJOB_LOCK_TIMEOUT exits 6 naming the holder; the next run works."""
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id int);\n"})
    env = dict(DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    with psycopg.connect(server.url(dbname), autocommit=True, application_name="stuck-runner") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("initjob"),))
        start = time.monotonic()
        r = initjob("run", env=base_env(INITJOB_LOCK_TIMEOUT="1", **env))
        took = time.monotonic() - start
    assert r.code == 6
    assert r.failure["holder"]["application"] == "stuck-runner"
    assert "\n" not in r.failure["reason"]
    assert took < 15
    with psycopg.connect(server.url(dbname)) as c:
        assert c.execute("SELECT to_regclass('public.t')").fetchone() == (None,)
    assert initjob("run", env=base_env(**env)).code == 0
    record("lock.timeout", lock_timeout_s=1, exit_code=6, took_s=round(took, 2), next_run_exit=0)


# ---------------------------------------------------------------- application traffic is not stalled


class Prober:
    """Queries ``accounts`` in a loop from its own connection and keeps every latency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            while not self._stop.is_set():
                t = time.monotonic()
                try:
                    c.execute("SELECT count(*) FROM accounts").fetchone()
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.latencies.append(time.monotonic() - t)
                time.sleep(0.02)


def _traffic_run(tmp_path: Path, server: Server, dbname: str, db_url: str, ddl_timeout: str,
                 hold_s: float) -> tuple[Result, Prober]:
    admin = server.url(dbname)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS accounts")
        c.execute("CREATE TABLE accounts AS SELECT g AS id FROM generate_series(1, 1000) g")
    sql_dir = write_migrations(tmp_path / ddl_timeout,
                               {"0001_flag.up.sql": "ALTER TABLE accounts ADD COLUMN flag int;\n"})
    env = base_env(DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                   INITJOB_DDL_LOCK_TIMEOUT=ddl_timeout)
    with Prober(admin) as prober, psycopg.connect(admin) as long_tx:
        long_tx.execute("SELECT count(*) FROM accounts").fetchone()  # a long transaction holds ACCESS SHARE
        wait_until(lambda: len(prober.latencies) > 5, 10, "the prober's first queries")
        proc = spawn("run", env=env)
        try:
            # The transaction lasts ``hold_s`` from the moment the ALTER queues behind it.
            wait_until(lambda: [r for r in initjob_backends(admin, dbname, like="%ALTER TABLE accounts%")
                                if r[3] == "Lock"], 60, "the migration to wait for its table lock")
            time.sleep(hold_s)
            long_tx.commit()
            result = finish(proc, timeout=60)
        except BaseException:
            kill_all([proc])
            raise
        time.sleep(0.3)
    return result, prober


def test_migration_behind_a_long_transaction_does_not_stall_queries(tmp_path: Path, server: Server, dbname: str,
                                                                   db_url: str) -> None:
    """A long transaction holds `accounts`; the ALTER gives up after INITJOB_DDL_LOCK_TIMEOUT and retries,
    so a connection querying `accounts` meanwhile is never stalled much past that timeout."""
    ddl_timeout = 1.0
    result, prober = _traffic_run(tmp_path, server, dbname, db_url, str(ddl_timeout), hold_s=4.0)
    assert result.code == 0, result.stderr
    retries = [e for e in result.events if e.get("event") == "migration.lock_timeout"]
    assert retries, "the migration never gave up on the table lock"
    assert not prober.errors
    worst = max(prober.latencies)
    # Generous: the timeout plus scheduling noise on a busy 2-core machine; without it the worst is ~hold_s.
    assert worst < ddl_timeout + 1.5, f"a query waited {worst:.2f}s behind the migration"
    record("traffic.ddl_lock_timeout", ddl_lock_timeout_s=ddl_timeout, long_transaction_s=4.0,
           migration_retries=len(retries), queries=len(prober.latencies),
           worst_latency_s=round(worst, 3), median_latency_ms=round(statistics.median(prober.latencies) * 1000, 1))


def test_without_a_short_ddl_lock_timeout_queries_stall(tmp_path: Path, server: Server, dbname: str,
                                                        db_url: str) -> None:
    """The control: with a DDL lock timeout longer than the transaction, queries queue behind the ALTER."""
    result, prober = _traffic_run(tmp_path, server, dbname, db_url, "30", hold_s=2.0)
    assert result.code == 0, result.stderr
    worst = max(prober.latencies)
    assert worst > 1.0, "the control did not stall: the test above would prove nothing"
    record("traffic.control_no_timeout", ddl_lock_timeout_s=30, long_transaction_s=2.0, worst_latency_s=round(worst, 3))
