"""The migration lock: a session-level advisory lock, taken by polling, on a session of its own.

Polling with ``pg_try_advisory_lock`` in autocommit holds no transaction and no snapshot while
waiting, so the holder's ``CREATE INDEX CONCURRENTLY`` never waits for us.  A killed runner's
lock dies with its connection: there is never a stale lock to break by hand.

The lock is held on its own connection, not the one that runs the SQL files: a file running
``pg_advisory_unlock_all()`` would otherwise release it and let a second runner in.  That session
stays idle in autocommit (no transaction, no snapshot), so the applier's ``CREATE INDEX
CONCURRENTLY`` does not wait for it either.  The applier's session holds a second key, ``work_key``,
only so that ``status`` finds the session doing the work.  A ``Keeper`` thread watches the lock's
session; when it dies the lock is gone, so the applier's connection is cut: its open transaction
rolls back and the run starts over from the history once it holds the lock again.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time
from typing import Any

import psycopg

from initjob import logs
from initjob.db import watchdog
from initjob.errors import LockTimeout
from initjob.retry import Attempt, Policy

_HOLDER_EVERY_S = 10.0


def lock_key(history_schema: str) -> int:
    """A stable signed 64-bit key, one per history schema (advisory locks are per database)."""
    digest = hashlib.sha256(f"initjob:{history_schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def work_key(key: int) -> int:
    """The key the applier's session holds beside ``key``: what ``status`` shows as the working session."""
    return key ^ 1


def try_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection[Any], key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def holder(conn: psycopg.Connection[Any], key: int) -> dict[str, Any] | None:
    """Who holds the lock: pid, application, client host and since when, for the waiting log."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, a.state,
               left(a.query, 120)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
        """,
        ((unsigned >> 32) & 0xFFFFFFFF, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return None
    return {"pid": row[0], "application": row[1], "client": row[2],
            "since": row[3].isoformat() if row[3] else None, "state": row[4], "query": row[5]}


class _Busy(Exception):
    """Another session holds the lock (internal: what the polling policy retries on)."""


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, _Busy)


# Polling for the lock: short first waits (the holder is usually a runner about to finish), 2 s at most.
POLL = Policy("lock", on=_is_busy, initial=0.05, maximum=2.0, jitter=0.1)


def acquire(conn: psycopg.Connection[Any], key: int, timeout: float, policy: Policy = POLL) -> float:
    """Poll for the lock with backoff and jitter until ``timeout``; return the seconds waited."""
    start = time.monotonic()
    next_report = [start]

    def attempt() -> None:
        if not try_lock(conn, key):
            raise _Busy()

    def tell(a: Attempt) -> None:
        now = time.monotonic()
        if now >= next_report[0]:
            logs.event("lock.waiting", waited_s=round(a.waited, 2), holder=holder(conn, key))
            next_report[0] = now + _HOLDER_EVERY_S

    try:
        policy.within(deadline=timeout).call(attempt, before_sleep=tell)
    except _Busy:
        waited = time.monotonic() - start
        raise LockTimeout(
            f"another runner held the migration lock for {waited:.1f}s",
            "it is probably still migrating: let it finish, or raise INITJOB_LOCK_TIMEOUT; "
            "check `initjob status` for a stuck runner",
            holder=holder(conn, key),
        ) from None
    end_with_client(conn)
    waited = time.monotonic() - start
    logs.event("lock.acquired", waited_s=round(waited, 3))
    return waited


def end_with_client(conn: psycopg.Connection[Any]) -> None:
    """Have the server stop our statement within seconds once this process is gone (SIGKILL, OOM kill):
    otherwise an orphaned statement runs on, and keeps the lock, until it next writes to the socket."""
    if conn.info.server_version >= 140000:
        conn.execute("SET client_connection_check_interval = 2000")


def hold_quietly(conn: psycopg.Connection[Any]) -> None:
    """The lock's session must outlive any idle time: a server's idle_session_timeout would end it
    (and release the lock) while the applier works."""
    if conn.info.server_version >= 140000:
        conn.execute("SET idle_session_timeout = 0")


class Keeper:
    """Watches the lock's session from a thread; when it dies, cuts the applier's connection."""

    def __init__(self, holder: psycopg.Connection[Any], applier: psycopg.Connection[Any]) -> None:
        self.holder, self.applier = holder, applier
        self.identity = watchdog.socket_identity(applier)
        self.lost = False
        self._stop = threading.Event()
        # stop() writes here to wake the keeper's select at once: a timeout alone made every run that took
        # the lock wait for the rest of it when it ended (0.25 s on average, up to 0.5 s).
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._guarded, name="initjob-lock-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(2)
        if not self._thread.is_alive():  # a keeper stuck in a query past the join keeps its pipe
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _guarded(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the keeper must never be what fails a run
            logs.debug("lock.keeper_stopped", reason=logs.redact(f"{exc.__class__.__name__}: {exc}"))

    def _loop(self) -> None:
        sock = self.holder.pgconn.socket
        while not self._stop.is_set():
            # An idle session's socket turns readable only when the server says something: most often
            # the FATAL of a terminated backend, or the end of the connection. A query then tells.
            readable, _, _ = select.select([sock, self._wake_r], [], [], 0.5)
            if sock in readable and not self._stop.is_set() and not self._alive():
                self._lose()
                return

    def _alive(self) -> bool:
        try:
            self.holder.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _lose(self) -> None:
        self.lost = True
        logs.warning("lock.lost", reason="the session holding the migration lock ended",
                     hint="another runner may take it: the open transaction is rolled back and the run starts "
                          "over from the history once it holds the lock again")
        watchdog.cut(self.applier, self.identity)
