"""Property: for any two generated schemas A and B, auto-sync carries a database built from A to B.

``initjob run`` (with data loss allowed) exits 0, ``verify`` exits 0, and ``pg_dump --schema-only``
of the result equals psql's build of B, up to object order and appended columns. Hypothesis draws
the pairs with a fixed seed and a small budget, so CI runs the same examples every time;
``INITJOB_PROPERTY_EXAMPLES=200 ./dev test tests/test_diff_property.py`` draws more.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from conftest import Server
from corpus import database, initjob, normalise_dump, pg_dump, psql, write_schema
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("INITJOB_PROPERTY_EXAMPLES", "6"))  # per major
TYPES = {"int": "7", "bigint": "7", "text": "'x'", "varchar(10)": "'x'", "boolean": "true",
         "numeric(8,2)": "1.5", "date": "'2024-01-01'"}


@st.composite
def tables(draw: st.DrawFn, name: str) -> str:
    columns = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=4))
    lines = []
    for i, type_ in enumerate(columns):
        extra = " NOT NULL" if draw(st.booleans()) else ""
        extra += f" DEFAULT {TYPES[type_]}" if draw(st.booleans()) else ""
        lines.append(f"c{i} {type_}{extra}")
    if draw(st.booleans()):
        lines.append("PRIMARY KEY (c0)")
    elif draw(st.booleans()):
        lines.append(f"CONSTRAINT {name}_u UNIQUE (c0)")
    if draw(st.booleans()):
        lines.append(f"CONSTRAINT {name}_ck CHECK (c0 IS NOT NULL OR {draw(st.sampled_from(['true', 'false']))})")
    text = f"CREATE TABLE app.{name} ({', '.join(lines)});\n"
    if draw(st.booleans()):
        text += f"CREATE INDEX {name}_c0 ON app.{name} (c0);\n"
    if draw(st.booleans()):
        text += f"COMMENT ON TABLE app.{name} IS '{name} v{draw(st.integers(0, 2))}';\n"
    if draw(st.booleans()):
        text += f"CREATE VIEW app.{name}_v AS SELECT c0 FROM app.{name};\n"  # noqa: S608 (names drawn from a fixed list)
        if draw(st.booleans()):  # a chain: a view over the view
            text += f"CREATE VIEW app.{name}_vv AS SELECT c0 FROM app.{name}_v;\n"  # noqa: S608
    return text


@st.composite
def schemas(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
    text = "CREATE SCHEMA app;\n" + "".join(draw(tables(n)) for n in sorted(names))
    if draw(st.booleans()):
        text += "CREATE TYPE app.mood AS ENUM (" + ", ".join(
            f"'{m}'" for m in draw(st.lists(st.sampled_from(["x", "y", "z"]), unique=True, min_size=1))) + ");\n"
    if draw(st.booleans()):
        text += f"CREATE FUNCTION app.f() RETURNS int LANGUAGE sql RETURN {draw(st.integers(1, 3))};\n"
    if draw(st.booleans()):
        base = draw(st.sampled_from(["int", "bigint"]))
        text += f"CREATE DOMAIN app.d AS {base} CHECK (VALUE > {draw(st.integers(0, 1))});\n"
    if draw(st.booleans()):
        text += f"CREATE SEQUENCE app.s INCREMENT BY {draw(st.integers(1, 3))};\n"
    return text


@pytest.mark.both_majors
@seed(16)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=schemas(), after=schemas())
def test_autosync_converges_on_generated_pairs(any_server: Server, before: str, after: str) -> None:
    """run exits 0 with data loss allowed, verify agrees, and the dump equals psql's build of B."""
    srv = any_server.handle
    if srv is None:
        pytest.skip("needs a server this suite started (its pg_dump and psql)")
    with tempfile.TemporaryDirectory() as tmp, database(srv) as db, database(srv) as ref:
        sql_dir = Path(tmp) / "sql"
        psql(srv, db, before)
        write_schema(sql_dir, after)
        code, _, out = initjob(srv, db, sql_dir, "run", destructive=True)
        assert code == 0, f"{before}\n->\n{after}\n{out}"
        code, _, out = initjob(srv, db, sql_dir, "verify")
        assert code == 0, out
        psql(srv, ref, after)
        assert normalise_dump(pg_dump(srv, db)) == normalise_dump(pg_dump(srv, ref))
