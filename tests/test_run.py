"""End to end: the real `initjob` command against a real PostgreSQL, one exit code at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EXAMPLE_SQL, Server, initjob, write_migrations, write_schema

from initjob.db import lock
from initjob.schema import catalog

M1 = "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL);\n"
M2 = "ALTER TABLE items ADD COLUMN done boolean NOT NULL DEFAULT false;\n"
M3 = "CREATE INDEX items_title_idx ON items (title);\n"


def tables(conn: psycopg.Connection[Any], schema: str = "public") -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)).fetchall()
    return [r[0] for r in rows]


def history(conn: psycopg.Connection[Any]) -> list[tuple[str, str, bool]]:
    rows = conn.execute("SELECT version_text, kind, success FROM initjob.history ORDER BY version").fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    return write_migrations(tmp_path, {"0001_items.up.sql": M1, "0001_items.down.sql": "DROP TABLE items;\n",
                                       "0002_done.up.sql": M2,
                                       "0002_done.down.sql": "ALTER TABLE items DROP COLUMN done;\n"})


def test_migrations_apply_then_noop(db_url: str, chain: Path, conn: psycopg.Connection[Any]) -> None:
    """A first run applies every file with its history row; the second finds nothing to do."""
    first = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain))
    assert first.code == 0, first.stderr
    assert [e["version"] for e in first.events if e["event"] == "migration.applied"] == ["0001", "0002"]
    assert first.event("run.finished")["applied"] == 2
    assert history(conn) == [("0001", "migration", True), ("0002", "migration", True)]
    assert first.event("marker.taken")["lsn"]
    second = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="1", INITJOB_SQL_DIR=str(chain))
    assert second.code == 0
    assert "run.nothing_to_do" in second.names()
    assert "marker.taken" not in second.names(), "a no-op run takes no marker"
    assert conn.execute("SELECT count(*) FROM initjob.markers").fetchone() == (1,)


def test_verify_is_read_only_on_a_new_database(db_url: str, chain: Path, conn: psycopg.Connection[Any]) -> None:
    """verify on a database initjob never saw exits 3 and creates nothing, not even its own schema."""
    result = initjob("verify", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain))
    assert result.code == 3
    assert "0001" in result.failure["reason"]
    assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'initjob'").fetchone() == (0,)


def test_verify_passes_after_run(db_url: str, chain: Path) -> None:
    """verify exits 0 once run has applied everything."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    assert initjob("verify", **env).code == 0


def test_pending_migration_fails_verify(db_url: str, chain: Path) -> None:
    """A new file not yet applied is pending: verify exits 3 naming it; run applies it."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    (chain / "migrations" / "0003_title_idx.up.sql").write_text(M3)
    result = initjob("verify", **env)
    assert result.code == 3 and "0003" in result.failure["reason"]
    assert initjob("run", **env).code == 0
    assert initjob("verify", **env).code == 0


def test_changed_applied_file_is_exit_3(db_url: str, chain: Path) -> None:
    """An applied file edited afterwards is refused: checksum mismatch, exit 3, nothing applied."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    (chain / "migrations" / "0002_done.up.sql").write_text(M2 + "-- edited\n")
    result = initjob("run", **env)
    assert result.code == 3
    assert "0002_done was changed" in result.failure["reason"]


def test_crlf_resave_is_the_same_file(db_url: str, chain: Path) -> None:
    """A file re-saved with CRLF line ends and a BOM keeps its checksum."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    path = chain / "migrations" / "0002_done.up.sql"
    path.write_bytes(b"\xef\xbb\xbf" + M2.replace("\n", "\r\n").encode())
    assert initjob("verify", **env).code == 0


def test_missing_applied_file_is_exit_3(db_url: str, chain: Path) -> None:
    """An applied version whose file is gone is exit 3."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    (chain / "migrations" / "0002_done.up.sql").unlink()
    (chain / "migrations" / "0002_done.down.sql").unlink()
    result = initjob("run", **env)
    assert result.code == 3 and "0002_done has no file" in result.failure["reason"]


def test_failing_file_is_exit_5_with_file_and_line(db_url: str, tmp_path: Path,
                                                   conn: psycopg.Connection[Any]) -> None:
    """A failing migration rolls back with its history row; the log names file, line and message."""
    sql_dir = write_migrations(tmp_path, {
        "0001_ok.up.sql": M1,
        "0002_bad.up.sql": "CREATE TABLE half (id int);\n\nINSERT INTO half VALUES (1);\nSELECT * FROM nope;\n",
    })
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 5
    failure = result.failure
    assert failure["file"] == "migrations/0002_bad.up.sql"
    assert failure["line"] == 4
    assert 'relation "nope" does not exist' in failure["reason"]
    assert failure["sqlstate"] == "42P01"
    assert "half" not in tables(conn), "the failed file left nothing behind"
    assert history(conn) == [("0001", "migration", True)]


def test_drift_is_caught(db_url: str, chain: Path, conn: psycopg.Connection[Any]) -> None:
    """A hand-made change after the last apply is drift: run and verify exit 3 saying what differs."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    conn.execute("ALTER TABLE items ADD COLUMN sneaky int")
    result = initjob("verify", **env)
    assert result.code == 3
    assert "sneaky" in result.failure["reason"]
    assert initjob("run", **env).code == 3


def test_unreachable_database_is_exit_4(chain: Path) -> None:
    """Nothing listens on the port: retried with backoff until the deadline, then exit 4."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://postgres:whatever@127.0.0.1:{port}/db"
    result = initjob("run", DATABASE_URL=url, INITJOB_WAIT_TIMEOUT="1.5", USE_MIGRATIONS="true",
                     INITJOB_SQL_DIR=str(chain))
    assert result.code == 4
    attempts = [e for e in result.events if e["event"] == "db.wait"]
    assert len(attempts) >= 2
    assert all("next_delay_s" in e and "attempt" in e for e in attempts)
    assert "whatever" not in result.stderr


def test_bad_password_fails_fast(server: Server, dbname: str, chain: Path) -> None:
    """A wrong password cannot heal: exit 4 at the first attempt, not after the deadline."""
    url = server.uri(dbname).replace(f":{server.uri(dbname).split(':')[2].split('@')[0]}@", ":wrong-Pa55@")
    result = initjob("run", DATABASE_URL=url, INITJOB_WAIT_TIMEOUT="30", USE_MIGRATIONS="true",
                     INITJOB_SQL_DIR=str(chain))
    assert result.code == 4
    assert "db.wait" not in result.names()
    assert "password authentication failed" in result.failure["reason"]
    assert result.event("run.finished")["duration_ms"] < 10_000
    assert "wrong-Pa55" not in result.stderr


def test_missing_database_fails_fast_unless_ensured(server: Server, chain: Path) -> None:
    """A missing database is exit 4 at once; with INITJOB_ENSURE_DATABASE it is created."""
    name = "t_missing_db_ensure"
    server.drop_db(name)
    env = {"DATABASE_URL": server.uri(name), "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    result = initjob("run", **env)
    assert result.code == 4 and "does not exist" in result.failure["reason"]
    assert "INITJOB_ENSURE_DATABASE" in result.failure["reason"]
    try:
        created = initjob("run", INITJOB_ENSURE_DATABASE="true", **env)
        assert created.code == 0, created.stderr
        assert "db.created" in created.names()
    finally:
        server.drop_db(name)


def test_lock_timeout_is_exit_6(db_url: str, chain: Path, server: Server, dbname: str) -> None:
    """Another session holding the migration lock past INITJOB_LOCK_TIMEOUT gives exit 6, naming the holder."""
    with psycopg.connect(server.url(dbname), autocommit=True, application_name="other-runner") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock.lock_key("initjob"),))
        result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain),
                         INITJOB_LOCK_TIMEOUT="1")
    assert result.code == 6
    assert result.event("lock.waiting")["holder"]["application"] == "other-runner"


def test_bug_is_exit_1_with_traceback(db_url: str, chain: Path, conn: psycopg.Connection[Any]) -> None:
    """Something nobody foresaw (here, initjob's own table corrupted by hand) is exit 1 with a traceback."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    conn.execute("UPDATE initjob.meta SET value = 'garbage' WHERE key = 'layout'")
    result = initjob("run", **env)
    assert result.code == 1
    crash = result.event("run.crashed")
    assert "Traceback" in crash["traceback"]


def test_bad_config_is_exit_2_before_connecting() -> None:
    """Bad values stop the job before any connection, each named with what it accepts."""
    result = initjob("run", DATABASE_URL="postgresql://u:p4ssw0rd@127.0.0.1:1/db", USE_MIGRATIONS="maybe",
                     INITJOB_WAIT_TIMEOUT="soon")
    assert result.code == 2
    reason = result.failure["reason"]
    assert "USE_MIGRATIONS" in reason and "INITJOB_WAIT_TIMEOUT" in reason
    assert "db.wait" not in result.names() and "db.connected" not in result.names()
    assert "p4ssw0rd" not in result.stderr


def test_status_json_document(db_url: str, chain: Path) -> None:
    """status --json is one JSON object on stdout with the documented keys."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    (chain / "migrations" / "0003_title_idx.up.sql").write_text(M3)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(M1)  # made by hand before initjob managed the database: what baseline is for
    assert initjob("baseline", "--version", "0001", **env).code == 0
    result = initjob("status", "--json", **env)
    assert result.code == 0
    doc = json.loads(result.stdout)
    assert {"mode", "applied", "pending", "up_to_date", "drift", "last_marker"} <= set(doc)
    assert doc["mode"] == "migrations"
    assert [(a["version"], a["kind"]) for a in doc["applied"]] == [("0001", "baseline")]
    assert set(doc["applied"][0]) >= {"version", "name", "checksum", "applied_at"}
    assert doc["pending"] == [{"version": "0002", "name": "done"}, {"version": "0003", "name": "title_idx"}]
    assert doc["up_to_date"] is False
    assert initjob("run", **env).code == 0
    doc = json.loads(initjob("status", "--json", **env).stdout)
    assert doc["up_to_date"] is True and doc["drift"] is False
    assert doc["last_marker"]["lsn"].count("/") == 1


def test_rollback_steps_and_to(db_url: str, chain: Path, conn: psycopg.Connection[Any]) -> None:
    """rollback runs down files newest first, removing their history rows."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    result = initjob("rollback", "--steps", "1", **env)
    assert result.code == 0, result.stderr
    assert history(conn) == [("0001", "migration", True)]
    cols = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'items'").fetchall()
    assert ("done",) not in cols
    assert initjob("verify", **env).code == 3
    assert initjob("run", **env).code == 0
    assert initjob("rollback", "--to", "0", **env).code == 0
    assert tables(conn) == []
    assert initjob("verify", **env).code == 3


def test_rollback_without_down_file_is_refused(db_url: str, tmp_path: Path) -> None:
    """A migration without a down file cannot be rolled back: exit 2, nothing changed."""
    sql_dir = write_migrations(tmp_path, {"0001_items.up.sql": M1})
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    result = initjob("rollback", "--steps", "1", **env)
    assert result.code == 2 and "no .down.sql" in result.failure["reason"]
    assert initjob("verify", **env).code == 0


def test_plan_prints_pending_sql_and_changes_nothing(db_url: str, chain: Path,
                                                     conn: psycopg.Connection[Any]) -> None:
    """plan prints what run would apply on stdout and exits 0 without writing."""
    result = initjob("plan", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain))
    assert result.code == 0
    assert "CREATE TABLE items" in result.stdout and "ADD COLUMN done" in result.stdout
    assert tables(conn) == []


def test_new_creates_next_files(tmp_path: Path, chain: Path) -> None:
    """new NAME writes the next version's up and down files in the tree's numbering style."""
    result = initjob("new", "add_owner", INITJOB_SQL_DIR=str(chain))
    assert result.code == 0
    assert (chain / "migrations" / "0003_add_owner.up.sql").exists()
    assert (chain / "migrations" / "0003_add_owner.down.sql").exists()
    assert result.stdout.split() == [str(chain / "migrations" / "0003_add_owner.up.sql"),
                                     str(chain / "migrations" / "0003_add_owner.down.sql")]


def test_no_transaction_file_creates_index_concurrently(db_url: str, tmp_path: Path,
                                                        conn: psycopg.Connection[Any]) -> None:
    """A `-- initjob:no-transaction` file runs CREATE INDEX CONCURRENTLY and is recorded as done."""
    sql_dir = write_migrations(tmp_path, {
        "0001_items.up.sql": M1,
        "0002_idx.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\n"
                           "COMMENT ON INDEX items_title_idx IS 'built online';\n",
    })
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 0, result.stderr
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_title_idx'::regclass"
                        ).fetchone() == (True,)
    row = conn.execute("SELECT success, statements_done FROM initjob.history WHERE version = 2").fetchone()
    assert row == (True, 2)


def test_half_done_no_transaction_file_resumes(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """A no-transaction file that failed half-way resumes at the failed statement once it is fixed."""
    files = {
        "0001_items.up.sql": M1,
        "0002_idx.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON items (title);\n"
                           "CREATE INDEX CONCURRENTLY b_idx ON missing_table (x);\n",
    }
    sql_dir = write_migrations(tmp_path, files)
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    failed = initjob("run", **env)
    assert failed.code == 5 and failed.failure["line"] == 3
    assert conn.execute("SELECT success, statements_done FROM initjob.history WHERE version = 2").fetchone() == (
        False, 1)
    assert initjob("verify", **env).code == 3
    conn.execute("CREATE TABLE missing_table (x int)")
    resumed = initjob("run", **env)
    assert resumed.code == 0, resumed.stderr
    assert resumed.event("migration.resumed")["from_statement"] == 2
    assert conn.execute("SELECT success, statements_done FROM initjob.history WHERE version = 2").fetchone() == (
        True, 2)


def test_ddl_lock_timeout_retries_then_fails(db_url: str, chain: Path, server: Server, dbname: str,
                                             conn: psycopg.Connection[Any]) -> None:
    """A migration blocked by a long transaction gives up after the DDL lock timeout and retries, bounded."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    (chain / "migrations" / "0002_done.up.sql").rename(chain / "migrations" / "0002_done.up.sql.off")
    (chain / "migrations" / "0002_done.down.sql").unlink()
    assert initjob("run", **env).code == 0
    (chain / "migrations" / "0002_done.up.sql.off").rename(chain / "migrations" / "0002_done.up.sql")
    with psycopg.connect(server.url(dbname)) as blocker:
        blocker.execute("SELECT * FROM items")  # holds ACCESS SHARE until rollback
        result = initjob("run", INITJOB_DDL_LOCK_TIMEOUT="0.1", **env)
        blocker.rollback()
    assert result.code == 5
    assert result.failure["sqlstate"] == "55P03"
    retries = [e for e in result.events if e["event"] == "migration.lock_timeout"]
    assert len(retries) == 4
    assert initjob("run", **env).code == 0


# ---------------------------------------------------------------- auto-sync


def test_autosync_fresh_then_noop(db_url: str, conn: psycopg.Connection[Any]) -> None:
    """The example schema goes onto an empty database in one transaction; the next run is a no-op."""
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(EXAMPLE_SQL)}
    first = initjob("run", **env)
    assert first.code == 0, first.stderr
    assert len(tables(conn, "app")) >= 30
    state = conn.execute("SELECT mode, schemas FROM initjob.state").fetchone()
    assert state == ("auto-sync", ["app"])
    second = initjob("run", **env)
    assert second.code == 0 and "run.nothing_to_do" in second.names()
    assert initjob("verify", **env).code == 0


def test_autosync_schema_error_is_exit_5_and_leaves_nothing(db_url: str, tmp_path: Path,
                                                            conn: psycopg.Connection[Any]) -> None:
    """An error in the second schema file rolls back the first too: nothing half-applied."""
    sql_dir = write_schema(tmp_path, {"a.sql": "CREATE TABLE a (id int);\n",
                                      "b.sql": "CREATE TABLE b (id int REFERENCES nope);\n"})
    result = initjob("run", DATABASE_URL=db_url, INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 5
    assert result.failure["file"] == "schema/b.sql"
    assert tables(conn) == []


def test_mode_switch_back_is_refused(db_url: str, chain: Path, tmp_path: Path) -> None:
    """Auto-sync on a database with a migration history is exit 3 unless forced."""
    assert initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain)).code == 0
    write_schema(chain.parent, {"a.sql": M1 + M2.replace("ALTER TABLE items ADD COLUMN", "-- ")})
    result = initjob("run", DATABASE_URL=db_url, INITJOB_SQL_DIR=str(chain))
    assert result.code == 3 and "USE_MIGRATIONS=true" in result.failure["reason"]


def test_transition_baselines_example(db_url: str, conn: psycopg.Connection[Any]) -> None:
    """A database built by auto-sync moves to migrations: every migration is baselined, none run."""
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(EXAMPLE_SQL)}
    assert initjob("run", **env).code == 0
    result = initjob("run", USE_MIGRATIONS="true", **env)
    assert result.code == 0, result.stderr
    assert "migration.applied" not in result.names()
    kinds = {k for _, k, _ in history(conn)}
    assert kinds == {"baseline"}
    assert initjob("verify", USE_MIGRATIONS="true", **env).code == 0


def test_transition_with_no_matching_prefix_is_exit_3(db_url: str, chain: Path, tmp_path: Path) -> None:
    """When no prefix of the chain equals the live schema, exit 3 naming the closest one."""
    sql_dir = write_schema(chain.parent, {"a.sql": "CREATE TABLE other (id int);\n"})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    result = initjob("run", USE_MIGRATIONS="true", **env)
    assert result.code == 3
    assert "closest" in result.failure["reason"] and "baseline" in result.failure["reason"]


def test_both_modes_agree_on_example(any_server: Server) -> None:
    """sql/schema and sql/migrations of the example end at the same catalog (equal fingerprints)."""
    a, b = any_server.create_db(), any_server.create_db()
    try:
        assert initjob("run", DATABASE_URL=any_server.uri(a), INITJOB_SQL_DIR=str(EXAMPLE_SQL)).code == 0
        assert initjob("run", DATABASE_URL=any_server.uri(b), INITJOB_SQL_DIR=str(EXAMPLE_SQL),
                       USE_MIGRATIONS="true").code == 0
        with psycopg.connect(any_server.url(a)) as ca, psycopg.connect(any_server.url(b)) as cb:
            sa, sb = catalog.read_snapshot(ca, ["app"]), catalog.read_snapshot(cb, ["app"])
        assert catalog.describe_differences(sa, sb) == []
        assert catalog.fingerprint(sa) == catalog.fingerprint(sb)
    finally:
        any_server.drop_db(a)
        any_server.drop_db(b)


def test_backup_dir_dumps_before_the_change(db_url: str, chain: Path, tmp_path: Path,
                                            conn: psycopg.Connection[Any]) -> None:
    """With INITJOB_BACKUP_DIR, pg_dump writes a dump before the first change and the marker names it."""
    import shutil

    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    backups = tmp_path / "backups"
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(chain),
                     INITJOB_BACKUP_DIR=str(backups))
    if result.code == 2 and "cannot dump" in result.failure["reason"]:
        pytest.skip("the machine's pg_dump is older than the test server")
    assert result.code == 0, result.stderr
    dump = Path(result.event("marker.dumped")["path"])
    assert dump.parent == backups and dump.stat().st_size > 0
    assert conn.execute("SELECT dump_path FROM initjob.markers").fetchone() == (str(dump),)
    names = result.names()
    assert names.index("marker.dumped") < names.index("migration.applied")


def test_too_old_pg_dump_stops_before_any_change(any_server: Server, chain: Path, tmp_path: Path) -> None:
    """A pg_dump older than the server is a clear exit 2 before anything is applied."""
    import shutil
    import subprocess

    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    major = int(subprocess.run([pg_dump, "--version"], capture_output=True, text=True).stdout.split()[-1]
                .split(".")[0])
    if major >= any_server.major:
        pytest.skip(f"pg_dump {major} can dump PostgreSQL {any_server.major}")
    name = any_server.create_db()
    try:
        result = initjob("run", DATABASE_URL=any_server.uri(name), USE_MIGRATIONS="true",
                         INITJOB_SQL_DIR=str(chain), INITJOB_BACKUP_DIR=str(tmp_path / "b"))
        assert result.code == 2
        assert f"pg_dump {major} cannot dump a PostgreSQL {any_server.major}" in result.failure["reason"]
        assert "migration.applied" not in result.names()
        with psycopg.connect(any_server.url(name)) as c:
            assert c.execute("SELECT to_regclass('public.items')").fetchone() == (None,)
    finally:
        any_server.drop_db(name)


def test_termination_log_gets_the_reason(db_url: str, tmp_path: Path) -> None:
    """On failure the one-line reason also goes to the termination log (Kubernetes shows it)."""
    sql_dir = write_migrations(tmp_path, {"0001_bad.up.sql": "SELEC 1;\n"})
    term = tmp_path / "termination-log"
    term.write_text("")
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                     INITJOB_TERMINATION_LOG=str(term))
    assert result.code == 5
    text = term.read_text()
    assert "migrations/0001_bad.up.sql:1" in text and "exit 5" in text and "troubleshooting.md#exit-5" in text


def test_catalog_churn_without_schema_change_is_not_drift(db_url: str, chain: Path,
                                                          conn: psycopg.Connection[Any]) -> None:
    """VACUUM FULL moves catalog rows (the cheap token changes) but not the schema: still up to date;
    a hand-made comment does change the schema: drift."""
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(chain)}
    assert initjob("run", **env).code == 0
    token = conn.execute("SELECT catalog_token FROM initjob.state").fetchone()
    assert token and token[0]
    conn.execute("VACUUM FULL items")
    assert initjob("verify", **env).code == 0
    conn.execute("COMMENT ON TABLE items IS 'changed by hand'")
    result = initjob("verify", **env)
    assert result.code == 3 and "items" in result.failure["reason"]
