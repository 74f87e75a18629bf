"""Property: no name or text becomes SQL it was not meant to be.

Hypothesis draws hostile names (line breaks, ``*/``, quotes, backslashes, dollar quotes, comment
marks, Unicode line separators and bidi controls, names of exactly 63 bytes) for every kind the
desired schema declares, with a fixed seed and a small budget so CI runs the same examples. For
each, ``initjob plan`` and ``Plan.to_sql`` must split (where psql splits) into exactly the planned
statements, the plan run by PostgreSQL must leave the bystander's row alone, and ``run`` then
``verify`` exit 0 with every name in the catalog. ``INITJOB_PROPERTY_EXAMPLES=50`` draws more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from conftest import ROOT, Server, base_env, initjob, write_schema
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from initjob.names import comment_text
from initjob.schema.diff import Hazard, Plan, Step
from initjob.sqltext import split_statements

EXAMPLES = int(os.environ.get("INITJOB_PROPERTY_EXAMPLES", "4"))
# Pieces a hostile name is made of: each one ends or opens something in some part of SQL.
PIECES = ["\n", "\r", "\r\n", "*/", "/*", "--", ";", "'", '"', "\\", "$$", "$x$", "E'", "\u2028", "\u202e",
          "\x1b", "\t", " ", "é", "𝄞", "DELETE FROM victim; --", "DROP TABLE victim;", "a", "Z", "0"]
KINDS = ["schema", "table", "column", "index", "check", "unique", "view", "function", "enum", "label",
         "sequence", "domain", "comment"]


def utf8_cut(text: str, limit: int = 63) -> str:
    """The longest prefix of ``text`` that fits PostgreSQL's identifier limit (63 bytes)."""
    while len(text.encode()) > limit:
        text = text[:-1]
    return text


@st.composite
def hostile(draw: st.DrawFn) -> str:
    name = "".join(draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6)))
    if draw(st.booleans()):  # exactly at the 63-byte limit (PostgreSQL would cut a longer one)
        name = utf8_cut(name + "x" * 63)
    # The reader takes CRLF for LF, as in a file saved on Windows (a checksum must not change with it),
    # so a quoted name holding CRLF is read as holding LF: drawn without one.
    return utf8_cut(name.replace("\r\n", "\r")).strip() or "blank"


@st.composite
def names(draw: st.DrawFn) -> dict[str, str]:
    drawn = draw(st.lists(hostile(), min_size=len(KINDS), max_size=len(KINDS), unique=True))
    return dict(zip(KINDS, drawn, strict=True))


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"  # standard_conforming_strings is on (the default)


def desired_schema(n: dict[str, str]) -> str:
    s = ident(n["schema"])
    t = f"{s}.{ident(n['table'])}"
    c = ident(n["column"])
    return "\n".join([
        "CREATE TABLE public.victim (id int PRIMARY KEY);",
        f"CREATE SCHEMA {s};",
        f"CREATE TYPE {s}.{ident(n['enum'])} AS ENUM ({literal(n['label'])});",
        f"CREATE DOMAIN {s}.{ident(n['domain'])} AS int CHECK (VALUE > 0);",
        f"CREATE SEQUENCE {s}.{ident(n['sequence'])};",
        f"CREATE TABLE {t} ({c} int NOT NULL, mood {s}.{ident(n['enum'])},"
        f" CONSTRAINT {ident(n['check'])} CHECK ({c} > 0), CONSTRAINT {ident(n['unique'])} UNIQUE ({c}));",
        f"CREATE INDEX {ident(n['index'])} ON {t} ({c});",
        f"CREATE VIEW {s}.{ident(n['view'])} AS SELECT {c} FROM {t};",  # noqa: S608 (quoted, the point of the test)
        f"CREATE FUNCTION {s}.{ident(n['function'])}() RETURNS int LANGUAGE sql RETURN 1;",
        f"COMMENT ON TABLE {t} IS {literal(n['comment'])};",
        f"COMMENT ON COLUMN {t}.{c} IS {literal(n['comment'])};",
        "",
    ])


def statements(text: str) -> list[str]:
    return [s.text for s in split_statements(text)]


def test_comment_text_keeps_every_line_break_out() -> None:
    """Table-driven: whatever the text, its escaped form is one printable line."""
    for text, want in [("plain", "plain"), ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("x\u2028y", "x\\u2028y"),
                       ("\u202ehidden", "\\u202ehidden"), ("back\\slash", "back\\\\slash"), ("\x1b[2J", "\\x1b[2J"),
                       ("tab\there", "tab\\there"), ("é 𝄞", "é 𝄞")]:
        assert comment_text(text) == want
        assert comment_text(text).isprintable()


@pytest.mark.both_majors
@seed(20)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=names())
def test_hostile_names_stay_names(any_server: Server, tmp_path_factory: pytest.TempPathFactory,
                                  n: dict[str, str]) -> None:
    """plan's text splits into exactly its steps, runs without touching a bystander, and run + verify exit 0."""
    srv = any_server
    dbname = srv.create_db()
    try:
        with psycopg.connect(srv.url(dbname), autocommit=True) as c:  # a database with objects: a real plan
            c.execute("CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO victim VALUES (1);"
                      "CREATE TABLE public.old (id int)")
        sql_dir = write_schema(tmp_path_factory.mktemp("hostile"), {"01.sql": desired_schema(n)})
        env = base_env(DATABASE_URL=srv.uri(dbname), INITJOB_SQL_DIR=str(sql_dir), INITJOB_ALLOW_DESTRUCTIVE="true")
        as_json = initjob("plan", "--json", env=env)
        assert as_json.code == 0, as_json.stderr
        steps = [Step(**{**{k: v for k, v in s.items() if k != "kind"},  # kind follows from the hazards
                          "hazards": tuple(Hazard(h) for h in s["hazards"])}) for s in json.loads(as_json.stdout)]
        intended = [s.sql.rstrip().rstrip(";") for s in steps]
        # The text as bytes: a text-mode pipe would turn a name's CR into LF.
        as_text = subprocess.run([sys.executable, "-m", "initjob", "plan"], env=env, capture_output=True,
                                 cwd=ROOT, check=True).stdout.decode()
        assert statements(as_text) == intended, as_text
        assert statements(Plan(tuple(steps)).to_sql()) == intended
        if all(s.transactional for s in steps):  # PostgreSQL reads the text as the same statements
            _run_rolled_back(srv, dbname, as_text, n)
        run = initjob("run", env=env)
        assert run.code == 0, run.stderr
        assert initjob("verify", env=env).code == 0
        with psycopg.connect(srv.url(dbname)) as c:
            assert c.execute("SELECT count(*) FROM victim").fetchone() == (1,)
            assert c.execute("SELECT count(*) FROM pg_class WHERE relname = %s", (n["table"],)).fetchone() == (1,)
    finally:
        srv.drop_db(dbname)


def _run_rolled_back(srv: Server, dbname: str, text: str, n: dict[str, str]) -> None:
    """Execute the printed plan as one script in a transaction, look, and roll it back."""
    with psycopg.connect(srv.url(dbname)) as c:
        c.execute(text.encode())  # bytes: sent as is, as psql would, in one simple-query round
        assert c.execute("SELECT count(*) FROM victim").fetchone() == (1,)
        for kind in ("table", "index", "view", "sequence"):
            assert c.execute("SELECT count(*) FROM pg_class WHERE relname = %s", (n[kind],)).fetchone() == (1,), kind
        assert c.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (n["function"],)).fetchone() == (1,)
        c.rollback()
