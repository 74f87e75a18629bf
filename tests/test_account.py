"""schema/account.py: every differing field handled by a step of its object or refused by name."""

from __future__ import annotations

import pytest

from initjob.schema.account import unaccounted
from initjob.schema.diff import plan_sync
from initjob.schema.model import Column, Schema, Snapshot, Table


def _t(*columns: Column, comment: str | None = None, schema: str = "app") -> Snapshot:
    return Snapshot(tables=(Table(schema, "t", columns=columns, comment=comment),))


A = Column("a", "integer")


@pytest.mark.parametrize(("live", "desired", "named", "expected"), [
    # Handled: a step of the object.
    (_t(A), _t(A, comment="x"), ["table app.t", "COMMENT ON TABLE app.t IS 'x'"], ()),
    # Refused by name: the refusal line names it.
    (_t(A), _t(A, comment="x"), ["table app.t: comment refused"], ()),
    # Deliberately unhandled: nothing names it; each differing field is a line.
    (_t(A), _t(A, comment="x"), [], ("table app.t: comment differs and no step changes it",)),
    (_t(A), _t(Column("a", "bigint"), comment="x"), ["table app.tt"],
     ("table app.t: comment differs and no step changes it", "table app.t: columns differs and no step changes it")),
    # Another object's step does not account for this one.
    (_t(A), _t(A, comment="x"), ["table other.t", "table app.t2"],
     ("table app.t: comment differs and no step changes it",)),
    # Schemas are named without a schema.
    (Snapshot(schemas=(Schema("app"),)), Snapshot(schemas=(Schema("app", comment="x"),)), [],
     ("schema app: comment differs and no step changes it",)),
    # New and dropped objects have no field to account for here (their create or drop is the step).
    (Snapshot(), _t(A), [], ()),
    (_t(A), _t(A), [], ()),
])
def test_unaccounted(live: Snapshot, desired: Snapshot, named: list[str], expected: tuple[str, ...]) -> None:
    assert unaccounted(live, desired, named) == expected


def test_the_planners_steps_account_for_what_they_change() -> None:
    """A plan the planner made names the objects whose fields differ."""
    live = _t(A)
    desired = _t(Column("a", "bigint"), Column("b", "text"), comment="x")
    plan = plan_sync(live, desired)
    assert plan.steps
    assert unaccounted(live, desired, [t for s in plan.steps for t in (s.object, s.sql)]) == ()
