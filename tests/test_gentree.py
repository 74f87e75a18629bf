"""bench/gentree.py, the generator of the growth curves' trees: valid SQL on every available major, the
same catalog whatever the number of files, and a tree auto-sync applies and then finds up to date."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from conftest import ROOT, Server, initjob

sys.path.insert(0, str(ROOT / "bench"))
import gentree  # bench/ holds scripts, not a package: on the path for this import

COUNTS = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(s)s AND c.relkind = 'r'),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(s)s AND c.relkind = 'v'),
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s),
       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND NOT t.tgisinternal),
       (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
         WHERE n.nspname = %(s)s AND k.contype = 'f')
"""


def test_files_are_slices_of_one_tree() -> None:
    one, many = gentree.files(7, 1), gentree.files(7, 100)
    assert len(one) == 1 and len(many) == len(gentree.statements(7))  # fewer statements than files asked
    assert sorted(many) == list(many)  # lexical order is apply order
    assert "".join(one.values()).split() == "".join(many.values()).split()
    assert len(gentree.files(1000, 100)) == 100


def test_tree_applies_on_every_major(any_server: Server, tmp_path: Path) -> None:
    """Applied as one transaction (what psql -1 -f does), the tree has what its stats promise."""
    n = 25
    tree = gentree.files(n, 4)
    st = gentree.stats(n, tree)
    db = any_server.create_db()
    try:
        with psycopg.connect(any_server.url(db)) as conn:
            for text in tree.values():
                conn.execute(text.encode())  # simple protocol: many statements in one string
            got = conn.execute(COUNTS, {"s": gentree.SCHEMA}).fetchone()
        assert got == (st.tables, st.views, st.functions, st.triggers, st.foreign_keys)
    finally:
        any_server.drop_db(db)


def test_autosync_applies_the_tree_then_finds_it_up_to_date(any_server: Server, tmp_path: Path) -> None:
    gentree.write_tree(tmp_path / "sql", 12, 3)
    db = any_server.create_db()
    try:
        env = {"DATABASE_URL": any_server.uri(db), "INITJOB_SQL_DIR": str(tmp_path / "sql")}
        first = initjob("run", **env)
        assert first.code == 0, first.stderr
        assert initjob("run", **env).code == 0
        assert initjob("verify", **env).code == 0
    finally:
        any_server.drop_db(db)
