"""The splitter: statement boundaries where psql puts them, line numbers, and what only psql can run."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from initjob import sqltext


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("SELECT 1; SELECT 2", ["SELECT 1", "SELECT 2"], id="no-final-semicolon"),
    pytest.param("SELECT $$a;b$$; SELECT 2;", ["SELECT $$a;b$$", "SELECT 2"], id="dollar-quote"),
    pytest.param("SELECT $fn$ a; $$ b; $x$ c; $fn$;", ["SELECT $fn$ a; $$ b; $x$ c; $fn$"], id="dollar-tag"),
    pytest.param("SELECT $1; SELECT a$b$c;", ["SELECT $1", "SELECT a$b$c"], id="dollar-not-a-quote"),
    pytest.param("SELECT 1 /* a; /* b; */ c; */; SELECT 2;", ["SELECT 1 /* a; /* b; */ c; */", "SELECT 2"],
                 id="nested-block-comment"),
    pytest.param("SELECT 1 -- a; b\n; SELECT 2;", ["SELECT 1 -- a; b", "SELECT 2"], id="line-comment"),
    pytest.param("SELECT E'a\\';b', e'\\\\'; SELECT 2;", ["SELECT E'a\\';b', e'\\\\'", "SELECT 2"],
                 id="escape-string"),
    pytest.param("SELECT 'a\\'; SELECT 2;", ["SELECT 'a\\'", "SELECT 2"], id="standard-string-backslash"),
    pytest.param("SELECT 'it''s; fine'; SELECT 2;", ["SELECT 'it''s; fine'", "SELECT 2"], id="doubled-quote"),
    pytest.param("SELECT one'x;'; SELECT 2;", ["SELECT one'x;'", "SELECT 2"], id="e-ending-word-is-no-prefix"),
    pytest.param("SELECT U&'d\\0061t;a' UESCAPE '!'; SELECT 2;", ["SELECT U&'d\\0061t;a' UESCAPE '!'",
                                                                  "SELECT 2"], id="unicode-string"),
    pytest.param('SELECT U&"a;""b" FROM t; SELECT 2;', ['SELECT U&"a;""b" FROM t', "SELECT 2"],
                 id="unicode-identifier"),
    pytest.param('CREATE TABLE "a;b" ("c;" int); SELECT 2;', ['CREATE TABLE "a;b" ("c;" int)', "SELECT 2"],
                 id="quoted-identifier"),
    pytest.param("SELECT B'01', X'1F', N'n;'; SELECT 2;", ["SELECT B'01', X'1F', N'n;'", "SELECT 2"],
                 id="bit-hex-national-strings"),
    pytest.param(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
        "SELECT CASE WHEN true THEN 2 ELSE 3 END; END; SELECT 4;",
        ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
         "SELECT CASE WHEN true THEN 2 ELSE 3 END; END", "SELECT 4"], id="begin-atomic-with-case"),
    pytest.param(
        "create or replace procedure p() language sql begin atomic insert into t values (1); end; SELECT 2;",
        ["create or replace procedure p() language sql begin atomic insert into t values (1); end", "SELECT 2"],
        id="begin-atomic-procedure"),
    pytest.param("BEGIN; SELECT 1; END;", ["BEGIN", "SELECT 1", "END"], id="begin-outside-routine-splits"),
    pytest.param("SELECT CASE WHEN x THEN 1 END; SELECT 2;", ["SELECT CASE WHEN x THEN 1 END", "SELECT 2"],
                 id="case-outside-routine"),
    pytest.param(
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); NOTIFY t); SELECT 2;",
        ["CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); NOTIFY t)", "SELECT 2"],
        id="rule-with-several-actions"),
    pytest.param("SELECT '(' || \"(\" -- (\n; SELECT 2;", ["SELECT '(' || \"(\" -- (", "SELECT 2"],
                 id="parentheses-in-quotes-and-comments-do-not-count"),
    pytest.param("SELECT ')', (1; SELECT 2);", ["SELECT ')', (1; SELECT 2)"], id="open-parenthesis-holds"),
    pytest.param("DO $$BEGIN PERFORM ';'; END$$; SELECT 2;", ["DO $$BEGIN PERFORM ';'; END$$", "SELECT 2"],
                 id="do-block"),
    pytest.param("SELECT 1;;\n;  -- c\n", ["SELECT 1"], id="empty-pieces-dropped"),
    pytest.param("", [], id="empty-file"),
    pytest.param("-- only\n/* comments; */\n", [], id="comments-only"),
    pytest.param("SELECT 'open;", ["SELECT 'open;"], id="unterminated-string-runs-to-end"),
])
def test_split(text: str, expected: list[str]) -> None:
    """Statements end at a semicolon outside every quoting context, parentheses and routine bodies."""
    assert [s.text for s in sqltext.split_statements(text)] == expected


def test_lines_after_comments_and_multiline_quotes() -> None:
    """Each statement's line is its own first line: leading comments skipped, newlines in quotes counted."""
    text = "/* head\n */\nSELECT 1;\n-- why\n\nSELECT '\n;\n', $$\n;$$;\n  SELECT\n 3; SELECT 4;\n"
    assert [s.line for s in sqltext.split_statements(text)] == [3, 6, 10, 11]


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("\\i other.sql\n", [(1, "psql meta-command")], id="include"),
    pytest.param("SELECT 1;\n\\connect db\nSELECT 2;\n", [(2, "psql meta-command")], id="connect"),
    pytest.param("SELECT 1 \\gset\n", [(1, "psql meta-command")], id="mid-line"),
    pytest.param("CREATE TABLE t (a int);\nCOPY t (a) FROM stdin;\n1\n\\N\n\\.\nSELECT 2;\n",
                 [(2, "COPY ... FROM stdin")], id="copy-from-stdin"),
    pytest.param("SELECT E'\\\\x', '\\n', $$\\i$$ /* \\x */; -- \\x\n", [], id="backslash-quoted-or-commented"),
    pytest.param("\\restrict AbC123\nSET x = 1;\n\\unrestrict AbC123\n", [], id="pg-dump-restrict"),
    pytest.param("SELECT 1;\n  \\restrict AbC\n", [(2, "psql meta-command")], id="restrict-not-at-line-start"),
    pytest.param("COPY t TO stdout;\n", [], id="copy-to-stdout"),
])
def test_psql_only(text: str, expected: list[tuple[int, str]]) -> None:
    """Meta-commands and COPY FROM stdin are found with their line; pg_dump's restrict lines are not."""
    assert sqltext.scan(text).psql_only == expected


def test_copy_data_is_skipped() -> None:
    """Rows after COPY ... FROM stdin are psql's input, not statements: lexing resumes after ``\\.``."""
    text = "COPY t FROM stdin;\na;b\t'\n\\.\nSELECT 2;\n"
    assert [(s.text, s.line) for s in sqltext.split_statements(text)] == [("COPY t FROM stdin", 1),
                                                                          ("SELECT 2", 4)]


def test_dump_directives_become_comments() -> None:
    """pg_dump's restrict lines turn into comments; every line keeps its number."""
    text = "\\restrict K1\nSET x = 1;\n\\unrestrict K1\n"
    out = sqltext.without_dump_directives(text)
    assert out == "-- \\restrict K1\nSET x = 1;\n-- \\unrestrict K1\n"
    assert [(s.text, s.line) for s in sqltext.split_statements(out)] == [("SET x = 1", 2)]
    assert sqltext.without_dump_directives("SELECT 1;") == "SELECT 1;"


@pytest.mark.parametrize(("text", "words"), [
    ("create or replace function f() returns int as $$ select 1 $$ language sql", ("CREATE", "OR", "REPLACE")),
    ("/* c */ -- d\n  Alter Table t", ("ALTER", "TABLE", "T")),
    ('SELECT "x"', ("SELECT",)),
    ("INSERT INTO \"t\" VALUES ('a b', 1e5, $1) RETURNING id", ("INSERT", "INTO", "VALUES")),
    ("create table x$y (a int)", ("CREATE", "TABLE", "X$Y")),
])
def test_first_words(text: str, words: tuple[str, ...]) -> None:
    """The first three words, upper-cased, ignore comments and quoted text."""
    assert sqltext.split_statements(text)[0].first_words == words


def _split_seconds(text: str) -> float:
    """CPU seconds (not wall: on a shared machine that mostly measures the neighbours)."""
    start = time.process_time()
    sqltext.split_statements(text)
    return time.process_time() - start


@pytest.mark.parametrize("unit", [
    pytest.param("-- c\nINSERT INTO t VALUES (1, 'a;b', $$x$$, E'\\'');\n", id="many-statements"),
    pytest.param("SELECT 1 /* x */;\n\\restrict K\nSELECT 2;\n", id="many-lines-to-number"),
    pytest.param("x;", id="one-long-string"),
])
def test_linear_time(unit: str) -> None:
    """Four times the text takes about four times as long (a quadratic lexer would take sixteen)."""
    def text(copies: int) -> str:
        return "SELECT '" + unit * copies + "';" if unit == "x;" else unit * copies

    small, large = text(5_000), text(20_000)
    ratio = min(_split_seconds(large) for _ in range(5)) / min(_split_seconds(small) for _ in range(5))
    assert ratio < 8, ratio


def test_one_huge_statement_in_little_memory() -> None:
    """A 2 MB single INSERT lexes without per-token backtracking state (a few times its own size at most)."""
    text = "INSERT INTO t VALUES " + "('a''b', \"q\", e, 1 - 2 / 3), " * 60_000 + "(0);"
    tracemalloc.start()
    try:
        (stmt,) = sqltext.split_statements(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stmt.text.endswith("(0)")
    assert peak < 4 * len(text), peak


@pytest.mark.parametrize(("text", "expected"), [
    ("", False), ("-- x\n\n-- y\n", False), ("/* x */\n", False), (";;\n", False), ("-- a\n;", False),
    ("/* x */ SELECT 1", True), ("SELECT 1", True), ("-- c\nCREATE TABLE t (id int);", True),
])
def test_has_statement(text: str, expected: bool) -> None:
    """Table-driven: the cheap check agrees with the splitter."""
    assert sqltext.has_statement(text) is expected
    assert bool(sqltext.split_statements(text)) is expected
