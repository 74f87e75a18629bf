"""Object dependencies from ``pg_depend``, as the planner needs them: who depends on what, and in
which order to create or drop a set of objects.

Nodes are PostgreSQL's own names for objects (``pg_identify_object``: ``"view app.v"``,
``"table column app.t.a"``, ``"function app.f(integer)"``); ``node`` gives the name of a model value.
Pure: built from ``Snapshot.depends``.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Iterable

from initjob.schema.model import Function, View, quote_ident


def node(item: Function | View) -> str:
    """The pg_depend name of a view, materialized view, function or procedure."""
    if isinstance(item, Function):
        return f"{item.kind} {item.signature}"
    word = "materialized view" if item.materialized else "view"
    return f"{word} {quote_ident(item.schema)}.{quote_ident(item.name)}"


def relation_node(schema: str, name: str) -> str:
    return f"table {quote_ident(schema)}.{quote_ident(name)}"


def column_node(schema: str, table: str, column: str) -> str:
    return f"table column {quote_ident(schema)}.{quote_ident(table)}.{quote_ident(column)}"


def type_node(schema: str, name: str) -> str:
    return f"type {quote_ident(schema)}.{quote_ident(name)}"


class Graph:
    """Edges dependent → referenced, and the reverse."""

    def __init__(self, edges: Iterable[tuple[str, str]]) -> None:
        self.uses: dict[str, set[str]] = defaultdict(set)
        self.used_by: dict[str, set[str]] = defaultdict(set)
        for dependent, referenced in edges:
            self.uses[dependent].add(referenced)
            self.used_by[referenced].add(dependent)
            # A relation's columns belong to it: what uses a column uses the relation too.
            if " column " in referenced:
                self.used_by[_owner_of(referenced)].add(dependent)
                self.uses[dependent].add(_owner_of(referenced))

    def __bool__(self) -> bool:
        return bool(self.uses)

    def dependents(self, roots: Iterable[str]) -> set[str]:
        """Everything that depends on ``roots``, directly or through others (roots left out)."""
        start = set(roots)
        seen: set[str] = set()
        todo = [d for r in start for d in self.used_by.get(r, ())]
        while todo:
            current = todo.pop()
            if current in seen or current in start:
                continue
            seen.add(current)
            todo.extend(self.used_by.get(current, ()))
        return seen

    def order(self, nodes: Iterable[str]) -> list[str]:
        """``nodes`` with each after those it depends on, through other objects too; ties by name."""
        wanted = sorted(set(nodes))
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for n in wanted:
            sorter.add(n, *sorted(self._reachable(n, set(wanted))))
        try:
            return list(sorter.static_order())
        except graphlib.CycleError:
            return wanted  # PostgreSQL itself refuses dependency cycles among these; keep a stable order

    def _reachable(self, start: str, among: set[str]) -> set[str]:
        """The members of ``among`` that ``start`` depends on, directly or through non-members."""
        found: set[str] = set()
        seen = {start}
        todo = list(self.uses.get(start, ()))
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in among:
                found.add(current)
            else:
                todo.extend(self.uses.get(current, ()))
        return found


def _owner_of(column: str) -> str:
    """"table column app.t.a" → "table app.t" (identifiers are quoted where they hold dots)."""
    kind, ident = column.split(" column ", 1)
    if '"' not in ident:
        return f"{kind} {ident.rsplit('.', 1)[0]}"
    parts, current, quoted = [], "", False
    for ch in ident:
        if ch == '"':
            quoted = not quoted
        if ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    return f"{kind} {'.'.join(parts)}"
