"""Connect when the database is ready: retry what can heal, fail fast on what cannot.

The retry policy is tenacity's (exponential backoff with jitter, one overall deadline).  The
errors libpq reports while connecting carry no SQLSTATE, so they are classified by message.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from initjob import logs
from initjob.config import Config
from initjob.db import activity, progress, watchdog
from initjob.errors import ConfigError, Unreachable

if TYPE_CHECKING:
    from tenacity import RetryCallState

Connection = psycopg.Connection[Any]

# Could heal by waiting: the server is down, starting, restarting, full, or its name not yet in DNS.
_TRANSIENT = re.compile(
    r"connection refused|could not translate host name|failed to resolve host|name or service not known|"
    r"temporary failure in name resolution|timeout expired|timed out|the database system is starting up|"
    r"the database system is shutting down|the database system is in recovery mode|"
    r"not yet accepting connections|too many clients|remaining connection slots are reserved|"
    r"server closed the connection unexpectedly|connection reset by peer|no such file or directory|"
    r"could not receive data from server|could not send data to server|network is unreachable|"
    r"no route to host|cannot assign requested address|consistent recovery state has not been yet reached",
    re.IGNORECASE,
)
_TRANSIENT_SQLSTATES = {"57P03", "53300", "08000", "08001", "08003", "08004", "08006", "57P01", "57P02"}
_BAD_OPTION = re.compile(r'invalid \w+ value: "|invalid integer value "[^"]*" for connection option', re.IGNORECASE)
_MISSING_DATABASE = re.compile(r'database "(?P<db>[^"]+)" does not exist', re.IGNORECASE)


def is_transient(exc: BaseException) -> bool:
    """True when waiting could make this connection error go away."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if exc.sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return bool(_TRANSIENT.search(str(exc)))


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
    watchdog.watch(conn, info)  # a hung proxy must not hang the job: see watchdog
    return conn


def connect(cfg: Config, dsn: str | None = None, deadline: float | None = None,
            ensure: bool | None = None) -> Connection:
    """Connect with retries until ``cfg.wait_timeout``; create the database first when asked to.

    The first attempt runs before tenacity is even imported (the database is up on almost every pod
    start); when it fails, tenacity replays its outcome as attempt 1 and goes on from there.
    """
    # Sessions named after this deploy (initjob/<host>/<release>) unless the URL names them.
    target = activity.with_application_name(cfg.dsn if dsn is None else dsn, cfg.applied_by, cfg.release)
    ensure = cfg.ensure_database if ensure is None else ensure
    start = time.monotonic()
    deadline = start + cfg.wait_timeout if deadline is None else deadline

    def log_attempt(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logs.event("db.wait", attempt=state.attempt_number, reason=short_reason(exc) if exc else "",
                   next_delay_s=round(delay, 2), waited_s=round(time.monotonic() - start, 2))

    first_failure: list[BaseException] = []

    def attempt() -> Connection:
        if first_failure:
            raise first_failure.pop()
        remaining = max(deadline - time.monotonic(), 0.0)
        try:
            return connect_once(target, remaining)
        except psycopg.OperationalError as exc:
            missing = _MISSING_DATABASE.search(str(exc))
            if ensure and missing:
                ensure_database(target, remaining, missing["db"])
                return connect_once(target, remaining)
            raise

    def retrying() -> Connection:
        from tenacity import Retrying, retry_if_exception, wait_exponential, wait_random

        def past_deadline(state: RetryCallState) -> bool:
            # The deadline counts from this call, not from tenacity's start: the first attempt,
            # made before tenacity, may itself have used most of it (a silent host, a hung proxy).
            return time.monotonic() + state.upcoming_sleep >= deadline

        return Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_exponential(multiplier=0.1, max=4.0) + wait_random(0, 0.25),
            stop=past_deadline,
            before_sleep=log_attempt,
            reraise=True,
        )(attempt)

    try:
        try:
            conn = attempt()
        except psycopg.OperationalError as exc:
            first_failure.append(exc)
            conn = retrying()
    except psycopg.OperationalError as exc:
        waited = round(time.monotonic() - start, 2)
        if _BAD_OPTION.search(str(exc)):  # libpq checks option values only when connecting: still exit 2
            raise ConfigError(f"bad connection settings: {short_reason(exc)}", "fix DATABASE_URL") from None
        if is_transient(exc):
            raise Unreachable(
                f"database not reachable after {waited}s: {short_reason(exc)}",
                "check the host, port and network policy, or raise INITJOB_WAIT_TIMEOUT",
                waited_s=waited,
            ) from None
        hint = "check the credentials and the database name in DATABASE_URL"
        if _MISSING_DATABASE.search(str(exc)):
            hint = "create the database, or set INITJOB_ENSURE_DATABASE=true"
        raise Unreachable(f"database refused the connection: {short_reason(exc)}", hint, waited_s=waited) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"bad connection settings: {short_reason(exc)}", "fix DATABASE_URL") from None
    logs.event("db.connected", waited_s=round(time.monotonic() - start, 3),
               server_version=conn.info.server_version, database=conn.info.dbname)
    progress.register(conn, conninfo(target, cfg.wait_timeout), cfg.progress_interval)
    return conn


def ensure_database(dsn: str, timeout: float, name: str) -> None:
    """CREATE DATABASE through the maintenance database; losing a race to another runner is success."""
    try:
        admin = connect_once(dsn, timeout, dbname="postgres")
    except psycopg.OperationalError as exc:
        if not _MISSING_DATABASE.search(str(exc)):
            raise
        admin = connect_once(dsn, timeout, dbname="template1")
    with admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
            logs.event("db.created", database=name)
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            logs.event("db.create_raced", database=name)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unreachable(f"database {name!r} is missing and cannot be created: {short_reason(exc)}",
                              "create it by hand, or grant CREATEDB to the role") from None
