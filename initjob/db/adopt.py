"""Another tool's history table, read as it stands: what it holds as applied, and as broken.

Each tool keeps its table in the connection's first schema on the search path, under its default
name; initjob finds and creates it there the way the tool does.  What the rows mean is the layout's
(``Layout.interpret``); whether to take those versions over, and what to refuse, is decided in
``decide`` (pure).  Making the table and writing a row per migration is done with the migrations
(``migrate``), in their transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from initjob import layouts
from initjob.errors import ForeignHistoryMismatch
from initjob.state import ForeignHistory

if TYPE_CHECKING:
    from initjob.source import Migration


def read_foreign(conn: psycopg.Connection[Any], tool: str, root: Path | None = None,
                 migrations: Sequence[Migration] = ()) -> ForeignHistory:
    """``tool``'s history table on the search path; ``ForeignHistory(tool)`` (no table) when there is none.
    ``root`` (``sql/migrations/``) and ``migrations``: for a tool whose rows only the files explain (sqitch)."""
    layout = layouts.get(tool)
    if layout.table is None:
        return ForeignHistory(tool)
    found = conn.execute("SELECT to_regclass(%s)::text", (layout.table,)).fetchone()
    if not found or found[0] is None:
        return ForeignHistory(tool)
    try:
        params = layout.params(root) if root is not None else ()
        rows = conn.execute(sql.SQL(layout.query).format(t=layout.ident), params or None).fetchall()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.DatatypeMismatch, psycopg.errors.UndefinedFunction) as exc:
        conn.rollback()
        raise ForeignHistoryMismatch(
            f"{found[0]} is not {tool}'s history table (its columns differ: {exc.diag.message_primary})",
            "check INITJOB_MIGRATIONS_FORMAT (docs/switching.md)") from None
    return layout.interpret_with(found[0], rows, migrations)


def golang_migrate_look_alike(conn: psycopg.Connection[Any]) -> ForeignHistory:
    """golang-migrate's table, if the database has one: its file names are initjob's own, so a chain
    written for it reads as initjob's layout and would otherwise be run again from the first file."""
    table = layouts.get("golang-migrate").table
    found = conn.execute(
        "SELECT to_regclass(%s)::text, EXISTS (SELECT 1 FROM pg_attribute"
        " WHERE attrelid = to_regclass(%s) AND attname = 'dirty' AND NOT attisdropped)", (table, table)).fetchone()
    if not found or found[0] is None or not found[1]:
        return ForeignHistory(layouts.INITJOB)
    return read_foreign(conn, "golang-migrate")


def has_table(conn: psycopg.Connection[Any], tool: str) -> bool:
    """Whether the tool's history table is on the search path already."""
    table = layouts.get(tool).table
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(found and found[0])
