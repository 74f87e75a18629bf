"""The error hierarchy: one class per exit code of SPEC.md.

Only ``cli`` turns these into exit codes.  Every error carries a one-line ``reason`` and a
``hint`` saying what to do next; ``fields`` go into the failure's log event.
"""

from __future__ import annotations

from typing import Any, ClassVar

TROUBLESHOOTING = "docs/troubleshooting.md"


class InitJobError(Exception):
    """Base of every foreseen failure; subclasses fix the exit code."""

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


class ConfigError(InitJobError):
    """Bad configuration, bad usage, or a malformed SQL tree (exit 2)."""

    exit_code = 2
    kind = "config"


class NotUpToDate(InitJobError):
    """The schema is not up to date and this run will not or may not fix it (exit 3)."""

    exit_code = 3
    kind = "not_up_to_date"


class Unreachable(InitJobError):
    """The database could not be reached before the deadline, or refused us (exit 4)."""

    exit_code = 4
    kind = "unreachable"


class SqlFailed(InitJobError):
    """An SQL file failed and was rolled back (exit 5)."""

    exit_code = 5
    kind = "sql_failed"


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


class ConnectionLost(Unreachable):
    """The connection died mid-run (server restart, terminated backend); the job reconnects and resumes."""

    kind = "connection_lost"


class NotWritable(Unreachable):
    """Only a read-only server (a standby) was reachable for a command that writes (exit 4)."""

    kind = "not_writable"
