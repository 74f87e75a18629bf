"""The shadow database: a scratch database where ``sql/schema/`` is built to read the desired state.

Either a temporary ``CREATE DATABASE`` (always dropped, on failure and on SIGTERM too), or the
database of INITJOB_SHADOW_DATABASE_URL, where everything runs in a transaction that is rolled back.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import ConnectionSettings
from initjob.db import appname, standby, wait
from initjob.errors import ConfigError

Connection = psycopg.Connection[Any]


@contextmanager
def shadow(settings: ConnectionSettings, live: Connection, transaction: bool = True) -> Iterator[Connection]:
    """A connection to an empty scratch database, removed afterwards.  Inside a transaction unless
    ``transaction`` is false, which only a temporary database allows (INITJOB_SHADOW_DATABASE_URL's
    database is someone's: everything there is rolled back)."""
    if settings.shadow_dsn:
        conn = wait.connect(settings, dsn=settings.shadow_dsn, ensure=False)
        try:
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


def _drop(live: Connection, name: str) -> None:
    force = sql.SQL(" WITH (FORCE)") if live.info.server_version >= 130000 else sql.SQL("")
    try:
        live.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))
        logs.debug("shadow.dropped", database=name)
    except psycopg.Error as exc:
        logs.warning("shadow.not_dropped", database=name, reason=logs.redact(str(exc).splitlines()[0]),
                     hint=f"drop database {name} by hand")
