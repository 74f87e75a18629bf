"""Pure decisions over plain data: what migrations mode must do, given the files and the history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the SQL reader and splitter stay off the no-op path
    from initjob.source import Migration
    from initjob.state import Applied


@dataclass(frozen=True)
class MigrationPlan:
    """Pending files in order, a half-done no-transaction file to resume, and what blocks the run."""

    pending: tuple[Migration, ...] = ()
    resume: Migration | None = None
    resume_from: int = 0
    problems: tuple[str, ...] = ()
    has_history: bool = False

    @property
    def work(self) -> tuple[Migration, ...]:
        return ((self.resume,) if self.resume else ()) + self.pending

    @property
    def is_empty(self) -> bool:
        return not self.work


def plan_migrations(files: list[Migration], applied: tuple[Applied, ...]) -> MigrationPlan:
    """Compare files with history: checksums, missing files, order, and half-done files."""
    by_version = {m.version: m for m in files}
    done = {a.version: a for a in applied}
    problems: list[str] = []
    resume: Migration | None = None
    resume_from = 0
    for row in applied:
        f = by_version.get(row.version)
        if f is None:
            problems.append(f"applied migration {row.label} has no file any more")
        elif not row.success:
            resume, resume_from = f, row.statements_done
        elif f.up.checksum != row.checksum:
            problems.append(
                f"applied migration {row.label} was changed after it ran (checksum {row.checksum[:12]} → "
                f"{f.up.checksum[:12]})"
            )
    newest = max((a.version for a in applied if a.success), default=None)
    pending = tuple(m for m in files if m.version not in done)
    for m in pending:
        # A contract (post-deploy) migration waits for `contract` while later regular ones run.
        if newest is not None and m.version < newest and not m.contract:
            problems.append(f"migration {m.label} is older than the applied {newest} and was never run")
    return MigrationPlan(pending, resume, resume_from, tuple(problems), bool(applied))


def rollback_targets(
    files: list[Migration], applied: tuple[Applied, ...], steps: int | None, to_version: str | None
) -> tuple[list[tuple[Applied, Migration | None]], list[str]]:
    """The applied migrations to undo, newest first, and the problems that forbid it."""
    ordered = sorted(applied, key=lambda a: a.version, reverse=True)
    chosen = [a for a in ordered if a.version > int(to_version)] if to_version is not None else ordered[: steps or 0]
    by_version = {m.version: m for m in files}
    problems = []
    targets: list[tuple[Applied, Migration | None]] = []
    for row in chosen:
        f = by_version.get(row.version)
        if f is None or f.down is None:
            problems.append(f"{row.label} has no .down.sql file")
        elif not row.success:
            problems.append(f"{row.label} is half-applied; finish it with `initjob run` first")
        targets.append((row, f))
    return targets, problems


def baseline_targets(files: list[Migration], applied: tuple[Applied, ...], version: int) -> list[Migration]:
    """Files up to ``version`` that the history does not hold yet."""
    done = {a.version for a in applied}
    return [m for m in files if m.version <= version and m.version not in done]


def next_version(files: list[Migration], now_stamp: str) -> str:
    """The next version in the tree's own style: timestamps stay timestamps, counters keep their width."""
    if not files:
        return "0001"
    last = files[-1]
    if len(last.version_text) >= 12:
        return now_stamp if int(now_stamp) > last.version else str(last.version + 1)
    return str(last.version + 1).zfill(len(last.version_text))
