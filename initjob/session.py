"""A database session for one command: connect, reconnect when the connection dies, hold the lock.

The reconnect is the fourth use of ``retry.Policy``: a lost connection (server restart, terminated
backend, failover) is waited for again within INITJOB_WAIT_TIMEOUT and the command starts over from
the history, which is what makes "resume" safe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg

from initjob import logs
from initjob.config import ConnectionSettings, LockSettings
from initjob.db import wait
from initjob.errors import ConnectionLost, Interrupted
from initjob.retry import Attempt, Policy

Connection = psycopg.Connection[Any]
T = TypeVar("T")


def _is_lost(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionLost)


# Start over after a lost connection, a few times: each start re-reads the history first.
RECONNECT = Policy("reconnect", on=_is_lost, initial=0.0, maximum=0.0, jitter=0.1, attempts=5)


def with_connection(settings: ConnectionSettings, work: Callable[[Connection], T],
                    policy: Policy = RECONNECT) -> T:
    """Run ``work`` on a fresh connection; when the connection dies, wait for the server and start over."""
    held: list[Connection] = []

    def attempt() -> T:
        if held:
            wait.cancel_and_close(held.pop())
        conn = wait.connect(settings)
        held.append(conn)
        try:
            return work(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if isinstance(exc.__context__, Interrupted):  # psycopg's pipeline exit hid our signal
                wait.cancel_and_close(conn)
                raise exc.__context__ from None
            # Outside the executor's guarded blocks (catalog reads, the lock): the same recovery.
            if not (conn.broken or conn.closed):
                raise
            raise ConnectionLost(f"connection lost: {_first_line(exc)}", "the job reconnects and resumes") from None

    def tell(a: Attempt) -> None:
        reason = a.error.reason if isinstance(a.error, ConnectionLost) else ""
        logs.warning("db.reconnect", attempt=a.number, reason=reason)

    try:
        return policy.call(attempt, before_sleep=tell)
    finally:
        for conn in held:
            if not conn.closed:
                conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return logs.redact(text.splitlines()[0] if text else repr(exc))


@contextlib.contextmanager
def locked(conn: Connection, settings: LockSettings, connection: ConnectionSettings) -> Iterator[None]:
    """Hold the migration lock for the block, on a session of its own (see db/lock.py): the SQL run on
    ``conn`` cannot release it. A lost session releases it by itself."""
    from initjob.db import lock, pooler, standby  # off the no-op path: it decides without the lock

    key = lock.lock_key(settings.history_schema)
    holder: Connection | None = None
    try:
        holder = wait.connect_once(standby.same_server(wait.conninfo(connection.dsn, connection.wait_timeout), conn),
                                   connection.wait_timeout,
                                   application_name=conn.info.parameter_status("application_name") or "initjob")
        pooler.require_session(connection, holder)  # behind transaction pooling the lock would protect nothing
        lock.hold_quietly(holder)
        lock.acquire(holder, key, settings.timeout)
        lock.end_with_client(conn)
        lock.try_lock(conn, lock.work_key(key))  # only for status: which session does the work
    except psycopg.OperationalError as exc:
        if holder is not None:
            wait.cancel_and_close(holder)
        raise ConnectionLost(f"connection lost while taking the lock: {_first_line(exc)}") from None
    except BaseException:
        if holder is not None:
            wait.cancel_and_close(holder)
        raise
    keeper = lock.Keeper(holder, conn)
    try:
        yield
    finally:
        keeper.stop()
        wait.cancel_and_close(holder)  # the lock goes with its session
        if not conn.closed and not conn.broken:
            with contextlib.suppress(psycopg.Error):
                lock.unlock(conn, lock.work_key(key))
