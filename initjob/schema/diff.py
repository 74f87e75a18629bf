"""The auto-sync planner: two catalog snapshots in, an ordered list of classified DDL steps out.

Pure: no connection, no clock. ``plan_sync(live, desired)`` says what to run on ``live`` so that its
snapshot becomes ``desired``. Steps are ordered by phase (drops in reverse dependency order, then
creations in dependency order, then the online index builds that cannot run in a transaction) and
each carries its class:

* ``safe``: cannot lose data and takes no long lock;
* ``locking``: rewrites or scans a table, or is the online form of an operation that would (an index
  built ``CONCURRENTLY``, a constraint added ``NOT VALID`` and then validated);
* ``destructive``: can lose or reject data (drop a table, a column, an enum label; narrow a type).

Run the steps in order, each batch of ``Plan.batches()`` as a unit: a transactional batch in one
transaction, a non-transactional step on its own in autocommit (``ALTER TYPE ... ADD VALUE`` comes
first so that later steps may use the new label; ``CREATE INDEX CONCURRENTLY`` comes last).
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from initjob.names import comment_text
from initjob.schema import checks, kinds
from initjob.schema.account import Touch, touch, unaccounted
from initjob.schema.catalog import snapshot_to_json
from initjob.schema.compare import Action, Change, compare
from initjob.schema.graph import Graph, column_node, node, relation_node, type_node
from initjob.schema.model import (
    Collation,
    Column,
    Composite,
    Constraint,
    Domain,
    Enum,
    Function,
    Index,
    Policy,
    Sequence_,
    Snapshot,
    Table,
    Trigger,
    View,
    quote_ident,
)
from initjob.schema.order import Phase as _Phase
from initjob.schema.order import StepOrder, dependency_order, mentions, refers_to

SAFE = "safe"
DESTRUCTIVE = "destructive"
LOCKING = "locking"


class Hazard(StrEnum):
    """What a step may do besides its purpose; shown by ``initjob plan``, only DATA_LOSS is refused."""

    DATA_LOSS = "data-loss"  # rows, column values or enum labels in use may be lost or altered
    TABLE_REWRITE = "table-rewrite"  # the table is rewritten under an exclusive lock
    LONG_LOCK = "long-lock"  # scans or checks every row while holding a lock that blocks writes
    INDEX_BUILD = "index-build"  # builds an index (online when CONCURRENTLY)
    MAY_FAIL = "may-fail"  # fails on data that does not fit (NULLs, duplicates, out-of-range values)
    OBJECT_DROP = "object-drop"  # drops an object holding no rows (view, function, type, schema, sequence)
    NOT_TRANSACTIONAL = "not-transactional"  # runs on its own, outside a transaction


def kind_of(hazards: tuple[Hazard, ...]) -> str:
    """The class a step's hazards put it in: destructive only when data may be lost."""
    if Hazard.DATA_LOSS in hazards:
        return DESTRUCTIVE
    if {Hazard.TABLE_REWRITE, Hazard.LONG_LOCK, Hazard.INDEX_BUILD} & set(hazards):
        return LOCKING
    return SAFE


@dataclass(frozen=True)
class Step:
    """One DDL statement, what it touches, why, and what it may do besides (its hazards)."""

    sql: str
    object: str
    reason: str
    transactional: bool = True
    hazards: tuple[Hazard, ...] = ()
    # The live rows this step needs (no NULL, no duplicate, values that fit): counted before the run.
    precheck: checks.DataCheck | None = None

    @property
    def kind(self) -> str:
        """SAFE | DESTRUCTIVE | LOCKING: derived from the hazards, the one classification."""
        return kind_of(self.hazards)

    def to_json(self) -> dict[str, Any]:
        """The step as ``plan --json`` prints it (the class beside the hazards it comes from)."""
        out = asdict(self)
        return {"sql": out.pop("sql"), "kind": self.kind, **out}


@dataclass(frozen=True)
class Plan:
    """The ordered steps that carry a live schema to the desired one."""

    steps: tuple[Step, ...] = ()
    # What auto-sync does not do (a kind it does not manage, a field no step changes), one line each:
    # the plan must not run.
    refused: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.steps and not self.refused

    @property
    def destructive(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind == DESTRUCTIVE)

    @property
    def locking(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind == LOCKING)

    def batches(self) -> tuple[tuple[Step, ...], ...]:
        """Consecutive transactional steps grouped (one transaction each); other steps alone, in order."""
        out: list[list[Step]] = []
        for step in self.steps:
            if step.transactional and out and out[-1][-1].transactional:
                out[-1].append(step)
            else:
                out.append([step])
        return tuple(tuple(b) for b in out)

    def to_sql(self) -> str:
        """The plan as a script, each step preceded by a comment with its class.

        Runnable with psql in autocommit; to group the transactional steps, use ``batches()``.
        """
        return "".join(  # names reach the comment line: escaped, or a line break in one starts a statement
            f"-- [{s.kind}{'' if s.transactional else ', outside a transaction'}] "
            f"{comment_text(f'{s.object}: {s.reason}')}\n{s.sql};\n\n"
            for s in self.steps
        )


# ---------------------------------------------------------------------------------------------
# Quoting: every name goes through quote_ident, every text through literal.

def qname(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def literal(text: str | None) -> str:
    """A string constant that means the same whatever standard_conforming_strings says."""
    if text is None:
        return "NULL"
    quoted = "'" + text.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in text else quoted


def _by_name(items: Iterable[Any]) -> dict[str, Any]:
    return {i.name: i for i in items}


def _key(item: Any) -> tuple[str, ...]:
    return (item.schema, item.name, getattr(item, "arguments", ""))


# ---------------------------------------------------------------------------------------------
# The planner


@dataclass
class _Planner:
    """Accumulates steps; one instance per plan_sync call, never escapes it."""

    live: Snapshot
    desired: Snapshot
    # The one comparison (schema/compare.py), by kind key: the passes of the simple kinds plan from it,
    # and the accounting checks every differing field of it against ``touched``.
    changes: dict[str, list[Change]] = field(default_factory=dict)
    # What the steps added (and the refusals made) change, and what the steps being added now change.
    touched: set[Touch] = field(default_factory=set)
    touching: tuple[Touch, ...] = ()
    # Each step's phase and declared needs: schema/order.py orders them.
    steps: StepOrder[Step] = field(default_factory=StepOrder)
    # Qualified names whose shape changes under dependants (tables, views, types, "fn(" for functions):
    # views that refer to them are dropped before and re-created after.
    changed: set[str] = field(default_factory=set)
    recreated_tables: set[tuple[str, ...]] = field(default_factory=set)
    recreated_views: set[tuple[str, ...]] = field(default_factory=set)
    recreated_enums: set[tuple[str, ...]] = field(default_factory=set)
    recreated_functions: set[tuple[str, ...]] = field(default_factory=set)
    # Range types dropped and made again (their columns are not converted, unlike a retired type's):
    # like every re-created type, they start from the default privileges.
    remade_ranges: set[tuple[str, ...]] = field(default_factory=set)
    # Tables whose primary or unique keys change: foreign keys pointing at them are re-added.
    rekeyed: set[str] = field(default_factory=set)
    # (table, column) dropped and added again: its indexes and constraints went with it.
    regenerated: set[tuple[str, str]] = field(default_factory=set)

    refused: list[str] = field(default_factory=list)
    # pg_depend names of what is dropped or changes shape: what depends on them is re-created.
    changed_nodes: set[str] = field(default_factory=set)
    desired_text: str | None = None  # the desired snapshot as JSON, once needed
    _hit_key: frozenset[str] = frozenset()
    _hit: set[str] = field(default_factory=set)
    live_graph: Graph = field(default_factory=lambda: Graph(()))
    desired_graph: Graph = field(default_factory=lambda: Graph(()))
    live_tables: dict[str, Table] | None = None  # by qualified name, once a data check asks
    desired_tables: dict[str, Table] | None = None  # by qualified name, once needed

    def add(self, phase: _Phase, sql: str, obj: str, reason: str, hazards: tuple[Hazard, ...] = (),
            transactional: bool = True, precheck: checks.DataCheck | None = None, needs: Iterable[str] = ()) -> None:
        found = hazards + (() if transactional else (Hazard.NOT_TRANSACTIONAL,))
        found += (Hazard.MAY_FAIL,) if precheck is not None and Hazard.MAY_FAIL not in found else ()
        self.steps.add(phase, Step(sql, obj, reason, transactional, found, precheck), needs)
        self.touched.update(self.touching)

    def about(self, *touches: Touch) -> _About:
        """The steps added inside change these objects (fields): what the accounting counts them for."""
        return _About(self, touches)

    def refuse(self, line: str, *touches: Touch) -> None:
        """A change auto-sync does not make, named in the plan's refusals (exit 3)."""
        self.refused.append(line)
        self.touched.update(touches)

    def of_kind(self, key: str) -> list[Change]:
        """The changes of one kind, by identity (the order the passes planned in before there were changes)."""
        return sorted(self.changes.get(key, ()), key=_identity)

    def live_table(self, name: str) -> Table | None:
        """The live table of this qualified name: a data check reads its rows (None for a new table)."""
        if self.live_tables is None:
            self.live_tables = {qname(t.schema, t.name): t for t in self.live.tables}
        return self.live_tables.get(name)

    def dependents_of_changes(self) -> set[str]:
        """What depends (in the live database) on the objects dropped or reshaped so far; cached, as
        every table asks."""
        key = frozenset(self.changed_nodes)
        if key != self._hit_key:
            self._hit_key, self._hit = key, self.live_graph.dependents(key)
        return self._hit

    def plan(self) -> Plan:
        return Plan(tuple(self.steps.ordered()), tuple(self.refused))


class _About:
    """``with p.about(...)``: a plain context manager, not ``contextlib``'s generator one, which cost a
    tenth of planning 1,000 tables (one per table, field and grant)."""

    __slots__ = ("planner", "saved", "touches")

    def __init__(self, planner: _Planner, touches: tuple[Touch, ...]) -> None:
        self.planner, self.touches = planner, touches
        self.saved: tuple[Touch, ...] = ()

    def __enter__(self) -> None:
        self.saved, self.planner.touching = self.planner.touching, self.touches

    def __exit__(self, *_: object) -> None:
        self.planner.touching = self.saved


def plan_sync(live: Snapshot, desired: Snapshot) -> Plan:
    """The steps that make ``live`` equal ``desired``; empty when they are equal already."""
    return plan_touching(live, desired)[0]


def plan_touching(live: Snapshot, desired: Snapshot) -> tuple[Plan, frozenset[Touch]]:
    """``plan_sync``, and what its steps and refusals were counted for by the accounting (which object,
    which field): a test can ask that a field is changed by a step of that very field."""
    if live == desired:
        return Plan(), frozenset()
    # Planning allocates many small sets and no cycles; with two large snapshots alive, the cyclic
    # collector's full passes took four fifths of the time on 1,000 tables.
    paused = gc.isenabled()
    gc.disable()
    try:
        p = _plan(live, desired)
        return p.plan(), frozenset(p.touched)
    finally:
        if paused:
            gc.enable()


def _plan(live: Snapshot, desired: Snapshot) -> _Planner:
    changes = compare(live, desired)
    by_kind: dict[str, list[Change]] = {}
    for change in changes:
        by_kind.setdefault(change.kind.key, []).append(change)
    p = _Planner(live, desired, by_kind, live_graph=Graph(live.depends), desired_graph=Graph(desired.depends))
    _refuse_unmanaged(p)
    _plan_schemas(p)
    _plan_extensions(p)
    _plan_collations(p)
    _plan_ranges(p)
    _plan_enums(p)
    _plan_domains(p)
    _plan_composites(p)
    _plan_sequences(p)
    _plan_functions(p)
    _plan_tables(p)
    _plan_attached_indexes(p)
    _keep_owned_sequences(p)
    _plan_views(p)
    _plan_late_objects(p)
    _plan_grants(p)
    # Every differing field accounted for: what no step changes and nothing excuses is refused by name.
    p.refused.extend(unaccounted(changes, p.touched))
    return p


def _identity(change: Change) -> tuple[Any, ...]:
    return tuple(getattr(change.item, f) for f, h in change.kind.fields.items() if h is kinds.Handling.IDENTITY)


_REFUSED_WORDS = {Action.CREATE: "to create", Action.DROP: "to drop", Action.ALTER: "changed"}


def _refuse_unmanaged(p: _Planner) -> None:
    """Objects of kinds auto-sync does not manage: any difference in them is refused by name."""
    found = [c for kind in kinds.REFUSED for c in p.changes.get(kind.key, ())]
    # By the object's whole name ("operator app.=== ..."), whatever its kind: the order they were always in.
    for c in sorted(found, key=lambda c: c.item.name):
        p.refuse(f"{c.item.name} ({_REFUSED_WORDS[c.action]}) is not managed by auto-sync", touch(c))


# ---------------------------------------------------------------------------------------------
# Schemas and extensions


def _plan_schemas(p: _Planner) -> None:
    for c in p.of_kind("schemas"):
        name = c.item.name
        with p.about(touch(c)):
            if c.action is Action.DROP:
                p.add(_Phase.DROP_SCHEMAS, f"DROP SCHEMA {quote_ident(name)}", f"schema {name}",
                      "not in the desired schema (its objects are dropped first)", hazards=(Hazard.OBJECT_DROP,))
            elif c.action is Action.CREATE:
                p.add(_Phase.SCHEMAS, f"CREATE SCHEMA {quote_ident(name)}", f"schema {name}", "new schema")
        if c.new is not None:
            _comment_of(p, c, f"SCHEMA {quote_ident(name)}", f"schema {name}")


def _plan_extensions(p: _Planner) -> None:
    for c in p.of_kind("extensions"):
        ext = c.item
        name = ext.name
        if c.action is Action.DROP:
            with p.about(touch(c)):
                p.add(_Phase.DROP_EXTENSIONS, f"DROP EXTENSION {quote_ident(name)}", f"extension {name}",
                      "not in the desired schema; fails while a column still uses one of its types",
                      hazards=(Hazard.OBJECT_DROP,))
            continue
        if c.action is Action.CREATE:
            with p.about(touch(c)):
                p.add(_Phase.EXTENSIONS,
                      f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)} SCHEMA {quote_ident(ext.schema)}",
                      f"extension {name}", "new extension")
        elif "schema" in c.fields:
            with p.about(touch(c, "schema")):
                p.add(_Phase.EXTENSIONS,
                      f"ALTER EXTENSION {quote_ident(name)} SET SCHEMA {quote_ident(ext.schema)}",
                      f"extension {name}", "moved to another schema")
        _comment_of(p, c, f"EXTENSION {quote_ident(name)}", f"extension {name}")


def _plan_collations(p: _Planner) -> None:
    # Every field but the comment is in CREATE COLLATION, which cannot be altered: dropped and made again.
    remade = [c for c in p.of_kind("collations")
              if c.action is not Action.ALTER or _collation_sql(c.old) != _collation_sql(c.new)]
    again = {id(c) for c in remade}
    for c in remade:
        if c.old is not None:
            with p.about(touch(c)):
                _drop_type(p, "COLLATION", c.old, "collation")
    for c in p.of_kind("collations"):
        if c.new is None:
            continue
        name = qname(c.new.schema, c.new.name)
        if id(c) in again:
            with p.about(touch(c)):
                p.add(_Phase.SCHEMAS, _collation_sql(c.new), f"collation {name}", "new or changed collation")
        _comment_of(p, c, f"COLLATION {name}", f"collation {name}", made=id(c) in again)


def _collation_sql(c: Collation) -> str:
    opts = [f"provider = {c.provider}"]
    if c.provider == "libc":
        opts += [f"lc_collate = {literal(c.collate)}", f"lc_ctype = {literal(c.ctype)}"]
    else:
        opts += [f"locale = {literal(c.locale)}"]
    opts += [] if c.deterministic else ["deterministic = false"]
    return f"CREATE COLLATION {qname(c.schema, c.name)} ({', '.join(opts)})"


def _plan_ranges(p: _Planner) -> None:
    # A range type's options cannot be altered: dropped and made again.
    remade = [c for c in p.of_kind("ranges") if c.action is not Action.ALTER or "options" in c.fields]
    again = {id(c) for c in remade}
    for c in remade:
        if c.old is not None:
            with p.about(touch(c)):
                _drop_type(p, "TYPE", c.old, "range type")
            p.remade_ranges.add((c.old.schema, c.old.name))
    for c in p.of_kind("ranges"):
        if c.new is None:
            continue
        rng = c.new
        name = qname(rng.schema, rng.name)
        if id(c) in again:
            if any(o.startswith("canonical") for o in rng.options):
                p.refuse(f"range type {name} with a canonical function is not managed by auto-sync", touch(c))
            with p.about(touch(c)):
                p.add(_Phase.TYPES, f"CREATE TYPE {name} AS RANGE ({', '.join(rng.options)})",
                      f"range type {name}", "new or changed range type")
        _comment_of(p, c, f"TYPE {name}", f"range type {name}", made=id(c) in again)


# ---------------------------------------------------------------------------------------------
# Types


def _plan_enums(p: _Planner) -> None:
    _drop_gone_types(p, "enums", "TYPE", "enum")
    for c in p.of_kind("enums"):
        enum = c.new
        if enum is None:
            continue
        remade = False
        if c.action is Action.CREATE:
            with p.about(touch(c)):
                _create_enum(p, enum)
        elif "labels" in c.fields:
            with p.about(touch(c, "labels")):
                remade = _alter_enum(p, c.old, enum)
        # A re-created enum is a new type without a comment, whatever the old one had.
        _comment_of(p, c, f"TYPE {qname(enum.schema, enum.name)}", f"enum {qname(enum.schema, enum.name)}",
                    made=remade)


def _drop_gone_types(p: _Planner, key: str, word: str, label: str) -> None:
    """DROP every type of this kind that is not in the desired schema (its change accounted for)."""
    for c in p.of_kind(key):
        if c.action is Action.DROP:
            with p.about(touch(c)):
                _drop_type(p, word, c.old, label)


def _drop_type(p: _Planner, word: str, item: Any, label: str) -> None:
    name = qname(item.schema, item.name)
    # A column of a table that stays keeps the type until ALTER_TABLES converts or drops it (a renamed
    # enum: the column moves to the new type first); only then can the old one go.
    phase = _Phase.DROP_OLD_TYPES if _used_by_kept_column(p, name) else _Phase.DROP_TYPES
    p.add(phase, f"DROP {word} {name}", f"{label} {name}",
          "not in the desired schema; fails while a column still uses it", hazards=(Hazard.OBJECT_DROP,))


def _used_by_kept_column(p: _Planner, type_name: str) -> bool:
    kept = {_key(t) for t in p.desired.tables}
    return any(c.type.removesuffix("[]") == type_name or c.collation == type_name
               for t in p.live.tables if _key(t) in kept for c in t.columns)


def _create_enum(p: _Planner, enum: Enum) -> None:
    name = qname(enum.schema, enum.name)
    labels = ", ".join(literal(label) for label in enum.labels)
    p.add(_Phase.TYPES, f"CREATE TYPE {name} AS ENUM ({labels})", f"enum {name}", "new enum")


def _alter_enum(p: _Planner, old: Enum, new: Enum) -> bool:
    """Add labels in place when the old ones keep their order; otherwise re-create the type (True)."""
    name = qname(new.schema, new.name)
    kept = [label for label in new.labels if label in old.labels]
    if kept != list(old.labels):
        _recreate_enum(p, old, new)
        return True
    for i, label in enumerate(new.labels):
        if label in old.labels:
            continue
        place = f"AFTER {literal(new.labels[i - 1])}" if i else f"BEFORE {literal(new.labels[1])}"
        sql = f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS {literal(label)} {place}"
        if _label_used(p, label):
            # A label added inside a transaction cannot be used until it commits: this one is used by
            # a later step, so it commits on its own first.
            p.add(_Phase.ENUM_VALUES, sql, f"enum {name}", f"new label {label}", transactional=False)
        else:
            # Inside the plan's transaction: a failed plan takes it back with everything else.
            p.add(_Phase.TYPES, sql, f"enum {name}", f"new label {label}")
    return False


def _label_used(p: _Planner, label: str) -> bool:
    """Could a definition in the desired state name this label? (Generous: any quoted mention.)"""
    if p.desired_text is None:
        p.desired_text = snapshot_to_json(replace(p.desired, enums=()))
    return literal(label) in p.desired_text


def _recreate_enum(p: _Planner, old: Enum, new: Enum) -> None:
    _retire_type(p, new.schema, new.name, "TYPE",
                 "labels removed or reordered: rows holding a removed label make the conversion fail")
    _create_enum(p, new)


def _retire_type(p: _Planner, schema: str, name_: str, word: str, reason: str) -> None:
    """Rename a type out of the way so its new version can be created; columns using it are converted
    (through text) in ALTER_TABLES, and the old copy dropped after them."""
    name = qname(schema, name_)
    temp = f"{name_}__initjob_old"
    p.add(_Phase.TYPES, f"ALTER {word} {name} RENAME TO {quote_ident(temp)}", f"type {name}", reason,
          (Hazard.DATA_LOSS,))
    p.add(_Phase.DROP_OLD_TYPES, f"DROP {word} {qname(schema, temp)}", f"type {name}",
          "the re-created type's old copy", hazards=(Hazard.OBJECT_DROP,))
    p.recreated_enums.add((schema, name_))
    p.changed.add(name)
    p.changed_nodes.add(type_node(schema, name_))


def _plan_domains(p: _Planner) -> None:
    _drop_gone_types(p, "domains", "DOMAIN", "domain")
    for c in p.of_kind("domains"):
        dom, old = c.new, c.old
        if dom is None:
            continue
        if old is not None and {"type", "collation"} & set(c.fields):
            # Like an enum: the old one renamed, columns converted to the new one, the old dropped.
            with p.about(touch(c)):
                _retire_type(p, old.schema, old.name, "DOMAIN", "base type changed: every value is converted")
            old = None
        if old is None:
            with p.about(touch(c)):
                _create_domain(p, dom)
        else:
            _alter_domain(p, c)
        _comment_of(p, c, f"DOMAIN {qname(dom.schema, dom.name)}", f"domain {qname(dom.schema, dom.name)}",
                    made=old is None)


def _create_domain(p: _Planner, dom: Domain) -> None:
    name = qname(dom.schema, dom.name)
    parts = [f"CREATE DOMAIN {name} AS {dom.type}"]
    parts += [f"COLLATE {dom.collation}"] if dom.collation else []
    parts += [f"DEFAULT {dom.default}"] if dom.default is not None else []
    parts += ["NOT NULL"] if dom.not_null else []
    p.add(_Phase.TYPES, " ".join(parts), f"domain {name}", "new domain")
    for con in dom.constraints:
        p.add(_Phase.TYPES, f"ALTER DOMAIN {name} ADD CONSTRAINT {quote_ident(con.name)} {con.definition}",
              f"domain {name}", f"new constraint {con.name}")
        _comment(p, f"CONSTRAINT {quote_ident(con.name)} ON DOMAIN {name}", f"domain {name}", None, con.comment)


def _alter_domain(p: _Planner, c: Change) -> None:
    old, new = c.old, c.new
    name = qname(new.schema, new.name)
    obj = f"domain {name}"
    if "default" in c.fields:
        sql = f"SET DEFAULT {new.default}" if new.default is not None else "DROP DEFAULT"
        with p.about(touch(c, "default")):
            p.add(_Phase.TYPES, f"ALTER DOMAIN {name} {sql}", obj, "default changed")
    if "not_null" in c.fields:
        with p.about(touch(c, "not_null")):
            if new.not_null:
                p.add(_Phase.TYPES, f"ALTER DOMAIN {name} SET NOT NULL", obj,
                      "checks every column of this domain; fails if one holds NULL",
                      (Hazard.LONG_LOCK, Hazard.MAY_FAIL))
            else:
                p.add(_Phase.TYPES, f"ALTER DOMAIN {name} DROP NOT NULL", obj, "NULL allowed")
    if "constraints" not in c.fields:
        return
    # A constraint that differs in any field (its comment too) is dropped and added again.
    with p.about(touch(c, "constraints")):
        before, after = _by_name(old.constraints), _by_name(new.constraints)
        for cname, con in before.items():
            if after.get(cname) != con:
                p.add(_Phase.TYPES, f"ALTER DOMAIN {name} DROP CONSTRAINT {quote_ident(cname)}", obj,
                      f"constraint {cname} removed or changed")
        for cname, con in after.items():
            if before.get(cname) != con:
                p.add(_Phase.VALIDATE, f"ALTER DOMAIN {name} ADD CONSTRAINT {quote_ident(cname)} {con.definition}",
                      obj, f"constraint {cname}: checks every column of this domain",
                      (Hazard.LONG_LOCK, Hazard.MAY_FAIL))
                _comment(p, f"CONSTRAINT {quote_ident(cname)} ON DOMAIN {name}", obj, None, con.comment)


def _plan_composites(p: _Planner) -> None:
    _drop_gone_types(p, "composites", "TYPE", "type")
    for c in p.of_kind("composites"):
        comp, old = c.new, c.old
        if comp is None:
            continue
        if old is not None and "attributes" in c.fields:
            with p.about(touch(c, "attributes")):
                if not _alter_composite(p, old, comp):
                    _retire_type(p, old.schema, old.name, "TYPE",
                                 "attributes reordered or retyped: values are converted through their text form")
                    old = None
        if old is None:
            with p.about(touch(c)):
                _create_composite(p, comp)
        _comment_of(p, c, f"TYPE {qname(comp.schema, comp.name)}", f"type {qname(comp.schema, comp.name)}",
                    made=old is None)


def _attribute_sql(col: Column) -> str:
    return f"{quote_ident(col.name)} {col.type}" + (f" COLLATE {col.collation}" if col.collation else "")


def _create_composite(p: _Planner, comp: Composite) -> None:
    name = qname(comp.schema, comp.name)
    body = ", ".join(_attribute_sql(a) for a in comp.attributes)
    p.add(_Phase.TYPES, f"CREATE TYPE {name} AS ({body})", f"type {name}", "new composite type")
    for a in comp.attributes:
        _comment(p, f"COLUMN {name}.{quote_ident(a.name)}", f"type {name}", None, a.comment)


def _alter_composite(p: _Planner, old: Composite, new: Composite) -> bool:
    """Add or drop trailing attributes in place; False when only re-creating the type will do."""
    name = qname(new.schema, new.name)
    before = [a for a in old.attributes if a.name in _by_name(new.attributes)]
    if [a.name for a in before] != [a.name for a in new.attributes[: len(before)]]:
        return False
    if any(_attribute_sql(a) != _attribute_sql(b) for a, b in zip(before, new.attributes, strict=False)):
        return False
    for a in old.attributes:
        if a not in before:
            p.add(_Phase.TYPES, f"ALTER TYPE {name} DROP ATTRIBUTE {quote_ident(a.name)}", f"type {name}",
                  f"attribute {a.name} removed", (Hazard.DATA_LOSS,))
    for a in new.attributes[len(before):]:
        p.add(_Phase.TYPES, f"ALTER TYPE {name} ADD ATTRIBUTE {_attribute_sql(a)}", f"type {name}",
              f"new attribute {a.name}")
    for a, b in zip(before, new.attributes, strict=False):
        _comment(p, f"COLUMN {name}.{quote_ident(b.name)}", f"type {name}", a.comment, b.comment)
    return True


# ---------------------------------------------------------------------------------------------
# Sequences


def _plan_sequences(p: _Planner) -> None:
    for c in p.of_kind("sequences"):
        if c.action is Action.DROP:
            name = qname(c.old.schema, c.old.name)
            # IF EXISTS: a sequence owned by a dropped column or table is already gone by now.
            with p.about(touch(c)):
                p.add(_Phase.DROP_SEQUENCES, f"DROP SEQUENCE IF EXISTS {name}", f"sequence {name}",
                      "not in the desired schema; its current value is forgotten", hazards=(Hazard.OBJECT_DROP,))
    for c in p.of_kind("sequences"):
        seq, old = c.new, c.old
        if seq is None:
            continue
        name = qname(seq.schema, seq.name)
        if old is None:
            with p.about(touch(c)):
                p.add(_Phase.SEQUENCES, f"CREATE SEQUENCE {name} {_sequence_options(None, seq)}",
                      f"sequence {name}", "new sequence")
        elif options := _sequence_options(old, seq):
            # Narrowed bounds may leave the current value outside them: start again inside.
            narrowed = seq.minimum > old.minimum or seq.maximum < old.maximum
            restart = f" RESTART WITH {seq.start}" if narrowed else ""
            with p.about(*(touch(c, f) for f in c.fields if f in _SEQUENCE_CLAUSES)):
                p.add(_Phase.SEQUENCES, f"ALTER SEQUENCE {name} {options}{restart}", f"sequence {name}",
                      "parameters changed" + ("; restarted inside the new bounds" if narrowed else ""),
                      hazards=(Hazard.MAY_FAIL,) if narrowed else ())
        if (old.owned_by if old else None) != seq.owned_by:
            with p.about(touch(c, "owned_by")):
                p.add(_Phase.OWNERSHIP, f"ALTER SEQUENCE {name} OWNED BY {seq.owned_by or 'NONE'}",
                      f"sequence {name}", "owner column changed")
        _comment_of(p, c, f"SEQUENCE {name}", f"sequence {name}")


def _keep_owned_sequences(p: _Planner) -> None:
    """A kept sequence owned by a column that is dropped (or whose table is re-created) would go with
    it: it is released first, and owned again once the desired column exists."""
    live_tables = {_key(t): t for t in p.live.tables}
    want_tables = {_key(t): t for t in p.desired.tables}
    owners = {f"{qname(t.schema, t.name)}.{quote_ident(c.name)}": (key, c.name)
              for key, t in live_tables.items() for c in t.columns}
    want = {_key(s): s for s in p.desired.sequences}
    for old in p.live.sequences:
        seq = want.get(_key(old))
        if seq is None or old.owned_by is None or old.owned_by not in owners:
            continue
        key, column = owners[old.owned_by]
        kept = want_tables.get(key)
        goes = (kept is None or key[:2] in p.recreated_tables or (qname(*key[:2]), column) in p.regenerated
                or column not in {c.name for c in kept.columns})
        if not goes:
            continue
        name = qname(seq.schema, seq.name)
        p.add(_Phase.DROP_TRIGGERS, f"ALTER SEQUENCE {name} OWNED BY NONE", f"sequence {name}",
              f"kept: released before {old.owned_by} is dropped, which would drop it too")
        if seq.owned_by is not None and seq.owned_by == old.owned_by:
            p.add(_Phase.OWNERSHIP, f"ALTER SEQUENCE {name} OWNED BY {seq.owned_by}", f"sequence {name}",
                  "owned again by the re-created column")


# The fields ALTER SEQUENCE's clauses set (``_sequence_options``).
_SEQUENCE_CLAUSES = frozenset({"type", "increment", "minimum", "maximum", "start", "cache", "cycle"})


def _sequence_options(old: Sequence_ | None, new: Sequence_) -> str:
    """The clauses that differ (all of them for a new sequence); a new type restates its bounds."""
    clauses = {
        "type": f"AS {new.type}",
        "increment": f"INCREMENT BY {new.increment}",
        "minimum": f"MINVALUE {new.minimum}",
        "maximum": f"MAXVALUE {new.maximum}",
        "start": f"START WITH {new.start}",
        "cache": f"CACHE {new.cache}",
        "cycle": "CYCLE" if new.cycle else "NO CYCLE",
    }
    if old is None:
        return " ".join(clauses.values())
    retyped = old.type != new.type
    return " ".join(text for f, text in clauses.items()
                    if getattr(old, f) != getattr(new, f) or (retyped and f in ("minimum", "maximum")))


# ---------------------------------------------------------------------------------------------
# Functions


def _function_name(fn: Function) -> str:
    return f"{qname(fn.schema, fn.name)}({fn.arguments})"


def _function_ref(fn: Function) -> str:
    return f"{qname(fn.schema, fn.name)}("


def _plan_functions(p: _Planner) -> None:
    """Drops and in-place replacements; new and re-created functions are placed by _plan_late_objects."""
    # Dropped, or re-created: kind and result cannot change in place.
    going = {_key(c.old): c for c in p.of_kind("functions")
             if c.action is Action.DROP or (c.action is Action.ALTER and {"kind", "result"} & set(c.fields))}
    by_node = {node(f): _key(f) for f in p.live.functions}
    # Dependants first: a SQL-standard body keeps the functions it calls from being dropped.
    for key in [by_node[n] for n in reversed(p.live_graph.order(by_node)) if by_node[n] in going]:
        c = going[key]
        fn, new = c.old, c.new
        word = fn.kind.upper()
        reason = "not in the desired schema" if new is None else "result type or kind changed: re-created"
        with p.about(touch(c)):
            p.add(_Phase.DROP_FUNCTIONS, f"DROP {word} {_function_name(fn)}", f"{fn.kind} {_function_name(fn)}",
                  reason, hazards=(Hazard.OBJECT_DROP,))
        p.changed.add(_function_ref(fn))
        p.changed_nodes.add(node(fn))
        if new is not None:
            p.recreated_functions.add(key)
    relations: set[str] | None = None
    for c in p.of_kind("functions"):
        fn = c.new
        if fn is None:
            continue
        key = _key(fn)
        kept = c.old is not None and key not in p.recreated_functions
        if kept and "definition" in c.fields:
            relations = _relation_names(p.desired) if relations is None else relations
            phase = _Phase.LATE if _is_late(fn, relations) else _Phase.EARLY_FUNCTIONS
            with p.about(touch(c, "definition")):
                p.add(phase, fn.definition.rstrip(), f"{fn.kind} {_function_name(fn)}", "definition changed")
        _comment_of(p, c, f"{fn.kind.upper()} {_function_name(fn)}", f"{fn.kind} {_function_name(fn)}",
                    made=not kept)


# ---------------------------------------------------------------------------------------------
# Tables


def _table_shape(t: Table) -> tuple[Any, ...]:
    """What cannot change in place: whether and how it is partitioned. (A partition's parent can:
    a plain table is attached, a partition detached.)"""
    return (t.partition_key,)


def _plan_tables(p: _Planner) -> None:
    live = {_key(t): t for t in p.live.tables}
    want = {_key(t): t for t in p.desired.tables}
    for key, t in live.items():
        if key in want and _table_shape(t) != _table_shape(want[key]):
            p.recreated_tables.add(key[:2])
    # Partitions of a re-created (or dropped) parent go with it, and come back with the new one.
    doomed_parents = {qname(*k[:2]) for k in p.recreated_tables} | {qname(*k[:2]) for k in live if k not in want}
    while more := {k[:2] for k, t in live.items() if t.parent in doomed_parents and k in want
                   and k[:2] not in p.recreated_tables}:
        p.recreated_tables |= more
        doomed_parents |= {qname(*k) for k in more}
    gone = [t for k, t in live.items() if k not in want or k[:2] in p.recreated_tables]
    for t in gone:
        p.changed.add(qname(t.schema, t.name))
        p.changed_nodes.add(relation_node(t.schema, t.name))
        p.rekeyed.add(qname(t.schema, t.name))
    for key, t in live.items():
        if key in want and {c for c in t.constraints if c.kind in "pu"} - set(want[key].constraints):
            p.rekeyed.add(qname(t.schema, t.name))
    _mark_changed_columns(p, live, want)
    _drop_tables(p, gone)
    new = [t for k, t in want.items() if k not in live or k[:2] in p.recreated_tables]
    for t in sorted(new, key=lambda t: (t.parent is not None or bool(t.inherits), t.schema, t.name)):
        with p.about(_table_touch(t)):
            _create_table(p, t)
    for old, t in _kept_tables(p, live, want):
        _alter_table(p, old, t)


def _kept_tables(p: _Planner, live: dict[tuple[str, ...], Table], want: dict[tuple[str, ...], Table]
                 ) -> Iterator[tuple[Table, Table]]:
    """The tables that stay (not re-created) and need their alter pass, in name order: the altered ones
    (their typed changes); and when something other tables react to changes (a table dropped or
    re-keyed, a column reshaped, a type or function re-created: a foreign key, trigger or policy
    pointing at it is re-created), every kept table, changed or not. Those sets are complete before
    this pass; the columns it regenerates concern their own table only."""
    if p.changed or p.rekeyed or p.changed_nodes:
        pairs = ((live[k], t) for k, t in sorted(want.items()) if k in live)
    else:
        pairs = ((c.old, c.new) for c in p.of_kind("tables") if c.action is Action.ALTER)
    return ((old, t) for old, t in pairs if (t.schema, t.name) not in p.recreated_tables)


def _table_touch(t: Table, field: str | None = None) -> Touch:
    return Touch("tables", qname(t.schema, t.name), field)


def _drop_tables(p: _Planner, gone: list[Table]) -> None:
    """Foreign keys first (they may point between dropped tables), then partitions, then the rest."""
    for t in gone:
        for con in t.constraints:
            if con.kind == "f":
                with p.about(_table_touch(t)):
                    _drop_constraint(p, t, con, _Phase.DROP_FOREIGN_KEYS)
    for t in sorted(gone, key=lambda t: (t.parent is None and not t.inherits, t.schema, t.name)):
        name = qname(t.schema, t.name)
        with p.about(_table_touch(t)):
            p.add(_Phase.DROP_TABLES, f"DROP TABLE {name}", f"table {name}",
                  "re-created: partitioning cannot change in place" if (t.schema, t.name) in p.recreated_tables
                  else "not in the desired schema", (Hazard.DATA_LOSS,))


def _mark_changed_columns(p: _Planner, live: dict[tuple[str, ...], Table],
                          want: dict[tuple[str, ...], Table]) -> None:
    """Tables losing a column or changing one's type: the views reading them are re-created."""
    for key, t in live.items():
        new = want.get(key)
        if new is None or key[:2] in p.recreated_tables or new.columns == t.columns:
            continue
        after = _by_name(new.columns)
        for col in t.columns:
            target = after.get(col.name)
            if target is None or _column_reshaped(p, col, target):
                p.changed.add(qname(t.schema, t.name))
                p.changed_nodes.add(column_node(t.schema, t.name, col.name))


def _column_reshaped(p: _Planner, old: Column, new: Column) -> bool:
    """Does the column change in a way a dependent view, policy or trigger would block?"""
    return ((old.type, old.collation, old.generated, old.generated_kind)
            != (new.type, new.collation, new.generated, new.generated_kind)
            or _uses_recreated_enum(p, new.type))


def _uses_recreated_enum(p: _Planner, type_: str) -> bool:
    return type_.removesuffix("[]") in {qname(s, n) for s, n in p.recreated_enums}


def _column_sql(col: Column) -> str:
    parts = [quote_ident(col.name), col.type]
    parts += [f"COLLATE {col.collation}"] if col.collation else []
    if col.identity:
        options = f" ({' '.join(col.identity_options)})" if col.identity_options else ""
        parts.append(f"GENERATED {col.identity} AS IDENTITY{options}")
    elif col.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({col.generated}) {col.generated_kind}")
    elif col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    parts += ["NOT NULL"] if col.not_null and not col.identity else []
    return " ".join(parts)


def _create_table(p: _Planner, t: Table) -> None:
    name = qname(t.schema, t.name)
    phase = _Phase.PARTITIONS if t.parent else _Phase.TABLES
    head = f"CREATE {'UNLOGGED ' if t.unlogged else ''}TABLE {name}"
    if t.parent:
        body = f" PARTITION OF {t.parent} {t.bound}"
    else:
        own = [c for c in t.columns if c.local]
        body = " (\n    " + ",\n    ".join(_column_sql(c) for c in own) + "\n)"
        body += f" INHERITS ({', '.join(t.inherits)})" if t.inherits else ""
    tail = f" PARTITION BY {t.partition_key}" if t.partition_key else ""
    tail += f" WITH ({', '.join(t.options)})" if t.options else ""
    p.add(phase, head + body + tail, f"table {name}", "new table")
    for con in t.constraints:
        _add_constraint_in_order(p, t, con, phase, existing=False)
    for idx in t.indexes:
        if idx.parent_index is None:  # an attached one comes with its parent's (_plan_attached_indexes)
            _create_index(p, t.schema, t.name, idx, phase, existing=False, partitioned=bool(t.partition_key))
    merged = _child_own_columns(p, t) if t.parent or t.inherits else set()
    _table_security(p, None, t, phase)
    _replica_identity(p, None, t)
    for c in t.columns:
        if c.local and c.name not in merged:
            _alter_column_storage(p, f"ALTER TABLE {name} ALTER COLUMN {quote_ident(c.name)}", Column(c.name, c.type),
                                  c, f"column {name}.{quote_ident(c.name)}")
    _plan_table_children(p, None, t)


def _desired_table(p: _Planner, name: str) -> Table | None:
    """The desired table of this qualified name (a new partition's or child's parent)."""
    if p.desired_tables is None:  # once per plan: a scan per partition was quadratic on large trees
        p.desired_tables = {qname(x.schema, x.name): x for x in p.desired.tables}
    return p.desired_tables.get(name)


def _child_own_columns(p: _Planner, t: Table) -> set[str]:
    """A new partition's or inheritance child's columns found in a parent: their settings end as the
    (first) parent's desired ones, whether PARTITION OF or INHERITS copied them or the parent's own
    ALTER COLUMN (SET DEFAULT, SET STORAGE, SET COMPRESSION, SET STATISTICS recurse to partitions and
    children) reaches the table after it is made; what the table's own settings differ in is set once
    the parents' steps ran (CHILD_COLUMNS; repeating a setting is harmless). A column a child declares
    too keeps its own NOT NULL. The statistics target is not copied at creation: set whenever the table
    or the parent has one. Returns the columns found in a parent (their settings are planned here)."""
    theirs: dict[str, Column] = {}
    whose = "partition's" if t.parent else "inheritance child's"
    for parent in (t.parent,) if t.parent else t.inherits:
        found = _desired_table(p, parent)
        for c in found.columns if found else ():
            theirs.setdefault(c.name, c)
    name = qname(t.schema, t.name)
    phase = _Phase.CHILD_COLUMNS
    for col in t.columns:
        was = theirs.get(col.name)
        if was is None:
            continue
        # What the child's column holds before its own steps.
        made = Column(col.name, col.type, (col.local and col.not_null) or was.not_null, was.default,
                      storage=was.storage, compression=was.compression,
                      statistics=was.statistics if col.statistics is None else None)
        alter = f"ALTER TABLE {name} ALTER COLUMN {quote_ident(col.name)}"
        target = f"column {name}.{quote_ident(col.name)}"
        if col.not_null and not made.not_null:
            p.add(phase, f"{alter} SET NOT NULL", target, f"{whose} own NOT NULL")
        if col.default != made.default:
            sql = f"{alter} SET DEFAULT {col.default}" if col.default is not None else f"{alter} DROP DEFAULT"
            p.add(phase, sql, target, f"{whose} own default")
        _alter_column_storage(p, alter, made, col, target, phase)
    return set(theirs)


def _alter_table(p: _Planner, old: Table, new: Table) -> None:
    """A kept table's steps, each part under the fields it changes (the accounting counts a step for
    those fields only, never for the table as a whole)."""
    if old == new and not (p.changed or p.rekeyed or p.regenerated or p.changed_nodes):
        return  # nothing of it or of what it depends on changes: the common case, on a large schema
    name = qname(new.schema, new.name)

    def about(*fields: str) -> AbstractContextManager[None]:
        return p.about(*(_table_touch(new, f) for f in fields))

    if old.parent != new.parent:
        # DETACH makes the partition's columns, constraints and attached indexes its own; ATTACH the
        # reverse: those fields change with it.
        with about("parent", "bound", "columns", "constraints", "indexes"):
            _move_partition(p, old, new)
    elif old.bound != new.bound:
        with about("bound"):
            _reattach_partition(p, old, new)
    if old.unlogged != new.unlogged:
        with about("unlogged"):
            p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {name} SET {'UNLOGGED' if new.unlogged else 'LOGGED'}",
                  f"table {name}", "persistence changed: rewrites the table", (Hazard.TABLE_REWRITE,))
    if old.options != new.options:
        with about("options"):
            _alter_options(p, "TABLE", name, old.options, new.options)
    _table_security(p, old, new, _Phase.ALTER_TABLES)
    _replica_identity(p, old, new)
    # INHERIT and NO INHERIT change which columns and checks are the child's own, too.
    with about("inherits", "columns", "constraints"):
        _alter_inheritance(p, old, new)
    with about("columns"):
        if new.parent is None:
            _alter_columns(p, old, new)
        else:
            _alter_partition_columns(p, old, new)
        _rename_not_nulls(p, old, new)
    _plan_table_children(p, old, new)


def _rename_not_nulls(p: _Planner, old: Table, new: Table) -> None:
    """PostgreSQL 18 names NOT NULL constraints, and pg_dump prints a name that differs from the one a
    fresh build would give. A constraint can be renamed only while it is the table's own: on a table
    that is not (or no longer, after DETACH) a partition or child, or that becomes a partition (before
    its ATTACH, which then merges it under the kept name)."""
    if old.inherits or new.inherits or (old.parent is not None and new.parent is not None):
        return
    name = qname(new.schema, new.name)
    before = _by_name(old.columns)
    for col in new.columns:
        was = before.get(col.name)
        if was is None or not (was.not_null and col.not_null and was.not_null_name and col.not_null_name) \
                or was.not_null_name == col.not_null_name:
            continue
        p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {name} RENAME CONSTRAINT {quote_ident(was.not_null_name)} TO "
              f"{quote_ident(col.not_null_name)}", f"column {name}.{quote_ident(col.name)}",
              "NOT NULL constraint renamed")


def _replica_identity(p: _Planner, old: Table | None, new: Table) -> None:
    was = old.replica_identity if old else "d"
    index = next((i.name for i in new.indexes if i.replica_identity), None)
    old_index = next((i.name for i in old.indexes if i.replica_identity), None) if old else None
    if (was, old_index) == (new.replica_identity, index):
        return
    name = qname(new.schema, new.name)
    how = {"d": "DEFAULT", "n": "NOTHING", "f": "FULL"}.get(new.replica_identity,
                                                           f"USING INDEX {quote_ident(index or '')}")
    # USING INDEX marks the index: its ``replica_identity`` is an index's field.
    fields = (("replica_identity",) if was != new.replica_identity else ()) + (
        ("indexes",) if old_index != index else ())
    with p.about(*(_table_touch(new, f) for f in fields)):
        p.add(_Phase.LATE, f"ALTER TABLE {name} REPLICA IDENTITY {how}", f"table {name}", "replica identity changed",
              needs=[f"index {qname(new.schema, index)}"] if index else ())


def _alter_inheritance(p: _Planner, old: Table, new: Table) -> None:
    name = qname(new.schema, new.name)
    for parent in old.inherits:
        if parent not in new.inherits:
            p.add(_Phase.DROP_CONSTRAINTS, f"ALTER TABLE {name} NO INHERIT {parent}", f"table {name}",
                  f"no longer inherits from {parent}")
    for parent in new.inherits:
        if parent not in old.inherits:
            p.add(_Phase.CONSTRAINTS, f"ALTER TABLE {name} INHERIT {parent}", f"table {name}",
                  f"inherits from {parent}: its columns must already match", (Hazard.LONG_LOCK,))


def _alter_partition_columns(p: _Planner, old: Table, new: Table) -> None:
    """A partition's columns follow its parent's, but it may have its own NOT NULL and defaults.

    Run after the parent's changes (which may already have reached the partition): SET and DROP are
    harmless when repeated.
    """
    name = qname(new.schema, new.name)
    before = _by_name(old.columns)
    # A parent's SET NOT NULL reaches its children: doing it again on a child would, on PostgreSQL 18,
    # make the child's inherited NOT NULL constraint its own too (pg_dump then prints it on the child).
    # Only while the table stays the same parent's child: one joining a parent must be NOT NULL first.
    same_parents = (old.parent, set(old.inherits)) == (new.parent, set(new.inherits))
    parents = ({new.parent} if new.parent else set(new.inherits)) if same_parents else set()
    from_parent = {c.name for t in p.desired.tables if qname(t.schema, t.name) in parents
                   for c in t.columns if c.not_null}
    for col in new.columns:
        was = before.get(col.name)
        if was is None:
            continue
        alter = f"ALTER TABLE {name} ALTER COLUMN {quote_ident(col.name)}"
        target = f"column {name}.{quote_ident(col.name)}"
        if was.not_null != col.not_null and not (col.not_null and col.name in from_parent):
            word = "SET" if col.not_null else "DROP"
            p.add(_Phase.CHILD_COLUMNS, f"{alter} {word} NOT NULL", target, "partition's own NOT NULL",
                  (Hazard.LONG_LOCK,) if col.not_null else ())
        if was.default != col.default:
            sql = f"{alter} SET DEFAULT {col.default}" if col.default is not None else f"{alter} DROP DEFAULT"
            p.add(_Phase.CHILD_COLUMNS, sql, target, "partition's own default")
        if new.parent is not None or not col.local:  # an inheritance child's own columns: _alter_column's
            # A partition's or child's statistics target, storage and compression are its own (ALTER on
            # the parent reaches it, then this is a repeat): a hand-made one was a difference no step undid.
            _alter_column_storage(p, alter, was, col, target, _Phase.CHILD_COLUMNS)


def _move_partition(p: _Planner, old: Table, new: Table) -> None:
    """Detach from the old parent early (its rows go with it), attach to the new one once the columns
    match."""
    name = qname(new.schema, new.name)
    if old.parent is not None:
        p.add(_Phase.DROP_CONSTRAINTS, f"ALTER TABLE {old.parent} DETACH PARTITION {name}", f"table {name}",
              "no longer a partition: keeps its rows as a table of its own")
    if new.parent is not None:
        p.add(_Phase.CONSTRAINTS, f"ALTER TABLE {new.parent} ATTACH PARTITION {name} {new.bound}",
              f"table {name}", "becomes a partition: scans it to check the bound", (Hazard.LONG_LOCK,))


def _reattach_partition(p: _Planner, old: Table, new: Table) -> None:
    name = qname(new.schema, new.name)
    p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {new.parent} DETACH PARTITION {name}", f"table {name}",
          "partition bound changed")
    p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {new.parent} ATTACH PARTITION {name} {new.bound}",
          f"table {name}", "partition bound changed: scans the partition", (Hazard.LONG_LOCK,))


def _alter_options(p: _Planner, word: str, name: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    keys = {o.split("=", 1)[0] for o in new}
    reset = [o.split("=", 1)[0] for o in old if o.split("=", 1)[0] not in keys]
    if reset:
        p.add(_Phase.ALTER_TABLES, f"ALTER {word} {name} RESET ({', '.join(reset)})", name, "storage options")
    if set(new) - set(old):
        p.add(_Phase.ALTER_TABLES, f"ALTER {word} {name} SET ({', '.join(sorted(set(new) - set(old)))})",
              name, "storage options")


def _table_security(p: _Planner, old: Table | None, new: Table, phase: _Phase) -> None:
    name = qname(new.schema, new.name)
    if (old.rls if old else False) != new.rls:
        word = "ENABLE" if new.rls else "DISABLE"
        with p.about(_table_touch(new, "rls")):
            p.add(phase, f"ALTER TABLE {name} {word} ROW LEVEL SECURITY", f"table {name}", "row-level security")
    if (old.rls_forced if old else False) != new.rls_forced:
        word = "FORCE" if new.rls_forced else "NO FORCE"
        with p.about(_table_touch(new, "rls_forced")):
            p.add(phase, f"ALTER TABLE {name} {word} ROW LEVEL SECURITY", f"table {name}", "row-level security")


# Columns ------------------------------------------------------------------------------------


def _alter_columns(p: _Planner, old: Table, new: Table) -> None:
    name = qname(new.schema, new.name)
    if old.inherits or new.inherits:
        # Inherited columns follow their parent: only the child's own ones are its business.
        _alter_partition_columns(p, old, new)
        # NO INHERIT leaves the columns of a parent given up as the child's own.
        kept = {c.name for t in p.live.tables if qname(t.schema, t.name) in set(old.inherits) & set(new.inherits)
                for c in t.columns}
        old = replace(old, columns=tuple(c for c in old.columns if c.local or c.name not in kept))
        new = replace(new, columns=tuple(c for c in new.columns if c.local))
    before, after = _by_name(old.columns), _by_name(new.columns)
    for col in old.columns:
        if col.name not in after:
            p.add(_Phase.DROP_TABLES, f"ALTER TABLE {name} DROP COLUMN {quote_ident(col.name)}",
                  f"column {name}.{quote_ident(col.name)}", "not in the desired table: its data is lost",
                  (Hazard.DATA_LOSS,))
    for col in new.columns:
        target = f"column {name}.{quote_ident(col.name)}"
        if col.name not in before:
            _add_column(p, name, col, target)
        elif before[col.name] != col or _uses_recreated_enum(p, col.type):
            _alter_column(p, name, before[col.name], col, target)


_VOLATILE = re.compile(r"\b(nextval|random|clock_timestamp|gen_random_uuid|uuid_generate_v\d\w*|timeofday)\(")


def _add_column(p: _Planner, table: str, col: Column, target: str) -> None:
    sql = f"ALTER TABLE {table} ADD COLUMN {_column_sql(col)}"
    if col.identity or col.generated_kind == "STORED":
        p.add(_Phase.ALTER_TABLES, sql, target, "new column computed for every row: rewrites the table",
              (Hazard.TABLE_REWRITE,))
    elif col.default is not None and _VOLATILE.search(col.default):
        p.add(_Phase.ALTER_TABLES, sql, target, "new column with a volatile default: rewrites the table",
              (Hazard.TABLE_REWRITE,))
    elif col.not_null and col.default is None:
        live = p.live_table(table)
        p.add(_Phase.ALTER_TABLES, sql, target, "new NOT NULL column without a default: fails if the table has rows",
              precheck=checks.for_new_column(live, col, target) if live else None)
    else:
        p.add(_Phase.ALTER_TABLES, sql, target, "new column")


def _alter_column(p: _Planner, table: str, old: Column, new: Column, target: str) -> None:
    """Step by step, in the order PostgreSQL accepts them: expression, default, identity, type, null."""
    alter = f"ALTER TABLE {table} ALTER COLUMN {quote_ident(new.name)}"
    if (old.generated, old.generated_kind) != (new.generated, new.generated_kind) and new.generated is not None:
        _regenerate_column(p, table, old, new, target)
        return
    if old.generated is not None:
        p.add(_Phase.ALTER_TABLES, f"{alter} DROP EXPRESSION", target, "no longer generated: keeps its values")
    retype = (old.type, old.collation) != (new.type, new.collation) or _uses_recreated_enum(p, new.type)
    if old.default is not None and (old.default != new.default or retype):
        # Early: the sequence or function the old default uses may be dropped next.
        p.add(_Phase.DROP_DEFAULTS, f"{alter} DROP DEFAULT", target, "default changed")
    if old.identity and old.identity != new.identity and not new.identity:
        p.add(_Phase.DROP_DEFAULTS, f"{alter} DROP IDENTITY", target, "no longer an identity column")
    if retype:
        _retype_column(p, alter, old, new, target, live=p.live_table(table))
    if new.default is not None and (old.default != new.default or retype):
        p.add(_Phase.ALTER_TABLES, f"{alter} SET DEFAULT {new.default}", target, "default changed")
    _alter_nullability(p, alter, old, new, target, live=p.live_table(table))
    if new.identity and old.identity != new.identity:
        options = f" ({' '.join(new.identity_options)})" if new.identity_options else ""
        sql = (f"{alter} SET GENERATED {new.identity}" if old.identity
               else f"{alter} ADD GENERATED {new.identity} AS IDENTITY{options}")
        p.add(_Phase.ALTER_TABLES, sql, target, "identity changed")
    if new.identity and old.identity and old.identity_options != new.identity_options:
        changed = [f"SET {o}" for o in new.identity_options if o not in old.identity_options]
        # Narrowed bounds may leave the sequence's current value outside them: start again inside.
        was, now = _numeric_options(old.identity_options), _numeric_options(new.identity_options)
        narrowed = now.get("MINVALUE", 0) > was.get("MINVALUE", 0) or now.get("MAXVALUE", 0) < was.get("MAXVALUE", 0)
        changed += [f"RESTART WITH {now['START WITH']}"] if narrowed and "START WITH" in now else []
        p.add(_Phase.ALTER_TABLES, f"{alter} {' '.join(changed)}", target, "identity sequence options changed"
              + ("; restarted inside the new bounds" if narrowed else ""),
              hazards=(Hazard.MAY_FAIL,) if narrowed else ())
    _alter_column_storage(p, alter, old, new, target)


def _numeric_options(options: tuple[str, ...]) -> dict[str, int]:
    """An identity sequence's numeric clauses ("MINVALUE 5" → {"MINVALUE": 5})."""
    out: dict[str, int] = {}
    for option in options:
        word, _, number = option.rpartition(" ")
        if number.lstrip("-").isdigit():
            out[word] = int(number)
    return out


def _alter_column_storage(p: _Planner, alter: str, old: Column, new: Column, target: str,
                          phase: _Phase = _Phase.ALTER_TABLES) -> None:
    """Storage, compression and statistics target: catalog settings, no rewrite."""
    if old.storage != new.storage:
        storage = new.storage or _TYPE_STORAGE.get(new.type.removesuffix("[]"), "EXTENDED")
        p.add(phase, f"{alter} SET STORAGE {storage}", target, "storage changed")
    if old.compression != new.compression:
        p.add(phase, f"{alter} SET COMPRESSION {new.compression or 'DEFAULT'}", target,
              "compression of new values changed")
    if old.statistics != new.statistics:
        p.add(phase, f"{alter} SET STATISTICS {-1 if new.statistics is None else new.statistics}",
              target, "statistics target changed")


# A column's default storage is its type's; these are the plain (fixed-width) built-in ones.
_TYPE_STORAGE = {t: "PLAIN" for t in ("smallint", "integer", "bigint", "real", "double precision", "boolean",
                                      "date", "uuid", "timestamp without time zone", "timestamp with time zone")}


def _alter_nullability(p: _Planner, alter: str, old: Column, new: Column, target: str,
                       live: Table | None = None) -> None:
    if old.not_null == new.not_null:
        return  # ADD IDENTITY needs NOT NULL first: it is set here, before
    if new.not_null and live is not None and _proves_not_null_online(p, live, new):
        _set_not_null_online(p, alter, live, new, target)
    elif new.not_null:
        p.add(_Phase.ALTER_TABLES, f"{alter} SET NOT NULL", target,
              "scans the table under an exclusive lock; fails if a row holds NULL", (Hazard.LONG_LOCK,),
              precheck=checks.for_not_null(live, new, target) if live else None)
    else:
        p.add(_Phase.ALTER_TABLES, f"{alter} DROP NOT NULL", target, "NULL allowed")


def _not_null_helper(column: str) -> str:
    """The helper check's name: the column's, marked as initjob's, within 63 bytes."""
    name = f"{column}_initjob_not_null"
    if len(name.encode()) <= 63:
        return name
    return f"initjob_not_null_{hashlib.sha1(column.encode()).hexdigest()[:16]}"


def _proves_not_null_online(p: _Planner, live: Table, col: Column) -> bool:
    """A plain table that is neither partitioned nor in an inheritance tree, without a leftover helper
    (a helper left by a failed run is dropped by the plan and the NOT NULL set the plain way)."""
    name = qname(live.schema, live.name)
    if live.partition_key or live.parent or live.inherits or any(
            t.parent == name or name in t.inherits for t in p.live.tables):
        return False
    return all(c.name != _not_null_helper(col.name) for c in live.constraints)


def _set_not_null_online(p: _Planner, alter: str, live: Table, col: Column, target: str) -> None:
    """SET NOT NULL without a scan under the exclusive lock: a CHECK (col IS NOT NULL) added NOT VALID and
    validated in their own transactions first (writes go on), which PostgreSQL takes as proof; then
    SET NOT NULL in the plan's transaction, and the helper dropped."""
    name = qname(live.schema, live.name)
    helper = quote_ident(_not_null_helper(col.name))
    p.add(_Phase.NOT_NULL_CHECKS,
          f"ALTER TABLE {name} ADD CONSTRAINT {helper} CHECK ({quote_ident(col.name)} IS NOT NULL) NOT VALID",
          target, "helper check for SET NOT NULL, not yet checked against the rows: no scan", transactional=False)
    p.add(_Phase.NOT_NULL_CHECKS, f"ALTER TABLE {name} VALIDATE CONSTRAINT {helper}", target,
          "the helper check scans the table for NULLs; reads and writes go on meanwhile", (Hazard.LONG_LOCK,),
          transactional=False, precheck=checks.for_not_null(live, col, target))
    p.add(_Phase.ALTER_TABLES, f"{alter} SET NOT NULL", target,
          "proven by the validated helper check: no scan under the exclusive lock")
    p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {name} DROP CONSTRAINT IF EXISTS {helper}", target,
          "the helper check, no longer needed")


def _regenerate_column(p: _Planner, table: str, old: Column, new: Column, target: str) -> None:
    """PostgreSQL before 17 cannot change a generation expression in place: drop, add at the end."""
    if old.generated is None:
        hazards, reason = (Hazard.DATA_LOSS,), "becomes generated: its stored values are replaced by computed ones"
    else:
        hazards, reason = (Hazard.TABLE_REWRITE,), "generation expression changed: dropped and added again at the end"
    p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {table} DROP COLUMN {quote_ident(new.name)}", target, reason, hazards)
    p.add(_Phase.ALTER_TABLES, f"ALTER TABLE {table} ADD COLUMN {_column_sql(new)}", target,
          "generated column computed for every row: rewrites the table", (Hazard.TABLE_REWRITE,))
    p.regenerated.add((table, new.name))


def _is_stale(p: _Planner, table: str, definition: str, obj: str) -> bool:
    """Does an index or constraint (``obj``, its pg_depend name) read a column that is dropped and
    added again?"""
    columns = {f"table column {table}.{quote_ident(c)}" for t, c in p.regenerated if t == table}
    if not columns:
        return False
    if p.live_graph:  # pg_depend knows the columns of keys, expressions and predicates alike
        return obj in p.live_graph.dependents(columns)
    # A snapshot recorded without pg_depend: the graph cannot know, the definition names the column.
    return any(t == table and mentions(definition, quote_ident(c)) for t, c in p.regenerated)


# classify_type_change's verdict (a class, as phases.py reads it) as the step's hazards.
_TYPE_CHANGE_HAZARDS = {SAFE: (), LOCKING: (Hazard.TABLE_REWRITE,), DESTRUCTIVE: (Hazard.DATA_LOSS,)}


def _retype_column(p: _Planner, alter: str, old: Column, new: Column, target: str,
                   live: Table | None = None) -> None:
    kind, reason, cast = classify_type_change(old.type, new.type)
    using = _using(quote_ident(new.name), old.type, new.type) if cast else None
    # A narrowing fails on the values that do not fit: counted first, so the run refuses before the lock.
    through_text = using == _via_text(quote_ident(new.name), new.type)
    fit = checks.for_retype(live, old, new, target, through_text) if live and kind == DESTRUCTIVE else None
    hazards = _TYPE_CHANGE_HAZARDS[kind]
    if _uses_recreated_enum(p, new.type):
        hazards, reason = (Hazard.DATA_LOSS,), "enum re-created: a removed label makes the conversion fail"
        via = "text[]" if new.type.endswith("[]") else "text"
        using = f"{quote_ident(new.name)}::{via}::{new.type}"
    elif old.collation != new.collation:
        hazards, reason = hazards or (Hazard.INDEX_BUILD,), f"{reason}; collation changed: indexes rebuilt"
    collate = f" COLLATE {new.collation or 'pg_catalog.default'}" if old.collation != new.collation else ""
    sql = f"{alter} TYPE {new.type}{collate}" + (f" USING {using}" if using else "")
    p.add(_Phase.ALTER_TABLES, sql, target, reason, hazards, precheck=fit)


_NUMBERS = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}


def _using(column: str, old: str, new: str) -> str:
    """A conversion PostgreSQL has a cast for: numbers convert directly (rounding), booleans through
    integer, everything else through its text form (which is what a hand-written migration does)."""
    old_base, new_base = (re.sub(r"\(.*\)", "", t) for t in (old, new))
    if old_base in _NUMBERS and new_base in _NUMBERS:
        return f"{column}::{new}"
    if old_base == "boolean" and new_base in _NUMBERS:
        return f"{column}::integer::{new}"
    if new.endswith("[]") and not old.endswith("[]"):
        return f"ARRAY[{column}]::{new}"  # a value becomes a one-element array
    if new_base in ("character varying", "character") and new != new_base:
        # An explicit cast to varchar(n) cuts longer values silently; the text form is converted by
        # ALTER ... TYPE's assignment cast instead, which fails on a value too long.
        return f"{column}::text"
    return _via_text(column, new)


def _via_text(column: str, new: str) -> str:
    """The value's text form cast to the new type: ``_using``'s general case, the one a data check can
    ask the new type's input about without converting (``checks.for_retype``)."""
    return f"{column}::text::{new}"


_INTEGERS = ["smallint", "integer", "bigint"]
_FLOATS = ["real", "double precision"]
_TEXTS = {"text", "character varying"}
_TYPMOD = re.compile(r"^(?P<base>[^()]+?)(?:\((?P<args>[\d,]+)\))?(?P<array>(\[\])*)$")


def classify_type_change(old: str, new: str) -> tuple[str, str, bool]:
    """(kind, reason, whether an explicit cast is needed) for a column going from ``old`` to ``new``."""
    a, b = _TYPMOD.match(old), _TYPMOD.match(new)
    if a is None or b is None or a["array"] != b["array"]:
        return DESTRUCTIVE, f"type {old} to {new}: values may be rejected or altered", True
    base_a, base_b = a["base"], b["base"]
    args_a = [int(x) for x in a["args"].split(",")] if a["args"] else []
    args_b = [int(x) for x in b["args"].split(",")] if b["args"] else []
    verdict = _compare_types(base_a, args_a, base_b, args_b)
    if verdict == SAFE:
        return SAFE, f"type {old} to {new}: widened without a rewrite", False
    if verdict == LOCKING:
        return LOCKING, f"type {old} to {new}: lossless, but rewrites the table", False
    return DESTRUCTIVE, f"type {old} to {new}: values may be rejected or altered", True


def _compare_types(base_a: str, args_a: list[int], base_b: str, args_b: list[int]) -> str:
    if base_a in _TEXTS and base_b in _TEXTS:
        return SAFE if not args_b or (args_a and args_b[0] >= args_a[0]) else DESTRUCTIVE
    if base_a == base_b == "numeric":
        return _compare_numeric(args_a, args_b)
    if base_a in _INTEGERS and base_b in _INTEGERS:
        return LOCKING if _INTEGERS.index(base_b) > _INTEGERS.index(base_a) else DESTRUCTIVE
    if base_a in _FLOATS and base_b in _FLOATS:
        return LOCKING if base_b == "double precision" else DESTRUCTIVE
    if base_a in _INTEGERS and ((base_b == "numeric" and not args_b) or base_b == "text"):
        return LOCKING
    if base_a in ("smallint", "integer") and base_b == "double precision":
        return LOCKING
    if (base_a, base_b) == ("timestamp without time zone", "timestamp with time zone"):
        return LOCKING
    if base_a == base_b and args_a == args_b:
        return SAFE
    return DESTRUCTIVE


def _compare_numeric(args_a: list[int], args_b: list[int]) -> str:
    if not args_b:
        return SAFE  # unconstrained numeric holds any value
    if not args_a:
        return DESTRUCTIVE
    prec_a, scale_a = args_a[0], (args_a[1] if len(args_a) > 1 else 0)
    prec_b, scale_b = args_b[0], (args_b[1] if len(args_b) > 1 else 0)
    if scale_b == scale_a and prec_b >= prec_a:
        return SAFE
    if scale_b >= scale_a and prec_b - scale_b >= prec_a - scale_a:
        return LOCKING
    return DESTRUCTIVE


# Constraints, indexes, triggers, policies -----------------------------------------------------


def _plan_table_children(p: _Planner, old: Table | None, new: Table) -> None:
    """Constraints, indexes, triggers, policies and comments of a table; ``old`` None for a new one."""
    name = qname(new.schema, new.name)
    rebuild = old is not None and name in p.changed

    def about(field: str) -> AbstractContextManager[None]:
        # A step re-made for another object's change (a foreign key onto a re-keyed table, an index on a
        # regenerated column, a trigger on a re-created function) changes this field of this table.
        return p.about(_table_touch(new, field))

    if old is not None:
        with about("constraints"):
            _plan_constraints(p, old, new)
        with about("indexes"):
            _plan_indexes(p, *_own_indexes(old, new), bool(new.partition_key))
    with about("triggers"):
        _plan_triggers(p, name, old.triggers if old else (), new.triggers, rebuild)
    with about("policies"):
        _plan_policies(p, name, old.policies if old else (), new.policies, rebuild)
    with about("comment"):
        _comment(p, f"TABLE {name}", f"table {name}", old.comment if old else None, new.comment)
    with about("columns"):
        _column_comments(p, name, old.columns if old else (), new.columns)


def _column_comments(p: _Planner, name: str, old: tuple[Column, ...], new: tuple[Column, ...]) -> None:
    before = _by_name(old)
    for col in new:
        target = f"column {name}.{quote_ident(col.name)}"
        was = before[col.name].comment if col.name in before and (name, col.name) not in p.regenerated else None
        _comment(p, f"COLUMN {name}.{quote_ident(col.name)}", target, was, col.comment)


def _plan_constraints(p: _Planner, old: Table, new: Table) -> None:
    name = qname(new.schema, new.name)
    before, after = _by_name(old.constraints), _by_name(new.constraints)
    redo = {c for c, con in before.items() if _points_at_rekeyed(p, name, con)
            or _is_stale(p, name, con.definition, f"table constraint {quote_ident(c)} on {name}")}
    for cname, con in before.items():
        target = after.get(cname)
        if target is not None and cname not in redo and _only_validation_differs(con, target):
            _validate(p, new, target)
        elif not _same_constraint(target, con) or cname in redo:
            _drop_constraint(p, new, con, _Phase.DROP_FOREIGN_KEYS if con.kind == "f" else _Phase.DROP_CONSTRAINTS)
    for cname, con in after.items():
        kept = before.get(cname)
        if kept is None or cname in redo or (
            not _same_constraint(kept, con) and not _only_validation_differs(kept, con)
        ):
            _add_constraint_in_order(p, new, con, _Phase.CONSTRAINTS, existing=True)
            kept = None  # made anew: not clustered until told
        else:
            _comment(p, f"CONSTRAINT {quote_ident(cname)} ON {qname(new.schema, new.name)}",
                     f"table {qname(new.schema, new.name)}", kept.comment, con.comment)
            _comment(p, f"INDEX {qname(new.schema, cname)}", f"index {qname(new.schema, cname)}",
                     kept.index_comment, con.index_comment)
        if (kept is not None and kept.clustered) != con.clustered:  # the index behind it bears its name
            _cluster(p, new.schema, new.name, Index(cname, "", clustered=con.clustered))


def _same_constraint(a: Constraint | None, b: Constraint | None) -> bool:
    return a is not None and b is not None and (a.kind, a.definition) == (b.kind, b.definition)


def _only_validation_differs(old: Constraint, new: Constraint) -> bool:
    return not old.validated and new.validated and old.definition == new.definition + " NOT VALID"


def _points_at_rekeyed(p: _Planner, table: str, con: Constraint) -> bool:
    if con.kind != "f" or not p.rekeyed:
        return False
    if p.live_graph:  # pg_depend: the foreign key uses the referenced table's columns and key index
        uses = p.live_graph.uses.get(f"table constraint {quote_ident(con.name)} on {table}", set())
        return any(f"table {t}" in uses for t in p.rekeyed)
    # A snapshot recorded without pg_depend: the graph cannot know, the definition names the table.
    return any(refers_to(con.definition, t) for t in p.rekeyed)


def _drop_constraint(p: _Planner, t: Table, con: Constraint, phase: _Phase) -> None:
    name = qname(t.schema, t.name)
    p.add(phase, f"ALTER TABLE {name} DROP CONSTRAINT IF EXISTS {quote_ident(con.name)}", f"table {name}",
          f"constraint {con.name} removed or changed")


def _add_constraint(p: _Planner, t: Table, con: Constraint, phase: _Phase, *, existing: bool) -> None:
    """On a table with rows, checks and foreign keys go in NOT VALID, then are validated online."""
    name = qname(t.schema, t.name)
    head = f"ALTER TABLE {name} ADD CONSTRAINT {quote_ident(con.name)} "
    phase = _Phase.FOREIGN_KEYS if con.kind == "f" else phase
    # PostgreSQL before 18 refuses NOT VALID foreign keys on partitioned tables.
    online = existing and con.kind in "fc" and con.validated and not t.partition_key
    if online:
        p.add(phase, head + con.definition + " NOT VALID", f"table {name}",
              f"constraint {con.name}, not yet checked against existing rows")
        _validate(p, t, con)
    elif existing and con.validated:
        live = p.live_table(name)
        p.add(phase, head + con.definition, f"table {name}",
              f"constraint {con.name}: checks or indexes every row under an exclusive lock", (Hazard.LONG_LOCK,),
              precheck=checks.for_constraint(live, con, f"constraint {con.name} on {name}") if live else None)
    else:
        p.add(phase, head + con.definition, f"table {name}", f"constraint {con.name}")
    _comment(p, f"CONSTRAINT {quote_ident(con.name)} ON {name}", f"table {name}", None, con.comment)


def _add_constraint_in_order(p: _Planner, t: Table, con: Constraint, phase: _Phase, *, existing: bool) -> None:
    """``_add_constraint``, its steps declaring what the constraint needs in the desired database
    (pg_depend): a foreign key onto a unique index built CONCURRENTLY waits for the build."""
    first = len(p.steps)
    _add_constraint(p, t, con, phase, existing=existing)
    # The index behind a key takes the constraint's name (and keeps it: renaming one renames both).
    _comment(p, f"INDEX {qname(t.schema, con.name)}", f"index {qname(t.schema, con.name)}", None, con.index_comment)
    needs = p.desired_graph.uses.get(f"table constraint {quote_ident(con.name)} on {qname(t.schema, t.name)}")
    if needs:
        p.steps.need(range(first, len(p.steps)), needs)


def _validate(p: _Planner, t: Table, con: Constraint) -> None:
    name = qname(t.schema, t.name)
    live = p.live_table(name)
    p.add(_Phase.VALIDATE, f"ALTER TABLE {name} VALIDATE CONSTRAINT {quote_ident(con.name)}", f"table {name}",
          f"constraint {con.name}: scans the table; reads and writes go on meanwhile", (Hazard.LONG_LOCK,),
          precheck=checks.for_constraint(live, con, f"constraint {con.name} on {name}") if live else None)


def _own_indexes(old: Table, new: Table) -> tuple[tuple[Index, ...], str, str, tuple[Index, ...]]:
    """``_plan_indexes``'s arguments for a table's own indexes; those attached to a parent's index are
    ``_plan_attached_indexes``'s. A partition detached keeps its attached indexes as its own; an own
    index the desired state has attached, same name and definition, is attached by its parent's
    CREATE INDEX or ATTACH PARTITION (it matches), so it is neither dropped nor built again."""
    if old.parent is not None and new.parent is None:
        old = replace(old, indexes=tuple(replace(i, parent_index=None) for i in old.indexes))
    attached = {(i.name, i.definition) for i in new.indexes if i.parent_index is not None}
    before = tuple(i for i in old.indexes if i.parent_index is None and (i.name, i.definition) not in attached)
    return before, new.schema, new.name, tuple(i for i in new.indexes if i.parent_index is None)


def _plan_attached_indexes(p: _Planner) -> None:
    """A partition's index attached to its parent's index: made by PostgreSQL with the parent's index
    (or the partition, or its ATTACH), under a name of PostgreSQL's choosing unless the partition
    had a matching index already. Where the live database does not already hold it under the
    desired name, it is found by what it is attached to and renamed: a key's copy, or an index
    someone named, keeps the name pg_dump prints. Upper levels first: a lower one is found by the
    name of the one above."""
    live = {(t.schema, t.name): t for t in p.live.tables}
    live_defs, want_defs = _index_definitions(p.live), _index_definitions(p.desired)
    depth = {qname(t.schema, t.name): t.parent for t in p.desired.tables}

    def level(t: Table) -> int:
        n, parent = 0, t.parent
        while parent is not None and n < 64:
            n, parent = n + 1, depth.get(parent)
        return n

    for t in sorted(p.desired.tables, key=lambda t: (level(t), t.schema, t.name)):
        old = live.get((t.schema, t.name)) if (t.schema, t.name) not in p.recreated_tables else None
        had = {i.parent_index: i for i in old.indexes if i.parent_index} if old and old.parent == t.parent else {}
        own = _by_name(old.indexes if old else ())
        with p.about(_table_touch(t, "indexes")):
            _name_attached_indexes(p, t, had, own, live_defs, want_defs)


def _name_attached_indexes(p: _Planner, t: Table, had: dict[str, Index], own: dict[str, Index],
                           live_defs: dict[str, str], want_defs: dict[str, str]) -> None:
    """One partition's attached indexes, renamed where needed (``_plan_attached_indexes``)."""
    for idx in t.indexes:
        if idx.parent_index is None:
            continue
        name = qname(t.schema, idx.name)
        was = had.get(idx.parent_index)
        parent_kept = live_defs.get(idx.parent_index) == want_defs.get(idx.parent_index) is not None
        if was is not None and parent_kept and was.name == idx.name:
            _comment(p, f"INDEX {name}", f"index {name}", was.comment, idx.comment)
            continue
        p.add(_Phase.LATE, _rename_attached_sql(t, idx), f"index {name}",
              f"the partition's index attached to {idx.parent_index}, named as in the desired schema")
        kept = was if was is not None and parent_kept else own.get(idx.name)
        _comment(p, f"INDEX {name}", f"index {name}", kept.comment if kept else None, idx.comment)


def _index_definitions(s: Snapshot) -> dict[str, str]:
    """Every index (and key or exclusion constraint, whose index has its name) by qualified name."""
    out: dict[str, str] = {}
    for t in s.tables:
        for i in t.indexes:
            out[qname(t.schema, i.name)] = f"{qname(t.schema, t.name)} {i.definition} {i.parent_index}"
        for c in t.constraints:
            if c.kind in "pux":
                out[qname(t.schema, c.name)] = f"{qname(t.schema, t.name)} {c.definition}"
    return out


def _rename_attached_sql(t: Table, idx: Index) -> str:
    """Rename the index of ``t`` attached to ``idx.parent_index`` to ``idx.name`` unless it has it.
    The names are only known to the database at run time, so the step looks them up; every name and
    value in it is a literal or quoted here."""
    assert idx.parent_index is not None
    return (
        "DO $initjob$DECLARE found name; BEGIN\n"
        "SELECT c.relname INTO found FROM pg_catalog.pg_inherits h\n"
        "  JOIN pg_catalog.pg_index x ON x.indexrelid = h.inhrelid JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid\n"
        f" WHERE h.inhparent = {literal(idx.parent_index)}::regclass"
        f" AND x.indrelid = {literal(qname(t.schema, t.name))}::regclass;\n"
        f"IF found IS NULL THEN RAISE EXCEPTION 'no index of % is attached to %', "
        f"{literal(qname(t.schema, t.name))}, {literal(idx.parent_index)}; END IF;\n"
        f"IF found <> {literal(idx.name)} THEN EXECUTE pg_catalog.format('ALTER INDEX %I.%I RENAME TO %I', "
        f"{literal(t.schema)}, found, {literal(idx.name)}); END IF;\n"
        "END$initjob$"
    )


def _plan_indexes(p: _Planner, old: tuple[Index, ...], schema: str, table: str, new: tuple[Index, ...],
                  partitioned: bool) -> None:
    before, after = _by_name(old), _by_name(new)
    for iname in before:
        if iname not in after:
            p.add(_Phase.DROP_CONSTRAINTS, f"DROP INDEX {qname(schema, iname)}", f"index {qname(schema, iname)}",
                  "not in the desired schema")
    for iname, idx in after.items():
        kept = before.get(iname)
        stale = _is_stale(p, qname(schema, table), idx.definition, f"index {qname(schema, iname)}")
        if kept is not None and kept.valid and kept.definition == idx.definition and not stale:
            _comment(p, f"INDEX {qname(schema, iname)}", f"index {qname(schema, iname)}", kept.comment,
                     idx.comment)
            if kept.clustered != idx.clustered:
                _cluster(p, schema, table, idx)
            continue
        if kept is not None:
            _drop_index(p, schema, iname, partitioned)
        _create_index(p, schema, table, idx, _Phase.CONSTRAINTS, existing=True, partitioned=partitioned)


def _cluster(p: _Planner, schema: str, table: str, idx: Index) -> None:
    how = f"CLUSTER ON {quote_ident(idx.name)}" if idx.clustered else "SET WITHOUT CLUSTER"
    p.add(_Phase.LATE, f"ALTER TABLE {qname(schema, table)} {how}", f"table {qname(schema, table)}",
          "the index CLUSTER uses (nothing is reordered now)", needs=[f"index {qname(schema, idx.name)}"])


def _drop_index(p: _Planner, schema: str, iname: str, partitioned: bool) -> None:
    name = qname(schema, iname)
    if partitioned:
        p.add(_Phase.DROP_CONSTRAINTS, f"DROP INDEX IF EXISTS {name}", f"index {name}", "changed: re-created")
    else:
        p.add(_Phase.CONCURRENT, f"DROP INDEX CONCURRENTLY IF EXISTS {name}", f"index {name}",
              "changed or invalid: re-created", transactional=False)


def _create_index(p: _Planner, schema: str, table: str, idx: Index, phase: _Phase, *, existing: bool,
                  partitioned: bool) -> None:
    """A new index on a table with rows is built CONCURRENTLY, outside any transaction."""
    name = qname(schema, idx.name)
    # pg_get_indexdef says ON ONLY for a partitioned table; the desired index covers the partitions.
    sql = idx.definition.replace(" ON ONLY ", " ON ", 1) if partitioned else idx.definition
    live = p.live_table(qname(schema, table)) if existing else None
    unique = checks.for_index(live, idx, f"index {name}") if live else None
    if existing and not partitioned:
        sql = re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY ", sql)
        p.add(_Phase.CONCURRENT, sql, f"index {name}",
              "built online (CONCURRENTLY): reads and writes go on, outside a transaction", (Hazard.INDEX_BUILD,),
              transactional=False, precheck=unique)
        p.steps.built_concurrently(f"index {name}")
    elif existing:
        p.add(phase, sql, f"index {name}",
              "partitioned tables cannot build indexes concurrently: writes wait",
              (Hazard.INDEX_BUILD, Hazard.LONG_LOCK), precheck=unique)
    else:
        p.add(phase, sql, f"index {name}", f"index on new {qname(schema, table)}")
    _comment(p, f"INDEX {name}", f"index {name}", None, idx.comment, needs=[f"index {name}"])
    if idx.clustered:
        _cluster(p, schema, table, idx)


_ENABLE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER",
           "O": "ENABLE TRIGGER"}


def _plan_triggers(p: _Planner, table: str, old: tuple[Trigger, ...], new: tuple[Trigger, ...],
                   rebuild: bool) -> None:
    before, after = _by_name(old), _by_name(new)
    uses_changed = [f for f in p.changed if f.endswith("(")]
    hit = p.dependents_of_changes()
    for tname, trg in before.items():
        target = after.get(tname)
        # pg_depend links a trigger to its function (in ``hit``); without it (a snapshot recorded
        # without pg_depend) the graph cannot know, and the definition names the function.
        stale = rebuild or f"trigger {quote_ident(tname)} on {table}" in hit or (
            not p.live_graph and any(refers_to(trg.definition, f) for f in uses_changed))
        if target is None or target.definition != trg.definition or stale:
            p.add(_Phase.DROP_TRIGGERS, f"DROP TRIGGER {quote_ident(tname)} ON {table}", f"table {table}",
                  f"trigger {tname} removed or changed")
            before[tname] = None
    for tname, trg in after.items():
        kept = before.get(tname)
        if kept is None:
            p.add(_Phase.TRIGGERS, trg.definition, f"table {table}", f"trigger {tname}")
        if (kept.enabled if kept else "O") != trg.enabled:
            p.add(_Phase.TRIGGERS, f"ALTER TABLE {table} {_ENABLE[trg.enabled]} {quote_ident(tname)}",
                  f"table {table}", f"trigger {tname} firing changed")
        _comment(p, f"TRIGGER {quote_ident(tname)} ON {table}", f"table {table}",
                 kept.comment if kept else None, trg.comment)


def _plan_policies(p: _Planner, table: str, old: tuple[Policy, ...], new: tuple[Policy, ...],
                   rebuild: bool) -> None:
    before, after = _by_name(old), _by_name(new)
    hit = p.dependents_of_changes()
    for pname, pol in before.items():
        target = after.get(pname)
        stale = rebuild or f"policy {quote_ident(pname)} on {table}" in hit
        if target is None or _policy_sql(table, target) != _policy_sql(table, pol) or stale:
            p.add(_Phase.DROP_TRIGGERS, f"DROP POLICY {quote_ident(pname)} ON {table}", f"table {table}",
                  f"policy {pname} removed or changed")
            before[pname] = None
    for pname, pol in after.items():
        kept = before.get(pname)
        if kept is None:
            p.add(_Phase.TRIGGERS, _policy_sql(table, pol), f"table {table}", f"policy {pname}")
        _comment(p, f"POLICY {quote_ident(pname)} ON {table}", f"table {table}",
                 kept.comment if kept else None, pol.comment)


def _policy_sql(table: str, pol: Policy) -> str:
    mode = "PERMISSIVE" if pol.permissive else "RESTRICTIVE"
    sql = f"CREATE POLICY {quote_ident(pol.name)} ON {table} AS {mode} FOR {pol.command} TO {', '.join(pol.roles)}"
    sql += f" USING ({pol.using})" if pol.using is not None else ""
    return sql + (f" WITH CHECK ({pol.check})" if pol.check is not None else "")


# ---------------------------------------------------------------------------------------------
# Views, and the functions that must come after the tables


def _view_shape(v: View) -> tuple[Any, ...]:
    return (v.definition, v.materialized, v.options, v.populated,
            tuple((c.name, c.type, c.collation) for c in v.columns))


def _view_word(v: View) -> str:
    return "MATERIALIZED VIEW" if v.materialized else "VIEW"


def _plan_views(p: _Planner) -> None:
    """Drop what goes or must be re-created, dependants first; diff the children of the rest."""
    live = {_key(v): v for v in p.live.views}
    want = {_key(v): v for v in p.desired.views}
    # Dropped, or re-created: what CREATE VIEW says (and its columns' names and types) cannot change
    # in place.
    doomed = {_key(c.old) for c in p.of_kind("views") if c.action is Action.DROP
              or (c.action is Action.ALTER and _view_shape(c.old) != _view_shape(c.new))}
    p.changed |= {qname(k[0], k[1]) for k in doomed}
    # A view reading something that changes shape goes too, and so on up the chain: pg_depend says
    # which (``hit`` below); a snapshot recorded without it is read by name in the definitions.
    while not p.live_graph:
        more = {k for k, v in live.items()
                if k not in doomed and any(refers_to(v.definition, c) for c in p.changed)}
        if not more:
            break
        doomed |= more
        p.changed |= {qname(k[0], k[1]) for k in doomed}
    p.changed |= {qname(k[0], k[1]) for k in doomed}
    by_node: dict[str, Function | View] = {node(v): v for v in live.values()}
    fns = {node(f): f for f in p.live.functions if _key(f) not in p.recreated_functions}
    wanted_fns = {_key(d) for d in p.desired.functions}
    fns = {n: f for n, f in fns.items() if _key(f) in wanted_fns}
    hit = p.live_graph.dependents(p.changed_nodes | {node(live[k]) for k in doomed})
    doomed |= {_key(v) for n, v in by_node.items() if n in hit}
    # Functions whose SQL-standard bodies read what changes go too, and come back with the views.
    dropped_fns = {n: f for n, f in fns.items() if n in hit}
    p.changed |= {qname(k[0], k[1]) for k in doomed}
    p.changed_nodes |= {node(live[k]) for k in doomed} | set(dropped_fns)
    items: dict[str, Function | View] = {node(live[k]): live[k] for k in doomed} | dropped_fns
    for n in reversed(dependency_order(p.live_graph, list(items.values()))):
        item = items[n]
        if isinstance(item, Function):
            with p.about(_function_touch(item)):
                p.add(_Phase.DROP_VIEWS, f"DROP {item.kind.upper()} {_function_name(item)}",
                      f"{item.kind} {_function_name(item)}", "re-created: something it reads changes",
                      hazards=(Hazard.OBJECT_DROP,))
            p.recreated_functions.add(_key(item))
            continue
        key = _key(item)
        with p.about(_view_touch(item)):
            p.add(_Phase.DROP_VIEWS, f"DROP {_view_word(item)} {qname(item.schema, item.name)}",
                  f"view {qname(item.schema, item.name)}",
                  "re-created: it or something it reads changes" if key in want else "not in the desired schema",
                  hazards=(Hazard.OBJECT_DROP,))
    p.recreated_views = {(k[0], k[1]) for k in doomed if k in want}
    for old, v in _kept_views(p, live, want, doomed):
        _plan_view_children(p, old, v)


def _kept_views(p: _Planner, live: dict[tuple[str, ...], View], want: dict[tuple[str, ...], View],
                doomed: set[tuple[str, ...]]) -> Iterator[tuple[View, View]]:
    """The views that stay and need their children planned, in name order: the altered ones (their
    typed changes); and when something was dropped or reshaped, every kept view, changed or not (an
    INSTEAD OF trigger whose function is re-created is re-created too)."""
    if p.changed or p.changed_nodes:
        pairs = ((live[k], v) for k, v in sorted(want.items()) if k in live)
    else:
        pairs = ((c.old, c.new) for c in p.of_kind("views") if c.action is Action.ALTER)
    return ((old, v) for old, v in pairs if _key(v) not in doomed)


def _view_touch(v: View, field: str | None = None) -> Touch:
    return Touch("views", qname(v.schema, v.name), field)


def _function_touch(fn: Function, field: str | None = None) -> Touch:
    return Touch("functions", _function_name(fn), field)


def _plan_view_children(p: _Planner, old: View | None, new: View) -> None:
    name = qname(new.schema, new.name)

    def about(field: str) -> AbstractContextManager[None]:
        return p.about(_view_touch(new, field))

    with about("indexes"):
        if old is not None:
            _plan_indexes(p, old.indexes, new.schema, new.name, new.indexes, partitioned=False)
        for idx in new.indexes if old is None else ():
            _create_index(p, new.schema, new.name, idx, _Phase.LATE, existing=False, partitioned=False)
    with about("triggers"):
        _plan_triggers(p, name, old.triggers if old else (), new.triggers, rebuild=False)
    before = _by_name(old.columns if old else ())
    with about("columns"):
        for col in new.columns:
            if (before[col.name].default if col.name in before else None) != col.default:
                how = f"SET DEFAULT {col.default}" if col.default is not None else "DROP DEFAULT"
                p.add(_Phase.LATE, f"ALTER VIEW {name} ALTER COLUMN {quote_ident(col.name)} {how}", f"view {name}",
                      "column default for inserts through the view")
            if new.materialized:
                # A materialized view's columns hold data: their statistics target, storage and compression
                # are set as a table's are (a hand-made SET STATISTICS was a difference no step undid).
                _alter_column_storage(p, f"ALTER MATERIALIZED VIEW {name} ALTER COLUMN {quote_ident(col.name)}",
                                      before.get(col.name, Column(col.name, col.type)), col, f"view {name}",
                                      _Phase.LATE)
    with about("comment"):
        _comment(p, f"{_view_word(new)} {name}", f"view {name}", old.comment if old else None, new.comment)
    with about("columns"):
        _column_comments(p, name, old.columns if old else (), new.columns)


def _is_late(fn: Function, relations: Iterable[str]) -> bool:
    """SQL-language bodies are checked at creation: those naming a table or view wait for them."""
    if not re.search(r"\n LANGUAGE sql\b", fn.definition):
        return False
    return any(mentions(fn.definition, r) for r in relations)


def _relation_names(s: Snapshot) -> set[str]:
    return {t.name for t in s.tables} | {v.name for v in s.views}


def _plan_late_objects(p: _Planner) -> None:
    """New and re-created functions and views, each after what it reads."""
    live_fns = {_key(f) for f in p.live.functions}
    relations = _relation_names(p.desired)
    fns = [f for f in p.desired.functions if _key(f) not in live_fns or _key(f) in p.recreated_functions]
    early = [f for f in fns if not _is_late(f, relations)]
    # A SQL-standard body (BEGIN ATOMIC, RETURN) is bound at creation: what it calls comes first.
    first: list[Function | View] = list(early)
    by_node = {node(f): f for f in early}
    for n in dependency_order(p.desired_graph, first):
        _create_function(p, _Phase.EARLY_FUNCTIONS, by_node[n])
    live_views = {_key(v) for v in p.live.views}
    views = [v for v in p.desired.views if _key(v) not in live_views or _key(v)[:2] in p.recreated_views]
    late: list[Function | View] = [f for f in fns if f not in early]
    items = {node(i): i for i in [*late, *views]}
    for n in dependency_order(p.desired_graph, list(items.values())):
        _create_late(p, items[n])


def _create_late(p: _Planner, item: Function | View) -> None:
    if isinstance(item, Function):
        _create_function(p, _Phase.LATE, item)
        return
    name = qname(item.schema, item.name)
    opts = f" WITH ({', '.join(item.options)})" if item.options else ""
    data = "" if item.populated else " WITH NO DATA"
    with p.about(_view_touch(item)):
        p.add(_Phase.LATE, f"CREATE {_view_word(item)} {name}{opts} AS {item.definition}{data}", f"view {name}",
              "new or re-created view")
        _plan_view_children(p, None, item)


def _create_function(p: _Planner, phase: _Phase, fn: Function) -> None:
    with p.about(_function_touch(fn)):
        p.add(phase, fn.definition.rstrip(), f"{fn.kind} {_function_name(fn)}", f"new or re-created {fn.kind}")


def _comment(p: _Planner, target: str, obj: str, old: str | None, new: str | None,
             needs: Iterable[str] = ()) -> None:
    if old != new:
        p.add(_Phase.COMMENTS, f"COMMENT ON {target} IS {literal(new)}", obj, "comment changed", needs=needs)


def _comment_of(p: _Planner, c: Change, target: str, obj: str, *, made: bool = False) -> None:
    """The comment of a change's desired object; ``made``: it is new or made again (no comment yet)."""
    old = None if made or c.old is None else c.old.comment
    with p.about(touch(c, "comment")):
        _comment(p, target, obj, old, c.new.comment)


# ---------------------------------------------------------------------------------------------
# Privileges


# What a new object grants to others than its owner (acldefault): functions and types to PUBLIC.
_DEFAULT_FUNCTION_ACL = ("PUBLIC=EXECUTE",)
_DEFAULT_TYPE_ACL = ("PUBLIC=USAGE",)


def _plan_grants(p: _Planner) -> None:
    """GRANT and REVOKE until every managed object's privileges are the desired ones."""
    for what, target, old, new in _acl_pairs(p):
        if old != new:  # most are equal: no step, so no need to say what it would change
            with p.about(what):
                _grant_steps(p, target, old, new)


def _acl_pairs(p: _Planner) -> Iterable[tuple[Touch, str, tuple[str, ...], tuple[str, ...]]]:
    """(the field it is, GRANT target, live privileges or the defaults of a new object, desired privileges)."""
    def live_of(items: Iterable[Any], recreated: set[tuple[str, ...]], default: tuple[str, ...] = ()
                ) -> dict[tuple[str, ...], tuple[str, ...]]:
        return {_key(i): (default if _key(i)[:2] in recreated or _key(i) in recreated else i.acl) for i in items}

    yield from ((Touch("schemas", quote_ident(s.name), "acl"), f"SCHEMA {quote_ident(s.name)}",
                 old.acl if old else (), s.acl) for s in p.desired.schemas
                for old in [next((o for o in p.live.schemas if o.name == s.name), None)])
    tables = live_of(p.live.tables, p.recreated_tables)
    live_tables = {_key(t): t for t in p.live.tables}
    for t in p.desired.tables:
        name = qname(t.schema, t.name)
        yield _table_touch(t, "acl"), f"TABLE {name}", tables.get(_key(t), ()), t.acl
        live = live_tables.get(_key(t))
        cols = {} if live is None or _key(t)[:2] in p.recreated_tables else {c.name: c.acl for c in live.columns}
        columns = _table_touch(t, "columns")
        for c in t.columns:
            yield columns, f"COLUMN {quote_ident(c.name)} {name}", cols.get(c.name, ()), c.acl
    views = live_of(p.live.views, p.recreated_views)
    live_views = {_key(v): v for v in p.live.views}
    for v in p.desired.views:
        name = qname(v.schema, v.name)
        yield _view_touch(v, "acl"), f"TABLE {name}", views.get(_key(v), ()), v.acl
        # A view's column privileges are compared like a table's, so they are planned like them too.
        was = live_views.get(_key(v)) if _key(v)[:2] not in p.recreated_views else None
        cols = {c.name: c.acl for c in was.columns} if was is not None else {}
        columns = _view_touch(v, "columns")
        for c in v.columns:
            yield columns, f"COLUMN {quote_ident(c.name)} {name}", cols.get(c.name, ()), c.acl
    seqs = live_of(p.live.sequences, set())
    yield from ((Touch("sequences", qname(q.schema, q.name), "acl"), f"SEQUENCE {qname(q.schema, q.name)}",
                 seqs.get(_key(q), ()), q.acl) for q in p.desired.sequences)
    fns = live_of(p.live.functions, p.recreated_functions, _DEFAULT_FUNCTION_ACL)
    yield from ((_function_touch(f, "acl"), f"{f.kind.upper()} {_function_name(f)}",
                 fns.get(_key(f), _DEFAULT_FUNCTION_ACL), f.acl) for f in p.desired.functions)
    for kind in ("enums", "domains", "composites", "ranges"):
        types = live_of(getattr(p.live, kind), p.recreated_enums | p.remade_ranges, _DEFAULT_TYPE_ACL)
        yield from ((Touch(kind, qname(t.schema, t.name), "acl"), f"TYPE {qname(t.schema, t.name)}",
                     types.get(_key(t), _DEFAULT_TYPE_ACL), t.acl) for t in getattr(p.desired, kind))


def _grant_steps(p: _Planner, target: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if old == new:
        return
    column = target.startswith("COLUMN ")
    on = target.split(" ", 2)[2] if column else target
    cols = f" ({target.split(' ', 2)[1]})" if column else ""
    before, after = _privileges(old), _privileges(new)
    for (grantee, priv), grantable in sorted(before.items()):
        if (grantee, priv) not in after:
            p.add(_Phase.GRANTS, f"REVOKE {priv}{cols} ON {on} FROM {grantee}", on, f"privilege {priv} revoked")
        elif grantable and not after[(grantee, priv)]:
            p.add(_Phase.GRANTS, f"REVOKE GRANT OPTION FOR {priv}{cols} ON {on} FROM {grantee}", on,
                  f"grant option for {priv} revoked")
    for (grantee, priv), grantable in sorted(after.items()):
        if (grantee, priv) not in before or (grantable and not before[(grantee, priv)]):
            option = " WITH GRANT OPTION" if grantable else ""
            p.add(_Phase.GRANTS, f"GRANT {priv}{cols} ON {on} TO {grantee}{option}", on, f"privilege {priv} granted")


def _privileges(acl: tuple[str, ...]) -> dict[tuple[str, str], bool]:
    """{(grantee, privilege): grantable} from "grantee=PRIVILEGE[*]" texts."""
    out = {}
    for item in acl:
        grantee, priv = item.rsplit("=", 1)
        out[(grantee, priv.rstrip("*"))] = priv.endswith("*")
    return out
