"""Repeatable files (``sql/repeatable/*.sql``) in both modes: applied after the schema, re-applied only when changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Result, initjob

Conn = psycopg.Connection[Any]
ITEMS = "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL);\n"
VIEW = "CREATE OR REPLACE VIEW item_titles AS SELECT id, title FROM items;\n"
FN = "CREATE OR REPLACE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM items $$;\n"


def tree(tmp_path: Path, mode: str) -> Path:
    sql_dir = tmp_path / "sql"
    if mode == "migrations":
        (sql_dir / "migrations").mkdir(parents=True)
        (sql_dir / "migrations" / "0001_items.up.sql").write_text(ITEMS)
    else:
        (sql_dir / "schema").mkdir(parents=True)
        (sql_dir / "schema" / "items.sql").write_text(ITEMS)
    (sql_dir / "repeatable").mkdir()
    (sql_dir / "repeatable" / "10_view.sql").write_text(VIEW)
    (sql_dir / "repeatable" / "20_fn.sql").write_text(FN)
    return sql_dir


def run(command: str, db_url: str, sql_dir: Path, mode: str) -> Result:
    return initjob(command, DATABASE_URL=db_url, USE_MIGRATIONS=str(mode == "migrations"),
                   INITJOB_SQL_DIR=str(sql_dir))


def repeated(result: Result) -> list[str]:
    return [e["file"] for e in result.events if e["event"] == "repeatable.applied"]


@pytest.mark.parametrize("mode", ["migrations", "auto-sync"])
def test_applied_once_then_only_when_changed(mode: str, tmp_path: Path, db_url: str, conn: Conn) -> None:
    """After the schema, in lexical order; unchanged: nothing; one changed: that one only; verify agrees."""
    sql_dir = tree(tmp_path, mode)
    first = run("run", db_url, sql_dir, mode)
    assert first.code == 0, first.stderr
    assert repeated(first) == ["repeatable/10_view.sql", "repeatable/20_fn.sql"]
    assert conn.execute("SELECT item_count()").fetchone() == (0,)
    second = run("run", db_url, sql_dir, mode)
    assert second.code == 0 and "run.nothing_to_do" in second.names() and not repeated(second), second.stderr
    (sql_dir / "repeatable" / "20_fn.sql").write_text(FN.replace("count(*)", "count(*) + 0"))
    stale = run("verify", db_url, sql_dir, mode)
    assert stale.code == 3 and "repeatable/20_fn.sql" in stale.failure["reason"], stale.stderr
    planned = run("plan", db_url, sql_dir, mode)
    assert planned.code == 0 and "-- repeatable/20_fn.sql (repeatable)" in planned.stdout, planned.stderr
    assert "10_view" not in planned.stdout
    third = run("run", db_url, sql_dir, mode)
    assert third.code == 0, third.stderr
    assert repeated(third) == ["repeatable/20_fn.sql"]
    assert run("verify", db_url, sql_dir, mode).code == 0, "what the repeatable files made is no drift"
    assert "run.nothing_to_do" in run("run", db_url, sql_dir, mode).names()


@pytest.mark.parametrize("mode", ["migrations", "auto-sync"])
def test_failing_repeatable_is_exit_5(mode: str, tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A failing file rolls back with its row (exit 5, the file named); the next run tries it again."""
    sql_dir = tree(tmp_path, mode)
    assert run("run", db_url, sql_dir, mode).code == 0
    before = conn.execute("SELECT path, checksum FROM initjob.repeatable ORDER BY path").fetchall()
    (sql_dir / "repeatable" / "10_view.sql").write_text(VIEW.replace("title", "no_such_column"))
    failed = run("run", db_url, sql_dir, mode)
    assert failed.code == 5, failed.stderr
    assert failed.failure["file"] == "repeatable/10_view.sql"
    assert conn.execute("SELECT path, checksum FROM initjob.repeatable ORDER BY path").fetchall() == before
    assert run("verify", db_url, sql_dir, mode).code == 3
    (sql_dir / "repeatable" / "10_view.sql").write_text(VIEW.replace("items;", "items WHERE id > 0;"))
    fixed = run("run", db_url, sql_dir, mode)
    assert fixed.code == 0 and repeated(fixed) == ["repeatable/10_view.sql"], fixed.stderr


def test_autosync_keeps_what_repeatables_make(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A schema change does not drop the view a repeatable file makes: the desired state includes it."""
    sql_dir = tree(tmp_path, "auto-sync")
    assert run("run", db_url, sql_dir, "auto-sync").code == 0
    (sql_dir / "schema" / "items.sql").write_text(ITEMS.replace("NOT NULL", "NOT NULL, done boolean"))
    changed = run("run", db_url, sql_dir, "auto-sync")
    assert changed.code == 0, changed.stderr
    assert conn.execute("SELECT to_regclass('item_titles') IS NOT NULL").fetchone() == (True,)
    assert run("verify", db_url, sql_dir, "auto-sync").code == 0
