"""Other tools' layouts read into initjob's migrations, and their history rows interpreted: tables, no database."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from initjob import discover, layouts
from initjob.errors import ConfigError, ForeignHistoryMismatch, SqlTreeInvalid
from initjob.layouts import reading
from initjob.layouts.flyway import flyway_checksum, flyway_key
from initjob.layouts.reading import Chain
from initjob.state import ForeignHistory, ForeignVersion


def read_chain(sql_dir: Path, tool: str) -> Chain:
    return reading.read_chain(sql_dir, layouts.get(tool), "initjob", layouts.others(tool))


def rows_of(tool: str, rows: list[tuple[object, ...]]) -> ForeignHistory:
    return layouts.get(tool).interpret("t", rows)


def tree(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = tmp_path / "sql" / "migrations" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return tmp_path / "sql"


@pytest.mark.parametrize(("lower", "higher"), [
    ("1", "2"), ("1", "1.1"), ("1.1", "1.2"), ("1.2", "1.10"), ("1_2_3", "1.2.4"), ("1.9.9.9.9", "2"),
    ("20260101120000", "20260101120001"), ("0.9", "1"),
])
def test_flyway_versions_sort_as_flyway_sorts_them(lower: str, higher: str) -> None:
    """Part by part, numerically: 1.10 comes after 1.2, and a dotted version after its prefix."""
    low, high = flyway_key(lower), flyway_key(higher)
    assert low is not None and high is not None and low < high


@pytest.mark.parametrize(("a", "b"), [("1", "1.0"), ("1.2", "1_2"), ("3.0.0", "3")])
def test_flyway_equal_versions(a: str, b: str) -> None:
    """Trailing zero parts and the separator do not make another version (Flyway calls them duplicates)."""
    assert flyway_key(a) == flyway_key(b)


@pytest.mark.parametrize("text", ["1.2.3.4.5.6", "1.1234567"])
def test_flyway_version_out_of_range(text: str) -> None:
    """More parts or wider parts than the integer mapping holds are refused, never folded together."""
    assert flyway_key(text) is None


@pytest.mark.parametrize(("raw", "lines"), [
    (b"SELECT 1;\nSELECT 2;\n", [b"SELECT 1;", b"SELECT 2;"]),
    (b"SELECT 1;\r\nSELECT 2;", [b"SELECT 1;", b"SELECT 2;"]),
    (b"\xef\xbb\xbfSELECT 1;\rSELECT 2;\n", [b"SELECT 1;", b"SELECT 2;"]),
])
def test_flyway_checksum_is_crc32_of_lines(raw: bytes, lines: list[bytes]) -> None:
    """CRC32 over the lines without their ends (BOM dropped), as a signed 32-bit integer: line ends do not count."""
    crc = zlib.crc32(b"".join(lines))
    assert flyway_checksum(raw) == str(crc - (1 << 32) if crc >= 1 << 31 else crc)


def test_flyway_layout(tmp_path: Path) -> None:
    """V files by version order, U files as their downs, R files left to the repeatable reader."""
    sql = tree(tmp_path, {"V1__init.sql": "CREATE TABLE a (id int);\n", "V1.10__late.sql": "SELECT 1;\n",
                          "V1.2__mid.sql": "SELECT 2;\n", "U1.2__mid.sql": "SELECT 3;\n",
                          "R__views.sql": "CREATE OR REPLACE VIEW v AS SELECT 1 AS x;\n"})
    chain = read_chain(sql, "flyway")
    assert [m.version_text for m in chain.migrations] == ["1", "1.2", "1.10"]
    assert [m.name for m in chain.migrations] == ["init", "mid", "late"]
    assert chain.migrations[1].down is not None and chain.migrations[1].down.text == "SELECT 3;\n"
    assert chain.tool_checksums[chain.migrations[0].version] == flyway_checksum(b"CREATE TABLE a (id int);\n")
    repeatables = reading.read_repeatables(sql, discover.repeatable_paths(sql, "flyway"), "initjob")
    assert [f.path for f in repeatables] == ["migrations/R__views.sql"]
    assert discover.detect(sql) == "flyway"


def test_flyway_non_transactional_statement(tmp_path: Path) -> None:
    """Flyway marks nothing: a file whose statement cannot run in a transaction runs outside one."""
    sql = tree(tmp_path, {"V1__t.sql": "CREATE TABLE t (id int);\n",
                          "V2__idx.sql": "CREATE INDEX CONCURRENTLY t_idx ON t (id);\n"})
    assert [m.transactional for m in read_chain(sql, "flyway").migrations] == [True, False]


@pytest.mark.parametrize(("files", "problem"), [
    ({"V1__a.sql": "SELECT 1;\n", "V1.0__b.sql": "SELECT 2;\n"}, "duplicate version"),
    ({"V1__a.sql": "SELECT 1;\n", "U2__b.sql": "SELECT 2;\n"}, "undo file without its V file"),
    ({"V1__a.sql": "SELECT 1;\n", "init.sql": "SELECT 2;\n"}, "bad file name"),
])
def test_flyway_problems(tmp_path: Path, files: dict[str, str | bytes], problem: str) -> None:
    """Every bad file is reported at once, as for initjob's own layout (exit 2)."""
    with pytest.raises(SqlTreeInvalid, match=problem):
        read_chain(tree(tmp_path, files), "flyway")


def test_golang_migrate_layout_unwraps_begin_commit(tmp_path: Path) -> None:
    """Its own BEGIN; … COMMIT; is blanked (initjob wraps each file), positions and lines kept."""
    up = "-- add items\nBEGIN;\nCREATE TABLE items (id int);\nCOMMIT;\n"
    sql = tree(tmp_path, {"000001_items.up.sql": up, "000001_items.down.sql": "DROP TABLE items;\n"})
    (m,) = read_chain(sql, "golang-migrate").migrations
    assert (m.version, m.name, m.transactional) == (1, "items", True)
    assert "BEGIN" not in m.up.text and "COMMIT" not in m.up.text and len(m.up.text) == len(up)
    assert m.up.text.split("\n")[2] == "CREATE TABLE items (id int);"
    assert m.down is not None


DBMATE = """-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY a_idx ON a (id);

-- migrate:down
DROP INDEX a_idx;
"""
GOOSE = """-- +goose NO TRANSACTION
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION f();
"""


@pytest.mark.parametrize(("tool", "text", "transactional"), [
    ("dbmate", DBMATE, False),
    ("dbmate", DBMATE.replace(" transaction:false", "").replace("CONCURRENTLY ", ""), True),
    ("goose", GOOSE, False),
    ("goose", GOOSE.replace("-- +goose NO TRANSACTION\n", ""), True),
])
def test_one_file_layouts(tmp_path: Path, tool: str, text: str, transactional: bool) -> None:
    """Up and down sections of one file, the file's line numbers kept, and the tool's no-transaction option."""
    sql = tree(tmp_path, {"20260101000000_first.sql": text})
    (m,) = read_chain(sql, tool).migrations
    assert (m.version_text, m.name, m.transactional) == ("20260101000000", "first", transactional)
    lines = text.split("\n")
    first_sql = next(i for i, line in enumerate(lines) if line.startswith("CREATE"))
    assert m.up.text.split("\n")[first_sql] == lines[first_sql]
    assert "DROP" not in m.up.text
    assert m.down is not None and "DROP" in m.down.text
    assert discover.detect(sql) == tool


@pytest.mark.parametrize(("tool", "text", "problem"), [
    ("dbmate", "CREATE TABLE a (id int);\n", "expected one up marker"),
    ("dbmate", "-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n", "expected one up marker"),
    ("goose", "-- +goose ENVSUB ON\n-- +goose Up\nSELECT '${X}';\n", "ENVSUB"),
    ("dbmate", "-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (a);\n", "add transaction:false"),
    ("goose", "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n", "NO TRANSACTION"),
])
def test_one_file_problems(tmp_path: Path, tool: str, text: str, problem: str) -> None:
    """A file without its up marker, markers out of order, or a goose feature initjob cannot honour."""
    with pytest.raises(SqlTreeInvalid, match=problem):
        read_chain(tree(tmp_path, {"1_a.sql": text}), tool)


def test_prisma_layout(tmp_path: Path) -> None:
    """<timestamp>_<name>/migration.sql, with the sha256 Prisma records; its lock file is not a migration."""
    raw = b"-- CreateTable\nCREATE TABLE \"User\" (id serial PRIMARY KEY);\n"
    sql = tree(tmp_path, {"20260101000000_init/migration.sql": raw, "migration_lock.toml": 'provider = "postgresql"\n'})
    chain = read_chain(sql, "prisma")
    (m,) = chain.migrations
    assert (m.version, m.name, m.up.path) == (20260101000000, "init", "migrations/20260101000000_init/migration.sql")
    assert chain.tool_checksums[m.version] == reading.sha256(raw)
    assert discover.detect(sql) == "prisma"
    assert ("20260101000000_init/migration.sql", str(sql / "migrations/20260101000000_init/migration.sql")) in \
        discover.migration_paths(sql / "migrations", "prisma")


@pytest.mark.parametrize(("files", "found"), [
    ({"0001_a.up.sql": "SELECT 1;\n"}, "initjob"),
    ({}, "initjob"),
])
def test_detect(tmp_path: Path, files: dict[str, str | bytes], found: str) -> None:
    """initjob's layout (golang-migrate's names too: taking over its table needs the setting)."""
    (tmp_path / "sql" / "migrations").mkdir(parents=True)
    assert discover.detect(tree(tmp_path, files)) == found


def test_detect_refuses_a_mix(tmp_path: Path) -> None:
    """Two layouts in one directory: the operator must say which (exit 2)."""
    with pytest.raises(ConfigError, match="mixes layouts"):
        discover.detect(tree(tmp_path, {"V1__a.sql": "SELECT 1;\n", "0002_b.up.sql": "SELECT 1;\n"}))


# ------------------------------------------------------------------ the tools' history rows


def test_flyway_rows() -> None:
    """A baseline stands for what is below it, an undo unapplies, a repeatable row is left to initjob."""
    rows = [("1", "<< Flyway Baseline >>", "BASELINE", None, True), ("2", "a", "SQL", "123", True),
            ("3", "b", "SQL", "456", True), ("3", "b", "UNDO_SQL", "789", True), (None, "views", "SQL", "9", True)]
    got = layouts.get("flyway").interpret("public.flyway_schema_history", rows)
    key = flyway_key
    assert got.up_to == key("1")
    assert got.versions == (ForeignVersion(key("2") or 0, "2", "123"),)
    assert not got.broken


def test_flyway_failed_row_is_broken() -> None:
    """A failed row: Flyway itself stops there until repair."""
    got = rows_of("flyway", [("1", "a", "SQL", "1", True), ("2", "b", "SQL", "2", False)])
    assert len(got.broken) == 1 and "V2 (b)" in got.broken[0] and "flyway repair" in got.broken[0]


@pytest.mark.parametrize(("rows", "versions", "up_to", "broken"), [
    ([], (), None, 0),
    ([("-1", False)], (), None, 0),
    ([("3", False)], (3,), 3, 0),
    ([("3", True)], (3,), 3, 1),
])
def test_golang_migrate_rows(rows: list[tuple[str, bool]], versions: tuple[int, ...], up_to: int | None,
                             broken: int) -> None:
    """One row, the current version: all up to it applied; dirty is broken."""
    got = rows_of("golang-migrate", rows)
    assert (tuple(v.version for v in got.versions), got.up_to, len(got.broken)) == (versions, up_to, broken)


def test_goose_rows() -> None:
    """The last row of a version decides; version 0 is goose's own starting row."""
    got = rows_of("goose", [("0", True), ("1", True), ("2", True), ("2", False), ("3", True)])
    assert [v.version for v in got.versions] == [1, 3]


def test_prisma_rows() -> None:
    """Finished and not rolled back is applied; a rolled-back attempt followed by a finished one too; an
    unfinished one is broken."""
    got = rows_of("prisma", [("1_a", "s1", True, False), ("2_b", "s2", False, True), ("2_b", "s2", True, False),
                             ("3_c", "s3", False, False)])
    assert [(v.version, v.checksum) for v in got.versions] == [(1, "s1"), (2, "s2")]
    assert len(got.broken) == 1 and "3_c" in got.broken[0]


def test_dbmate_rows() -> None:
    assert [v.version for v in rows_of("dbmate", [("20260101000000",), ("20260102000000",)]).versions] == [
        20260101000000, 20260102000000]


def test_format_setting() -> None:
    """Unset is detection; a tool's name in any case is that tool; anything else is exit 2 naming the choices."""
    from initjob.config import load_config

    assert load_config(["run"], {}).mode.migrations_format == "auto"
    assert load_config(["run"], {"INITJOB_MIGRATIONS_FORMAT": "Flyway"}).mode.migrations_format == "flyway"
    with pytest.raises(ConfigError, match="INITJOB_MIGRATIONS_FORMAT must be one of initjob, flyway"):
        load_config(["run"], {"INITJOB_MIGRATIONS_FORMAT": "liquibase"})


@pytest.mark.parametrize(("files", "fits"), [
    # golang-migrate allows dots in a title; initjob's names do not (and sqlx reads .up.sql names too)
    ({f"{n}_add.col{n}.up.sql": "SELECT 1;\n" for n in range(1, 38)} | {"1_add.col1.down.sql": "SELECT 1;\n"},
     ["golang-migrate", "sqlx"]),
    ({"1_init.sql": "CREATE TABLE a (id int);\n", "2_more.sql": "SELECT 1;\n"}, ["sqlx"]),
    ({"V1__init.sql": "SELECT 1;\n", "0002_b.up.sql": "SELECT 1;\n"}, None),
])
def test_names_of_another_tool_get_one_line_naming_it(tmp_path: Path, files: dict[str, str | bytes],
                                                       fits: list[str] | None) -> None:
    """Names that are not initjob's but fit other tools' layouts: one problem naming them and the setting."""
    with pytest.raises(SqlTreeInvalid) as caught:
        read_chain(tree(tmp_path, files), "initjob")
    if fits is None:
        assert "bad file name" in str(caught.value)
        return
    assert len(caught.value.fields["problems"]) == 1, caught.value
    assert caught.value.fields["fits"] == fits
    assert f"INITJOB_MIGRATIONS_FORMAT={fits[0]}" in caught.value.hint if len(fits) == 1 else \
        " or ".join(fits) in caught.value.hint


def test_the_wrong_setting_names_the_right_tool(tmp_path: Path) -> None:
    """A Flyway chain read as dbmate's: the one problem names Flyway."""
    with pytest.raises(SqlTreeInvalid, match="fit flyway's layout") as caught:
        read_chain(tree(tmp_path, {"V1__a.sql": "SELECT 1;\n", "V2__b.sql": "SELECT 1;\n"}), "prisma")
    assert "INITJOB_MIGRATIONS_FORMAT=flyway" in caught.value.hint


def test_diesel_layout(tmp_path: Path) -> None:
    """<version>_<name>/up.sql and down.sql; the version without its dashes, as diesel records it; metadata.toml
    may run a migration outside a transaction; every file of a folder is hashed."""
    sql = tree(tmp_path, {"00000000000000_diesel_initial_setup/up.sql": "SELECT 1;\n",
                          "00000000000000_diesel_initial_setup/down.sql": "SELECT 2;\n",
                          "2024-01-15-143022_create_users/up.sql": "CREATE TABLE users (id int);\n",
                          "2024-01-15-143022_create_users/down.sql": "DROP TABLE users;\n",
                          "2024-02-01-000000_idx/up.sql": "CREATE INDEX CONCURRENTLY i ON users (id);\n",
                          "2024-02-01-000000_idx/metadata.toml": "run_in_transaction = false\n"})
    chain = read_chain(sql, "diesel")
    assert [(m.version, m.version_text, m.name, m.transactional) for m in chain.migrations] == [
        (0, "00000000000000", "diesel_initial_setup", True), (20240115143022, "20240115143022", "create_users", True),
        (20240201000000, "20240201000000", "idx", False)]
    assert chain.migrations[1].down is not None and chain.migrations[2].down is None
    assert discover.detect(sql) == "diesel"
    assert [rel for rel, _ in discover.migration_paths(sql / "migrations", "diesel")] == [
        "00000000000000_diesel_initial_setup/down.sql", "00000000000000_diesel_initial_setup/up.sql",
        "2024-01-15-143022_create_users/down.sql", "2024-01-15-143022_create_users/up.sql",
        "2024-02-01-000000_idx/metadata.toml", "2024-02-01-000000_idx/up.sql"]


def test_diesel_no_transaction_needs_its_metadata(tmp_path: Path) -> None:
    """A statement that cannot run in a transaction names diesel's own switch."""
    with pytest.raises(SqlTreeInvalid, match="run_in_transaction = false"):
        read_chain(tree(tmp_path, {"1_idx/up.sql": "CREATE INDEX CONCURRENTLY i ON t (a);\n"}), "diesel")


def test_sqlx_layout(tmp_path: Path) -> None:
    """Simple and reversible files; the sha384 of the file as written; -- no-transaction honoured."""
    raw = b"CREATE TABLE a (id int);\r\n"
    sql = tree(tmp_path, {"20260101000000_create_a.sql": raw,
                          "20260102000000_b.up.sql": "CREATE TABLE b (id int);\n",
                          "20260102000000_b.down.sql": "DROP TABLE b;\n",
                          "20260103000000_idx.sql": "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON a (id);\n"})
    chain = read_chain(sql, "sqlx")
    assert [(m.version, m.name, m.transactional, m.down is not None) for m in chain.migrations] == [
        (20260101000000, "create_a", True, False), (20260102000000, "b", True, True), (20260103000000, "idx", False,
                                                                                        False)]
    assert chain.tool_checksums[20260101000000] == hashlib.sha384(raw).hexdigest()
    assert discover.detect(sql) == "initjob", "its names are anyone's: only the setting says sqlx"


def test_sqlx_rows() -> None:
    """success = false is sqlx's dirty migration: broken; the checksum is read for the comparison."""
    got = rows_of("sqlx", [("1", "ab", True, "a"), ("2", "cd", False, "b")])
    assert [(v.version, v.checksum) for v in got.versions] == [(1, "ab"), (2, "cd")]
    assert len(got.broken) == 1 and "dirty" in got.broken[0]


def test_every_layout_is_registered_once() -> None:
    """Config's choices are the registry's names; each has a reader, and a table unless it is initjob's."""
    from initjob.config import MIGRATIONS_FORMATS

    assert MIGRATIONS_FORMATS == layouts.NAMES == tuple(lay.name for lay in layouts.layouts())
    for name in layouts.NAMES:
        lay = layouts.get(name)
        assert type(lay).read is not layouts.Layout.read or name == "initjob"
        assert (lay.table is None) == (name == "initjob")


SQITCH_PLAN = """%syntax-version=1.0.0
%project=flipr
%uri=https://example.com/flipr/

appschema 2013-12-30T23:19:38Z Marge N. O'Vera <marge@example.com> # Add schema for all flipr objects.
users [appschema] 2013-12-30T23:49:00Z Marge N. O'Vera <marge@example.com> # Creates table to track our users.
@v1.0.0-dev1 2013-12-31T00:18:34Z Marge N. O'Vera <marge@example.com> # Tag v1.0.0-dev1.

users [users@v1.0.0-dev1] 2014-01-02T10:00:00Z Marge N. O'Vera <marge@example.com># Adds a column.
"""


def sqitch_tree(tmp_path: Path) -> Path:
    return tree(tmp_path, {
        "sqitch.plan": SQITCH_PLAN, "sqitch.conf": "[core]\n\tengine = pg\n",
        "deploy/appschema.sql": "-- Deploy flipr:appschema to pg\n\nBEGIN;\n\nCREATE SCHEMA flipr;\n\nCOMMIT;\n",
        "revert/appschema.sql": "BEGIN;\nDROP SCHEMA flipr;\nCOMMIT;\n",
        "verify/appschema.sql": "BEGIN;\nSELECT pg_catalog.has_schema_privilege('flipr', 'usage');\nROLLBACK;\n",
        "deploy/users@v1.0.0-dev1.sql": "BEGIN;\nCREATE TABLE flipr.users (nickname text PRIMARY KEY);\nCOMMIT;\n",
        "revert/users@v1.0.0-dev1.sql": "BEGIN;\nDROP TABLE flipr.users;\nCOMMIT;\n",
        "deploy/users.sql": "BEGIN;\nALTER TABLE flipr.users ADD COLUMN twitter text;\nCOMMIT;\n",
        "revert/users.sql": "BEGIN;\nALTER TABLE flipr.users DROP COLUMN twitter;\nCOMMIT;\n",
        "verify/users.sql": "BEGIN;\nSELECT nickname, twitter FROM flipr.users WHERE FALSE;\nROLLBACK;\n",
    })


def test_sqitch_layout(tmp_path: Path) -> None:
    """The plan's order; a reworked change's earlier scripts by its tag; the verify script after the deploy;
    the scripts' own BEGIN/COMMIT/ROLLBACK blanked, lines kept; every script and the plan hashed."""
    sql = sqitch_tree(tmp_path)
    chain = read_chain(sql, "sqitch")
    assert [(m.version, m.name, m.up.path) for m in chain.migrations] == [
        (1, "appschema", "migrations/deploy/appschema.sql"), (2, "users", "migrations/deploy/users@v1.0.0-dev1.sql"),
        (3, "users", "migrations/deploy/users.sql")]
    first = chain.migrations[0]
    assert "BEGIN" not in first.up.text and "COMMIT" not in first.up.text and "ROLLBACK" not in first.up.text
    assert first.up.text.split("\n")[4] == "CREATE SCHEMA flipr;" and "has_schema_privilege" in first.up.text
    assert first.down is not None and "DROP SCHEMA flipr" in first.down.text
    assert discover.detect(sql) == "sqitch"
    hashed = [rel for rel, _ in discover.migration_paths(sql / "migrations", "sqitch")]
    assert "sqitch.plan" in hashed and "verify/users.sql" in hashed and "deploy/users@v1.0.0-dev1.sql" in hashed


@pytest.mark.parametrize(("plan", "problem"), [
    ("%project=x\n\nnope\n", "sqitch.plan:3: a change line"),
    ("%project=x\n-a 2013-12-30T23:19:38Z M <m@x>\n", "a revert entry"),
    ("%project=x\nmissing 2013-12-30T23:19:38Z M <m@x>\n", "has no deploy/missing.sql"),
])
def test_sqitch_problems(tmp_path: Path, plan: str, problem: str) -> None:
    with pytest.raises(SqlTreeInvalid, match=problem):
        read_chain(tree(tmp_path, {"sqitch.plan": plan}), "sqitch")


def test_sqitch_changes_match_the_plan_in_order(tmp_path: Path) -> None:
    """The registry's deployed changes are the plan's first ones; another order is a mismatch."""
    chain = read_chain(sqitch_tree(tmp_path), "sqitch").migrations
    lay = layouts.get("sqitch")
    got = lay.interpret_with("sqitch.changes", [("appschema", "t1"), ("users", "t2")], chain)
    assert [v.version for v in got.versions] == [1, 2]
    with pytest.raises(ForeignHistoryMismatch, match=r"where sqitch\.plan has appschema"):
        lay.interpret_with("sqitch.changes", [("users", "t1")], chain)


def test_a_typo_in_an_initjob_chain_is_not_advice(tmp_path: Path) -> None:
    """One name without its direction among initjob's: a bad file name, not 'set the format to sqlx'
    (`sqlx migrate add` will not mix simple and reversible files either)."""
    with pytest.raises(SqlTreeInvalid, match=r"0002_add\.sql: bad file name") as caught:
        read_chain(tree(tmp_path, {"0001_init.up.sql": "SELECT 1;\n", "0002_add.sql": "SELECT 1;\n"}), "initjob")
    assert "fits" not in caught.value.fields
