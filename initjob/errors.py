"""The error hierarchy: one class per condition, grouped under the exit-code classes of SPEC.md.

Only ``cli`` turns these into exit codes.  Every error carries a one-line ``reason`` and a
``hint`` saying what to do next; callers tell conditions apart by class, never by message text.

A condition's data are typed attributes named for it (``SqlFailed(file, line, sqlstate, ...)``,
``Drift(drift)``), the way pgroll names its error types' fields; ``_own_fields`` lists them under the
keys of the failure's log event (``run.failed``), which ``event_fields`` joins.  An error is not
changed once raised: what a caller learns later (the steps committed before it, who held the lock)
makes a new error (``with_committed``, ``with_hint``, ``SqlFailed.with_blockers``, ...), raised in
its place.  A new condition with data gives its ``__init__`` keyword parameters, stores them, and
returns them from ``_own_fields`` (``_given`` leaves out those not given, as the event did before);
``**extra`` stays only as a way in for a key no condition names yet.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Self

TROUBLESHOOTING = "docs/troubleshooting.md"


class InitJobError(Exception):
    """Base of every foreseen failure; the exit-code classes below fix the code."""

    exit_code: ClassVar[int] = 1
    kind: ClassVar[str] = "error"

    def __init__(self, reason: str, hint: str = "", *, committed: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        # What a failed run committed before it failed (run.finished counts them); None: nothing to say.
        self.committed: tuple[str, ...] | None = None if committed is None else tuple(committed)
        self.committed_key = "committed"  # migrations mode says ``applied`` (files, not plan steps)
        self.extra = dict(extra)  # an event key no condition names yet (each condition types its own)

    def one_line(self) -> str:
        text = self.reason if not self.hint else f"{self.reason} — {self.hint}"
        return " ".join(text.split())

    def _own_fields(self) -> dict[str, Any]:
        """The condition's typed fields, by their event key (each condition with fields overrides this)."""
        return {}

    def event_fields(self) -> dict[str, Any]:
        """The keys the failure's log event carries beside kind, reason and exit code."""
        fields = {**self._own_fields(), **self.extra}
        if self.committed is not None:
            fields[self.committed_key] = list(self.committed)
        return fields

    @property
    def fields(self) -> Mapping[str, Any]:
        """The event's keys, read-only: to change an error, make a new one."""
        return MappingProxyType(self.event_fields())

    def _replaced(self, **changes: Any) -> Self:
        """A copy with some attributes changed (the helpers below name which)."""
        new = copy.copy(self)
        new.__dict__.update(changes)
        new.args = (new.reason,)
        return new

    def with_committed(self, committed: Sequence[str], key: str = "committed") -> Self:
        """This failure, saying which steps (``key="applied"``: which files) committed before it."""
        return self._replaced(committed=tuple(committed), committed_key=key)

    def with_hint(self, hint: str) -> Self:
        return self._replaced(hint=hint)


# ------------------------------------------------------------------ exit 2: configuration, usage, SQL tree


class ConfigError(InitJobError):
    """Bad configuration or usage (exit 2)."""

    exit_code = 2
    kind = "config"


class SqlTreeInvalid(ConfigError):
    """The SQL tree is malformed: bad file name, duplicate version, non-UTF-8, psql-only content."""

    kind = "sql_tree_invalid"

    def __init__(self, reason: str, hint: str = "", *, problems: Sequence[str] | None = None,
                 fits: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.problems = None if problems is None else list(problems)  # every bad file, one line each
        self.fits = None if fits is None else list(fits)  # the tools whose layout the names fit

    def _own_fields(self) -> dict[str, Any]:
        return _given(problems=self.problems, fits=self.fits)


class NoMigrations(SqlTreeInvalid):
    """Migrations mode with an empty or missing ``migrations/`` directory."""

    kind = "no_migrations"


class ShadowUnusable(ConfigError):
    """INITJOB_SHADOW_DATABASE_URL names the target itself, or a database that is not empty."""

    kind = "shadow_unusable"

    def __init__(self, reason: str, hint: str = "", *, schemas: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.schemas = None if schemas is None else list(schemas)  # the schemas that hold objects

    def _own_fields(self) -> dict[str, Any]:
        return _given(schemas=self.schemas)


class PrivilegeMissing(ConfigError):
    """The role lacks a privilege initjob itself needs (its own schema, the database); the hint names the grant."""

    kind = "privilege_missing"

    def __init__(self, reason: str, hint: str = "", *,
                 role: str | None = None, schema: str | None = None, owner: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.role, self.schema, self.owner = role, schema, owner  # who lacks it, on what, whose it is

    def _own_fields(self) -> dict[str, Any]:
        return _given(role=self.role, schema=self.schema, owner=self.owner)


class ToolMissing(ConfigError):
    """A program the settings ask for (pg_dump, squawk) is missing or too old."""

    kind = "tool_missing"


# ------------------------------------------------------------------ exit 3: the schema is not up to date


class NotUpToDate(InitJobError):
    """The schema is not up to date and this run will not or may not fix it (exit 3)."""

    exit_code = 3
    kind = "not_up_to_date"


class PendingWork(NotUpToDate):
    """``verify``: there is work that ``run`` would do."""

    kind = "pending"

    def __init__(self, reason: str, hint: str = "", *, pending: int | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.pending = pending  # how many migrations or files wait

    def _own_fields(self) -> dict[str, Any]:
        return _given(pending=self.pending)


class HistoryMismatch(NotUpToDate):
    """Files and history disagree: a changed checksum, a missing file, a file older than the applied ones."""

    kind = "history_mismatch"

    def __init__(self, reason: str, hint: str = "", *, problems: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.problems = None if problems is None else list(problems)  # each disagreement, one line

    def _own_fields(self) -> dict[str, Any]:
        return _given(problems=self.problems)


class ForeignHistoryBroken(NotUpToDate):
    """Another tool's history holds a failed or dirty migration: that tool would not run past it either."""

    kind = "foreign_history_broken"

    def __init__(self, reason: str, hint: str = "", *, problems: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.problems = None if problems is None else list(problems)  # each failed or dirty version, one line

    def _own_fields(self) -> dict[str, Any]:
        return _given(problems=self.problems)


class ForeignHistoryMismatch(NotUpToDate):
    """Another tool's history and the files disagree: a version without its file, or a changed checksum."""

    kind = "foreign_history_mismatch"

    def __init__(self, reason: str, hint: str = "", *, problems: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.problems = None if problems is None else list(problems)  # each disagreement, one line

    def _own_fields(self) -> dict[str, Any]:
        return _given(problems=self.problems)


class Drift(NotUpToDate):
    """The live schema was changed by hand since initjob recorded it."""

    kind = "drift"

    def __init__(self, reason: str, hint: str = "", *, drift: Sequence[str] = (), **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.drift = list(drift)  # the differences, one line each

    def _own_fields(self) -> dict[str, Any]:
        return {"drift": self.drift}


class DestructiveRefused(NotUpToDate):
    """The auto-sync plan would lose data and INITJOB_ALLOW_DESTRUCTIVE is not set."""

    kind = "destructive_refused"

    def __init__(self, reason: str, hint: str = "", *, plan: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.plan = plan  # the plan, as `initjob plan` prints it

    def _own_fields(self) -> dict[str, Any]:
        return _given(plan=self.plan)


class EmptyDesiredState(NotUpToDate):
    """Auto-sync's files hold no statement, the database holds objects, and no file says empty is meant."""

    kind = "empty_desired_state"

    def __init__(self, reason: str, hint: str = "", *, plan: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.plan = plan  # the plan, as `initjob plan` prints it

    def _own_fields(self) -> dict[str, Any]:
        return _given(plan=self.plan)


class ModeSwitchRefused(NotUpToDate):
    """Auto-sync asked on a database whose history belongs to migrations mode."""

    kind = "mode_switch_refused"


class NoBaseline(NotUpToDate):
    """The transition found no migration prefix equal to the live schema."""

    kind = "no_baseline"


class ExpandNotDone(NotUpToDate):
    """``contract`` asked before ``expand`` completed for the same files (INITJOB_PHASE)."""

    kind = "expand_not_done"

    def __init__(self, reason: str, hint: str = "", *, pending: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.pending = None if pending is None else list(pending)  # what waits for expand

    def _own_fields(self) -> dict[str, Any]:
        return _given(pending=self.pending)


class ContractNotReady(NotUpToDate):
    """A contract step the data does not allow yet: a SET NOT NULL over rows that hold NULL."""

    kind = "contract_not_ready"

    def __init__(self, reason: str, hint: str = "", *, nulls: Mapping[str, int] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.nulls = None if nulls is None else dict(nulls)  # column → rows holding NULL

    def _own_fields(self) -> dict[str, Any]:
        return _given(nulls=self.nulls)


class PreviousReleaseConnected(NotUpToDate):
    """``contract`` waited (INITJOB_CONTRACT_WAIT_FOR) and sessions of the previous release stayed."""

    kind = "previous_release_connected"

    def __init__(self, reason: str, hint: str = "", *, sessions: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.sessions = None if sessions is None else list(sessions)  # each session still connected, one line

    def _own_fields(self) -> dict[str, Any]:
        return _given(sessions=self.sessions)


class NotConverged(NotUpToDate):
    """After the plan (or with no plan possible) the live schema still differs from the desired one."""

    kind = "not_converged"

    def __init__(self, reason: str, hint: str = "", *, drift: Sequence[str] | None = None,
                 rehearsal: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.drift = None if drift is None else list(drift)  # what still differs, one line each
        self.rehearsal = rehearsal  # "failed" or "differs" when the copy of the live schema showed it

    def _own_fields(self) -> dict[str, Any]:
        return _given(drift=self.drift, rehearsal=self.rehearsal)


class DataDoesNotFit(NotUpToDate):
    """Live rows would make a planned step fail (NULLs, duplicates, values too long or too large, rows a
    foreign key or check rejects): refused before anything is touched."""

    kind = "data_does_not_fit"

    def __init__(self, reason: str, hint: str = "", *,
                 offending: Sequence[Mapping[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        # Per check: the object, the check, the rows that fail it and an example.
        self.offending = None if offending is None else [dict(o) for o in offending]

    def _own_fields(self) -> dict[str, Any]:
        return _given(offending=self.offending)


class RehearsalImpossible(NotUpToDate):
    """The plan could not be tried on a copy of the live schema first: it is not applied untried."""

    kind = "rehearsal_impossible"

    def __init__(self, reason: str, hint: str = "", *, rehearsal: str = "no copy",
                 differences: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.rehearsal = rehearsal
        self.differences = None if differences is None else list(differences)  # the copy against the live schema

    def _own_fields(self) -> dict[str, Any]:
        return _given(rehearsal=self.rehearsal, differences=self.differences)


class Unmanaged(NotUpToDate):
    """The schema holds an object kind initjob does not manage: refused by name, never ignored."""

    kind = "unmanaged"

    def __init__(self, reason: str, hint: str = "", *,
                 plan: str | None = None, refused: Sequence[str] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.plan = plan  # the plan, as `initjob plan` prints it
        self.refused = None if refused is None else list(refused)  # the changes auto-sync does not make

    def _own_fields(self) -> dict[str, Any]:
        return _given(plan=self.plan, refused=self.refused)


class LayoutTooNew(NotUpToDate):
    """initjob's own tables were written by a newer release."""

    kind = "layout_too_new"


class LintFindings(NotUpToDate):
    """``lint`` found problems at or above ``--fail-on``."""

    kind = "lint_findings"

    def __init__(self, reason: str, hint: str = "", *, findings: int | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.findings = findings  # how many at or above --fail-on

    def _own_fields(self) -> dict[str, Any]:
        return _given(findings=self.findings)


# ------------------------------------------------------------------ exit 4: the database cannot be had


class Unreachable(InitJobError):
    """The database could not be reached before the deadline, or refused us (exit 4)."""

    exit_code = 4
    kind = "unreachable"

    def __init__(self, reason: str, hint: str = "", *, waited_s: float | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.waited_s = waited_s  # how long the job tried

    def _own_fields(self) -> dict[str, Any]:
        return _given(waited_s=self.waited_s)


class CredentialsRefused(Unreachable):
    """The server answered and said no: password, role, database or pg_hba."""

    kind = "refused"


class ConnectionLost(Unreachable):
    """The connection died mid-run (server restart, terminated backend); the job reconnects and resumes."""

    kind = "connection_lost"

    def __init__(self, reason: str, hint: str = "", *, file: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.file = file  # the file or step that ran when it died

    def _own_fields(self) -> dict[str, Any]:
        return _given(file=self.file)


class NotWritable(Unreachable):
    """Only a read-only server (a standby) was reachable for a command that writes (exit 4)."""

    kind = "not_writable"

    def __init__(self, reason: str, hint: str = "", *, server: str = "", can_wait: bool = False,
                 **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.server = server  # the read-only host(s) found
        self.can_wait = can_wait  # another host of the URL may be promoted: worth waiting for

    def _own_fields(self) -> dict[str, Any]:
        return {"server": self.server, "can_wait": self.can_wait}


class BackupFailed(Unreachable):
    """The ``pg_dump`` taken before the change failed; nothing was applied.

    Exit 4, like an unreachable database: nothing changed, and the usual causes (a lock the dump
    could not get, a full or missing volume, a connection the dump could not open) heal on a retry,
    which is what exit 4 tells a Job's podFailurePolicy.
    """

    kind = "backup_failed"


# ------------------------------------------------------------------ exit 5: an SQL file failed


class SqlFailed(InitJobError):
    """An SQL file or plan step failed and its transaction was rolled back (exit 5)."""

    exit_code = 5
    kind = "sql_failed"

    def __init__(self, reason: str, hint: str = "", *, file: str | None = None, line: int | None = None,
                 sqlstate: str | None = None, detail: str | None = None, pg_hint: str | None = None,
                 step: str | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.file = file  # the file's path under sql/, or "plan" for an auto-sync step
        self.line = line  # from PostgreSQL's error position; None when it gave none
        self.sqlstate = sqlstate or None
        self.detail = detail  # PostgreSQL's DETAIL and HINT, as it sent them
        self.pg_hint = pg_hint
        self.step = step  # the plan step's object
        self.blockers: list[dict[str, Any]] | None = None  # who held the lock (DdlLockTimeout, every retry spent)
        self.invalid_index_dropped: str | None = None  # what a failed CREATE INDEX CONCURRENTLY left, dropped

    def _own_fields(self) -> dict[str, Any]:
        # A plan step's failure names its step, None too (a batch whose failing statement is unknown).
        step = {"step": self.step} if self.file == "plan" else {}
        return {"file": self.file, "line": self.line, "sqlstate": self.sqlstate, "detail": self.detail,
                "pg_hint": self.pg_hint, **step, **_given(blockers=self.blockers,
                                                         invalid_index_dropped=self.invalid_index_dropped)}

    def in_plan_step(self, reason: str, hint: str, step: str | None) -> Self:
        """This failure named by the plan step it happened in, not by a line of a file that does not exist."""
        return self._replaced(reason=reason, hint=hint, file="plan", line=None, step=step)

    def on_line(self, line: int, reason: str) -> Self:
        """This failure placed on another line of its file (a piece of a file sent on its own)."""
        return self._replaced(line=line, reason=reason)

    def with_blockers(self, hint: str, blockers: Sequence[Mapping[str, Any]]) -> Self:
        return self._replaced(hint=hint, blockers=[dict(b) for b in blockers])

    def with_dropped_index(self, index: str) -> Self:
        """This failure, saying the invalid index its concurrent build left behind was dropped."""
        return self._replaced(reason=f"{self.reason} (the invalid index {index} the failed build left behind "
                              "was dropped)", invalid_index_dropped=index)


class SqlPrivilegeMissing(SqlFailed):
    """A file or step failed for a privilege the role lacks (42501): the grant, not the file, is to fix."""

    kind = "sql_privilege_missing"


class DdlLockTimeout(SqlFailed):
    """A statement gave up waiting for a table lock (55P03) after every retry."""

    kind = "ddl_lock_timeout"


# ------------------------------------------------------------------ exit 6: another runner holds the lock


class LockTimeout(InitJobError):
    """Another runner held the migration lock past INITJOB_LOCK_TIMEOUT (exit 6)."""

    exit_code = 6
    kind = "lock_timeout"

    def __init__(self, reason: str, hint: str = "", *, holder: Mapping[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(reason, hint, **extra)
        self.holder = None if holder is None else dict(holder)  # pid, application, host, since when

    def _own_fields(self) -> dict[str, Any]:
        return {"holder": self.holder}  # None too: the event says no holder could be named


class Interrupted(BaseException):
    """Raised from a signal handler; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given (not None): an event carries only the keys its condition set."""
    return {k: v for k, v in fields.items() if v is not None}
