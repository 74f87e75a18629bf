"""A large schema tree (issue 20 item 7): a 9.9 MB file was 194 s of no log line.  Each long phase of
auto-sync (the shadow build, the comparison, the rehearsal, the state recorded) says it is alive, and
the shadow is built in committed chunks, never one transaction whose lock table every statement scans.

Kept small for CI (about 1 MB); bench/bench_bigtree.py times the 10 MB tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, Result, Server, initjob

from initjob import sqltext
from initjob.db import executor

sys.path.insert(0, str(ROOT / "bench"))
import gentree  # bench/ holds scripts, not a package: on the path for this import

TABLES = 1200  # about 1 MB of SQL


def test_a_large_tree_reports_every_phase_while_it_works(server: Server, tmp_path: Path) -> None:
    """Fresh apply, a change, verify: the long phases emit ``phase.running``, named."""
    sql_dir = tmp_path / "sql"
    gentree.write_tree(sql_dir, TABLES, 1)
    db = server.create_db()
    try:
        env = {"DATABASE_URL": server.uri(db), "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_PROGRESS_INTERVAL": "0.05"}
        first = initjob("run", timeout=600, **env)
        assert first.code == 0, first.stderr
        assert "state.read" in _phases(first)
        with (sql_dir / "schema" / "000_part.sql").open("a") as f:
            f.write("\nCREATE TABLE gen.added (id bigint PRIMARY KEY);\n")
        second = initjob("run", timeout=600, **env)
        assert second.code == 0, second.stderr
        assert {"sync.build_desired", "sync.compare", "sync.rehearse", "sync.record_state"} <= _phases(second)
        (sql_dir / "schema" / "000_part.sql").write_text(
            (sql_dir / "schema" / "000_part.sql").read_text() + "\nCREATE TABLE gen.more (id int);\n")
        verify = initjob("verify", timeout=600, **env)
        assert verify.code != 0 and "sync.build_desired" in _phases(verify), verify.stderr
    finally:
        server.drop_db(db)


def _phases(result: Result) -> set[str]:
    return {str(e["phase"]) for e in result.events if e.get("event") == "phase.running"}


def test_a_tree_without_a_long_phase_says_nothing_more(server: Server, tmp_path: Path) -> None:
    """The default interval (10 s): a small tree has no ``phase.running``."""
    gentree.write_tree(tmp_path / "sql", 5, 1)
    db = server.create_db()
    try:
        done = initjob("run", DATABASE_URL=server.uri(db), INITJOB_SQL_DIR=str(tmp_path / "sql"))
        assert done.code == 0 and "phase.running" not in done.names(), done.stderr
    finally:
        server.drop_db(db)


def _tree_text(n: int) -> str:
    """n statements with what a cut must not fall inside: comments, dollar bodies holding semicolons,
    two statements on one line, a statement over several lines."""
    parts = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            parts.append(f"/* a block\n   comment; */ CREATE TABLE t{i} (\n    id int -- the key;\n);")
        elif kind == 1:
            parts.append(f"CREATE FUNCTION f{i}() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;")
        elif kind == 2:
            parts.append(f"COMMENT ON TABLE t{i - 2} IS 'a; b'; SELECT {i};")
        else:
            parts.append(f"-- a line comment;\nCREATE VIEW v{i} AS SELECT {i} AS x;")
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("size", [1, 2, 7, 500])
def test_pieces_join_to_the_file_cut_between_statements(size: int) -> None:
    text = _tree_text(2_000)
    whole = sqltext.split_statements(text)
    got = executor.pieces(text, size)
    assert "".join(p for _, p in got) == text
    assert len(got) == -(-len(whole) // size)  # ceil: every piece but the last holds exactly ``size``
    seen = []
    for before, piece in got:
        statements = sqltext.split_statements(piece)
        assert len(statements) <= size
        seen += [(s.text, s.line + before) for s in statements]
    assert seen == [(s.text, s.line) for s in whole]  # the same statements, on the file's own lines


def test_pieces_split_the_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quadratic cannot come back through the cutting: one split of the whole text, whatever its size
    (and the cursor over lines only moves forward: the pieces are at most one pass over the text)."""
    calls: list[int] = []
    real = sqltext.split_statements

    def counted(text: str) -> list[sqltext.Statement]:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(sqltext, "split_statements", counted)
    text = _tree_text(20_000)
    assert len(executor.pieces(text, 50)) == 20_000 * 5 // 4 // 50  # a quarter of the lines hold two
    assert calls == [len(text)]


def test_a_failure_in_a_later_piece_names_the_files_line(server: Server, tmp_path: Path) -> None:
    """A statement that fails in the third piece of the shadow build is named by its line in the file."""
    body = "\n".join(f"CREATE TABLE app.t{i} (id int);" for i in range(1, 1200))
    text = "CREATE SCHEMA app;\n" + body + "\nCREATE TABLE app.bad (id int REFERENCES app.missing (id));\n"
    (tmp_path / "sql" / "schema").mkdir(parents=True)
    (tmp_path / "sql" / "schema" / "s.sql").write_text(text)
    db = server.create_db()
    try:
        with psycopg.connect(server.uri(db), autocommit=True) as conn:
            conn.execute("CREATE TABLE keep (id int)")  # not fresh: the files are built in a shadow first
        done = initjob("plan", DATABASE_URL=server.uri(db), INITJOB_SQL_DIR=str(tmp_path / "sql"))
        assert done.code == 5, done.stderr
        assert done.failure["reason"].startswith("schema/s.sql:1201:"), done.failure
        assert done.failure["line"] == 1201
    finally:
        server.drop_db(db)
