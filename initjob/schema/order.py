"""The order of the planner's steps: each step in a phase, with its declared needs, in; the steps in
the order to run them out.

Pure: no connection, no SQL. Within a phase steps keep the order they were planned in. A step that
declares a need (a pg_depend name, ``"index app.t_a"``) on an index this plan builds CONCURRENTLY
runs after the builds, whatever its phase (the builds run last, outside a transaction).

Also here: the order of a set of views and functions by the pg_depend graph (``schema/graph.py``),
and the name matching in SQL text that stands in for the graph where the graph cannot know (each use
says why).
"""

from __future__ import annotations

import functools
import graphlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from initjob.schema.graph import Graph, node
from initjob.schema.model import Function, View

T = TypeVar("T")


class Phase(IntEnum):
    """Where a step runs; within a phase steps keep the order they were planned in."""

    ENUM_VALUES = 0
    NOT_NULL_CHECKS = 5  # SET NOT NULL's helper checks, added and validated online before the plan's transaction
    DROP_TRIGGERS = 10
    DROP_VIEWS = 20
    DROP_FOREIGN_KEYS = 30
    DROP_CONSTRAINTS = 40
    DROP_DEFAULTS = 45
    DROP_TABLES = 50
    DROP_FUNCTIONS = 60
    DROP_SEQUENCES = 65
    DROP_TYPES = 70
    DROP_EXTENSIONS = 80
    DROP_SCHEMAS = 90
    SCHEMAS = 100
    EXTENSIONS = 110
    TYPES = 120
    SEQUENCES = 130
    EARLY_FUNCTIONS = 140
    TABLES = 150
    PARTITIONS = 155
    ALTER_TABLES = 160
    CHILD_COLUMNS = 165
    DROP_OLD_TYPES = 170
    CONSTRAINTS = 180
    LATE = 200
    TRIGGERS = 210
    FOREIGN_KEYS = 220
    VALIDATE = 230
    OWNERSHIP = 240
    GRANTS = 245
    COMMENTS = 250
    CONCURRENT = 260
    # What needs an index built CONCURRENTLY just before (a comment on it, CLUSTER ON it, REPLICA
    # IDENTITY USING it, a foreign key onto it): moved here by the step's declared needs.
    AFTER_CONCURRENT = 270


@dataclass
class StepOrder(Generic[T]):
    """Steps as they are planned (phase, declared needs); ``ordered()`` gives the order to run them."""

    entries: list[tuple[Phase, T]] = field(default_factory=list)
    needs: dict[int, frozenset[str]] = field(default_factory=dict)
    # pg_depend names of the indexes this plan builds CONCURRENTLY (last, outside a transaction).
    built_online: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, phase: Phase, step: T, needs: Iterable[str] = ()) -> int:
        """Add a step; returns its position, for ``need`` later."""
        position = len(self.entries)
        self.entries.append((phase, step))
        self.need(range(position, position + 1), needs)
        return position

    def need(self, positions: Iterable[int], needs: Iterable[str]) -> None:
        """The steps at ``positions`` need ``needs`` (pg_depend names) to exist before they run."""
        wanted = frozenset(needs)
        if wanted:
            for i in positions:
                self.needs[i] = self.needs.get(i, frozenset()) | wanted

    def built_concurrently(self, name: str) -> None:
        """``name`` (``"index app.t_a"``) is built online, after the plan's transactions."""
        self.built_online.add(name)

    def phase_of(self, position: int) -> Phase:
        phase = self.entries[position][0]
        late = phase < Phase.CONCURRENT and self.needs.get(position, frozenset()) & self.built_online
        return Phase.AFTER_CONCURRENT if late else phase

    def ordered(self) -> list[T]:
        order = sorted(range(len(self.entries)), key=lambda i: (self.phase_of(i), i))
        return [self.entries[i][1] for i in order]


def dependency_order(deps: Graph, items: list[Function | View]) -> list[str]:
    """pg_depend names of views and functions, each after what it depends on.

    From pg_depend when the snapshot has it; otherwise (a snapshot recorded without it, so the graph
    cannot know) each after the ones its definition names, by name, generously.
    """
    if deps:
        return deps.order(node(i) for i in items)
    graph: dict[str, set[str]] = {}
    for item in items:
        graph[node(item)] = {node(o) for o in items if o is not item and mentions(item.definition, o.name)}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        # Generous name matching can see a cycle that is not there: fall back to functions, then views.
        return [node(i) for i in sorted(items, key=lambda i: (isinstance(i, View), i.schema, i.name,
                                                                getattr(i, "arguments", "")))]


# ---------------------------------------------------------------------------------------------
# Name matching in SQL text: only where the pg_depend graph cannot know the dependency.


def refers_to(definition: str, target: str) -> bool:
    """Does a deparsed definition name ``target`` (a qualified name, or ``name(`` for a function)?"""
    tail = "" if target.endswith("(") else r"(?![\w\"$])"
    return re.search(r"(?<![\w.\"$])" + re.escape(target) + tail, definition) is not None


_WORD = re.compile(r"[\w$]+")


@functools.lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def mentions(text: str, name: str) -> bool:
    """Does ``text`` hold ``name`` as a whole word? A plain name is looked up in the text's words,
    split once: a regex per (definition, name) pair overflowed re's cache and recompiled every time,
    13 s of planning on 1,000 tables."""
    if _WORD.fullmatch(name):
        return name in _words(text)
    return re.search(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", text) is not None
