"""Pure decisions of migrations mode: pending, resume, checksum and order problems, rollback, numbering."""

from __future__ import annotations

from datetime import UTC, datetime

from initjob.db.history import Applied
from initjob.plan import baseline_targets, next_version, plan_migrations, rollback_targets
from initjob.source import Migration, SqlFile, checksum


def mig(version: int, down: bool = True, text: str | None = None, width: int = 4) -> Migration:
    body = text or f"SELECT {version};"
    up = SqlFile(f"migrations/{version:0{width}d}_m.up.sql", body, checksum(body))
    dn = SqlFile(f"migrations/{version:0{width}d}_m.down.sql", "SELECT 0;", checksum("SELECT 0;")) if down else None
    return Migration(version, f"{version:0{width}d}", "m", up, dn, True)


def row(m: Migration, success: bool = True, done: int = 0, sum_: str | None = None) -> Applied:
    return Applied(m.version, m.version_text, m.name, "migration", sum_ or m.up.checksum, True, success, done,
                   datetime.now(UTC), "pod-1", 1)


def test_pending_in_order() -> None:
    """Files not in the history are pending, in version order."""
    files = [mig(1), mig(2), mig(3)]
    plan = plan_migrations(files, (row(files[0]),))
    assert [m.version for m in plan.pending] == [2, 3] and not plan.problems


def test_nothing_to_do() -> None:
    files = [mig(1)]
    assert plan_migrations(files, (row(files[0]),)).is_empty


def test_checksum_mismatch_missing_file_and_out_of_order() -> None:
    """An edited applied file, a vanished one, and a file older than the newest applied are problems."""
    files = [mig(1), mig(2), mig(4)]
    ghost = mig(3)
    applied = (row(files[0], sum_="0" * 64), row(ghost), row(files[2]))
    plan = plan_migrations(files, applied)
    assert len(plan.problems) == 3
    assert "0001_m was changed" in plan.problems[0]
    assert "0003_m has no file" in plan.problems[1]
    assert "0002_m is older than the applied 4" in plan.problems[2]


def test_half_done_file_is_resumed_first() -> None:
    """A no-transaction file recorded as unfinished is resumed from its next statement, before the rest."""
    files = [mig(1), mig(2)]
    plan = plan_migrations(files, (row(files[0], success=False, done=3),))
    assert plan.resume is files[0] and plan.resume_from == 3
    assert [m.version for m in plan.work] == [1, 2]


def test_rollback_targets() -> None:
    """Rollback takes the newest N, or everything after a version; a missing down file is a problem."""
    files = [mig(1), mig(2), mig(3, down=False)]
    applied = tuple(row(m) for m in files)
    targets, problems = rollback_targets(files, applied, 2, None)
    assert [t[0].version for t in targets] == [3, 2] and problems == ["0003_m has no .down.sql file"]
    targets, problems = rollback_targets(files[:2], applied[:2], None, "0")
    assert [t[0].version for t in targets] == [2, 1] and not problems


def test_baseline_targets() -> None:
    files = [mig(1), mig(2), mig(3)]
    assert [m.version for m in baseline_targets(files, (row(files[0]),), 2)] == [2]


def test_next_version_keeps_the_tree_style() -> None:
    """Counters keep their width; timestamps stay timestamps; an empty tree starts at 0001."""
    assert next_version([], "20261125120000") == "0001"
    assert next_version([mig(9)], "20261125120000") == "0010"
    stamp = Migration(20261125093000, "20261125093000", "m", mig(1).up, None, True)
    assert next_version([stamp], "20261125120000") == "20261125120000"
    assert next_version([stamp], "20261125000000") == "20261125093001"
