"""Data-aware prechecks: a step the live rows would make fail is refused (exit 3) before anything is touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Server, initjob, write_schema

from initjob.schema import catalog, checks
from initjob.schema.diff import plan_sync
from initjob.schema.model import Column, Constraint, Index, Snapshot, Table

BASE = """
CREATE TABLE public.parents (id bigint PRIMARY KEY);
CREATE TABLE public.people (
    id bigint PRIMARY KEY,
    email text,
    code text,
    n bigint,
    price numeric(10,2),
    parent_id bigint
);
"""

ROWS = """
INSERT INTO public.parents VALUES (1);
INSERT INTO public.people VALUES (1, 'a@x', 'abc', 1, 1.5, 1), (2, NULL, 'abcdefgh', 5000000000, 123456.78, 7),
                                 (3, 'A@x', 'abc', -1, -2, NULL);
"""


@dataclass(frozen=True)
class Case:
    name: str
    desired: str  # the new schema file
    kind: str  # the DataCheck kind refused
    rows: int  # offending rows in ROWS
    example: str  # the example key
    fix: str  # SQL that makes the data fit
    env: tuple[tuple[str, str], ...] = ()


ALLOW = (("INITJOB_ALLOW_DESTRUCTIVE", "true"),)
CASES = [
    Case("new NOT NULL column", BASE.replace("parent_id bigint\n", "parent_id bigint,\n    nick text NOT NULL\n"),
         checks.ROWS, 3, "(id)=(", "DELETE FROM public.people"),
    Case("SET NOT NULL", BASE.replace("email text,", "email text NOT NULL,"), checks.NOT_NULL, 1, "(id)=(2)",
         "UPDATE public.people SET email = 'b@x' WHERE id = 2"),
    Case("unique index on an expression",
         BASE + "CREATE UNIQUE INDEX people_email_key ON public.people (lower(email));\n", checks.UNIQUE, 2,
         "(id)=(", "UPDATE public.people SET email = 'c@x' WHERE id = 3"),
    Case("unique constraint", BASE.replace("parent_id bigint\n", "parent_id bigint,\n    UNIQUE (code)\n"),
         checks.UNIQUE, 2, "(id)=(", "UPDATE public.people SET code = 'xyz' WHERE id = 3"),
    Case("text to varchar(5)", BASE.replace("code text,", "code varchar(5),"), checks.FIT, 1, "(id)=(2)",
         "UPDATE public.people SET code = 'short' WHERE id = 2", ALLOW),
    Case("bigint to integer", BASE.replace("n bigint,", "n integer,"), checks.FIT, 1, "(id)=(2)",
         "UPDATE public.people SET n = 2 WHERE id = 2", ALLOW),
    Case("numeric precision", BASE.replace("numeric(10,2)", "numeric(6,2)"), checks.FIT, 1, "(id)=(2)",
         "UPDATE public.people SET price = 12.5 WHERE id = 2", ALLOW),
    Case("foreign key", BASE.replace("parent_id bigint\n", "parent_id bigint REFERENCES public.parents (id)\n"),
         checks.FOREIGN_KEY, 1, "(id)=(2)", "UPDATE public.people SET parent_id = 1 WHERE id = 2"),
    Case("check", BASE.replace("n bigint,", "n bigint CHECK (n > 0),"), checks.CHECK, 1, "(id)=(3)",
         "UPDATE public.people SET n = 3 WHERE id = 3"),
]


def markers(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM initjob.markers").fetchone()
    return int(row[0]) if row else 0


def snapshot(conn: psycopg.Connection[Any]) -> catalog.Snapshot:
    return catalog.read_snapshot(conn, ["public"])


def invalid_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")]


@pytest.fixture
def populated(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> Path:
    sql_dir = write_schema(tmp_path, {"app.sql": BASE})
    first = initjob("run", DATABASE_URL=db_url, INITJOB_SQL_DIR=str(sql_dir))
    assert first.code == 0, first.stderr
    conn.execute(ROWS)
    return sql_dir


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_refused_before_anything_is_touched_then_applied_once_fixed(
        case: Case, db_url: str, populated: Path, conn: psycopg.Connection[Any]) -> None:
    """Exit 3 naming the object, the count and one key; no marker, the catalog unchanged; exit 0 after the fix."""
    (populated / "schema" / "app.sql").write_text(case.desired)
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(populated), **dict(case.env)}
    before, marked = snapshot(conn), markers(conn)
    refused = initjob("run", **env)
    assert refused.code == 3, refused.stderr
    failure = refused.failure
    assert failure["kind"] == "data_does_not_fit"
    [offending] = failure["offending"]
    assert offending["check"] == case.kind and offending["rows"] == case.rows
    assert offending["example"].startswith(case.example) and offending["object"] in failure["reason"]
    assert "marker.taken" not in refused.names() and "sync.rehearsed" not in refused.names()
    assert markers(conn) == marked and snapshot(conn) == before and invalid_indexes(conn) == []
    assert "abcdefgh" not in refused.stderr  # a value is never logged, only the key

    plan = initjob("plan", **env)
    assert plan.code == 0, plan.stderr
    assert "!  MAY FAIL" in plan.stdout or "may-fail" in plan.stdout
    assert f"live data: {case.rows} " in plan.stdout and "this step would fail" in plan.stdout

    conn.execute(case.fix)
    applied = initjob("run", **env)
    assert applied.code == 0, applied.stderr
    assert initjob("verify", **env).code == 0


def test_narrowing_never_truncates(db_url: str, populated: Path, conn: psycopg.Connection[Any]) -> None:
    """text to varchar(5) with the destructive opt-in: the planned statement itself fails on a value too
    long (were the precheck raced), and once the data fits the values stay whole, none is cut."""
    (populated / "schema" / "app.sql").write_text(BASE.replace("code text,", "code varchar(5),"))
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(populated), "INITJOB_ALLOW_DESTRUCTIVE": "true"}
    plan = initjob("plan", **env)
    assert "USING code::text;" in plan.stdout and "::character varying(5)" not in plan.stdout
    [statement] = [line for line in plan.stdout.splitlines() if line.startswith("ALTER TABLE")]
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        conn.execute(statement)
    conn.execute("UPDATE public.people SET code = 'abcd  ' WHERE id = 2")  # trailing spaces: cut, as PostgreSQL does
    assert initjob("run", **env).code == 0
    assert conn.execute("SELECT array_agg(code ORDER BY id) FROM public.people").fetchone() == (
        ["abc", "abcd ", "abc"],)


def test_empty_table_needs_no_fix(db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """On an empty table every check finds nothing: the plan labels the step and the run applies it."""
    sql_dir = write_schema(tmp_path, {"app.sql": BASE})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    (sql_dir / "schema" / "app.sql").write_text(CASES[0].desired)
    plan = initjob("plan", **env)
    assert "!  MAY FAIL: column public.people.nick" in plan.stdout, plan.stderr[-3000:]
    assert "live data: no row in the way" in plan.stdout
    [step] = [s for s in json.loads(initjob("plan", "--json", **env).stdout) if s["object"].endswith("nick")]
    assert "may-fail" in step["hazards"] and step["precheck"]["kind"] == checks.ROWS
    result = initjob("run", **env)
    assert result.code == 0, result.stderr
    assert result.event("sync.prechecked")["offending"] == 0


def test_failed_concurrent_build_leaves_no_invalid_index(db_url: str, populated: Path,
                                                         conn: psycopg.Connection[Any]) -> None:
    """A unique index the precheck cannot read (its expression errors on a row) fails to build concurrently:
    the invalid index it leaves is dropped and the failure says so."""
    conn.execute("UPDATE public.people SET n = 0 WHERE id = 3")
    (populated / "schema" / "app.sql").write_text(BASE + "CREATE UNIQUE INDEX people_inv ON public.people ((1 / n));\n")
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(populated)}
    result = initjob("run", **env)
    assert result.code == 5, result.stderr
    assert "sync.precheck_skipped" in result.names()
    assert result.failure["invalid_index_dropped"] == "public.people_inv"
    assert "was dropped" in result.failure["reason"]
    assert invalid_indexes(conn) == [] and conn.execute("SELECT to_regclass('public.people_inv')").fetchone() == (None,)
    conn.execute("UPDATE public.people SET n = -1 WHERE id = 3")
    assert initjob("run", **env).code == 0


@pytest.fixture
def any_db(any_server: Server) -> Iterator[str]:
    name = any_server.create_db()
    yield any_server.uri(name)
    any_server.drop_db(name)


@pytest.mark.parametrize("case", [CASES[1], CASES[3]], ids=lambda c: c.name)
def test_each_major(case: Case, any_db: str, tmp_path: Path) -> None:
    """PostgreSQL 15 and 18 (which names NOT NULL constraints) refuse and then apply alike."""
    sql_dir = write_schema(tmp_path, {"app.sql": BASE})
    env = {"DATABASE_URL": any_db, "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    with psycopg.connect(any_db, autocommit=True) as c:
        c.execute(ROWS)
        (sql_dir / "schema" / "app.sql").write_text(case.desired)
        before = snapshot(c)
        refused = initjob("run", **env)
        assert refused.code == 3 and refused.failure["offending"][0]["rows"] == case.rows, refused.stderr
        assert snapshot(c) == before
        c.execute(case.fix)
    assert initjob("run", **env).code == 0


def test_set_not_null_scans_under_no_exclusive_lock(any_db: str, tmp_path: Path) -> None:
    """SET NOT NULL goes through a CHECK added NOT VALID and validated in their own transactions, which
    PostgreSQL takes as proof (no scan under the exclusive lock); the helper is gone afterwards."""
    sql_dir = write_schema(tmp_path, {"app.sql": BASE})
    env = {"DATABASE_URL": any_db, "INITJOB_SQL_DIR": str(sql_dir)}
    assert initjob("run", **env).code == 0
    with psycopg.connect(any_db, autocommit=True) as c:
        c.execute(ROWS.replace("NULL, 'abcdefgh'", "'b@x', 'abcdefgh'"))
        (sql_dir / "schema" / "app.sql").write_text(CASES[1].desired)
        plan = initjob("plan", **env)
        statements = [line for line in plan.stdout.splitlines() if line and not line.startswith("--")]
        assert [s.removeprefix("ALTER TABLE public.people ") for s in statements] == [
            "ADD CONSTRAINT email_initjob_not_null CHECK (email IS NOT NULL) NOT VALID;",
            "VALIDATE CONSTRAINT email_initjob_not_null;", "ALTER COLUMN email SET NOT NULL;",
            "DROP CONSTRAINT IF EXISTS email_initjob_not_null;"], plan.stdout
        notices: list[str] = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        c.execute("SET client_min_messages = debug1")
        with c.transaction():  # the steps as the plan runs them, then taken back
            for statement in statements:
                c.execute(statement)
            assert any("sufficient to prove" in n for n in notices), notices
            raise psycopg.Rollback()
        c.execute("RESET client_min_messages")
        result = initjob("run", **env)
        assert result.code == 0, result.stderr
        assert c.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE %s", ("%initjob_not_null",)
                         ).fetchone() == (0,)
        assert c.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.people'::regclass "
                         "AND attname = 'email'").fetchone() == (True,)


def test_conversion_through_text_counted_where_the_server_can_ask(any_server: Server, any_db: str,
                                                                  tmp_path: Path) -> None:
    """text to integer over 'x2': PostgreSQL 16+ asks the new type's input without raising (pg_input_is_valid)
    and refuses before anything is touched, naming the row; 15 cannot ask, says so, and the conversion
    fails in its own transaction, nothing applied. Once the data fits, both convert every value."""
    table = "CREATE TABLE public.t (id bigint PRIMARY KEY, n {});\n"
    sql_dir = write_schema(tmp_path, {"app.sql": table.format("text")})
    env = {"DATABASE_URL": any_db, "INITJOB_SQL_DIR": str(sql_dir), **dict(ALLOW)}
    assert initjob("run", **env).code == 0
    with psycopg.connect(any_db, autocommit=True) as c:
        c.execute("INSERT INTO public.t VALUES (1, '1'), (2, 'x2'), (3, NULL), (4, ' 4 ')")
        (sql_dir / "schema" / "app.sql").write_text(table.format("integer"))
        before, marked = snapshot(c), markers(c)
        refused = initjob("run", **env)
        assert snapshot(c) == before
        if any_server.major >= 16:
            assert refused.code == 3, refused.stderr
            [offending] = refused.failure["offending"]
            assert offending == {"object": "column public.t.n", "check": checks.FIT, "rows": 1, "example": "(id)=(2)"}
            assert "not valid input for integer" in refused.failure["reason"] and markers(c) == marked
            assert "x2" not in refused.stderr  # the key, never the value
            plan = initjob("plan", **env)
            assert "live data: 1 value(s) do not fit the new type (not valid input for integer)" in plan.stdout
        else:
            assert refused.code == 5, refused.stderr
            assert "pg_input_is_valid" in refused.event("sync.precheck_skipped")["reason"]
        c.execute("UPDATE public.t SET n = '2' WHERE id = 2")
        applied = initjob("run", **env)
        assert applied.code == 0, applied.stderr
        assert c.execute("SELECT array_agg(n ORDER BY id) FROM public.t").fetchone() == ([1, 2, None, 4],)


# ---------------------------------------------------------------------------------------------
# The pure part: what each deparsed definition is read as.

PEOPLE = Table("public", "people", constraints=(Constraint("people_pkey", "p", 'PRIMARY KEY (id, "Tenant")'),))


@pytest.mark.parametrize(("definition", "columns", "expressions", "predicate", "nulls_distinct"), [
    ("CREATE UNIQUE INDEX k ON public.people USING btree (email)", ("email",), (), None, True),
    ('CREATE UNIQUE INDEX k ON public.people USING btree ("E mail" DESC NULLS LAST, code text_pattern_ops)',
     ("E mail", "code"), (), None, True),
    ("CREATE UNIQUE INDEX k ON public.people USING btree (lower(email) COLLATE \"C\") WHERE (active AND (n > 0))",
     (), ("lower(email)",), "(active AND (n > 0))", True),
    ("CREATE UNIQUE INDEX k ON public.people USING btree (((a + b)), c) INCLUDE (d) NULLS NOT DISTINCT",
     ("c",), ("((a + b))",), None, False),
])
def test_unique_index_keys(definition: str, columns: tuple[str, ...], expressions: tuple[str, ...],
                           predicate: str | None, nulls_distinct: bool) -> None:
    """Key columns, key expressions, the partial index's WHERE and NULLS NOT DISTINCT from pg_get_indexdef."""
    check = checks.for_index(PEOPLE, Index("k", definition), "index k")
    assert check is not None
    assert (check.columns, check.expressions, check.predicate, check.nulls_distinct) == (
        columns, expressions, predicate, nulls_distinct)
    assert check.key_columns == ("id", "Tenant")


def test_plain_index_needs_no_check() -> None:
    assert checks.for_index(PEOPLE, Index("k", "CREATE INDEX k ON public.people USING btree (a)"), "i") is None


@pytest.mark.parametrize(("con", "expected"), [
    (Constraint("u", "u", "UNIQUE NULLS NOT DISTINCT (a, \"B\")"), (checks.UNIQUE, ("a", "B"), False, False)),
    (Constraint("p", "p", "PRIMARY KEY (a)"), (checks.UNIQUE, ("a",), False, True)),
    (Constraint("f", "f", 'FOREIGN KEY (a, b) REFERENCES "S"."T"(x, "Y") MATCH FULL ON DELETE CASCADE NOT VALID'),
     (checks.FOREIGN_KEY, ("a", "b"), True, False)),
    (Constraint("c", "c", "CHECK ((n > 0)) NOT VALID"), (checks.CHECK, (), True, False)),
])
def test_constraints(con: Constraint, expected: tuple[str, tuple[str, ...], bool, bool]) -> None:
    check = checks.for_constraint(PEOPLE, con, "constraint")
    assert check is not None
    assert (check.kind, check.columns, check.nulls_distinct, check.primary) == expected


def test_foreign_key_and_check_parts() -> None:
    fk = checks.for_constraint(PEOPLE, Constraint("f", "f", 'FOREIGN KEY (a) REFERENCES "S"."T"("Y")'), "c")
    assert fk is not None and (fk.ref_schema, fk.ref_table, fk.ref_columns, fk.match_full) == ("S", "T", ("Y",), False)
    ck = checks.for_constraint(PEOPLE, Constraint("c", "c", "CHECK ((n > 0)) NO INHERIT"), "c")
    assert ck is not None and ck.expressions == ("((n > 0))",)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("text", "character varying(5)", (checks.LENGTH, (5,))),
    ("character varying(10)", "character(3)", (checks.LENGTH, (3,))),
    ("bigint", "integer", (checks.RANGE, (-2147483648, 2147483647))),
    ("numeric(10,2)", "smallint", (checks.RANGE, (-32768, 32767))),
    ("numeric(10,2)", "numeric(6,1)", (checks.PRECISION, (6, 1))),
    ("integer", "bigint", None),
    ("text", "integer", None),
    ("text[]", "character varying(5)[]", None),
])
def test_narrowings(old: str, new: str, expected: tuple[str, tuple[int, ...]] | None) -> None:
    check = checks.for_retype(PEOPLE, Column("c", old), Column("c", new), "column c")
    assert (None if check is None else (check.measure, check.limits)) == expected


@pytest.mark.parametrize(("old", "new", "through_text", "expected"), [
    ("text", "integer", True, "integer"),
    ("character varying(20)", "uuid", True, "uuid"),
    ("integer", "boolean", True, "boolean"),  # '5' is no boolean: the text form decides, as the USING does
    ("text", "timestamp(3) with time zone", True, "timestamp(3) with time zone"),
    ("text", '"char"', True, '"char"'),  # quoted, but built in
    ("text", "integer", False, None),  # a USING that is not the text form: the conversion decides
    ("text", "public.mood", True, None),  # the plan may make or change it: the live type is no judge
    ("text", '"My types".mood', True, None),
    ("text", 'public."a.b"', True, None),
    ("text[]", "integer[]", True, "integer[]"),  # the array's text form: '{1,x}' is rejected as a whole
    ("bigint", "integer", True, None),  # a narrowing: its own measure, checked first (above)
])
def test_conversions_through_text(old: str, new: str, through_text: bool, expected: str | None) -> None:
    check = checks.for_retype(PEOPLE, Column("c", old), Column("c", new), "column c", through_text)
    if expected is None:
        assert check is None or check.measure != checks.CAST
    else:
        assert check is not None and (check.kind, check.measure, check.type) == (checks.FIT, checks.CAST, expected)


def test_the_planner_marks_a_conversion_through_text() -> None:
    """plan_sync attaches the check to the retype it plans as ``n::text::integer``, and only to that one."""
    live = Snapshot(tables=(Table("public", "t", columns=(Column("id", "bigint"), Column("n", "text"),
                                                           Column("m", "bigint"))),))
    desired = Snapshot(tables=(Table("public", "t", columns=(Column("id", "bigint"), Column("n", "integer"),
                                                              Column("m", "integer"))),))
    checked = {s.sql: s.precheck for s in plan_sync(live, desired).steps if s.precheck is not None}
    [(n_sql, n_check)] = [(k, v) for k, v in checked.items() if "COLUMN n " in k]
    assert "USING n::text::integer" in n_sql and n_check is not None and n_check.measure == checks.CAST
    assert [v.measure for k, v in checked.items() if "COLUMN m " in k] == [checks.RANGE]


def test_new_column_checks() -> None:
    """Only a NOT NULL column with nothing to fill it with needs an empty table."""
    assert checks.for_new_column(PEOPLE, Column("c", "text", not_null=True), "c") is not None
    assert checks.for_new_column(PEOPLE, Column("c", "text", not_null=True, default="''::text"), "c") is None
    assert checks.for_new_column(PEOPLE, Column("c", "bigint", not_null=True, identity="ALWAYS"), "c") is None
    assert checks.for_new_column(PEOPLE, Column("c", "text"), "c") is None


def _not_null_plan(live: Table) -> list[str]:
    desired = Table("public", "t", columns=(Column("id", "integer", not_null=True), Column("a", "text", not_null=True)),
                    constraints=(Constraint("t_pkey", "p", "PRIMARY KEY (id)"),))
    return [s.sql for s in plan_sync(Snapshot(tables=(live,)), Snapshot(tables=(desired,))).steps]


def test_set_not_null_steps() -> None:
    """A plain table gets the helper check; one holding a helper a failed run left gets it dropped and the
    plain SET NOT NULL (no ADD of a constraint that exists)."""
    live = Table("public", "t", columns=(Column("id", "integer", not_null=True), Column("a", "text")),
                 constraints=(Constraint("t_pkey", "p", "PRIMARY KEY (id)"),))
    assert _not_null_plan(live) == [
        "ALTER TABLE public.t ADD CONSTRAINT a_initjob_not_null CHECK (a IS NOT NULL) NOT VALID",
        "ALTER TABLE public.t VALIDATE CONSTRAINT a_initjob_not_null",
        "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL",
        "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS a_initjob_not_null"]
    leftover = Table("public", "t", columns=live.columns, constraints=(
        *live.constraints, Constraint("a_initjob_not_null", "c", "CHECK ((a IS NOT NULL)) NOT VALID", validated=False)))
    assert _not_null_plan(leftover) == [
        "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS a_initjob_not_null",
        "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL"]
