"""Connect when the database is ready: retry what can heal, fail fast on what cannot.

The retry policy is ``retry.Policy`` (tenacity: exponential backoff with jitter, one overall deadline).  The
errors libpq reports while connecting carry no SQLSTATE, so they are classified by message.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from initjob import logs
from initjob.config import ConnectionSettings
from initjob.db import appname, progress, standby, watchdog
from initjob.errors import ConfigError, CredentialsRefused, InitJobError, Unreachable
from initjob.retry import Attempt, Policy

Connection = psycopg.Connection[Any]

# Could heal by waiting: the server is down, starting, restarting, full, or its name not yet in DNS.
# This and the two below are text, compiled (and cached by ``re``) when a connection first fails: the
# no-op path connects at the first try and never needs them.
_TRANSIENT = (
    r"(?i)connection refused|could not translate host name|failed to resolve host|name or service not known|"
    r"temporary failure in name resolution|timeout expired|timed out|the database system is starting up|"
    r"the database system is shutting down|the database system is in recovery mode|"
    r"not yet accepting connections|too many clients|remaining connection slots are reserved|"
    r"server closed the connection unexpectedly|connection reset by peer|no such file or directory|"
    r"could not receive data from server|could not send data to server|network is unreachable|"
    r"no route to host|cannot assign requested address|consistent recovery state has not been yet reached"
)
_TRANSIENT_SQLSTATES = {"57P03", "53300", "08000", "08001", "08003", "08004", "08006", "57P01", "57P02"}
_BAD_OPTION = r'(?i)invalid \w+ value: "|invalid integer value "[^"]*" for connection option'
_MISSING_DATABASE = r'(?i)database "(?P<db>[^"]+)" does not exist'


def is_transient(exc: BaseException) -> bool:
    """True when waiting could make this connection error go away."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if exc.sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return bool(re.search(_TRANSIENT, str(exc)))


def short_reason(exc: BaseException) -> str:
    """The first meaningful line of a libpq error, without its FATAL: prefix or a secret."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else exc.__class__.__name__
    text = re.sub(r"^(connection failed|connection is bad):\s*", "", text)
    text = re.sub(r".*?failed:\s*(FATAL:\s*)?", "", text, count=1) if "failed:" in text else text
    return logs.redact(text)


def conninfo(dsn: str, timeout: float, **overrides: Any) -> str:
    """The user's DSN with our defaults filled in; what the user set wins, except ``overrides``."""
    params: dict[str, Any] = dict(conninfo_to_dict(dsn)) if dsn else {}
    params.setdefault("application_name", "initjob")
    # A SQL_ASCII database would otherwise hand back bytes instead of text for every catalog string.
    params.setdefault("client_encoding", "UTF8")
    params.setdefault("connect_timeout", str(max(2, min(10, int(timeout) or 2))))
    # A dead peer must not hang the job: keepalives notice a silent network within ~30 s.
    for key, value in (("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"),
                       ("keepalives_count", "3"), ("tcp_user_timeout", "30000")):
        params.setdefault(key, value)
    params.update(overrides)
    return make_conninfo("", **params)


def connect_once(dsn: str, timeout: float, **overrides: Any) -> Connection:
    info = conninfo(dsn, timeout, **overrides)
    conn = psycopg.connect(info, autocommit=True)
    watchdog.watch(conn, standby.same_server(info, conn))  # a hung proxy must not hang the job: see watchdog
    return conn


def _worth_retrying(exc: BaseException) -> bool:
    """Transient, or a read-only server where the URL names others (a failover in progress)."""
    return is_transient(exc) or standby.worth_waiting(exc)


# Connecting: retry what can heal until the deadline (INITJOB_WAIT_TIMEOUT, set per run).
CONNECT = Policy("connect", on=_worth_retrying, initial=0.1, maximum=4.0, jitter=0.25)


def connect(settings: ConnectionSettings, dsn: str | None = None, deadline: float | None = None,
            ensure: bool | None = None, policy: Policy = CONNECT) -> Connection:
    """Connect with retries until ``settings.wait_timeout``; create the database first when asked to."""
    # Sessions named after this deploy (initjob/<host>/<release>) unless the URL names them.
    target = appname.with_application_name(settings.dsn if dsn is None else dsn, settings.applied_by,
                                           settings.release)
    target = standby.prefer_writable(target, settings.writes)
    ensure = settings.ensure_database if ensure is None else ensure
    start = time.monotonic()
    deadline = start + settings.wait_timeout if deadline is None else deadline

    def attempt() -> Connection:
        remaining = max(deadline - time.monotonic(), 0.0)
        try:
            conn = connect_once(target, remaining)
        except psycopg.OperationalError as exc:
            standby.raise_if_refused(exc, target)  # target_session_attrs found no writable host
            missing = re.search(_MISSING_DATABASE, str(exc))
            if not (ensure and missing):
                raise
            ensure_database(target, remaining, missing["db"])
            conn = connect_once(target, remaining)
        standby.check_writable(conn, target, settings.writes)  # a standby is refused before any change
        return conn

    def tell(a: Attempt) -> None:
        logs.event("db.wait", attempt=a.number, reason=short_reason(a.error) if a.error else "",
                   next_delay_s=a.next_delay, waited_s=a.waited)

    try:
        conn = policy.within(deadline=max(deadline - start, 0.0)).call(attempt, before_sleep=tell)
    except psycopg.OperationalError as exc:
        raise _unreachable(exc, round(time.monotonic() - start, 2)) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"bad connection settings: {short_reason(exc)}", "fix DATABASE_URL") from None
    logs.event("db.connected", waited_s=round(time.monotonic() - start, 3),
               server_version=conn.info.server_version, database=conn.info.dbname)
    progress.register(conn, conninfo(target, settings.wait_timeout), settings.progress_interval)
    return conn


def _unreachable(exc: psycopg.OperationalError, waited: float) -> InitJobError:
    """The condition behind a connection that never came: bad option, deadline, or a refusal."""
    if re.search(_BAD_OPTION, str(exc)):  # libpq checks option values only when connecting: still exit 2
        return ConfigError(f"bad connection settings: {short_reason(exc)}", "fix DATABASE_URL")
    if is_transient(exc):
        return Unreachable(f"database not reachable after {waited}s: {short_reason(exc)}",
                           "check the host, port and network policy, or raise INITJOB_WAIT_TIMEOUT",
                           waited_s=waited)
    hint = "check the credentials and the database name in DATABASE_URL"
    if re.search(_MISSING_DATABASE, str(exc)):
        hint = "create the database, or set INITJOB_ENSURE_DATABASE=true"
    elif "pg_hba.conf" in str(exc):  # neither a password nor TLS alone: the server's host rules
        hint = ("the server's pg_hba.conf has no line for this host, user, database and encryption: ask for one, "
                "or change sslmode in DATABASE_URL (hostssl lines need TLS, hostnossl lines refuse it)")
    elif re.search(r"\bSSL\b|\bTLS\b|certificate", str(exc)):  # sslmode, sslrootcert: not the credentials
        hint = ("a TLS problem, not the credentials: match sslmode (and sslrootcert) in DATABASE_URL to the "
                "server, which may not offer TLS at all (docs/troubleshooting.md#exit-4)")
    return CredentialsRefused(f"database refused the connection: {short_reason(exc)}", hint, waited_s=waited)


def cancel_and_close(conn: Connection) -> None:
    """Stop the running statement on the server now, then drop the session (rolls back, frees the lock)."""
    try:
        if not conn.closed:
            conn.cancel_safe(timeout=3)
    except Exception as exc:  # the cancel is best effort: closing rolls back anyway
        logs.debug("db.cancel_failed", reason=logs.redact(str(exc)))
    try:
        conn.close()
    except Exception as exc:
        logs.debug("db.close_failed", reason=logs.redact(str(exc)))


def ensure_database(dsn: str, timeout: float, name: str) -> None:
    """CREATE DATABASE through the maintenance database; losing a race to another runner is success."""
    try:
        admin = connect_once(dsn, timeout, dbname="postgres")
    except psycopg.OperationalError as exc:
        if not re.search(_MISSING_DATABASE, str(exc)):
            raise
        admin = connect_once(dsn, timeout, dbname="template1")
    standby.check_writable(admin, dsn)
    with admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
            logs.event("db.created", database=name)
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            logs.event("db.create_raced", database=name)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unreachable(f"database {name!r} is missing and cannot be created: {short_reason(exc)}",
                              "create it by hand, or grant CREATEDB to the role") from None
