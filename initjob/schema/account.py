"""Every differing field accounted for: after planning, each field of each altered object (a typed
``compare.Change``) must be handled by a step that changes that object, or refused by name, or left
alone for a reason declared here; what is none of these comes back as a refusal line naming the kind,
the object and the field, and the run exits 3 rather than leave a difference unnoticed.

Pure: the changes, and what the plan's steps and refusals say they change (``Touch``, recorded by the
planner as it adds them), in; lines out. No text matching: a step counts for the objects its generator
made it for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from initjob.schema import kinds
from initjob.schema.compare import Action, Change


@dataclass(frozen=True)
class Touch:
    """What a step (or a refusal) changes: an object of a kind, one field of it or the whole."""

    kind: str  # the registry key: "tables", "sequences", ...
    name: str  # qualified, as ``Change.name`` (and verify) says it
    field: str | None = None  # None: the object as a whole (made, dropped, re-created, or refused)


def touch(change: Change, field: str | None = None) -> Touch:
    return Touch(change.kind.key, change.name, field)


# The fields a step or refusal must account for: every compared one. (An identity field that differs
# under the same qualified name, a function's signature, would otherwise differ unnoticed.)
_ACCOUNTED = frozenset({kinds.Handling.IDENTITY, kinds.Handling.PLANNED, kinds.Handling.MEMBERS,
                        kinds.Handling.REFUSED})

_Changes = Mapping[tuple[str, str], Change]


@dataclass(frozen=True)
class Excuse:
    """A difference the planner leaves alone on purpose: which field of which kind, why, and when."""

    kind: str
    field: str
    reason: str
    applies: Callable[[Change, _Changes], bool]


def _only_reordered(change: Change, _: _Changes) -> bool:
    return "columns" in change.reordered


def _parents(change: Change) -> set[str]:
    """The qualified tables a table inherits from or is a partition of, before and after alike."""
    out: set[str] = set()
    for t in (change.old, change.new):
        out |= ({t.parent} if t.parent else set()) | set(t.inherits)
    return out


def _columns_follow_parent(change: Change, changes: _Changes) -> bool:
    """Every differing column of a partition or child differs in a parent too (ALTER TABLE on the
    parent recurses to its partitions and children, ADD and DROP COLUMN included)."""
    parents = [changes.get(("tables", p)) for p in _parents(change)]
    theirs = {m.name for p in parents if p is not None for m in p.members_of("columns")}
    mine = change.members_of("columns")
    return bool(mine) and all(m.name in theirs for m in mine)


def _attached_indexes_follow_parent(change: Change, changes: _Changes) -> bool:
    """Every differing index of a partition is attached to a parent's index, and that parent changes:
    PostgreSQL makes and drops such an index with the parent's (or its key's)."""
    mine = change.members_of("indexes")
    attached = {i.name for t in (change.old, change.new) for i in t.indexes if i.parent_index is not None}
    parent_changes = any(("tables", p) in changes for p in _parents(change))
    return bool(mine) and parent_changes and all(m.name in attached for m in mine)


# Each declared reason, by (kind, field). A field with none here needs a step or a refusal.
EXCUSES: tuple[Excuse, ...] = (
    Excuse("tables", "columns", "columns in another order only: ADD COLUMN cannot choose a position, and auto-sync "
           "judges a table up to date column order aside (scope.same_schema)", _only_reordered),
    Excuse("tables", "columns", "a partition's or inheritance child's columns follow its parent's: planned by the "
           "parent's steps, which recurse", _columns_follow_parent),
    Excuse("tables", "indexes", "a partition's index attached to its parent's is made and dropped with it",
           _attached_indexes_follow_parent),
)


def excuse(change: Change, field: str, changes: _Changes) -> Excuse | None:
    """The declared reason this field of this change needs no step of its own, if one applies."""
    return next((e for e in EXCUSES if (e.kind, e.field) == (change.kind.key, field) and e.applies(change, changes)),
                None)


def unaccounted(changes: Sequence[Change], touched: Collection[Touch]) -> tuple[str, ...]:
    """Lines for the differing fields of altered objects that no step or refusal changes and no
    declared reason excuses, one per field, in the comparison's order."""
    by_name = {(c.kind.key, c.name): c for c in changes}
    out: list[str] = []
    for change in changes:
        if change.action is not Action.ALTER:
            continue  # a new or dropped object has no field to account for: its create or drop is the step
        if touch(change) in touched:
            continue
        for f in change.fields:
            if change.kind.fields[f] not in _ACCOUNTED or touch(change, f) in touched:
                continue
            if excuse(change, f, by_name) is None:
                out.append(f"{change.label} {change.name}: {f} differs and no step changes it")
    return tuple(out)
