"""The error hierarchy: one class per condition, grouped under the exit-code classes of SPEC.md.

Only ``cli`` turns these into exit codes.  Every error carries a one-line ``reason`` and a
``hint`` saying what to do next; ``fields`` go into the failure's log event.  Callers tell
conditions apart by class, never by message text.
"""

from __future__ import annotations

from typing import Any, ClassVar

TROUBLESHOOTING = "docs/troubleshooting.md"


class InitJobError(Exception):
    """Base of every foreseen failure; the exit-code classes below fix the code."""

    exit_code: ClassVar[int] = 1
    kind: ClassVar[str] = "error"

    def __init__(self, reason: str, hint: str = "", **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.fields = fields

    def one_line(self) -> str:
        text = self.reason if not self.hint else f"{self.reason} — {self.hint}"
        return " ".join(text.split())


# ------------------------------------------------------------------ exit 2: configuration, usage, SQL tree


class ConfigError(InitJobError):
    """Bad configuration or usage (exit 2)."""

    exit_code = 2
    kind = "config"


class SqlTreeInvalid(ConfigError):
    """The SQL tree is malformed: bad file name, duplicate version, non-UTF-8, psql-only content."""

    kind = "sql_tree_invalid"


class NoMigrations(SqlTreeInvalid):
    """Migrations mode with an empty or missing ``migrations/`` directory."""

    kind = "no_migrations"


class ShadowUnusable(ConfigError):
    """INITJOB_SHADOW_DATABASE_URL names the target itself, or a database that is not empty."""

    kind = "shadow_unusable"


class PrivilegeMissing(ConfigError):
    """The role lacks a privilege initjob itself needs (its own schema, the database); the hint names the grant."""

    kind = "privilege_missing"


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


class HistoryMismatch(NotUpToDate):
    """Files and history disagree: a changed checksum, a missing file, a file older than the applied ones."""

    kind = "history_mismatch"


class ForeignHistoryBroken(NotUpToDate):
    """Another tool's history holds a failed or dirty migration: that tool would not run past it either."""

    kind = "foreign_history_broken"


class ForeignHistoryMismatch(NotUpToDate):
    """Another tool's history and the files disagree: a version without its file, or a changed checksum."""

    kind = "foreign_history_mismatch"


class Drift(NotUpToDate):
    """The live schema was changed by hand since initjob recorded it."""

    kind = "drift"


class DestructiveRefused(NotUpToDate):
    """The auto-sync plan would lose data and INITJOB_ALLOW_DESTRUCTIVE is not set."""

    kind = "destructive_refused"


class EmptyDesiredState(NotUpToDate):
    """Auto-sync's files hold no statement, the database holds objects, and no file says empty is meant."""

    kind = "empty_desired_state"


class ModeSwitchRefused(NotUpToDate):
    """Auto-sync asked on a database whose history belongs to migrations mode."""

    kind = "mode_switch_refused"


class NoBaseline(NotUpToDate):
    """The transition found no migration prefix equal to the live schema."""

    kind = "no_baseline"


class ExpandNotDone(NotUpToDate):
    """``contract`` asked before ``expand`` completed for the same files (INITJOB_PHASE)."""

    kind = "expand_not_done"


class ContractNotReady(NotUpToDate):
    """A contract step the data does not allow yet: a SET NOT NULL over rows that hold NULL."""

    kind = "contract_not_ready"


class PreviousReleaseConnected(NotUpToDate):
    """``contract`` waited (INITJOB_CONTRACT_WAIT_FOR) and sessions of the previous release stayed."""

    kind = "previous_release_connected"


class NotConverged(NotUpToDate):
    """After the plan (or with no plan possible) the live schema still differs from the desired one."""

    kind = "not_converged"


class DataDoesNotFit(NotUpToDate):
    """Live rows would make a planned step fail (NULLs, duplicates, values too long or too large, rows a
    foreign key or check rejects): refused before anything is touched."""

    kind = "data_does_not_fit"


class RehearsalImpossible(NotUpToDate):
    """The plan could not be tried on a copy of the live schema first: it is not applied untried."""

    kind = "rehearsal_impossible"


class Unmanaged(NotUpToDate):
    """The schema holds an object kind initjob does not manage: refused by name, never ignored."""

    kind = "unmanaged"


class LayoutTooNew(NotUpToDate):
    """initjob's own tables were written by a newer release."""

    kind = "layout_too_new"


class LintFindings(NotUpToDate):
    """``lint`` found problems at or above ``--fail-on``."""

    kind = "lint_findings"


# ------------------------------------------------------------------ exit 4: the database cannot be had


class Unreachable(InitJobError):
    """The database could not be reached before the deadline, or refused us (exit 4)."""

    exit_code = 4
    kind = "unreachable"


class CredentialsRefused(Unreachable):
    """The server answered and said no: password, role, database or pg_hba."""

    kind = "refused"


class ConnectionLost(Unreachable):
    """The connection died mid-run (server restart, terminated backend); the job reconnects and resumes."""

    kind = "connection_lost"


class NotWritable(Unreachable):
    """Only a read-only server (a standby) was reachable for a command that writes (exit 4)."""

    kind = "not_writable"


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

    @property
    def sqlstate(self) -> str | None:
        value = self.fields.get("sqlstate")
        return str(value) if value else None


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


class Interrupted(BaseException):
    """Raised from a signal handler; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
