"""Two snapshots compared: typed differences, and the lines ``verify`` and ``status`` print.

A ``Difference`` names the kind, the object (qualified), what happened to it (missing from the
database examined, unexpected in it, or different) and, for a difference, which members or fields.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from initjob.schema import kinds
from initjob.schema.model import Snapshot, qualified, quote_ident


@dataclass(frozen=True)
class Difference:
    """One object that differs between the database examined and what it should be."""

    kind: str  # "table", "view", "function", ...
    name: str  # qualified
    change: str  # "missing" | "unexpected" | "differs"
    details: tuple[str, ...] = ()  # for "differs": one line per member or field


def compare(old: Snapshot, new: Snapshot) -> list[Difference]:
    """How ``old`` (the database examined) differs from ``new`` (what it should be), kind by kind."""
    found: list[Difference] = []
    for kind in kinds.TOP_LEVEL:
        found += _compare_kind(kind.label, getattr(old, kind.key), getattr(new, kind.key))
    # Each refused kind under its own label: "operator class app.ops unexpected".
    for kind in kinds.REFUSED:
        found += _compare_kind(kind.label, _refused(kind, old), _refused(kind, new), kind)
    return found


def _refused(kind: kinds.Kind, snapshot: Snapshot) -> tuple[Any, ...]:
    return tuple(u for u in snapshot.unmanaged if kinds.refused_kind(u.name) is kind)


def describe_differences(old: Snapshot, new: Snapshot, limit: int = 50) -> list[str]:
    """Lines saying how ``old`` (the database examined) differs from ``new`` (what it should be).

    "missing": in ``new`` only; "unexpected": in ``old`` only; "differs": in both, not equal.
    At most ``limit`` lines; a last line says how many more there were.
    """
    lines: list[str] = []
    for d in compare(old, new):
        prefix = f"{d.kind} {d.name}"
        lines += [f"{prefix} {d.change}"] if d.change != "differs" else list(d.details)
    if len(lines) > limit:
        return [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more differences"]
    return lines


def _compare_kind(label: str, old: tuple[Any, ...], new: tuple[Any, ...],
                  refused: kinds.Kind | None = None) -> list[Difference]:
    name_of = qualified if refused is None else functools.partial(kinds.identity_of, refused)
    before = {name_of(o): o for o in old}
    after = {name_of(o): o for o in new}
    found: list[Difference] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            found.append(Difference(label, name, "missing"))
        elif name not in after:
            found.append(Difference(label, name, "unexpected"))
        elif before[name] != after[name]:
            found.append(Difference(label, name, "differs",
                                    tuple(_compare_members(f"{label} {name}", before[name], after[name]))))
    return found


# Members compared one by one, so a line names the column or index that differs.
_MEMBERS = {"columns": "column", "attributes": "attribute", "constraints": "constraint",
            "indexes": "index", "triggers": "trigger", "policies": "policy"}


def _compare_members(prefix: str, old: Any, new: Any) -> list[str]:
    lines: list[str] = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b:
            continue
        if f.name not in _MEMBERS:
            lines.append(f"{prefix}: {f.name.replace('_', ' ')} differs")
            continue
        lines += _compare_named(f"{prefix}: {_MEMBERS[f.name]}", a, b)
    return lines or [f"{prefix} differs"]


def _compare_named(prefix: str, old: tuple[Any, ...], new: tuple[Any, ...]) -> list[str]:
    before = {o.name: o for o in old}
    after = {o.name: o for o in new}
    lines = []
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in before:
            lines.append(f"{prefix} {quote_ident(name)} missing")
        elif name not in after:
            lines.append(f"{prefix} {quote_ident(name)} unexpected")
        elif before[name] != after[name]:
            what = [f.name.replace("_", " ") for f in dataclasses.fields(before[name])
                    if getattr(before[name], f.name) != getattr(after[name], f.name)]
            lines.append(f"{prefix} {quote_ident(name)} differs ({', '.join(what)})")
    if not lines and [o.name for o in old] != [o.name for o in new]:
        lines.append(f"{prefix}s are in a different order")
    return lines
