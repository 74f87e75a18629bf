"""The shadow database: a scratch database where ``sql/schema/`` is built to read the desired state.

Either a temporary ``CREATE DATABASE`` (always dropped, on failure and on SIGTERM too), or the
database of INITJOB_SHADOW_DATABASE_URL, where everything runs in a transaction that is rolled back.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import ConnectionSettings
from initjob.db import appname, standby, wait
from initjob.errors import ConfigError, ShadowUnusable
from initjob.schema import catalog, scope

Connection = psycopg.Connection[Any]


@contextmanager
def shadow(settings: ConnectionSettings, live: Connection, transaction: bool = True) -> Iterator[Connection]:
    """A connection to an empty scratch database, removed afterwards.  Inside a transaction unless
    ``transaction`` is false, which only a temporary database allows (INITJOB_SHADOW_DATABASE_URL's
    database is someone's: everything there is rolled back)."""
    if settings.shadow_dsn:
        conn = wait.connect(settings, dsn=settings.shadow_dsn, ensure=False)
        try:
            _check_scratch(conn, live)
            conn.execute("BEGIN")
            yield conn
        finally:
            wait.cancel_and_close(conn)
        return
    name = f"initjob_shadow_{secrets.token_hex(6)}"
    try:
        live.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError("auto-sync needs a scratch database and this role may not create one",
                          "grant CREATEDB to the role, or set INITJOB_SHADOW_DATABASE_URL to an empty database"
                          ) from None
    except psycopg.errors.ReadOnlySqlTransaction:
        raise standby.no_scratch_database() from None
    logs.debug("shadow.created", database=name)
    try:
        dsn = appname.with_application_name(settings.dsn, settings.applied_by, settings.release)
        conn = wait.connect_once(dsn, settings.wait_timeout, dbname=name)
        try:
            if transaction:
                conn.execute("BEGIN")
            yield conn
        finally:
            wait.cancel_and_close(conn)
    finally:
        _drop(live, name)


# Another session's pid and database are visible to every role in pg_stat_activity: the live
# session seen from the scratch connection, in the scratch connection's own database, means both
# name the same database (URL texts can differ: host alias, port, socket, options).
_SAME_DATABASE = """
SELECT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
               WHERE a.pid = %(pid)s AND d.datname = current_database() AND d.oid = %(oid)s)
"""


def _check_scratch(conn: Connection, live: Connection) -> None:
    """INITJOB_SHADOW_DATABASE_URL must name an empty database other than the target: its objects
    would join the desired state, and the target itself would look up to date already."""
    row = live.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()
    same = conn.execute(_SAME_DATABASE, {"pid": live.info.backend_pid, "oid": row[0] if row else 0}).fetchone()
    if same and same[0]:
        raise ShadowUnusable("INITJOB_SHADOW_DATABASE_URL names the target database itself",
                             "point it at an empty database of its own (CREATE DATABASE app_shadow), or unset "
                             "it so that initjob creates and drops a temporary one")
    # Whatever the scratch database holds would join the desired state: any schema of its own, and public
    # when it holds objects, by the one definition of "holds objects" (schema.scope).
    found = scope.without_empty_public(conn, catalog.user_schemas(conn, exclude=[]))[:5]
    if found:
        raise ShadowUnusable(f"INITJOB_SHADOW_DATABASE_URL's database is not empty: schema {', '.join(found)} "
                             "holds objects that would become part of the desired state",
                             "give initjob a database of its own that holds nothing, or drop what is in it",
                             schemas=found)


# A closed scratch connection's backend may still be ending (a large tree: seconds to release its
# catalog and locks) when DROP DATABASE ... WITH (FORCE) gives up after its own 5 s: asked again.
DROP_ATTEMPTS = 4


def _drop(live: Connection, name: str) -> None:
    force = sql.SQL(" WITH (FORCE)") if live.info.server_version >= 130000 else sql.SQL("")
    try:
        for attempt in range(1, DROP_ATTEMPTS + 1):
            try:
                live.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == DROP_ATTEMPTS:
                    raise
                time.sleep(0.5 * attempt)
        logs.debug("shadow.dropped", database=name)
    except psycopg.Error as exc:
        logs.warning("shadow.not_dropped", database=name, reason=logs.redact(str(exc).splitlines()[0]),
                     hint=f"drop database {name} by hand")
