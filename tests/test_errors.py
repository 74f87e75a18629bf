"""The error hierarchy as data: each condition's typed fields become its failure event's keys."""

from __future__ import annotations

from typing import Any

import pytest

from initjob import errors
from initjob.errors import (
    Drift,
    InitJobError,
    NotConverged,
    NotWritable,
    RehearsalImpossible,
    SqlFailed,
    SqlTreeInvalid,
)

SQL = SqlFailed("migrations/0002.up.sql:4: relation \"x\" does not exist", "fix the file",
                file="migrations/0002.up.sql", line=4, sqlstate="42P01", detail=None, pg_hint=None)


@pytest.mark.parametrize(("error", "keys"), [
    (SQL, {"file": "migrations/0002.up.sql", "line": 4, "sqlstate": "42P01", "detail": None, "pg_hint": None}),
    (Drift("drifted", "undo it", drift=["table a: missing"]), {"drift": ["table a: missing"]}),
    (NotConverged("differs", "report it", drift=["x"], rehearsal="differs"), {"drift": ["x"], "rehearsal": "differs"}),
    (NotConverged("differs", "report it", rehearsal="failed"), {"rehearsal": "failed"}),
    (RehearsalImpossible("no copy", "report it", differences=["y"]), {"rehearsal": "no copy", "differences": ["y"]}),
    (NotWritable("standby", "wait", server="h1", can_wait=True), {"server": "h1", "can_wait": True}),
    (SqlTreeInvalid("bad", "fix", problems=["p"], fits=["dbmate"]), {"problems": ["p"], "fits": ["dbmate"]}),
    (errors.ShadowUnusable("not empty", "empty it", schemas=["a"]), {"schemas": ["a"]}),
    (errors.LockTimeout("held", "wait", holder={"pid": 1}), {"holder": {"pid": 1}}),
    (errors.LockTimeout("held", "wait", holder=None), {"holder": None}),
    (errors.ContractNotReady("nulls", "backfill", nulls={"a.t.c": 2}), {"nulls": {"a.t.c": 2}}),
    (errors.CredentialsRefused("no", "check", waited_s=0.5), {"waited_s": 0.5}),
    (errors.ConfigError("bad", "fix", other=1), {"other": 1}),  # a key no condition names: **extra
    (errors.LayoutTooNew("newer", "upgrade"), {}),
])
def test_event_fields_are_the_conditions_fields(error: InitJobError, keys: dict[str, Any]) -> None:
    """The keys of run.failed are the condition's typed fields (and the untyped extras of the rest)."""
    assert error.event_fields() == keys
    assert dict(error.fields) == keys


def test_with_committed_makes_a_new_error_and_leaves_the_raised_one() -> None:
    """What a caller learns after the raise goes into a copy, under the key its mode uses."""
    later = SQL.with_committed(["0001"], key="applied")
    assert later is not SQL and type(later) is SqlFailed
    assert later.committed == ("0001",) and later.event_fields()["applied"] == ["0001"]
    assert SQL.committed is None and "applied" not in SQL.event_fields()
    assert later.file == SQL.file and str(later) == str(SQL) and later.one_line() == SQL.one_line()
    assert NotConverged("x", committed=[]).event_fields() == {"committed": []}


def test_the_fields_cannot_be_written_into() -> None:
    """The event's keys are read-only: an error is changed by making a new one."""
    with pytest.raises(TypeError):
        SQL.fields["committed"] = []  # type: ignore[index]


def test_a_plan_step_failure_is_renamed_by_a_copy() -> None:
    """in_plan_step, with_blockers, with_dropped_index: new errors of the same condition, fields kept."""
    lock = errors.DdlLockTimeout("plan step public.t:1: canceling", "retry", file="plan step public.t", line=1,
                                 sqlstate="55P03")
    step = lock.in_plan_step("plan step public.t: canceling", "wait", "public.t")
    assert type(step) is errors.DdlLockTimeout and (step.file, step.line, step.step) == ("plan", None, "public.t")
    blocked = step.with_blockers("see who", [{"pid": 7}])
    assert blocked.event_fields()["blockers"] == [{"pid": 7}] and "blockers" not in step.event_fields()
    dropped = SQL.with_dropped_index("public.i")
    assert dropped.invalid_index_dropped == "public.i" and "public.i" in dropped.reason and "public.i" not in SQL.reason
    assert dropped.sqlstate == "42P01" and str(dropped) == dropped.reason
