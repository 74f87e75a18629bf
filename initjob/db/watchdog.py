"""Notice a connection whose answers stopped arriving: a hung proxy or pooler, which TCP cannot see.

libpq has no read timeout, and TCP keepalives only see a peer that stopped acknowledging: a stalled
middlebox still acknowledges every packet, so a query waiting on it would wait forever.  While a
query has been in flight for ``CHECK_EVERY_S``, a side connection asks the server whether our
backend is still working on it.  When the server cannot be reached in time, or says our backend is
gone or has been idle for a while (its answer was lost on the way), the watchdog shuts our socket
down: the waiting call fails as a lost connection, and the job reconnects within its deadline.
A slow statement that the server is still running is never touched, and is asked about less and
less often (up to once a minute).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import psycopg

from initjob import logs

CHECK_EVERY_S = 10.0
MAX_CHECK_EVERY_S = 60.0
PROBE_TIMEOUT_S = 5.0
IDLE_GRACE_S = 5.0
_TICK_S = 0.5


def watch(conn: psycopg.Connection[Any], conninfo: str) -> None:
    """Watch ``conn`` from a daemon thread until it is closed."""
    try:
        identity = _identity(conn.pgconn.socket)
    except OSError:
        return
    pid = conn.info.backend_pid
    thread = threading.Thread(target=_guarded_loop, args=(conn, conninfo, pid, identity), name="initjob-watchdog",
                              daemon=True)
    thread.start()


def _identity(fd: int) -> tuple[Any, Any]:
    """The socket's two addresses: a reused descriptor number would show different ones."""
    with socket.socket(fileno=os.dup(fd)) as s:
        return s.getsockname(), s.getpeername() if s.family != socket.AF_UNIX else None


def _guarded_loop(conn: psycopg.Connection[Any], conninfo: str, pid: int, identity: tuple[Any, Any]) -> None:
    try:
        _loop(conn, conninfo, pid, identity)
    except Exception as exc:  # the watchdog must never be what fails a run
        logs.debug("db.watchdog_stopped", reason=logs.redact(f"{exc.__class__.__name__}: {exc}"))


def _loop(conn: psycopg.Connection[Any], conninfo: str, pid: int, identity: tuple[Any, Any]) -> None:
    busy_since: float | None = None
    every = CHECK_EVERY_S
    while not conn.closed:
        time.sleep(_TICK_S)
        if conn.closed or conn.broken:
            return
        if not conn.lock.locked():  # psycopg holds the lock while a query waits for its answer
            busy_since, every = None, CHECK_EVERY_S
            continue
        now = time.monotonic()
        busy_since = busy_since if busy_since is not None else now
        if now - busy_since < every:
            continue
        reason = probe(conninfo, pid)
        # A long statement the server is still running (an index build) is asked about less and less often.
        busy_since, every = time.monotonic(), min(every * 2, MAX_CHECK_EVERY_S)
        if reason is not None and conn.lock.locked() and not conn.closed:
            _cut(conn, identity, reason)
            return


def probe(conninfo: str, pid: int) -> str | None:
    """None when the server still works for backend ``pid``; else why the connection looks dead."""
    result: list[str | None] = []

    def ask() -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=int(PROBE_TIMEOUT_S),
                                 application_name="initjob-watchdog") as side:
                row = side.execute(
                    "SELECT state, extract(epoch FROM now() - state_change) FROM pg_stat_activity WHERE pid = %s",
                    (pid,)).fetchone()
        except psycopg.Error as exc:
            text = str(exc).lower()
            # Only silence means a dead path; a refusal (restart, full server) is for the job to see.
            result.append("the server did not answer a side connection" if "timeout" in text or "timed out" in text
                          else None)
            return
        if row is None:
            result.append(f"backend {pid} is gone")
        elif row[0] != "active" and float(row[1] or 0) > IDLE_GRACE_S:
            result.append(f"backend {pid} is {row[0]} but its answer never arrived")
        else:
            result.append(None)

    asker = threading.Thread(target=ask, name="initjob-watchdog-probe", daemon=True)
    asker.start()
    asker.join(PROBE_TIMEOUT_S * 2)
    if asker.is_alive():
        return "a side connection to the server hung"
    return result[0] if result else None


def socket_identity(conn: psycopg.Connection[Any]) -> tuple[Any, Any]:
    """What ``cut`` checks before it shuts a socket down (raises OSError on a closed one)."""
    return _identity(conn.pgconn.socket)


def cut(conn: psycopg.Connection[Any], identity: tuple[Any, Any]) -> bool:
    """Shut the socket down so the call waiting on it (or the next one) fails now, if it is still the
    same socket; safe from another thread. True when it was cut."""
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as s:
            peer = s.getpeername() if s.family != socket.AF_UNIX else None
            if (s.getsockname(), peer) != identity:
                return False
            s.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        return False
    return True


def _cut(conn: psycopg.Connection[Any], identity: tuple[Any, Any], reason: str) -> None:
    if not cut(conn, identity):
        return
    logs.warning("db.stalled", reason=reason,
                 hint="a proxy or the network between initjob and PostgreSQL stopped passing data; reconnecting")
