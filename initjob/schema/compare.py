"""Two snapshots compared into typed changes, and the lines ``verify`` and ``status`` print from them.

The one comparison: the planner (``diff.plan_sync``) and its accounting (``account``) read the same
``Change`` values the display is made of. A ``Change`` names the kind (its registry entry), the object
(qualified), the action (create: missing from the database examined; drop: unexpected in it; alter:
in both and different) and, for an alter, the differing fields as the registry classifies them, and
for member fields which members (missing, unexpected, differing in which of their fields).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from initjob.schema import kinds
from initjob.schema.model import Snapshot, qualified, quote_ident


class Action(StrEnum):
    """What must happen to an object for the database examined to become what it should be."""

    CREATE = "create"  # in what it should be only
    DROP = "drop"  # in the database examined only
    ALTER = "alter"  # in both, not equal


# How verify words each action.
_SEEN = {Action.CREATE: "missing", Action.DROP: "unexpected", Action.ALTER: "differs"}


@dataclass(frozen=True)
class MemberChange:
    """A member (column, constraint, index, ...) of an altered object that differs."""

    field: str  # the owner's field holding it: "columns", "attributes", "constraints", ...
    kind: kinds.Kind  # the member kind's entry
    name: str  # the member's own name, unquoted
    action: Action
    fields: tuple[str, ...] = ()  # for ALTER: the member's differing fields (ignored ones left out)


@dataclass(frozen=True)
class Change:
    """One object that differs between the database examined (``old``) and what it should be (``new``)."""

    kind: kinds.Kind
    name: str  # qualified, as verify prints it (a refused kind's object: its identity, without the label)
    action: Action
    old: Any = None  # the object in the database examined (None for CREATE)
    new: Any = None  # the object it should be (None for DROP)
    fields: tuple[str, ...] = ()  # for ALTER: every differing compared field, in the model's order
    members: tuple[MemberChange, ...] = ()  # for ALTER: the members of its MEMBERS fields that differ
    # MEMBERS fields whose members are all equal but in another order (columns: ADD COLUMN appends).
    reordered: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def item(self) -> Any:
        """The object itself: as it should be, or (when dropped) as it is."""
        return self.new if self.new is not None else self.old

    def members_of(self, field: str) -> tuple[MemberChange, ...]:
        return tuple(m for m in self.members if m.field == field)

    def lines(self) -> list[str]:
        """How verify says it: one line for a create or drop, one per field or member for an alter."""
        prefix = f"{self.label} {self.name}"
        if self.action is not Action.ALTER:
            return [f"{prefix} {_SEEN[self.action]}"]
        lines: list[str] = []
        for f in self.fields:
            if self.kind.fields[f] is not kinds.Handling.MEMBERS:
                lines.append(f"{prefix}: {f.replace('_', ' ')} differs")
                continue
            word = _MEMBER_WORDS[f]
            lines += [f"{prefix}: {word} {quote_ident(m.name)} {_SEEN[m.action]}"
                      + (f" ({', '.join(x.replace('_', ' ') for x in m.fields)})" if m.fields else "")
                      for m in self.members_of(f)]
            lines += [f"{prefix}: {word}s are in a different order"] if f in self.reordered else []
        return lines or [f"{prefix} differs"]


# Members as verify names them, by the owner's field (a composite type's columns are attributes).
_MEMBER_WORDS = {"columns": "column", "attributes": "attribute", "constraints": "constraint",
                 "indexes": "index", "triggers": "trigger", "policies": "policy"}

# The member kind each owner field holds ("tables.columns" → the column kind), from the registry.
_MEMBER_KINDS = {owner: k for k in kinds.MEMBERS for owner in k.owners}


def compare(old: Snapshot, new: Snapshot) -> list[Change]:
    """How ``old`` (the database examined) differs from ``new`` (what it should be), kind by kind in
    the registry's order, each kind's objects by name."""
    found: list[Change] = []
    for kind in kinds.TOP_LEVEL:
        found += _compare_kind(kind, getattr(old, kind.key), getattr(new, kind.key), qualified)
    # Each refused kind under its own label: "operator class app.ops unexpected".
    for kind in kinds.REFUSED:
        found += _compare_kind(kind, _refused(kind, old), _refused(kind, new),
                               functools.partial(kinds.identity_of, kind))
    return found


def of_kind(changes: Iterable[Change], kind: kinds.Kind) -> Iterator[Change]:
    """The changes of one kind, in the comparison's order."""
    return (c for c in changes if c.kind is kind)


def _refused(kind: kinds.Kind, snapshot: Snapshot) -> tuple[Any, ...]:
    return tuple(u for u in snapshot.unmanaged if kinds.refused_kind(u.name) is kind)


def describe_differences(old: Snapshot, new: Snapshot, limit: int = 50) -> list[str]:
    """Lines saying how ``old`` (the database examined) differs from ``new`` (what it should be).

    "missing": in ``new`` only; "unexpected": in ``old`` only; "differs": in both, not equal.
    At most ``limit`` lines; a last line says how many more there were.
    """
    lines = [line for c in compare(old, new) for line in c.lines()]
    if len(lines) > limit:
        return [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more differences"]
    return lines


def _compare_kind(kind: kinds.Kind, old: tuple[Any, ...], new: tuple[Any, ...], name_of: Any) -> list[Change]:
    before = {name_of(o): o for o in old}
    after = {name_of(o): o for o in new}
    found: list[Change] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            found.append(Change(kind, name, Action.CREATE, new=after[name]))
        elif name not in after:
            found.append(Change(kind, name, Action.DROP, old=before[name]))
        elif before[name] != after[name]:
            found.append(_altered(kind, name, before[name], after[name]))
    return found


def _differing(kind: kinds.Kind, old: Any, new: Any) -> tuple[str, ...]:
    """The compared fields that differ, in the model's order (ignored fields are not compared)."""
    return tuple(f.name for f in dataclasses.fields(old)
                 if kind.fields[f.name] is not kinds.Handling.IGNORED and getattr(old, f.name) != getattr(new, f.name))


def _altered(kind: kinds.Kind, name: str, old: Any, new: Any) -> Change:
    fields = _differing(kind, old, new)
    members: list[MemberChange] = []
    reordered: list[str] = []
    for f in fields:
        if kind.fields[f] is not kinds.Handling.MEMBERS:
            continue
        found = _compare_named(f, _MEMBER_KINDS[f"{kind.key}.{f}"], getattr(old, f), getattr(new, f))
        members += found
        if not found and [o.name for o in getattr(old, f)] != [o.name for o in getattr(new, f)]:
            reordered.append(f)
    return Change(kind, name, Action.ALTER, old, new, fields, tuple(members), tuple(reordered))


def _compare_named(field: str, kind: kinds.Kind, old: tuple[Any, ...], new: tuple[Any, ...]) -> list[MemberChange]:
    before = {o.name: o for o in old}
    after = {o.name: o for o in new}
    found: list[MemberChange] = []
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in before:
            found.append(MemberChange(field, kind, name, Action.CREATE))
        elif name not in after:
            found.append(MemberChange(field, kind, name, Action.DROP))
        elif before[name] != after[name]:
            found.append(MemberChange(field, kind, name, Action.ALTER, _differing(kind, before[name], after[name])))
    return found
