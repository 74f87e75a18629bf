"""The split of a sync into expand (before the rollout) and contract (after it), as a snapshot.

Pure.  ``expand_target(live, desired)`` is the schema that a running copy of the previous release
(which knows ``live``) survives and the new release (which needs ``desired``) can already use: every
addition of ``desired``, none of its removals or restrictions.  The planner is not asked twice for
different things: the expand half is ``plan_sync(live, target)``, the contract half
``plan_sync(target, desired)``, so each half is an ordinary plan, rehearsed and checked on the full
model like any other, and "expand is done" means "live equals the target", never a weakened check.

The rule, per kind of change (docs/zero-downtime.md prints it):

expand: new schemas, extensions, types, domains, sequences, tables (with all their constraints),
columns, functions, views, triggers, policies, enum labels appended; new and changed defaults;
widening type changes (those the planner calls safe, no rewrite); DROP NOT NULL; new non-unique
indexes (built CONCURRENTLY on an existing table); changed functions, views, triggers, sequences.

contract: every drop (table, column, view, function, type, constraint, index, trigger, policy,
schema, sequence, extension); narrowing or rewriting type changes; SET NOT NULL, including that of
a new NOT NULL column without a default (added nullable in expand: old pods insert without it);
new or changed constraints and unique indexes on existing tables (they reject the old release's
writes); changed domains and composite types; enum changes other than appended labels; turning on
row-level security; a declared rename (``-- initjob:renamed``; expand keeps the old name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from initjob.schema.diff import SAFE, Plan, classify_type_change, plan_sync
from initjob.schema.model import Column, Enum, Index, Snapshot, Table, quote_ident
from initjob.schema.renames import Rename, plan_with_renames, with_old_names

T = TypeVar("T")
_REFERENCES = re.compile(r'\bREFERENCES\s+((?:"(?:[^"]|"")*"|[^\s(."]+)(?:\.(?:"(?:[^"]|"")*"|[^\s(."]+))?)\s*\(')


@dataclass(frozen=True)
class Split:
    """A sync cut in two: the schema expand leaves behind, and the plan of each half."""

    target: Snapshot
    expand: Plan
    contract: Plan


def split(live: Snapshot, desired: Snapshot, renames: Iterable[Rename] = ()) -> Split:
    """The two halves of ``plan_sync(live, desired)``; a declared rename waits for contract (the
    previous release still uses the old name), so expand's target keeps it."""
    renames = tuple(renames)
    target = expand_target(live, with_old_names(desired, live, renames) if renames else desired)
    return Split(target, plan_sync(live, target), plan_with_renames(target, desired, renames))


def expand_target(live: Snapshot, desired: Snapshot) -> Snapshot:
    """``desired``'s additions on top of ``live``, with nothing of ``live`` taken away or restricted."""
    return replace(
        desired,
        schemas=_union(live.schemas, desired.schemas, _name),
        extensions=_union(live.extensions, desired.extensions, _name),
        enums=_union(live.enums, desired.enums, _key, _enum),
        domains=_union(live.domains, desired.domains, _key, _keep_live),
        composites=_union(live.composites, desired.composites, _key, _keep_live),
        sequences=_union(live.sequences, desired.sequences, _key),
        tables=_tables(live.tables, desired.tables),
        views=_union(live.views, desired.views, _key),
        functions=_union(live.functions, desired.functions, _function_key),
        collations=_union(live.collations, desired.collations, _key),
        ranges=_union(live.ranges, desired.ranges, _key),
        depends=tuple(sorted(set(live.depends) | set(desired.depends))),
    )


def _name(item: Any) -> tuple[str, ...]:
    return (item.name,)


def _key(item: Any) -> tuple[str, ...]:
    return (item.schema, item.name)


def _function_key(item: Any) -> tuple[str, ...]:
    return (item.schema, item.name, item.arguments)


def _take_desired(old: T, new: T) -> T:
    return new


def _keep_live(old: T, new: T) -> T:
    return old


def _union(live: Iterable[T], desired: Iterable[T], key: Callable[[T], tuple[str, ...]],
           merge: Callable[[T, T], T] = _take_desired) -> tuple[T, ...]:
    """Every item of both, keyed; one in both merged (by default the desired one), sorted by key."""
    out = {key(i): i for i in live}
    for item in desired:
        k = key(item)
        out[k] = merge(out[k], item) if k in out else item
    return tuple(out[k] for k in sorted(out))


def _enum(old: Enum, new: Enum) -> Enum:
    """Labels appended or inserted keep every old one in its order: expand; anything else waits."""
    kept = [label for label in new.labels if label in old.labels]
    return new if kept == list(old.labels) else old


def _tables(live: tuple[Table, ...], desired: tuple[Table, ...]) -> tuple[Table, ...]:
    """The tables merged; one whose partitioning changes is re-created, which drops its rows and the old
    release's table: it stays as it is until contract, and so do the desired partitions hung on it."""
    before = {_key(t): t for t in live}
    reshaped = {k for t in desired if (k := _key(t)) in before and before[k].partition_key != t.partition_key}
    # A parent is named as regclass prints it: quoted where needed, like quote_ident.
    waiting = {f"{quote_ident(t.schema)}.{quote_ident(t.name)}" for t in live if _key(t) in reshaped}
    kept = [t for t in desired
            if _key(t) not in reshaped and not (_key(t) not in before and t.parent in waiting)]
    # A new table's foreign key onto an existing table that gains a unique key: that key restricts the
    # previous release's writes and waits for contract, and so does the foreign key that needs it.
    keyed = {f"{quote_ident(t.schema)}.{quote_ident(t.name)}" for t in desired
             if _key(t) in before and _keys(t) - _keys(before[_key(t)])}
    kept = [replace(t, constraints=tuple(c for c in t.constraints if not (c.kind == "f" and _references(c.definition)
                                                                          in keyed)))
            if _key(t) not in before and keyed else t for t in kept]
    return _union(live, kept, _key, _table)


def _keys(t: Table) -> set[str]:
    """The unique keys of a table: its unique and primary key constraints and unique indexes."""
    return ({c.definition for c in t.constraints if c.kind in ("p", "u")}
            | {i.definition.split(" USING ", 1)[-1] for i in t.indexes if _is_unique(i.definition)})


def _references(definition: str) -> str | None:
    """The table a foreign key's definition references (``... REFERENCES app.t(b)``), as regclass prints it."""
    found = _REFERENCES.search(definition)
    return found.group(1) if found else None


def _table(old: Table, new: Table) -> Table:
    """The desired table, keeping what goes away and leaving out what restricts writes."""
    desired_columns = {c.name: c for c in new.columns}
    columns = [_column(c, desired_columns[c.name]) if c.name in desired_columns else c for c in old.columns]
    known = {c.name for c in old.columns}
    columns += [_new_column(c) for c in new.columns if c.name not in known]
    indexes = _indexes(old, new)
    # USING INDEX an index that waits for contract (a new unique one) waits with it.
    replica_identity = new.replica_identity
    if replica_identity == "i" and not any(i.replica_identity for i in indexes):
        replica_identity = old.replica_identity
    return replace(
        new,
        columns=tuple(columns),
        # A new or changed constraint rejects writes the old release makes: only the live ones now.
        constraints=old.constraints,
        indexes=indexes,
        replica_identity=replica_identity,
        triggers=_union(old.triggers, new.triggers, _name),
        policies=_union(old.policies, new.policies, _name),
        rls=old.rls and new.rls,
        rls_forced=old.rls_forced and new.rls_forced,
    )


def _indexes(old: Table, new: Table) -> tuple[Index, ...]:
    """The live indexes and the desired non-unique ones; a partition's index attached to a parent's index
    is one per parent index (the desired one, renamed, replaces the live one), never both."""
    plain = _union((i for i in old.indexes if i.parent_index is None),
                   (i for i in new.indexes if i.parent_index is None and not _is_unique(i.definition)), _name)
    attached = {i.parent_index: i for i in old.indexes if i.parent_index is not None}
    for i in new.indexes:
        if i.parent_index is not None and (i.parent_index in attached or not _is_unique(i.definition)):
            attached[i.parent_index] = i
    names = {i.name for i in attached.values()}
    return tuple(sorted([*(i for i in plain if i.name not in names), *attached.values()], key=lambda i: i.name))


def _is_unique(definition: str) -> bool:
    return definition.startswith("CREATE UNIQUE ")


def _column(old: Column, new: Column) -> Column:
    """A kept column: the desired one, but NOT NULL only once both want it and a type only widened."""
    widened = old.type == new.type or (old.collation == new.collation
                                       and classify_type_change(old.type, new.type)[0] == SAFE)
    shaped = new if widened else replace(new, type=old.type, collation=old.collation)
    if (old.generated, old.generated_kind) != (new.generated, new.generated_kind):
        shaped = replace(shaped, generated=old.generated, generated_kind=old.generated_kind)
    return replace(shaped, not_null=old.not_null and new.not_null)


def _new_column(col: Column) -> Column:
    """A new NOT NULL column without a default is added nullable: old pods insert rows without it."""
    if col.not_null and col.default is None and not col.identity and col.generated is None:
        return replace(col, not_null=False)
    return col
