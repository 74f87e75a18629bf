"""Auto-sync on an existing database: shadow build, diff, safe apply, refusal of data loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EXAMPLE_SQL, Server, initjob, write_migrations, write_schema

V1 = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);
CREATE TABLE shop.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES shop.customers (id),
    total_cents integer NOT NULL
);
"""


def sync_env(db_url: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir), **extra}


def columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                        "AND NOT attisdropped ORDER BY attnum", (table,)).fetchall()
    return [r[0] for r in rows]


def shadow_databases(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'initjob_shadow_%'")]


@pytest.fixture
def synced(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> Path:
    sql_dir = write_schema(tmp_path, {"shop.sql": V1})
    assert initjob("run", **sync_env(db_url, sql_dir)).code == 0
    conn.execute("INSERT INTO shop.customers (email) VALUES ('a@example.com')")
    conn.execute("INSERT INTO shop.orders (customer_id, total_cents) VALUES (1, 500)")
    return sql_dir


def test_added_column_and_index_arrive_and_rows_stay(db_url: str, synced: Path,
                                                     conn: psycopg.Connection[Any]) -> None:
    """A new column (in the middle of the file's table) and a new index are applied; rows survive."""
    text = V1.replace("email text NOT NULL)", "name text, email text NOT NULL)") + \
        "CREATE INDEX orders_customer_idx ON shop.orders (customer_id);\n"
    (synced / "schema" / "shop.sql").write_text(text)
    plan = initjob("plan", **sync_env(db_url, synced))
    assert plan.code == 0 and "ADD COLUMN name" in plan.stdout and "CONCURRENTLY" in plan.stdout
    result = initjob("run", **sync_env(db_url, synced))
    assert result.code == 0, result.stderr
    assert "marker.taken" in result.names()
    assert columns(conn, "shop.customers") == ["id", "email", "name"]
    assert conn.execute("SELECT count(*) FROM shop.orders").fetchone() == (1,)
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'shop.orders_customer_idx'::regclass"
                        ).fetchone() == (True,)
    again = initjob("run", **sync_env(db_url, synced))
    assert again.code == 0 and "run.nothing_to_do" in again.names()
    assert initjob("verify", **sync_env(db_url, synced)).code == 0
    assert shadow_databases(conn) == []


def test_dropping_a_column_is_refused_unless_allowed(db_url: str, synced: Path,
                                                     conn: psycopg.Connection[Any]) -> None:
    """A change that loses data is exit 3 with the plan printed; INITJOB_ALLOW_DESTRUCTIVE applies it."""
    (synced / "schema" / "shop.sql").write_text(V1.replace(",\n    total_cents integer NOT NULL", ""))
    refused = initjob("run", **sync_env(db_url, synced))
    assert refused.code == 3
    assert "total_cents" in refused.failure["reason"] and "INITJOB_ALLOW_DESTRUCTIVE" in refused.failure["reason"]
    assert "DROP COLUMN" in refused.failure["plan"]
    assert "total_cents" in columns(conn, "shop.orders")
    assert initjob("verify", **sync_env(db_url, synced)).code == 3
    allowed = initjob("run", **sync_env(db_url, synced, INITJOB_ALLOW_DESTRUCTIVE="true"))
    assert allowed.code == 0, allowed.stderr
    assert columns(conn, "shop.orders") == ["id", "customer_id"]


def test_other_schemas_are_never_touched(db_url: str, synced: Path, conn: psycopg.Connection[Any]) -> None:
    """Objects in a schema that sql/schema does not define stay as they are, even when allowed to drop."""
    conn.execute("CREATE SCHEMA other_app; CREATE TABLE other_app.t (id int); CREATE TABLE public.keep (id int)")
    (synced / "schema" / "shop.sql").write_text(V1 + "CREATE TABLE shop.notes (body text);\n")
    result = initjob("run", **sync_env(db_url, synced, INITJOB_ALLOW_DESTRUCTIVE="true"))
    assert result.code == 0, result.stderr
    assert conn.execute("SELECT to_regclass('other_app.t'), to_regclass('public.keep')").fetchone() == (
        "other_app.t", "keep")


def test_schema_file_error_is_exit_5_and_live_untouched(db_url: str, synced: Path,
                                                        conn: psycopg.Connection[Any]) -> None:
    """An error in the schema files (built in the shadow) is exit 5 naming file and line; live unchanged."""
    (synced / "schema" / "shop.sql").write_text(V1 + "CREATE TABLE shop.broken (id int REFERENCES nowhere);\n")
    result = initjob("run", **sync_env(db_url, synced))
    assert result.code == 5
    assert result.failure["file"] == "schema/shop.sql" and result.failure["line"] == 9
    assert conn.execute("SELECT to_regclass('shop.broken')").fetchone() == (None,)
    assert shadow_databases(conn) == []


def test_hand_drift_is_repaired_or_refused(db_url: str, synced: Path, conn: psycopg.Connection[Any]) -> None:
    """A dropped index comes back; a hand-added column would need a drop, so it is refused (exit 3)."""
    (synced / "schema" / "shop.sql").write_text(V1 + "CREATE INDEX orders_total_idx ON shop.orders (total_cents);\n")
    assert initjob("run", **sync_env(db_url, synced)).code == 0
    conn.execute("DROP INDEX shop.orders_total_idx")
    assert initjob("verify", **sync_env(db_url, synced)).code == 3
    assert initjob("run", **sync_env(db_url, synced)).code == 0
    assert conn.execute("SELECT to_regclass('shop.orders_total_idx')").fetchone() == ("shop.orders_total_idx",)
    conn.execute("ALTER TABLE shop.orders ADD COLUMN sneaky int")
    refused = initjob("run", **sync_env(db_url, synced))
    assert refused.code == 3 and "sneaky" in refused.failure["reason"]


def test_shadow_database_url_for_a_role_without_createdb(server: Server, dbname: str, tmp_path: Path) -> None:
    """A role that may not CREATE DATABASE syncs through INITJOB_SHADOW_DATABASE_URL, left empty after."""
    shadow = server.create_db()
    role = f"app_{dbname[-8:]}"
    try:
        with psycopg.connect(server.url(dbname), autocommit=True) as admin:
            admin.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD \'{role}-pw\' NOCREATEDB')
            admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO "{role}"')
        with psycopg.connect(server.url(shadow), autocommit=True) as admin:
            admin.execute(f'GRANT CREATE ON DATABASE "{shadow}" TO "{role}"')
        url = server.uri(dbname).replace("postgres:" + server.uri(dbname).split(":")[2].split("@")[0],
                                         f"{role}:{role}-pw")
        shadow_url = url.rsplit("/", 1)[0] + "/" + shadow
        sql_dir = write_schema(tmp_path, {"shop.sql": V1})
        assert initjob("run", **sync_env(url, sql_dir)).code == 0
        (sql_dir / "schema" / "shop.sql").write_text(V1 + "CREATE TABLE shop.notes (body text);\n")
        no_shadow = initjob("run", **sync_env(url, sql_dir))
        assert no_shadow.code == 2 and "INITJOB_SHADOW_DATABASE_URL" in no_shadow.failure["reason"]
        result = initjob("run", **sync_env(url, sql_dir, INITJOB_SHADOW_DATABASE_URL=shadow_url))
        assert result.code == 0, result.stderr
        with psycopg.connect(server.url(shadow)) as c:
            assert c.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'shop'").fetchone() == (0,)
    finally:
        server.drop_db(shadow)
        server.drop_db(dbname)
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_verify_against_schema_and_diff(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """verify --against-schema catches a chain that stops short of sql/schema; diff writes the missing step."""
    sql_dir = write_migrations(tmp_path, {"0001_shop.up.sql": V1, "0001_shop.down.sql": "DROP SCHEMA shop CASCADE;"})
    write_schema(tmp_path, {"shop.sql": V1 + "CREATE TABLE shop.notes (body text);\n"})
    env = sync_env(db_url, sql_dir, USE_MIGRATIONS="true")
    result = initjob("verify", "--against-schema", **env)
    assert result.code == 3 and "notes" in result.failure["reason"]
    written = initjob("diff", "add_notes", **env)
    assert written.code == 0, written.stderr
    up = sql_dir / "migrations" / "0002_add_notes.up.sql"
    assert written.stdout.split()[0] == str(up)
    assert "CREATE TABLE shop.notes" in up.read_text()
    assert (sql_dir / "migrations" / "0002_add_notes.down.sql").exists()
    assert initjob("run", **env).code == 0
    assert initjob("verify", "--against-schema", **env).code == 0


def test_example_changes_from_an_earlier_state(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """A database built by the first migrations only is carried to the example's desired state."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(EXAMPLE_SQL, sql_dir)
    for path in sorted((sql_dir / "migrations").glob("*.up.sql"))[:3]:
        conn.execute(path.read_text())
    result = initjob("run", **sync_env(db_url, sql_dir))
    assert result.code == 0, result.stderr
    assert initjob("verify", **sync_env(db_url, sql_dir)).code == 0
    status = json.loads(initjob("status", "--json", **sync_env(db_url, sql_dir)).stdout)
    assert status["up_to_date"] is True and status["mode"] == "auto-sync"


def test_new_enum_label_used_by_a_default(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """ADD VALUE runs outside and before the transaction that uses the new label."""
    v1 = "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE t (id int, m mood NOT NULL DEFAULT 'ok');\n"
    sql_dir = write_schema(tmp_path, {"a.sql": v1})
    assert initjob("run", **sync_env(db_url, sql_dir)).code == 0
    (sql_dir / "schema" / "a.sql").write_text(v1.replace("('ok')", "('ok', 'great')").replace(
        "DEFAULT 'ok'", "DEFAULT 'great'"))
    result = initjob("run", **sync_env(db_url, sql_dir))
    assert result.code == 0, result.stderr
    conn.execute("INSERT INTO t (id) VALUES (1)")
    assert conn.execute("SELECT m::text FROM t").fetchone() == ("great",)


def test_configmap_mount_layout(db_url: str, tmp_path: Path) -> None:
    """A ConfigMap volume's hidden "..<timestamp>" copy of the files is not applied a second time."""
    sql_dir = write_schema(tmp_path, {"a.sql": "CREATE TABLE a (id int);\n"})
    hidden = sql_dir / "schema" / "..2026_11_25_10_00_00.123"
    hidden.mkdir()
    (hidden / "a.sql").write_text("CREATE TABLE a (id int);\n")
    result = initjob("run", **sync_env(db_url, sql_dir))
    assert result.code == 0, result.stderr
    assert result.event("sync.applied")["files"] == 1


def test_sql_ascii_database(server: Server, tmp_path: Path) -> None:
    """A database created with SQL_ASCII encoding is read as text, not bytes."""
    name = "t_sql_ascii_db"
    server.drop_db(name)
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        sql_dir = write_schema(tmp_path, {"a.sql": "CREATE TABLE a (id int, note text DEFAULT 'x');\n"})
        for _ in range(2):
            result = initjob("run", **sync_env(server.uri(name), sql_dir))
            assert result.code == 0, result.stderr
        assert initjob("verify", **sync_env(server.uri(name), sql_dir)).code == 0
    finally:
        server.drop_db(name)


def test_state_recorded_by_an_older_release_is_compared_again(db_url: str, synced: Path,
                                                                conn: psycopg.Connection[Any]) -> None:
    """A snapshot in an older format cannot be read: a hand-made change is then judged against the
    files, never passed as up to date; the state is re-recorded in this release's format."""
    conn.execute("UPDATE initjob.state SET snapshot = jsonb_set(snapshot, '{format}', '1')")
    conn.execute("CREATE INDEX sneaky_idx ON shop.orders (total_cents)")
    again = initjob("run", **sync_env(db_url, synced))
    assert again.code == 0, again.stderr
    assert conn.execute("SELECT to_regclass('shop.sneaky_idx')").fetchone() == (None,)
    assert conn.execute("SELECT snapshot ->> 'format' <> '1' FROM initjob.state").fetchone() == (True,)
    assert initjob("verify", **sync_env(db_url, synced)).code == 0


def test_default_privileges_set_by_hand_are_seen_and_refused(db_url: str, synced: Path,
                                                             conn: psycopg.Connection[Any]) -> None:
    """A kind auto-sync does not manage is never ignored: the no-op's catalog token sees it change,
    verify reports it, and run refuses it by name."""
    conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO PUBLIC")
    verify = initjob("verify", **sync_env(db_url, synced))
    assert verify.code == 3 and "default privileges" in verify.stderr, verify.stderr
    run = initjob("run", **sync_env(db_url, synced))
    assert run.code == 3 and "default privileges" in run.stderr and "not managed" in run.stderr, run.stderr
    conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA shop REVOKE SELECT ON TABLES FROM PUBLIC")
    assert initjob("run", **sync_env(db_url, synced)).code == 0
