"""Rows holding NULL where a pending contract migration makes a column NOT NULL (INITJOB_PHASE=contract).

``contract`` counts them before it applies anything and refuses (exit 3, with the counts) while there
are any, instead of failing half-way through the file (exit 5).  Read only; the statements are found
in the files (``not_null_targets``, pure), the rows counted here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from initjob import sqltext
from initjob.source import Migration

# ``ALTER TABLE [IF EXISTS] [ONLY] name ... ALTER [COLUMN] col SET NOT NULL`` in a contract migration.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_ALTER_TABLE = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_IDENT}(?:\s*\.\s*{_IDENT})?)", re.I)
_SET_NOT_NULL = re.compile(rf"\bALTER\s+(?:COLUMN\s+)?(?P<column>{_IDENT})\s+SET\s+NOT\s+NULL\b", re.I)


def not_null_targets(work: Sequence[Migration]) -> list[tuple[str, str]]:
    """(table as written, column) of each SET NOT NULL in the pending contract migrations that no earlier
    pending statement may have backfilled (one that names the table and is no ALTER TABLE of it)."""
    touched: set[str] = set()
    found: list[tuple[str, str]] = []
    for m in work:
        for stmt in sqltext.split_statements(m.up.text):
            alter = _ALTER_TABLE.match(stmt.text)
            if alter is None:
                touched.update(w.lower() for w in re.findall(r"[\w$]+", stmt.text))
                continue
            table = re.sub(r"\s+", "", alter["table"])
            if not m.contract or _last_word(table) in touched:
                continue
            found += [(table, _unquote(c["column"])) for c in _SET_NOT_NULL.finditer(stmt.text)]
    return found


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _last_word(table: str) -> str:
    return _unquote(re.findall(_IDENT, table)[-1]).lower()


def nulls_before_not_null(conn: psycopg.Connection[Any], work: Sequence[Migration]) -> dict[str, int]:
    """Column → rows holding NULL, for the SET NOT NULLs of the pending contract migrations (see
    ``not_null_targets``); a table or column that does not exist yet is an earlier migration's to make."""
    counts: dict[str, int] = {}
    for table, column in not_null_targets(work):
        row = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %s AND NOT a.attisdropped"
            " WHERE c.oid = to_regclass(%s)", (column, table)).fetchone()
        if row is None:
            continue
        got = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
            sql.Identifier(row[0], row[1]), sql.Identifier(column))).fetchone()
        counts[f"{row[0]}.{row[1]}.{column}"] = int(got[0]) if got else 0
    return counts
