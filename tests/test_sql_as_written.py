"""End to end: SQL as other projects write it — empty files, `new` twice, and a pg_dump schema file."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Server, initjob, write_migrations, write_schema

# What pg_dump --schema-only writes around a dump (17.6+ adds the restrict lines), as a file would hold it.
DUMP_HEAD = ("--\n-- PostgreSQL database dump\n--\n\n\\restrict Kq7Zx2\n\n"
             "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\n"
             "SET standard_conforming_strings = on;\n"
             "SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n"
             "SET client_min_messages = warning;\nSET row_security = off;\n\n")
DUMP_BODY = ("CREATE TABLE public.parent (\n    id integer NOT NULL\n);\n\n"
             "ALTER TABLE ONLY public.parent\n    ADD CONSTRAINT parent_pkey PRIMARY KEY (id);\n\n")
DUMP_TAIL = "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict Kq7Zx2\n\n"
# Unqualified names: this file relies on the session's default search_path.
CHILD = "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id));\n"


def history(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT version_text, checksum FROM initjob.history ORDER BY version")]


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def test_empty_up_and_down_files_are_no_ops(tmp_path: Path, db_url: str, conn: psycopg.Connection[Any]) -> None:
    """Empty and comment-only files apply as recorded no-ops and roll back as no-ops, with a warning each."""
    sql_dir = write_migrations(tmp_path, {
        "0001_t.up.sql": "CREATE TABLE t (id int);\n", "0001_t.down.sql": "DROP TABLE t;\n",
        "0002_nothing.up.sql": "", "0002_nothing.down.sql": "-- nothing to undo\n",
        "0003_later.up.sql": "-- initjob:no-transaction\n/* written later */\n", "0003_later.down.sql": "",
    })
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    first = initjob("run", **env)
    assert first.code == 0, first.stderr
    assert sorted(e["path"] for e in first.events if e["event"] == "source.empty_file") == [
        "migrations/0002_nothing.down.sql", "migrations/0002_nothing.up.sql",
        "migrations/0003_later.down.sql", "migrations/0003_later.up.sql"]
    empty = hashlib.sha256(b"").hexdigest()
    later = hashlib.sha256(b"-- initjob:no-transaction\n/* written later */\n").hexdigest()
    assert [v for v, _ in history(conn)] == ["0001", "0002", "0003"]
    assert history(conn)[1:] == [("0002", empty), ("0003", later)]
    assert initjob("verify", **env).code == 0
    back = initjob("rollback", "--steps", "2", **env)
    assert back.code == 0, back.stderr
    assert [v for v, _ in history(conn)] == ["0001"] and tables(conn) == ["t"]
    again = initjob("run", **env)
    assert again.code == 0, again.stderr
    assert [v for v, _ in history(conn)] == ["0001", "0002", "0003"]
    assert initjob("rollback", "--steps", "3", **env).code == 0
    assert history(conn) == [] and tables(conn) == []


def test_new_works_any_number_of_times(tmp_path: Path, db_url: str) -> None:
    """`new` after `new` succeeds (the templates it writes are legal), and the result runs."""
    sql_dir = tmp_path / "sql"
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    for name in ("a", "b", "c"):
        made = initjob("new", name, **env)
        assert made.code == 0, made.stderr
    ups = sorted(p.name for p in (sql_dir / "migrations").glob("*.up.sql"))
    assert [n.split("_", 1)[1] for n in ups] == ["a.up.sql", "b.up.sql", "c.up.sql"]
    ran = initjob("run", **env)
    assert ran.code == 0, ran.stderr
    assert ran.event("run.finished")["applied"] == 3


def test_pg_dump_schema_file_then_default_search_path(tmp_path: Path, db_url: str,
                                                      conn: psycopg.Connection[Any]) -> None:
    """A pg_dump schema file loads as is, and the next file still sees the default search_path."""
    sql_dir = write_schema(tmp_path, {"00_dump.sql": DUMP_HEAD + DUMP_BODY + DUMP_TAIL, "10_child.sql": CHILD})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    fresh = initjob("run", **env)  # a fresh database: every file in one transaction, one session
    assert fresh.code == 0, fresh.stderr
    assert tables(conn) == ["child", "parent"]
    assert initjob("verify", **env).code == 0
    # A changed file goes through the shadow database, where the files also run in one session.
    (sql_dir / "schema" / "10_child.sql").write_text(CHILD.replace(");\n", ", note text);\n"))
    synced = initjob("run", **env)
    assert synced.code == 0, synced.stderr
    assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'child'"
                        ).fetchone() == (3,)
    assert initjob("verify", **env).code == 0


def test_pg_dump_migration_then_default_search_path(tmp_path: Path, db_url: str,
                                                    conn: psycopg.Connection[Any]) -> None:
    """In migrations mode too, the migration after a pg_dump one runs with the default search_path."""
    sql_dir = write_migrations(tmp_path, {"0001_dump.up.sql": DUMP_HEAD + DUMP_BODY + DUMP_TAIL,
                                          "0002_child.up.sql": CHILD})
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 0, result.stderr
    assert tables(conn) == ["child", "parent"]


# Fails the file it is in when a setting a pg_dump file made has leaked into it.
NOTHING_LEAKED = """DO $$BEGIN
  IF current_setting('lock_timeout') = '0' OR current_setting('statement_timeout') <> '0'
     OR current_setting('check_function_bodies') <> 'on' OR current_setting('row_security') <> 'on' THEN
    RAISE EXCEPTION 'a setting leaked: lock_timeout=% check_function_bodies=% row_security=%',
      current_setting('lock_timeout'), current_setting('check_function_bodies'), current_setting('row_security');
  END IF;
END$$;
"""


@pytest.mark.parametrize("mode", ["auto-sync", "migrations"])
def test_settings_of_a_pg_dump_file_do_not_leak_into_the_next(tmp_path: Path, db_url: str, mode: str) -> None:
    """pg_dump's SET lock_timeout = 0 (and the rest) stays in its file: the next file runs under
    initjob's DDL lock timeout and the server's defaults, in both modes and in the shadow build."""
    dump = DUMP_HEAD + DUMP_BODY + DUMP_TAIL
    if mode == "migrations":
        sql_dir = write_migrations(tmp_path, {"0001_dump.up.sql": dump, "0002_check.up.sql": NOTHING_LEAKED})
        env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir), "USE_MIGRATIONS": "true"}
    else:
        sql_dir = write_schema(tmp_path, {"00_dump.sql": dump, "10_check.sql": NOTHING_LEAKED})
        env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    result = initjob("run", **env)
    assert result.code == 0, result.stderr
    if mode == "auto-sync":  # a changed tree is built in the shadow database, one session again
        # There the server's own lock_timeout (0) is right: only the other settings can tell a leak.
        shadow_check = NOTHING_LEAKED.replace("current_setting('lock_timeout') = '0' OR ", "")
        (sql_dir / "schema" / "10_check.sql").write_text(shadow_check + CHILD)
        result = initjob("run", **env)
        assert result.code == 0, result.stderr


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs the pg_dump client")
def test_real_pg_dump_output_loads(tmp_path: Path, server: Server, db_url: str, conn: psycopg.Connection[Any]
                                   ) -> None:
    """What this machine's pg_dump --schema-only writes of a database loads as a schema file as is."""
    source_db = server.create_db()
    try:
        with psycopg.connect(server.url(source_db), autocommit=True) as src:
            src.execute("CREATE SCHEMA app; CREATE TABLE app.parent (id int PRIMARY KEY, body text DEFAULT ';');"
                        "CREATE FUNCTION app.f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$;"
                        "CREATE VIEW app.v AS SELECT id FROM app.parent WHERE body <> ';'")
        dump = subprocess.run(["pg_dump", "--schema-only", "--no-owner", server.uri(source_db)],
                              capture_output=True, text=True, check=False)
        if dump.returncode != 0:
            pytest.skip(f"pg_dump cannot dump this server: {dump.stderr.strip()[:200]}")
    finally:
        server.drop_db(source_db)
    sql_dir = write_schema(tmp_path, {"00_dump.sql": dump.stdout,
                                      "10_more.sql": "CREATE TABLE child (id int REFERENCES app.parent (id));\n"})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    result = initjob("run", **env)
    assert result.code == 0, result.stderr
    assert tables(conn) == ["child"]
    assert initjob("verify", **env).code == 0


def test_rollback_stopped_by_a_broken_down_records_what_it_did(tmp_path: Path, db_url: str,
                                                               conn: psycopg.Connection[Any]) -> None:
    """Downs that committed before a failing one are recorded: the next run re-applies them, no drift."""
    sql_dir = write_migrations(tmp_path, {
        "0001_a.up.sql": "CREATE TABLE a (id int);\n", "0001_a.down.sql": "DROP TABLE not_there;\n",
        "0002_b.up.sql": "CREATE TABLE b (id int);\n", "0002_b.down.sql": "DROP TABLE b;\n",
    })
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    back = initjob("rollback", "--steps", "2", **env)
    assert back.code == 5 and back.failure["file"] == "migrations/0001_a.down.sql"
    assert tables(conn) == ["a"]
    again = initjob("run", **env)
    assert again.code == 0, again.stderr
    assert tables(conn) == ["a", "b"]
    assert initjob("verify", **env).code == 0


TYPED_DUMP_BODY = ("CREATE TYPE public.mood AS ENUM ('ok', 'sad');\n\n"
                   "CREATE TABLE public.feeling (\n    id integer NOT NULL,\n"
                   "    mood public.mood DEFAULT 'ok'::public.mood NOT NULL\n);\n\n"
                   "CREATE VIEW public.happy AS\n SELECT id FROM public.feeling WHERE (mood = 'ok'::public.mood);\n\n")


def test_pg_dump_file_alone_or_last(tmp_path: Path, db_url: str) -> None:
    """A dump as the only (so last) file: what initjob reads and records afterwards sees the default path."""
    dump = DUMP_HEAD + TYPED_DUMP_BODY + DUMP_TAIL
    sql_dir = write_schema(tmp_path, {"dump.sql": dump})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    assert initjob("verify", **env).code == 0
    again = initjob("run", **env)
    assert again.code == 0 and "sync.drift" not in again.names(), again.stderr
    (sql_dir / "schema" / "dump.sql").write_text(dump.replace("    id integer NOT NULL,\n",
                                                              "    id integer NOT NULL,\n    note text,\n"))
    synced = initjob("run", **env)
    assert synced.code == 0, synced.stderr
    assert initjob("verify", **env).code == 0


def test_pg_dump_migration_last(tmp_path: Path, db_url: str) -> None:
    """A dump as the newest migration: the state recorded after it matches what verify reads."""
    sql_dir = write_migrations(tmp_path, {"0001_a.up.sql": "CREATE TABLE a (id int);\n",
                                          "0002_dump.up.sql": DUMP_HEAD + TYPED_DUMP_BODY + DUMP_TAIL})
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    assert initjob("verify", **env).code == 0
    assert initjob("run", **env).code == 0
