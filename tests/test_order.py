"""schema/order.py: steps with a phase and declared needs in, the run order out (pure, table-driven)."""

from __future__ import annotations

import pytest

from initjob.schema.graph import Graph
from initjob.schema.model import Function, View
from initjob.schema.order import Phase, StepOrder, dependency_order, mentions, refers_to

P = Phase


@pytest.mark.parametrize(("added", "built", "expected"), [
    # By phase; within a phase, in the order planned.
    ([("b", P.LATE, ()), ("a", P.TABLES, ()), ("c", P.LATE, ())], (), ["a", "b", "c"]),
    # A comment on an index built CONCURRENTLY waits for the build, after every build.
    ([("comment", P.COMMENTS, ("index s.i",)), ("build", P.CONCURRENT, ()), ("build2", P.CONCURRENT, ())],
     ("index s.i",), ["build", "build2", "comment"]),
    # The same need on an index built in the transaction (not online) keeps its phase.
    ([("comment", P.COMMENTS, ("index s.i",)), ("build", P.CONCURRENT, ())], (), ["comment", "build"]),
    # A need on something else built online changes nothing.
    ([("fk", P.FOREIGN_KEYS, ("index s.j",)), ("build", P.CONCURRENT, ())], ("index s.i",), ["fk", "build"]),
    # Steps moved after the builds keep their planned order among themselves.
    ([("fk", P.FOREIGN_KEYS, ("index s.i",)), ("cluster", P.LATE, ("index s.i",)), ("build", P.CONCURRENT, ())],
     ("index s.i",), ["build", "fk", "cluster"]),
])
def test_step_order(added: list[tuple[str, Phase, tuple[str, ...]]], built: tuple[str, ...],
                    expected: list[str]) -> None:
    order: StepOrder[str] = StepOrder()
    for step, phase, needs in added:
        order.add(phase, step, needs)
    for name in built:
        order.built_concurrently(name)
    assert order.ordered() == expected


def test_needs_declared_later_count() -> None:
    """A range of steps can be given needs after they were added (a constraint's steps, as one)."""
    order: StepOrder[str] = StepOrder()
    first = len(order)
    order.add(P.CONSTRAINTS, "add fk")
    order.add(P.VALIDATE, "validate fk")
    order.add(P.CONCURRENT, "build")
    order.need(range(first, first + 2), {"index s.u"})
    order.built_concurrently("index s.u")
    assert order.ordered() == ["build", "add fk", "validate fk"]


def _fn(name: str, body: str) -> Function:
    return Function("s", name, "", "function", "integer", body, signature=f"s.{name}()")


def test_dependency_order_by_graph_and_by_name() -> None:
    f, g = _fn("f", "SELECT 1"), _fn("g", "SELECT f()")
    v = View("s", "v", "SELECT g()")
    # pg_depend says g uses f and v uses g, whatever the text says.
    graph = Graph([("function s.g()", "function s.f()"), ("view s.v", "function s.g()")])
    assert dependency_order(graph, [v, g, f]) == ["function s.f()", "function s.g()", "view s.v"]
    # Without pg_depend (a recorded snapshot): by the names in the definitions.
    assert dependency_order(Graph(()), [v, g, f]) == ["function s.f()", "function s.g()", "view s.v"]


@pytest.mark.parametrize(("text", "name", "found"), [
    ("SELECT a FROM t", "t", True),
    ("SELECT a FROM tt", "t", False),
    ("SELECT $1 + t_x", "t", False),
    ('SELECT 1 FROM "my t"', '"my t"', True),
])
def test_mentions(text: str, name: str, found: bool) -> None:
    assert mentions(text, name) is found


@pytest.mark.parametrize(("definition", "target", "found"), [
    ("FOREIGN KEY (a) REFERENCES app.t(id)", "app.t", True),
    ("FOREIGN KEY (a) REFERENCES app.tt(id)", "app.t", False),
    ("FOREIGN KEY (a) REFERENCES other.app.t(id)", "app.t", False),
    ("EXECUTE FUNCTION app.f()", "app.f(", True),
])
def test_refers_to(definition: str, target: str, found: bool) -> None:
    assert refers_to(definition, target) is found
