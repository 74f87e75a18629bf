"""schema/compare.py's typed changes, and schema/account.py: every differing field of them handled by
a step of its object, refused by name, or excused by a declared reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest
from conftest import Server, initjob, write_schema

from initjob.schema import kinds
from initjob.schema.account import EXCUSES, Touch, unaccounted
from initjob.schema.compare import Action, Change, MemberChange, compare, describe_differences
from initjob.schema.diff import plan_sync, plan_touching
from initjob.schema.model import (
    Collation,
    Column,
    Composite,
    Constraint,
    Domain,
    Enum,
    Extension,
    Function,
    Index,
    Policy,
    Range,
    Schema,
    Sequence_,
    Snapshot,
    Table,
    Trigger,
    Unmanaged,
    View,
)


def _t(*columns: Column, comment: str | None = None, schema: str = "app", name: str = "t",
       parent: str | None = None, indexes: tuple[Index, ...] = ()) -> Table:
    return Table(schema, name, columns=columns, comment=comment, parent=parent,
                 bound="FOR VALUES IN (1)" if parent else None, indexes=indexes)


def _s(*tables: Table) -> Snapshot:
    return Snapshot(tables=tables)


A = Column("a", "integer")
B = Column("b", "text")
TABLE, COLUMN, SCHEMA = kinds.BY_KEY["tables"], kinds.BY_KEY["columns"], kinds.BY_KEY["schemas"]
SEQ = Sequence_("app", "s", "bigint", 1, 1, 1, 100, 1, False)


def _summary(changes: list[Change]) -> list[tuple[object, ...]]:
    """A change without the objects it carries: kind, name, action, fields, members, reordered."""
    return [(c.kind.key, c.name, c.action, c.fields,
             tuple((m.field, m.kind.key, m.name, m.action, m.fields) for m in c.members), c.reordered)
            for c in changes]


# ---------------------------------------------------------------------------------------------
# The comparison


@pytest.mark.parametrize(("old", "new", "expected"), [
    (Snapshot(), Snapshot(), []),
    (Snapshot(), Snapshot(schemas=(Schema("app"),)), [("schemas", "app", Action.CREATE, (), (), ())]),
    (Snapshot(schemas=(Schema("Big"),)), Snapshot(), [("schemas", '"Big"', Action.DROP, (), (), ())]),
    (Snapshot(schemas=(Schema("app"),)), Snapshot(schemas=(Schema("app", comment="x", acl=("r=USAGE",)),)),
     [("schemas", "app", Action.ALTER, ("comment", "acl"), (), ())]),
    # Members: which column, and which of its fields; a member of its own kind in the registry.
    (_s(_t(A, B)), _s(_t(Column("a", "bigint"), Column("c", "text"))),
     [("tables", "app.t", Action.ALTER, ("columns",),
       (("columns", "columns", "a", Action.ALTER, ("type",)), ("columns", "columns", "b", Action.DROP, ()),
        ("columns", "columns", "c", Action.CREATE, ())), ())]),
    # The same columns in another order: the field differs, no member does.
    (_s(_t(A, B)), _s(_t(B, A)), [("tables", "app.t", Action.ALTER, ("columns",), (), ("columns",))]),
    # An ignored field (PostgreSQL 18's NOT NULL constraint name) is no difference.
    (_s(_t(Column("a", "integer", True, not_null_name="x"))), _s(_t(Column("a", "integer", True, not_null_name="y"))),
     []),
    (_s(_t(Column("a", "integer", True, not_null_name="x"))),
     _s(_t(Column("a", "bigint", True, not_null_name="y"))),
     [("tables", "app.t", Action.ALTER, ("columns",), (("columns", "columns", "a", Action.ALTER, ("type",)),), ())]),
    # Functions by name and arguments: an overload is another object.
    (Snapshot(functions=(Function("app", "f", "", "function", "integer", "d"),)),
     Snapshot(functions=(Function("app", "f", "x integer", "function", "integer", "d"),)),
     [("functions", "app.f()", Action.DROP, (), (), ()), ("functions", "app.f(x integer)", Action.CREATE, (), (), ())]),
    # A refused kind: its own entry, named without its label.
    (Snapshot(unmanaged=(Unmanaged("app", "operator class app.ops", "d1"),)),
     Snapshot(unmanaged=(Unmanaged("app", "operator class app.ops", "d2"),)),
     [("operator_classes", "app.ops", Action.ALTER, ("definition",), (), ())]),
])
def test_compare_gives_typed_changes(old: Snapshot, new: Snapshot, expected: list[tuple[object, ...]]) -> None:
    assert _summary(compare(old, new)) == expected


@pytest.mark.parametrize(("old", "new", "lines"), [
    (Snapshot(), Snapshot(schemas=(Schema("app"),)), ["schema app missing"]),
    (_s(_t(A, B)), _s(_t(Column("a", "bigint", comment="c"), Column("c", "text"), comment="x")),
     ["table app.t: column a differs (type, comment)",
      "table app.t: column b unexpected", "table app.t: column c missing", "table app.t: comment differs"]),
    (_s(_t(A, B)), _s(_t(B, A)), ["table app.t: columns are in a different order"]),
    (Snapshot(sequences=(SEQ,)), Snapshot(sequences=(SEQ.__class__(**{**SEQ.__dict__, "owned_by": "app.t.a"}),)),
     ["sequence app.s: owned by differs"]),
])
def test_the_display_is_made_of_the_changes(old: Snapshot, new: Snapshot, lines: list[str]) -> None:
    """verify's lines are the typed changes said in words: one comparison."""
    assert describe_differences(old, new) == lines == [line for c in compare(old, new) for line in c.lines()]


# ---------------------------------------------------------------------------------------------
# The accounting


COMMENTED = (_s(_t(A)), _s(_t(A, comment="x")))
PARENT_RETYPED = (_s(_t(A, name="p"), _t(A, name="p1", parent="app.p")),
                  _s(_t(Column("a", "bigint"), name="p"), _t(Column("a", "bigint"), name="p1", parent="app.p")))


@pytest.mark.parametrize(("pair", "touched", "expected"), [
    # Handled (or refused: ``_Planner.refuse`` records its object the same way): a step of the object
    # as a whole, or of that field.
    (COMMENTED, {Touch("tables", "app.t")}, ()),
    (COMMENTED, {Touch("tables", "app.t", "comment")}, ()),
    # Nothing changes it: each differing field is a line naming kind, object and field.
    (COMMENTED, set(), ("table app.t: comment differs and no step changes it",)),
    ((_s(_t(A)), _s(_t(Column("a", "bigint"), comment="x"))), set(),
     ("table app.t: columns differs and no step changes it", "table app.t: comment differs and no step changes it")),
    # A step of another field, or of another object, does not account for this one.
    (COMMENTED, {Touch("tables", "app.t", "acl"), Touch("tables", "other.t"), Touch("views", "app.t")},
     ("table app.t: comment differs and no step changes it",)),
    # A schema is named without a schema.
    ((Snapshot(schemas=(Schema("app"),)), Snapshot(schemas=(Schema("app", comment="x"),))), set(),
     ("schema app: comment differs and no step changes it",)),
    # New and dropped objects: their create or drop is the step.
    ((Snapshot(), _s(_t(A))), set(), ()),
    ((_s(_t(A)), Snapshot()), set(), ()),
    # Declared reasons: column order alone; a partition's columns following its parent's.
    ((_s(_t(A, B)), _s(_t(B, A))), set(), ()),
    (PARENT_RETYPED, {Touch("tables", "app.p")}, ()),
    # ... but not when the parent does not change that column: the partition's difference is its own.
    ((_s(_t(A, name="p"), _t(A, name="p1", parent="app.p")),
      _s(_t(A, name="p"), _t(Column("a", "bigint"), name="p1", parent="app.p"))), set(),
     ("table app.p1: columns differs and no step changes it",)),
])
def test_unaccounted(pair: tuple[Snapshot, Snapshot], touched: set[Touch], expected: tuple[str, ...]) -> None:
    assert unaccounted(compare(*pair), touched) == expected


def test_every_excuse_names_a_field_of_its_kind() -> None:
    """A declared reason for a field the registry does not have could never apply: a typo, caught here."""
    for e in EXCUSES:
        assert e.field in kinds.BY_KEY[e.kind].fields, e
        assert e.reason


# ---------------------------------------------------------------------------------------------
# The planner: the accounting wired in


def test_the_planners_steps_account_for_what_they_change() -> None:
    """A plan the planner made: every differing field changed by a step, nothing refused."""
    live = _s(_t(A))
    desired = _s(_t(Column("a", "bigint"), Column("b", "text"), comment="x"))
    plan = plan_sync(live, desired)
    assert plan.steps and plan.refused == ()


@pytest.mark.parametrize(("live", "desired", "refused"), [
    # A function's signature (pg_depend's name for it) differing under the same name and arguments:
    # no step can change it, so the plan is refused by name rather than run and found unconverged.
    (Snapshot(functions=(Function("app", "f", "x integer", "function", "integer", "d", signature="app.f(integer)"),)),
     Snapshot(functions=(Function("app", "f", "x integer", "function", "integer", "d", signature="app.f(int4)"),)),
     ("function app.f(x integer): signature differs and no step changes it",)),
    # A partition's column retyped while its parent's is not (PostgreSQL allows no such database): the
    # planner changes a partition's own NOT NULL and defaults only.
    (_s(_t(A, name="p"), _t(A, name="p1", parent="app.p")),
     _s(_t(A, name="p"), _t(Column("a", "bigint"), name="p1", parent="app.p")),
     ("table app.p1: columns differs and no step changes it",)),
])
def test_a_field_no_step_changes_is_refused_by_name(live: Snapshot, desired: Snapshot,
                                                     refused: tuple[str, ...]) -> None:
    plan = plan_sync(live, desired)
    assert plan.refused == refused
    assert not plan.is_empty


_TRIGGER = Trigger("tg", "CREATE TRIGGER tg BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.f()")
_VIEW_A = View("app", "v", "SELECT 1 AS a;", columns=(Column("a", "integer"),))


@pytest.mark.parametrize(("live", "desired", "steps", "refused"), [
    # A column said to be generated STORED without an expression (no database holds it): the column
    # counts as reshaped, so the table's trigger is re-made; that step is the trigger's, not the column's.
    (_s(dataclasses.replace(_t(A, B), triggers=(_TRIGGER,))),
     _s(dataclasses.replace(_t(A, Column("b", "text", generated_kind="STORED")), triggers=(_TRIGGER,))),
     ["DROP TRIGGER tg ON app.t", _TRIGGER.definition],
     ("table app.t: columns differs and no step changes it",)),
    # A comment set in the same plan as a difference no step makes: the comment's step is the comment's.
    (_s(_t(A, B)), _s(_t(A, dataclasses.replace(B, local=False), comment="x")),
     ["COMMENT ON TABLE app.t IS 'x'"], ("table app.t: columns differs and no step changes it",)),
    (_s(_t(A, indexes=(Index("i", "CREATE INDEX i ON app.t USING btree (a)"),))),
     _s(_t(A, indexes=(Index("i", "CREATE INDEX i ON app.t USING btree (a)", valid=False),), comment="x")),
     ["COMMENT ON TABLE app.t IS 'x'"], ("table app.t: indexes differs and no step changes it",)),
    # The same of a view: its comment's step does not change its column.
    (Snapshot(views=(_VIEW_A,)),
     Snapshot(views=(dataclasses.replace(_VIEW_A, columns=(Column("a", "integer", identity="ALWAYS"),),
                                         comment="x"),)),
     ["COMMENT ON VIEW app.v IS 'x'"], ("view app.v: columns differs and no step changes it",)),
])
def test_a_step_of_another_field_does_not_account_for_this_one(live: Snapshot, desired: Snapshot, steps: list[str],
                                                               refused: tuple[str, ...]) -> None:
    """Tables and views are accounted field by field: the object has steps, but none of the differing
    field, which is refused by name. (Counted per object, as before, these plans were not refused.)"""
    plan = plan_sync(live, desired)
    assert [s.sql for s in plan.steps] == steps
    assert plan.refused == refused


def test_a_partitions_own_column_settings_are_planned() -> None:
    """Found by the accounting: a partition's statistics target had no step (only NOT NULL and default)."""
    live = _s(_t(A, name="p"), _t(Column("a", "integer", statistics=500), name="p1", parent="app.p"))
    plan = plan_sync(live, _s(_t(A, name="p"), _t(A, name="p1", parent="app.p")))
    assert plan.refused == ()
    assert [s.sql for s in plan.steps] == ["ALTER TABLE app.p1 ALTER COLUMN a SET STATISTICS -1"]


def test_a_partition_following_its_parent_is_not_refused() -> None:
    plan = plan_sync(*PARENT_RETYPED)
    assert plan.refused == ()
    assert [s.sql for s in plan.steps] == ["ALTER TABLE app.p ALTER COLUMN a TYPE bigint"]


def test_a_member_change_says_its_fields() -> None:
    change = compare(_s(_t(A)), _s(_t(Column("a", "integer", True))))[0]
    assert change.members == (MemberChange("columns", COLUMN, "a", Action.ALTER, ("not_null",)),)
    assert change.kind is TABLE and change.members_of("indexes") == ()


# ---------------------------------------------------------------------------------------------
# Through the real command


MATVIEW = """
CREATE SCHEMA shop;
CREATE TABLE shop.items (id integer PRIMARY KEY, qty integer NOT NULL DEFAULT 0, note text);
CREATE MATERIALIZED VIEW shop.totals AS SELECT id, qty, note FROM shop.items;
CREATE TABLE shop.events (id integer, kind integer, body text) PARTITION BY LIST (kind);
CREATE TABLE shop.events_1 PARTITION OF shop.events FOR VALUES IN (1);
"""


@pytest.mark.parametrize("change", [
    # Found by the accounting: refused by name ("view shop.totals: columns differs and no step changes
    # it") until the planner had a step for a materialized view's column settings.
    "ALTER MATERIALIZED VIEW shop.totals ALTER COLUMN qty SET STATISTICS 500",
    "ALTER MATERIALIZED VIEW shop.totals ALTER COLUMN note SET STORAGE EXTERNAL",
    # The same of a partition's column ("table shop.events_1: columns differs ..."): a partition's
    # columns follow its parent's, but these three settings are its own.
    "ALTER TABLE shop.events_1 ALTER COLUMN id SET STATISTICS 500",
    "ALTER TABLE shop.events_1 ALTER COLUMN body SET STORAGE EXTERNAL",
])
def test_column_settings_no_step_undid_are_undone(server: Server, tmp_path: Path, change: str) -> None:
    """A hand-made change of a field the accounting found unplanned, on a real database: run undoes
    it (nothing refused), and verify agrees."""
    name = server.create_db()
    try:
        sql_dir = write_schema(tmp_path, {"shop.sql": MATVIEW})
        env = {"DATABASE_URL": server.uri(name), "INITJOB_SQL_DIR": str(sql_dir)}
        assert initjob("run", **env).code == 0
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            conn.execute(change.encode())
        assert initjob("verify", **env).code == 3
        run = initjob("run", **env)
        assert run.code == 0 and run.event("run.finished")["applied"] > 0, run.stderr
        assert initjob("verify", **env).code == 0
    finally:
        server.drop_db(name)



# ---------------------------------------------------------------------------------------------
# Every planned field of the registry, changed alone: a step, or (where no database can hold the
# difference) a refusal by name; never neither.

_BASE: dict[str, object] = {
    "schemas": Schema("app"),
    "extensions": Extension("pg_trgm", "app"),
    "enums": Enum("app", "e", ("a", "b")),
    "domains": Domain("app", "d", "integer", constraints=(Constraint("d_check", "c", "CHECK (VALUE > 0)"),)),
    "composites": Composite("app", "c", (Column("a", "integer"),)),
    "sequences": SEQ,
    "tables": Table("app", "t", columns=(Column("a", "integer"), Column("b", "text")),
                    constraints=(Constraint("t_pkey", "p", "PRIMARY KEY (a)"),),
                    indexes=(Index("t_b", "CREATE INDEX t_b ON app.t USING btree (b)"),),
                    triggers=(Trigger("tg", "CREATE TRIGGER tg BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION "
                                      "app.f()"),),
                    policies=(Policy("pol", "ALL", True, ("PUBLIC",), "true"),)),
    "views": View("app", "v", "SELECT 1 AS a;", columns=(Column("a", "integer"),)),
    "functions": Function("app", "f", "", "function", "integer", "CREATE OR REPLACE FUNCTION app.f()\n RETURNS integer"
                          "\n LANGUAGE sql\nAS $function$SELECT 1$function$\n"),
    "collations": Collation("app", "co", "libc", "C", "C", None),
    "ranges": Range("app", "r", ("subtype = integer",)),
}
# A value for each field, by kind key and field (or field alone).
_VALUES: dict[str, object] = {
    "acl": ("someone=USAGE",), "comment": "hi", "schema": "other", "labels": ("a", "b", "c"), "type": "integer",
    "not_null": True, "default": "5", "collation": '"C"', "start": 5, "increment": 2, "minimum": 0, "maximum": 2000,
    "cache": 5, "cycle": True, "owned_by": "app.t.a", "partition_key": "RANGE (a)", "parent": "app.p",
    "bound": "FOR VALUES FROM (1) TO (2)", "unlogged": True, "rls": True, "rls_forced": True,
    "options": ("fillfactor=50",), "inherits": ("app.p",), "replica_identity": "f", "definition": "SELECT 2 AS a;",
    "materialized": True, "populated": False, "kind": "procedure", "result": "bigint", "provider": "icu",
    "collate": "x", "ctype": "x", "locale": "und", "deterministic": False,
    "sequences.type": "integer", "domains.type": "bigint", "ranges.options": ("subtype = bigint",),
    "functions.definition": "CREATE OR REPLACE FUNCTION app.f()\n RETURNS integer\n LANGUAGE sql\nAS $function$SELECT 2"
                            "$function$\n",
    "columns.default": "'x'", "columns.identity": "ALWAYS", "columns.generated": "'y'",
    "columns.generated_kind": "STORED",
    "columns.local": False, "columns.storage": "EXTERNAL", "columns.compression": "lz4", "columns.statistics": 100,
    "columns.acl": ("someone=SELECT",), "columns.identity_options": ("CACHE 5",), "columns.type": "bigint",
    "constraints.kind": "u", "constraints.definition": "PRIMARY KEY (a, b)", "constraints.validated": False,
    "constraints.clustered": True, "constraints.index_comment": "ic", "indexes.valid": False,
    "indexes.definition": "CREATE INDEX t_b ON app.t USING btree (a, b)", "indexes.clustered": True,
    "indexes.replica_identity": True, "indexes.parent_index": "app.pi", "triggers.enabled": "D",
    "triggers.definition": "CREATE TRIGGER tg BEFORE UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.f()",
    "policies.command": "SELECT", "policies.permissive": False, "policies.roles": ("someone",),
    "policies.using": "false", "policies.check": "true",
}
# Differences no database holds, refused by name rather than planned: a libc collation has no locale;
# a plain table's column is its own (``local``); identity options without identity; a constraint not
# validated whose definition does not say NOT VALID; an invalid index wanted.
# A generation kind without a generation expression is one too (found when the accounting went field
# by field: until then a trigger re-made for the "reshaped" column counted for it).
_NO_DATABASE_HOLDS = {("collations", "locale"), ("columns", "local"), ("columns", "identity_options"),
                      ("columns", "generated_kind"), ("constraints", "validated"), ("indexes", "valid")}
# The fields of a table or view that only dropping and creating it again can change: there the step
# is of the object as a whole (DROP, then CREATE).
_REMADE = {("tables", "partition_key"), ("views", "definition"), ("views", "materialized"), ("views", "options"),
           ("views", "populated"), ("views.columns", "type"), ("views.columns", "collation")}
# A view's members changed alone: its columns' settings, an index of a materialized view, a view's
# INSTEAD OF trigger. (The other fields are a table's: a view's column has no NOT NULL or identity, its
# index is no replica identity and attached to no parent's.)
_VIEW_FIELDS = {"columns": ("type", "default", "collation", "comment", "storage", "compression", "statistics", "acl"),
                "indexes": ("definition", "comment", "clustered"), "triggers": ("definition", "enabled", "comment")}
_VIEW = View("app", "v", "SELECT 1 AS a;", materialized=True, columns=(Column("a", "integer"),),
             indexes=(Index("v_a", "CREATE INDEX v_a ON app.v USING btree (a)"),),
             triggers=(Trigger("tg", "CREATE TRIGGER tg INSTEAD OF INSERT ON app.v FOR EACH ROW EXECUTE FUNCTION "
                               "app.f()"),))


def _value(kind: str, f: str) -> object:
    return _VALUES.get(f"{kind}.{f}", _VALUES.get(f))


def _field_cases() -> list[tuple[str, str, Snapshot, Snapshot]]:
    """(kind, field, before, after): each planned field of each top-level kind, and each planned field
    of each member of a table (kind: the member's) and of a view (kind "views.<member>")."""
    out: list[tuple[str, str, Snapshot, Snapshot]] = []
    for kind in kinds.TOP_LEVEL:
        base = _BASE[kind.key]
        for f in (f for f, h in kind.fields.items() if h is kinds.Handling.PLANNED):
            other = dataclasses.replace(base, **{f: _VALUES.get(f"{kind.key}.{f}", _VALUES.get(f))})
            out.append((kind.key, f, Snapshot(**{kind.key: (base,)}), Snapshot(**{kind.key: (other,)})))
    table = _BASE["tables"]
    assert isinstance(table, Table)
    for member in kinds.MEMBERS:
        field = next((o.split(".")[1] for o in member.owners if o.startswith("tables.")), None)
        if field is None:
            continue
        held = getattr(table, field)
        for f in (f for f, h in member.fields.items() if h is kinds.Handling.PLANNED):
            changed = dataclasses.replace(held[-1], **{f: _VALUES.get(f"{member.key}.{f}", _VALUES.get(f))})
            other = dataclasses.replace(table, **{field: (*held[:-1], changed)})
            out.append((member.key, f, Snapshot(tables=(table,)), Snapshot(tables=(other,))))
    for field, planned in _VIEW_FIELDS.items():
        member = kinds.BY_KEY[field]
        held = getattr(_VIEW, field)
        for f in planned:
            assert member.fields[f] is kinds.Handling.PLANNED, (field, f)
            changed = dataclasses.replace(held[-1], **{f: _value(member.key, f)})
            other = dataclasses.replace(_VIEW, **{field: (*held[:-1], changed)})
            out.append((f"views.{field}", f, Snapshot(views=(_VIEW,)), Snapshot(views=(other,))))
    return out


def _owner_field(kind: str, field: str) -> tuple[str, str] | None:
    """The (kind, field) of a table or view a case changes, as the accounting counts it: a member's
    change is a change of its owner's field holding it. None: a kind other than tables and views."""
    if kind in ("tables", "views"):
        return kind, field
    if kind.startswith("views."):
        return "views", kind.split(".")[1]
    owner = next((o for o in kinds.BY_KEY[kind].owners if o.startswith("tables.")), None) if kind in kinds.BY_KEY \
        and kinds.BY_KEY[kind].is_member else None
    return ("tables", owner.split(".")[1]) if owner else None


@pytest.mark.parametrize(("kind", "field", "a", "b"), _field_cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_planned_field_changed_alone_is_planned(kind: str, field: str, a: Snapshot, b: Snapshot) -> None:
    """Generated from the registry: a planned field added to a kind without a step fails here (or, for a
    difference no database holds, must be refused by name). Both directions."""
    assert a != b, f"the value for {kind}.{field} is no change: fix _VALUES"
    for live, desired in ((a, b), (b, a)):
        plan, touched = plan_touching(live, desired)
        if (kind, field) in _NO_DATABASE_HOLDS:
            assert plan.refused or plan.steps, (kind, field)
            continue
        assert plan.steps and not plan.refused, (kind, field, plan.refused)
        owner = _owner_field(kind, field)
        if owner is None:
            continue
        # A table's or view's field is changed by a step of that very field: a step of another field of
        # the object (a trigger re-made, a comment set) does not count for it.
        name = next(c.name for c in compare(live, desired) if c.kind.key == owner[0])
        whole = Touch(owner[0], name) in touched
        assert Touch(owner[0], name, owner[1]) in touched or ((kind, field) in _REMADE and whole), (kind, field)
        if (kind, field) in _REMADE or whole:
            # The object as a whole: only a DROP and a CREATE of it.
            assert any(s.sql.startswith("DROP ") for s in plan.steps), (kind, field)
            assert any(s.sql.startswith("CREATE ") for s in plan.steps), (kind, field)
