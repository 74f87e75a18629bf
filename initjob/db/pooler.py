"""Refuse to run behind a pooler in transaction or statement mode, where the migration lock means nothing.

PgBouncer (and Odyssey, pgcat, PgPool's and cloud proxies' multiplexing modes) in transaction mode
lends each transaction whichever server session is free.  The session advisory lock that
``lock.acquire`` takes then stays on a server session that the pool hands to the next client, so
two runners can both believe they hold it, and the lock outlives the runner that took it.

The check is cheap where it can be: when the server sees our own TCP address and port, nothing sits
in between and one query settles it.  Otherwise a second connection opens a transaction while ours
asks for its backend pid again: with sessions pinned to clients (a direct connection, a NAT, or a
pooler in session mode) the pid never changes; behind transaction pooling the pool hands the second
connection the session we just released (PgBouncer reuses the most recent one first), and ours gets
another session.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psycopg

from initjob import logs
from initjob.config import ConnectionSettings
from initjob.db import wait
from initjob.errors import ConfigError

Connection = psycopg.Connection[Any]
_POOLER_WORDS = ("pooling mode", "pool_mode", "transaction blocks", "pgbouncer", "long transactions not allowed")


def require_session(settings: ConnectionSettings, conn: Connection) -> None:
    """Exit 2 when the session behind ``conn`` is not ours for the whole run (transaction pooling)."""
    if is_direct(conn):
        return
    pinned = session_is_pinned(settings, conn)
    logs.event("db.pooler_check", direct=False, session_pinned=pinned)
    if pinned is False:
        raise ConfigError(
            "the database connection goes through a pooler in transaction or statement mode, where a "
            "session advisory lock is not held across transactions: two runners could migrate at once",
            "connect initjob directly to PostgreSQL (a second DATABASE_URL for the job), "
            "or through a pool in session mode (PgBouncer pool_mode=session)",
        )


def is_direct(conn: Connection) -> bool:
    """True when the server sees our socket's own address and port: no proxy in between."""
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as s:
            if s.family not in (socket.AF_INET, socket.AF_INET6):
                return False
            local = s.getsockname()
    except OSError:
        return False
    row = conn.execute("SELECT host(inet_client_addr()), inet_client_port()").fetchone()
    if row is None or row[0] is None:
        return False
    return bool(row[1] == local[1] and _same_host(row[0], local[0]))


def _same_host(seen: str, ours: str) -> bool:
    return seen == ours or seen.removeprefix("::ffff:") == ours.removeprefix("::ffff:")


def session_is_pinned(settings: ConnectionSettings, conn: Connection) -> bool | None:
    """False behind transaction or statement pooling, True when our session stays ours, None if unknown."""
    first = _pid(conn)
    try:
        side = wait.connect_once(settings.dsn, min(settings.wait_timeout, 10.0))
    except psycopg.Error as exc:
        logs.warning("db.pooler_check_skipped", reason=wait.short_reason(exc),
                     hint="could not open a second connection to check for transaction pooling")
        return None
    try:
        side.execute("BEGIN")
        other = _pid(side)
        again = _pid(conn)
        side.execute("ROLLBACK")
    except psycopg.Error as exc:
        text = str(exc).lower()
        if any(word in text for word in _POOLER_WORDS):
            return False  # statement pooling refuses a transaction block
        logs.warning("db.pooler_check_skipped", reason=wait.short_reason(exc))
        return None
    finally:
        side.close()
    return first == again and other != first


def _pid(conn: Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0
