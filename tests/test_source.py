"""Reading sql/: names, order, normalisation, checksums, and every malformed tree at once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from initjob import sqltext
from initjob.errors import ConfigError
from initjob.source import checksum, normalise, read_migrations, read_schema_files


def tree(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    mig = tmp_path / "sql" / "migrations"
    mig.mkdir(parents=True)
    for name, text in files.items():
        (mig / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return tmp_path / "sql"


def test_numeric_order_across_widths(tmp_path: Path) -> None:
    """Versions sort as numbers: 2 < 0010 < 20261125093000."""
    sql_dir = tree(tmp_path, {"20261125093000_late.up.sql": "SELECT 3;", "0010_mid.up.sql": "SELECT 2;",
                              "2_first.up.sql": "SELECT 1;", "README.md.txt": "ignored"})
    assert [m.label for m in read_migrations(sql_dir, "initjob")] == ["2_first", "0010_mid", "20261125093000_late"]


def test_down_files_pair_and_directive(tmp_path: Path) -> None:
    """A down file pairs with its up file; the no-transaction directive is read from the first line."""
    sql_dir = tree(tmp_path, {"0001_a.up.sql": "SELECT 1;", "0001_a.down.sql": "SELECT 0;",
                              "0002_b.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);"})
    a, b = read_migrations(sql_dir, "initjob")
    assert a.down is not None and a.transactional
    assert b.down is None and not b.transactional


def test_every_problem_listed_at_once(tmp_path: Path) -> None:
    """Bad names, duplicates, orphans, encodings and forbidden statements are all reported in one error."""
    sql_dir = tree(tmp_path, {
        "0001_a.up.sql": "SELECT 1;", "1_dup.up.sql": "SELECT 1;", "bad-name.sql": "SELECT 1;",
        "0003_orphan.down.sql": "SELECT 1;", "0004_latin1.up.sql": b"SELECT '\xe9';",
        "0005_empty.up.sql": "-- nothing here\n", "0006_commit.up.sql": "CREATE TABLE t (); COMMIT;",
        "0007_meta.up.sql": "\\i other.sql\n", "0008_own.up.sql": "DELETE FROM initjob.history;",
        "0009_cic.up.sql": "CREATE INDEX CONCURRENTLY i ON t (x);",
    })
    with pytest.raises(ConfigError) as err:
        read_migrations(sql_dir, "initjob")
    problems = err.value.fields["problems"]
    text = "\n".join(problems)
    for expected in ("duplicate version 1", "bad-name.sql: bad file name", "down file without its up file",
                     "is not UTF-8", "COMMIT would break", "psql meta-command",
                     "touches initjob's own schema", "cannot run inside a transaction"):
        assert expected in text, expected
    assert "0005_empty" not in text  # a file with no statement is a legal no-op
    assert len(problems) == 8


def test_symlink_out_of_tree_is_refused(tmp_path: Path) -> None:
    """A file that links outside the SQL directory is refused."""
    outside = tmp_path / "outside.sql"
    outside.write_text("SELECT 1;")
    sql_dir = tree(tmp_path, {"0001_a.up.sql": "SELECT 1;"})
    (sql_dir / "migrations" / "0002_link.up.sql").symlink_to(outside)
    with pytest.raises(ConfigError, match="leaves the SQL directory"):
        read_migrations(sql_dir, "initjob")


def test_missing_and_empty_dirs(tmp_path: Path) -> None:
    """No migrations directory, or one with no migration, is a configuration error."""
    with pytest.raises(ConfigError):
        read_migrations(tmp_path, "initjob")
    (tmp_path / "migrations").mkdir()
    with pytest.raises(ConfigError, match="holds no migration"):
        read_migrations(tmp_path, "initjob")
    with pytest.raises(ConfigError):
        read_schema_files(tmp_path, "initjob")


def test_schema_files_in_lexical_path_order(tmp_path: Path) -> None:
    """Auto-sync files are read recursively in lexical path order."""
    schema = tmp_path / "schema"
    (schema / "b").mkdir(parents=True)
    (schema / "b" / "x.sql").write_text("SELECT 3;")
    (schema / "a.sql").write_text("SELECT 1;")
    (schema / "b.sql").write_text("SELECT 2;")
    assert [f.path for f in read_schema_files(tmp_path, "initjob")] == ["schema/a.sql", "schema/b.sql",
                                                                        "schema/b/x.sql"]


def test_normalise_bom_and_crlf() -> None:
    """A BOM and CRLF line ends do not change the text or the checksum."""
    assert normalise(b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n") == "SELECT 1;\nSELECT 2;\n"
    assert checksum(normalise(b"A\r\nB")) == checksum(normalise(b"A\nB"))


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
    ("SELECT ';'; SELECT $$;$$;", ["SELECT ';'", "SELECT $$;$$"]),
    ("SELECT $tag$ a; $$ b; $tag$;", ["SELECT $tag$ a; $$ b; $tag$"]),
    ("-- a; comment\nSELECT 1 /* ; /* nested; */ */;", ["SELECT 1 /* ; /* nested; */ */"]),
    ("SELECT E'it\\'s;';", ["SELECT E'it\\'s;'"]),
    ('SELECT 1 AS ";";', ['SELECT 1 AS ";"']),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;"
     " SELECT 3;",
     ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END",
      "SELECT 3"]),
    ("-- only a comment\n", []),
])
def test_split_statements(text: str, expected: list[str]) -> None:
    """Statement boundaries ignore semicolons in quotes, dollar quotes, comments and atomic bodies."""
    assert [s.text for s in sqltext.split_statements(text)] == expected


def test_statement_lines() -> None:
    """Each statement knows its first line, after leading comments."""
    stmts = sqltext.split_statements("SELECT 1;\n\n-- why\nSELECT\n 2;\n")
    assert [s.line for s in stmts] == [1, 4]
    assert sqltext.line_of("a\nb\nc", 3) == 2


@pytest.mark.parametrize(("text", "control"), [
    ("BEGIN", True), ("commit", True), ("END", True), ("ROLLBACK", True), ("START TRANSACTION", True),
    ("SAVEPOINT a", True), ("PREPARE TRANSACTION 'x'", True), ("PREPARE q AS SELECT 1", False),
    ("DO $$ BEGIN PERFORM 1; END $$", False), ("SELECT 1", False),
])
def test_transaction_control(text: str, control: bool) -> None:
    """Statements that would end a file's transaction are recognised; look-alikes are not."""
    (stmt,) = sqltext.split_statements(text)
    assert sqltext.transaction_control(stmt) is control


@pytest.mark.parametrize("text", [
    pytest.param(b"", id="zero-bytes"),
    pytest.param(b"\n  \n", id="whitespace"),
    pytest.param(b"\xef\xbb\xbf", id="bom-only"),
    pytest.param(b"-- nothing yet\n", id="line-comment"),
    pytest.param(b"-- no newline at the end", id="line-comment-no-newline"),
    pytest.param(b"/* a /* nested */ comment; */\r\n", id="block-comment-crlf"),
    pytest.param(b";\n;", id="only-semicolons"),
    pytest.param(b"-- initjob:no-transaction\n", id="no-transaction-directive-only"),
    pytest.param(b"\\restrict Ab1\n\\unrestrict Ab1\n", id="pg-dump-restrict-lines-only"),
])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_file_with_no_statement_is_legal(tmp_path: Path, caplog: pytest.LogCaptureFixture, text: bytes,
                                         direction: str) -> None:
    """An empty or comment-only up or down file is read, checksummed, and named by one warning event."""
    files: dict[str, str | bytes] = {"0001_a.up.sql": "SELECT 1;", "0001_a.down.sql": "SELECT 0;"}
    files[f"0001_a.{direction}.sql"] = text
    sql_dir = tree(tmp_path, files)
    logging.getLogger("initjob").propagate = True  # logs.setup() may have turned it off in this process
    with caplog.at_level(logging.WARNING, logger="initjob"):
        (m,) = read_migrations(sql_dir, "initjob")
    read = m.up if direction == "up" else m.down
    assert read is not None and read.checksum == checksum(read.text)
    warned = [r for r in caplog.records if r.getMessage() == "source.empty_file"]
    assert [r.fields["path"] for r in warned] == [f"migrations/0001_a.{direction}.sql"]  # type: ignore[attr-defined]


def test_empty_schema_file_is_legal(tmp_path: Path) -> None:
    """An empty auto-sync file next to a real one is read like any other."""
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "a.sql").write_text("-- placeholder\n")
    (tmp_path / "schema" / "b.sql").write_text("CREATE TABLE t (id int);\n")
    assert [f.path for f in read_schema_files(tmp_path, "initjob")] == ["schema/a.sql", "schema/b.sql"]


def test_pg_dump_file_reads_with_directives_as_comments(tmp_path: Path) -> None:
    """pg_dump's restrict lines are kept as comments in the text initjob sends; its SET lines stay."""
    (tmp_path / "schema").mkdir()
    dump = ("--\n-- PostgreSQL database dump\n--\n\n\\restrict Xy9\n\nSET statement_timeout = 0;\n"
            "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.t (id integer);\n"
            "\n\\unrestrict Xy9\n")
    (tmp_path / "schema" / "dump.sql").write_text(dump)
    (f,) = read_schema_files(tmp_path, "initjob")
    assert "\n-- \\restrict Xy9\n" in f.text and "\n-- \\unrestrict Xy9\n" in f.text
    assert f.text.count("\n") == dump.count("\n")


def test_copy_from_stdin_refused_with_its_line(tmp_path: Path) -> None:
    """A data section only psql can feed is refused, naming the COPY line, and its rows are not lexed."""
    sql_dir = tree(tmp_path, {"0001_a.up.sql": "CREATE TABLE t (a text);\n\nCOPY t (a) FROM stdin;\nx\\ty\n\\.\n"})
    with pytest.raises(ConfigError) as err:
        read_migrations(sql_dir, "initjob")
    assert err.value.fields["problems"] == [
        "migrations/0001_a.up.sql:3: COPY ... FROM stdin; initjob runs plain SQL only (psql runs it, the server "
        "does not)"]


def test_concurrent_index_in_a_schema_file_is_refused_with_a_remedy_that_works(tmp_path: Path) -> None:
    """The migrations' remedy (a no-transaction file) is refused in sql/schema/: the hint says what is
    accepted there instead."""
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "a.sql").write_text("CREATE TABLE t (b int);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n")
    with pytest.raises(ConfigError) as refused:
        read_schema_files(tmp_path, "initjob")
    text = str(refused.value.fields) + refused.value.reason
    assert "without CONCURRENTLY" in text and "no-transaction" not in text
    (schema / "a.sql").write_text("CREATE TABLE t (b int);\nCREATE INDEX t_b ON t (b);\n")
    assert [f.path for f in read_schema_files(tmp_path, "initjob")] == ["schema/a.sql"]
