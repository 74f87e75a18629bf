"""The previous release's sessions: ``contract`` waits, bounded, until none is connected.

A zero-downtime deploy's contract half takes away what the previous release used; run while its pods
still serve, their queries fail.  Their sessions are recognised by ``application_name`` (a LIKE
pattern, INITJOB_CONTRACT_WAIT_FOR), read from ``pg_stat_activity`` of this database; nothing is
written, and no query text is read.
"""

from __future__ import annotations

from typing import Any

import psycopg

from initjob import logs
from initjob.errors import PreviousReleaseConnected
from initjob.record import record
from initjob.retry import Attempt, Policy

Connection = psycopg.Connection[Any]


@record
class Session:
    """One session of the previous release, as an operator would look for it."""

    pid: int
    application_name: str
    client_addr: str | None
    state: str | None


class _StillConnected(Exception):
    def __init__(self, sessions: list[Session]) -> None:
        super().__init__(f"{len(sessions)} session(s)")
        self.sessions = sessions


# Sessions close as pods terminate (their grace period): a steady poll, not a fast one.
WAIT = Policy("previous-release", on=lambda e: isinstance(e, _StillConnected), initial=0.5, maximum=5.0,
              jitter=0.25)


def connected(conn: Connection, pattern: str) -> list[Session]:
    """The sessions of this database whose application_name matches ``pattern`` (ours left out)."""
    rows = conn.execute(
        "SELECT pid, application_name, host(client_addr), state FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE %s"
        " ORDER BY pid", (pattern,)).fetchall()
    return [Session(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def wait_gone(conn: Connection, pattern: str, timeout: float, policy: Policy = WAIT) -> None:
    """Return once no session matches ``pattern``; after ``timeout`` seconds, refuse naming who stays."""
    def check() -> None:
        sessions = connected(conn, pattern)
        if sessions:
            raise _StillConnected(sessions)

    def tell(attempt: Attempt) -> None:
        sessions = attempt.error.sessions if isinstance(attempt.error, _StillConnected) else []
        logs.event("phase.waiting_for_previous_release", pattern=pattern, sessions=len(sessions),
                   waited_s=attempt.waited, who=sorted({s.application_name for s in sessions})[:10])

    try:
        policy.within(deadline=timeout).call(check, before_sleep=tell)
    except _StillConnected as exc:
        who = [f"{s.application_name} (pid {s.pid}, {s.client_addr or 'local'}, {s.state or '-'})"
               for s in exc.sessions]
        raise PreviousReleaseConnected(
            f"after {timeout:g} s, {len(who)} session(s) of the previous release are still connected: "
            + "; ".join(who[:10]),
            "finish the rollout (or stop those clients), then run contract again; INITJOB_CONTRACT_WAIT_TIMEOUT "
            "waits longer", sessions=who) from None
