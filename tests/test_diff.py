"""The auto-sync planner, checked by applying its plans to real databases on every PostgreSQL major.

Each file in ``diff_corpus/`` holds a ``-- from`` schema, a ``-- to`` schema, optional ``-- data``
written into ``from`` before the plan runs, and an ``-- expect:`` line naming the plan's worst class.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from devtools.pgserver import PgServer, available_bindirs, running_server, server_major
from initjob.schema import catalog
from initjob.schema.catalog import Column, Constraint, Index, Snapshot, Table
from initjob.schema.diff import DESTRUCTIVE, LOCKING, SAFE, Hazard, Plan, Step, classify_type_change, literal, plan_sync

CORPUS = sorted((Path(__file__).parent / "diff_corpus").glob("*.sql"))
BINDIRS = {server_major(b): b for b in available_bindirs()}
RANK = {SAFE: 0, LOCKING: 1, DESTRUCTIVE: 2}

Connect = Callable[[str], psycopg.Connection[tuple[object, ...]]]


# ---------------------------------------------------------------------------------------------
# Fixtures: one server per major for the module, a fresh database per call of ``new_db``.


@pytest.fixture(scope="module", params=sorted(BINDIRS), ids=lambda m: f"pg{m}")
def server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    with running_server(BINDIRS[request.param]) as srv:
        yield srv


@pytest.fixture
def new_db(server: PgServer) -> Iterator[Connect]:
    with contextlib.ExitStack() as stack:
        yield lambda schema_sql: stack.enter_context(create_database(server, schema_sql))


@contextlib.contextmanager
def create_database(server: PgServer, schema_sql: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A new database holding ``schema_sql``, as an autocommit connection; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))
    try:
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            if schema_sql.strip():
                conn.execute(schema_sql.encode())
            yield conn
    finally:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def apply_plan(conn: psycopg.Connection[tuple[object, ...]], plan: Plan) -> None:
    """Run a plan the way initjob does: each transactional batch in one transaction."""
    for batch in plan.batches():
        with conn.transaction() if batch[0].transactional else contextlib.nullcontext():
            for step in batch:
                conn.execute(step.sql.encode())


def managed(*conns: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return sorted({s for c in conns for s in catalog.user_schemas(c, [])})


def row_counts(conn: psycopg.Connection[tuple[object, ...]], snap: Snapshot) -> dict[str, int]:
    counts = {}
    for t in snap.tables:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t.schema, t.name))).fetchone()
        counts[f"{t.schema}.{t.name}"] = int(row[0]) if row else 0  # type: ignore[call-overload]
    return counts


# ---------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    source: str
    target: str
    data: str


def load_case(path: Path) -> Case:
    text = path.read_text()
    parts = re.split(r"^-- (from|to|data)\s*$", text, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    expect = re.search(r"^-- expect: (\w+)$", parts[0], flags=re.M)
    assert expect is not None, f"{path.name} has no '-- expect:' line"
    return Case(path.stem, expect[1], sections["from"], sections["to"], sections.get("data", ""))


def test_corpus_is_large_enough() -> None:
    """The issue asks for at least 40 from-to pairs."""
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_round_trip(new_db: Connect, path: Path) -> None:
    """The plan carries `from` to `to` exactly; each side diffed with itself is empty; rows survive."""
    case = load_case(path)
    live_db, desired_db = new_db(case.source), new_db(case.target)
    if case.data.strip():
        live_db.execute(case.data.encode())
    schemas = managed(live_db, desired_db)
    live, desired = catalog.read_snapshot(live_db, schemas), catalog.read_snapshot(desired_db, schemas)
    assert plan_sync(live, live).is_empty and plan_sync(desired, desired).is_empty
    plan = plan_sync(live, desired)
    assert max((RANK[s.kind] for s in plan.steps), default=0) == RANK[case.expect], plan.to_sql()
    before = row_counts(live_db, live)
    apply_plan(live_db, plan)
    after = catalog.read_snapshot(live_db, schemas)
    assert after == desired, "\n".join(catalog.describe_differences(after, desired)) + "\n\n" + plan.to_sql()
    assert plan_sync(after, desired).is_empty
    if not plan.destructive:
        survivors = row_counts(live_db, after)
        assert {k: v for k, v in before.items() if k in survivors} == {k: survivors[k] for k in before}


def test_a_plan_runs_on_a_database_built_from_the_desired_files_unchanged(new_db: Connect) -> None:
    """The create-everything plan applied to an empty database gives the same fingerprint as the files."""
    case = load_case(next(p for p in CORPUS if p.stem.startswith("01_")))
    empty, built = new_db(""), new_db(case.target)
    schemas = managed(empty, built)
    desired = catalog.read_snapshot(built, schemas)
    apply_plan(empty, plan_sync(catalog.read_snapshot(empty, schemas), desired))
    assert catalog.fingerprint(catalog.read_snapshot(empty, schemas)) == catalog.fingerprint(desired)


def test_column_added_in_the_middle_converges_but_for_order(new_db: Connect) -> None:
    """ADD COLUMN appends: a column declared mid-table arrives last, which only a rewrite could fix."""
    live_db = new_db("CREATE TABLE public.t (a int, c int)")
    desired_db = new_db("CREATE TABLE public.t (a int, b int, c int)")
    desired = catalog.read_snapshot(desired_db, ["public"])
    apply_plan(live_db, plan_sync(catalog.read_snapshot(live_db, ["public"]), desired))
    after = catalog.read_snapshot(live_db, ["public"])
    assert [c.name for c in after.tables[0].columns] == ["a", "c", "b"]
    assert catalog.ignore_column_order(after) == catalog.ignore_column_order(desired)
    assert plan_sync(after, desired).is_empty


# ---------------------------------------------------------------------------------------------
# Property: random evolutions of tables, columns, indexes and keys round-trip.

TYPES = ["integer", "bigint", "text", "character varying(20)", "numeric(10,2)", "boolean"]
NAMES = ["a", "b", "c", "d", "e"]


@dataclass(frozen=True)
class ColSpec:
    name: str
    type: str
    not_null: bool
    default: bool


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColSpec, ...]
    indexes: tuple[str, ...]  # column names, one index each
    unique: tuple[str, ...]
    references: str | None  # name of another table whose id this one points at


def _default_for(type_: str) -> str:
    return {"boolean": "false", "text": "'x'", "character varying(20)": "'x'"}.get(type_, "0")


def render(tables: tuple[TableSpec, ...]) -> str:
    out = ["CREATE SCHEMA app;"]
    for t in tables:
        cols = ["id integer PRIMARY KEY"]
        for c in t.columns:
            cols.append(f"{c.name} {c.type}" + (f" DEFAULT {_default_for(c.type)}" if c.default else "")
                        + (" NOT NULL" if c.not_null else ""))
        out.append(f"CREATE TABLE app.{t.name} ({', '.join(cols)});")
        out += [f"CREATE INDEX {t.name}_{c}_idx ON app.{t.name} ({c});" for c in t.indexes]
        out += [f"ALTER TABLE app.{t.name} ADD CONSTRAINT {t.name}_{c}_key UNIQUE ({c});" for c in t.unique]
    for t in tables:
        if t.references:
            out.append(f"ALTER TABLE app.{t.name} ADD COLUMN ref_id integer REFERENCES app.{t.references};")
    return "\n".join(out)


@st.composite
def table_specs(draw: st.DrawFn, name: str, others: list[str]) -> TableSpec:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    cols = tuple(ColSpec(n, draw(st.sampled_from(TYPES)), draw(st.booleans()), draw(st.booleans())) for n in names)
    indexed = draw(st.lists(st.sampled_from(names), unique=True, max_size=2)) if names else []
    unique = draw(st.lists(st.sampled_from(names), unique=True, max_size=1)) if names else []
    ref = draw(st.sampled_from([None, *others]))
    return TableSpec(name, cols, tuple(indexed), tuple(unique), ref)


@st.composite
def schemas(draw: st.DrawFn) -> tuple[TableSpec, ...]:
    names = draw(st.lists(st.sampled_from(["t1", "t2", "t3"]), unique=True, min_size=1, max_size=3))
    return tuple(draw(table_specs(n, names[:i])) for i, n in enumerate(names))


@st.composite
def evolutions(draw: st.DrawFn) -> tuple[tuple[TableSpec, ...], tuple[TableSpec, ...]]:
    """A schema and a later one: tables added or dropped, columns added at the end, dropped or altered."""
    before = draw(schemas())
    after = []
    for t in before:
        if draw(st.integers(0, 5)) == 0:
            continue  # table dropped
        after.append(draw(evolve_table(t)))
    kept = [t.name for t in after]
    after = [t if t.references in kept else TableSpec(t.name, t.columns, t.indexes, t.unique, None) for t in after]
    if draw(st.booleans()) and "t4" not in kept:
        after.append(draw(table_specs("t4", kept)))
    return before, tuple(after)


@st.composite
def evolve_table(draw: st.DrawFn, t: TableSpec) -> TableSpec:
    cols = []
    for c in t.columns:
        action = draw(st.sampled_from(["keep", "keep", "drop", "retype", "nullability", "default"]))
        if action == "retype":
            c = ColSpec(c.name, draw(st.sampled_from(TYPES)), c.not_null, False)
        elif action == "nullability":
            c = ColSpec(c.name, c.type, not c.not_null, c.default)
        elif action == "default":
            c = ColSpec(c.name, c.type, c.not_null, not c.default)
        if action != "drop":
            cols.append(c)
    free = [n for n in NAMES if n not in {c.name for c in t.columns}]
    for n in draw(st.lists(st.sampled_from(free), unique=True, max_size=2)) if free else []:
        cols.append(ColSpec(n, draw(st.sampled_from(TYPES)), False, draw(st.booleans())))
    names = [c.name for c in cols]
    indexed = draw(st.lists(st.sampled_from(names), unique=True, max_size=2)) if names else []
    unique = draw(st.lists(st.sampled_from(names), unique=True, max_size=1)) if names else []
    return TableSpec(t.name, tuple(cols), tuple(indexed), tuple(unique), t.references)


@pytest.fixture(scope="module")
def scratch_pair(server: PgServer) -> Iterator[tuple[psycopg.Connection[tuple[object, ...]], ...]]:
    """Two databases reused by every example: each example starts by dropping schema app in both."""
    with create_database(server, "") as live_db, create_database(server, "") as desired_db:
        yield live_db, desired_db


def rebuild(conn: psycopg.Connection[tuple[object, ...]], schema_sql: str) -> None:
    conn.execute("DROP SCHEMA IF EXISTS app CASCADE")
    conn.execute(schema_sql.encode())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(evolution=evolutions())
def test_random_evolutions_round_trip(scratch_pair: tuple[psycopg.Connection[tuple[object, ...]], ...],
                                      evolution: tuple[tuple[TableSpec, ...], ...]) -> None:
    """Whatever the evolution, the plan applied to the old schema gives exactly the new one."""
    live_db, desired_db = scratch_pair
    source, target = (render(s) for s in evolution)
    rebuild(live_db, source)
    rebuild(desired_db, target)
    live = catalog.read_snapshot(live_db, ["app"])
    desired = catalog.read_snapshot(desired_db, ["app"])
    plan = plan_sync(live, desired)
    apply_plan(live_db, plan)
    after = catalog.read_snapshot(live_db, ["app"])
    assert catalog.ignore_column_order(after) == catalog.ignore_column_order(desired), plan.to_sql()
    assert plan_sync(after, desired).is_empty, plan.to_sql()
    assert plan_sync(desired, desired).is_empty


# ---------------------------------------------------------------------------------------------
# Pure checks of the planner: no database needed.


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("character varying(10)", "character varying(20)", SAFE),
        ("character varying(10)", "text", SAFE),
        ("text", "character varying", SAFE),
        ("character varying(20)", "character varying(10)", DESTRUCTIVE),
        ("text", "character varying(10)", DESTRUCTIVE),
        ("numeric(10,2)", "numeric(12,2)", SAFE),
        ("numeric(10,2)", "numeric", SAFE),
        ("numeric(10,2)", "numeric(12,4)", LOCKING),
        ("numeric(12,4)", "numeric(12,2)", DESTRUCTIVE),
        ("numeric", "numeric(10,2)", DESTRUCTIVE),
        ("integer", "bigint", LOCKING),
        ("smallint", "integer", LOCKING),
        ("bigint", "integer", DESTRUCTIVE),
        ("integer", "text", LOCKING),
        ("text", "integer", DESTRUCTIVE),
        ("real", "double precision", LOCKING),
        ("double precision", "real", DESTRUCTIVE),
        ("timestamp without time zone", "timestamp with time zone", LOCKING),
        ("integer[]", "bigint[]", LOCKING),
        ("integer", "integer[]", DESTRUCTIVE),
        ("app.mood", "text", DESTRUCTIVE),
    ],
)
def test_type_changes_are_classified(old: str, new: str, kind: str) -> None:
    """Widening without a rewrite is safe, with one locking; anything that may reject data destructive."""
    assert classify_type_change(old, new)[0] == kind


def test_literal_survives_quotes_and_backslashes() -> None:
    """Comments and labels are quoted whatever standard_conforming_strings says."""
    assert literal("it's") == "'it''s'"
    assert literal("a\\b") == "E'a\\\\b'"
    assert literal(None) == "NULL"


def test_batches_keep_order_and_isolate_non_transactional_steps() -> None:
    """Transactional neighbours share a batch; a non-transactional step runs alone."""
    s = [Step("a", "x", "r"), Step("b", "x", "r", transactional=False), Step("c", "x", "r"),
         Step("d", "x", "r"), Step("e", "x", "r", transactional=False, hazards=(Hazard.INDEX_BUILD,))]
    assert [[x.sql for x in b] for b in Plan(tuple(s)).batches()] == [["a"], ["b"], ["c", "d"], ["e"]]


def _table(*columns: Column, indexes: tuple[Index, ...] = (), constraints: tuple[Constraint, ...] = ()) -> Table:
    return Table("app", "t", columns=columns, indexes=indexes, constraints=constraints)


def test_new_enum_labels_come_first_outside_the_transaction() -> None:
    """A label added inside a transaction cannot be used before commit, so it is added before."""
    live = Snapshot(enums=(catalog.Enum("app", "e", ("a",)),), tables=(_table(Column("x", "integer")),))
    desired = Snapshot(enums=(catalog.Enum("app", "e", ("a", "b")),),
                       tables=(_table(Column("x", "integer"), Column("y", "app.e", default="'b'::app.e")),))
    steps = plan_sync(live, desired).steps
    assert steps[0].sql == "ALTER TYPE app.e ADD VALUE IF NOT EXISTS 'b' AFTER 'a'"
    assert not steps[0].transactional and all(s.transactional for s in steps[1:])


def test_index_on_existing_table_is_built_concurrently_last() -> None:
    """Building an index on a table with rows must not block writes: CONCURRENTLY, after the transaction."""
    idx = Index("t_x", "CREATE INDEX t_x ON app.t USING btree (x)")
    plan = plan_sync(Snapshot(tables=(_table(Column("x", "integer")),)),
                     Snapshot(tables=(_table(Column("x", "integer"), indexes=(idx,)),)))
    assert [(s.sql, s.kind, s.transactional) for s in plan.steps] == [
        ("CREATE INDEX CONCURRENTLY t_x ON app.t USING btree (x)", LOCKING, False)]


def test_check_on_existing_table_is_added_not_valid_then_validated() -> None:
    """The long scan happens under VALIDATE, which lets reads and writes go on."""
    con = Constraint("t_x_check", "c", "CHECK ((x > 0))")
    plan = plan_sync(Snapshot(tables=(_table(Column("x", "integer")),)),
                     Snapshot(tables=(_table(Column("x", "integer"), constraints=(con,)),)))
    assert [s.sql for s in plan.steps] == [
        "ALTER TABLE app.t ADD CONSTRAINT t_x_check CHECK ((x > 0)) NOT VALID",
        "ALTER TABLE app.t VALIDATE CONSTRAINT t_x_check",
    ]


def test_dropping_a_column_is_destructive_and_names_it() -> None:
    """Data loss is flagged so that auto-sync can refuse it."""
    plan = plan_sync(Snapshot(tables=(_table(Column("x", "integer"), Column("y", "text")),)),
                     Snapshot(tables=(_table(Column("x", "integer")),)))
    assert [(s.sql, s.object) for s in plan.destructive] == [("ALTER TABLE app.t DROP COLUMN y", "column app.t.y")]


def test_names_are_quoted() -> None:
    """Identifiers that need quotes get them, in every statement."""
    table = Table("My App", "select", columns=(Column('we"ird', "text"),))
    plan = plan_sync(Snapshot(), Snapshot(schemas=(catalog.Schema("My App"),), tables=(table,)))
    assert [s.sql for s in plan.steps] == [
        'CREATE SCHEMA "My App"',
        'CREATE TABLE "My App"."select" (\n    "we""ird" text\n)',
    ]


def test_a_new_inheritance_childs_inherited_columns_get_their_own_settings() -> None:
    """CREATE TABLE ... INHERITS gives an inherited column its parent's NOT NULL, default, storage and
    compression and no statistics target; the child's own ones (and a merged column's lack of the
    parent's default) are set after the parent's steps, which recurse to it."""
    parent = Table("app", "parent", columns=(Column("id", "integer"), Column("a", "text", default="'p'"),
                                             Column("b", "text", storage="EXTERNAL", statistics=500)))
    live = Snapshot(tables=(parent,))
    child = Table("app", "child", inherits=("app.parent",), columns=(
        Column("id", "integer", not_null=True, local=False),  # its own NOT NULL
        Column("a", "text", default="'c'", local=False, statistics=300),  # its own default and target
        Column("b", "text", storage="EXTERNAL", local=False),  # the parent's storage, no target
        Column("extra", "integer", statistics=50)))  # its own column: planned as any new table's
    plan = plan_sync(live, Snapshot(tables=(parent, child)))
    assert plan.refused == ()
    assert [s.sql for s in plan.steps] == [
        "CREATE TABLE app.child (\n    extra integer\n) INHERITS (app.parent)",
        "ALTER TABLE app.child ALTER COLUMN extra SET STATISTICS 50",
        "ALTER TABLE app.child ALTER COLUMN id SET NOT NULL",
        "ALTER TABLE app.child ALTER COLUMN a SET DEFAULT 'c'",
        "ALTER TABLE app.child ALTER COLUMN a SET STATISTICS 300",
        "ALTER TABLE app.child ALTER COLUMN b SET STATISTICS -1",
    ]
    # A column the child declares too is merged: its own NOT NULL is in CREATE TABLE; without a default
    # of its own it would take the parent's; a statistics target is never copied.
    merged = Table("app", "child", inherits=("app.parent",), columns=(
        Column("id", "integer", not_null=True), Column("a", "text"), Column("b", "text", storage="EXTERNAL",
                                                                           statistics=500)))
    plan = plan_sync(live, Snapshot(tables=(parent, merged)))
    assert plan.refused == ()
    assert [s.sql for s in plan.steps] == [
        "CREATE TABLE app.child (\n    id integer NOT NULL,\n    a text,\n    b text\n) INHERITS (app.parent)",
        "ALTER TABLE app.child ALTER COLUMN a DROP DEFAULT",
        "ALTER TABLE app.child ALTER COLUMN b SET STATISTICS 500",  # not copied, even where it is the parent's
    ]
