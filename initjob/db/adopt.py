"""Another tool's history table, read as it stands (never written): what it holds as applied, and as broken.

Each tool keeps its table in the connection's first schema on the search path, under its default
name; initjob finds it there the way the tool did.  Reading it is this module's only job: whether to
take those versions over, and what to refuse, is decided in ``decide`` (pure).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from initjob import discover, layouts
from initjob.errors import ForeignHistoryMismatch
from initjob.state import ForeignHistory, ForeignVersion

Row = Sequence[Any]
TABLES = {
    "flyway": "flyway_schema_history",
    "golang-migrate": "schema_migrations",
    "dbmate": "schema_migrations",
    "goose": "goose_db_version",
    "prisma": "_prisma_migrations",
}
_QUERIES = {
    "flyway": "SELECT version, description, type, checksum::text, success FROM {t} ORDER BY installed_rank",
    "golang-migrate": "SELECT version::text, dirty FROM {t}",
    "dbmate": "SELECT version::text FROM {t} ORDER BY version",
    "goose": "SELECT version_id::text, is_applied FROM {t} ORDER BY id",
    "prisma": "SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {t}"
              " ORDER BY started_at",
}


def read_foreign(conn: psycopg.Connection[Any], tool: str) -> ForeignHistory:
    """``tool``'s history table on the search path; ``ForeignHistory(tool)`` (no table) when there is none."""
    name = TABLES[tool]
    found = conn.execute("SELECT to_regclass(%s)::text", (name,)).fetchone()
    if not found or found[0] is None:
        return ForeignHistory(tool)
    try:
        rows = conn.execute(sql.SQL(_QUERIES[tool]).format(t=sql.Identifier(name))).fetchall()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.DatatypeMismatch) as exc:
        conn.rollback()
        raise ForeignHistoryMismatch(
            f"{found[0]} is not {tool}'s history table (its columns differ: {exc.diag.message_primary})",
            "check INITJOB_MIGRATIONS_FORMAT (docs/switching.md)") from None
    return _INTERPRET[tool](found[0], rows)


def golang_migrate_look_alike(conn: psycopg.Connection[Any]) -> ForeignHistory:
    """golang-migrate's table, if the database has one: its file names are initjob's own, so a chain
    written for it reads as initjob's layout and would otherwise be run again from the first file."""
    found = conn.execute(
        "SELECT to_regclass('schema_migrations')::text, EXISTS (SELECT 1 FROM pg_attribute"
        " WHERE attrelid = to_regclass('schema_migrations') AND attname = 'dirty' AND NOT attisdropped)").fetchone()
    if not found or found[0] is None or not found[1]:
        return ForeignHistory(discover.INITJOB)
    return read_foreign(conn, "golang-migrate")


def _version(tool: str, text: str, table: str) -> ForeignVersion:
    key = layouts.version_key(tool, text)
    if key is None:
        raise ForeignHistoryMismatch(f"{table} holds version {text!r}, which is not a {tool} version",
                                     "check INITJOB_MIGRATIONS_FORMAT (docs/switching.md)")
    return ForeignVersion(key, text)


def flyway(table: str, rows: Sequence[Row]) -> ForeignHistory:
    """Rows in installed order: a success applies a version, an undo or a repair's DELETE unapplies it,
    a BASELINE stands for everything up to it, a failure is broken; repeatable rows (no version) are
    left to initjob's repeatable files, which are applied once on the first run."""
    applied: dict[int, ForeignVersion] = {}
    baseline: int | None = None
    broken: list[str] = []
    for version, description, kind, checksum, success in rows:
        if version is None or kind == "SCHEMA":
            continue
        v = _version("flyway", version, table)
        if not success:
            broken.append(
                f"{table} records V{version} ({description}) as failed: Flyway stops there until `flyway repair` "
                "removes the failed row, which is only right once what it left half-done was undone by hand")
        elif kind.startswith("UNDO") or kind == "DELETE":
            applied.pop(v.version, None)
        elif kind == "BASELINE":
            baseline = v.version
        else:  # SQL, and JDBC or script kinds: those have no .sql file, and the match with the files says so
            applied[v.version] = ForeignVersion(v.version, version, checksum if kind == "SQL" else None)
    return ForeignHistory("flyway", table, tuple(sorted(applied.values(), key=lambda f: f.version)),
                          baseline, tuple(broken))


def golang_migrate(table: str, rows: Sequence[Row]) -> ForeignHistory:
    """One row: the current version, and ``dirty`` when a migration stopped half-way."""
    if not rows or int(rows[0][0]) < 0:  # no row, or -1 after migrating all the way down: nothing applied
        return ForeignHistory("golang-migrate", table)
    version, dirty = rows[0]
    v = _version("golang-migrate", version, table)
    if dirty:
        return ForeignHistory("golang-migrate", table, (v,), v.version, (
            f"{table} marks version {version} dirty: golang-migrate stopped in the middle of it; "
            f"`migrate force {version}` would only have cleared the flag, so first finish or undo its "
            "changes by hand",))
    return ForeignHistory("golang-migrate", table, (v,), v.version)


def dbmate(table: str, rows: Sequence[Row]) -> ForeignHistory:
    """A row per applied version (dbmate applies a file and its row in one transaction: nothing half-done)."""
    return ForeignHistory("dbmate", table, tuple(_version("dbmate", r[0], table) for r in rows))


def goose(table: str, rows: Sequence[Row]) -> ForeignHistory:
    """Rows in insertion order; the last row of a version says whether it is applied (0 is goose's own)."""
    state: dict[str, bool] = {}
    for version, is_applied in rows:
        state[version] = bool(is_applied)
    versions = [_version("goose", v, table) for v, on in state.items() if on and int(v) != 0]
    return ForeignHistory("goose", table, tuple(sorted(versions, key=lambda f: f.version)))


def prisma(table: str, rows: Sequence[Row]) -> ForeignHistory:
    """A migration is applied when a row of it finished and was not rolled back; one that neither
    finished nor was rolled back failed, and ``prisma migrate deploy`` stops there."""
    applied: dict[str, ForeignVersion] = {}
    failed: list[str] = []
    for name, checksum, finished, rolled_back in rows:
        m = re.match(r"^([0-9]+)_", name)
        if m is None:
            raise ForeignHistoryMismatch(f"{table} holds migration {name!r}, not named <timestamp>_<name>",
                                         "check INITJOB_MIGRATIONS_FORMAT (docs/switching.md)")
        if rolled_back:
            continue
        if finished:
            applied[name] = ForeignVersion(int(m[1]), m[1], checksum)
        else:
            failed.append(name)
    broken = tuple(
        f"{table} records {name} as failed: Prisma stops there until `prisma migrate resolve --rolled-back "
        f"{name}` (after undoing what it left) or `--applied {name}` (after finishing it by hand)"
        for name in failed if name not in applied)
    return ForeignHistory("prisma", table, tuple(sorted(applied.values(), key=lambda f: f.version)), None, broken)


_INTERPRET: dict[str, Callable[[str, Sequence[Row]], ForeignHistory]] = {
    "flyway": flyway, "golang-migrate": golang_migrate, "dbmate": dbmate, "goose": goose, "prisma": prisma,
}
