"""A read-only server as the target: a hot standby, or a primary whose sessions are read-only.

A job connected to a replica would fail on its first write (``ReadOnlySqlTransaction`` from
``CREATE SCHEMA``), and libpq's ``target_session_attrs=read-write`` refusal reads like a bad
password.  So a writing command checks the session before any change, at no cost on PostgreSQL 14+
(the server reports ``in_hot_standby`` and ``default_transaction_read_only`` when the session
starts).  With several hosts in DATABASE_URL a read-only server is what a failover looks like from
outside (the old primary gone, the standby not yet promoted): the job waits for a writable host within
INITJOB_WAIT_TIMEOUT.  With one host, waiting would not make a replica writable: exit 4 at once,
naming the server.  Read-only commands (verify, status, plan) work on a standby and are not checked.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from initjob.errors import ConfigError, NotWritable

READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction: the session became read-only under us
# What libpq says when target_session_attrs turned a host down (read-write, primary). Text, compiled
# (and cached by ``re``) only when a connection is refused: off the no-op path.
_REFUSED = (r'server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+) failed: '
            r"(?P<why>session is read-only|server is in hot standby mode)")
_HINT_ONE = ("point DATABASE_URL at the primary, or list every host of the cluster with "
             "target_session_attrs=read-write so the job waits for the writable one")
_HINT_MANY = "no host became writable in time: check that a primary exists, or raise INITJOB_WAIT_TIMEOUT"
_HINT_SETTING = ("lift the read-only setting (ALTER DATABASE or ALTER ROLE … RESET default_transaction_read_only, "
                 "or the provider's read-only mode), then run again")


def host_count(dsn: str) -> int:
    """How many servers the connection string names (``host=a,b`` or ``postgresql://a:1,b:2/db``)."""
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(dsn)) if dsn else {}
    except psycopg.ProgrammingError:
        return 1
    if not params.get("host") and not params.get("hostaddr"):
        params["host"] = _default("host")  # libpq reads PGHOST
    counts = [len(str(params.get(k) or "").split(",")) for k in ("host", "hostaddr")]
    return max(counts)


def prefer_writable(dsn: str, writes: bool) -> str:
    """For a writing command, a multi-host DSN asks libpq for the writable host when it does not say.

    Without ``target_session_attrs`` libpq takes the first host that answers: a standby listed first
    would be chosen every time, and the job would wait for it in vain.
    """
    if not writes or host_count(dsn) < 2:
        return dsn
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(dsn)) if dsn else {}
    except psycopg.ProgrammingError:
        return dsn
    if params.get("target_session_attrs") or _default("target_session_attrs") not in ("", "any"):
        return dsn
    params["target_session_attrs"] = "read-write"
    return make_conninfo("", **params)


def _default(keyword: str) -> str:
    """libpq's value for ``keyword`` when the DSN leaves it out (from PG* variables, else built in)."""
    for option in psycopg.pq.Conninfo.get_defaults():
        if option.keyword.decode() == keyword:
            return (option.val or b"").decode()
    return ""


def read_only_reason(conn: psycopg.Connection[Any]) -> str | None:
    """Why this session cannot write, or None when it can."""
    hot = conn.info.parameter_status("in_hot_standby")
    default_ro = conn.info.parameter_status("default_transaction_read_only")
    if hot is None or default_ro is None:  # before PostgreSQL 14 the server does not report them: ask
        row = conn.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'"
                           ).fetchone()
        hot, default_ro = ("on" if row and row[0] else "off"), ("on" if row and row[1] else "off")
    if hot == "on":
        return "is a standby (in recovery, read-only)"
    if default_ro == "on":
        return "makes every transaction read-only (default_transaction_read_only = on)"
    return None


def check_writable(conn: psycopg.Connection[Any], dsn: str, writes: bool = True) -> None:
    """Close ``conn`` and raise NotWritable when the command writes and this session cannot."""
    if not writes:
        return
    why = read_only_reason(conn)
    if why is None:
        return
    server = f"{conn.info.host}:{conn.info.port}"
    conn.close()
    raise _not_writable(f"{server} {why}", dsn, server=server,
                        hint=_HINT_SETTING if "default_transaction_read_only" in why else None)


def raise_if_refused(exc: psycopg.OperationalError, dsn: str) -> None:
    """libpq's target_session_attrs turned every reachable host down: name them, instead of a
    'refused the connection' that reads like a bad password."""
    found = [f"{m['host']}:{m['port']} ({m['why']})" for m in re.finditer(_REFUSED, str(exc))]
    if found:
        raise _not_writable("; ".join(found), dsn, server=", ".join(found)) from None


def _not_writable(what: str, dsn: str, server: str, hint: str | None = None) -> NotWritable:
    can_wait = host_count(dsn) > 1
    return NotWritable(f"no writable server: {what}", _HINT_MANY if can_wait else hint or _HINT_ONE,
                       server=server, can_wait=can_wait)


def worth_waiting(exc: BaseException) -> bool:
    """True for a read-only server that another host of the URL may replace (a failover under way)."""
    return isinstance(exc, NotWritable) and exc.can_wait


def is_read_only_error(exc: psycopg.Error) -> bool:
    """The server refused a write mid-run: it was turned read-only, so reconnect and check again."""
    return exc.sqlstate == READ_ONLY_SQLSTATE


def no_scratch_database() -> ConfigError:
    """Auto-sync's read-only commands build the desired state in a scratch database: not on a standby."""
    return ConfigError("this server is read-only (a standby) and cannot create auto-sync's scratch database",
                       "set INITJOB_SHADOW_DATABASE_URL to an empty database on a writable server, "
                       "or run the command against the primary")


def same_server(conninfo: str, conn: psycopg.Connection[Any]) -> str:
    """``conninfo`` pinned to the host ``conn`` reached: a side connection must ask that server,
    not whichever host of a multi-host URL (or PGHOST) answers first."""
    params: dict[str, Any] = dict(conninfo_to_dict(conninfo))
    params.update(host=conn.info.host, port=str(conn.info.port))
    params.pop("target_session_attrs", None)
    if params.get("hostaddr"):
        params["hostaddr"] = conn.info.hostaddr
    return make_conninfo("", **params)
