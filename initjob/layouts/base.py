"""The ``Layout`` type: everything initjob knows of one migration tool, in one place.

A layout says how the tool's files are found (and so which files the no-op's hash covers,
subfolders included), how they are read into ``Migration`` values, how they are named in messages,
and how the tool's history table is read and written.  One module per tool subclasses it; the
registry in ``initjob.layouts`` lists them.  This module and the tool modules stay light (names as
text, no reader): they are imported on the no-op path; reading goes through ``layouts.reading``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql

from initjob.errors import ForeignHistoryMismatch
from initjob.state import ForeignHistory, ForeignVersion

if TYPE_CHECKING:
    from initjob.source import Migration

INITJOB = "initjob"
AUTO = "auto"
Row = Sequence[Any]
Read = list[tuple["Migration", "str | None"]]  # each migration, with the checksum its tool records (or None)
Paths = list[tuple[str, str]]  # (path shown and hashed, relative to migrations/; full path)


class Layout:
    """One tool's migration layout and history table.  Subclasses set the class attributes and
    override what differs; the defaults describe a flat folder of ``.sql`` files."""

    name: ClassVar[str]
    expected: ClassVar[str]            # the file names, for messages
    pattern: ClassVar[str] = ""        # a migrations/ entry's name, as regex text (compiled on first use)
    table: ClassVar[str | None] = None  # its history table's default name, on the search path
    query: ClassVar[str] = ""          # the rows of that table that ``interpret`` reads ({t}: the table)
    no_tx_hint: ClassVar[str | None] = None  # what its files say where initjob's say -- initjob:no-transaction
    keeps_table: ClassVar[bool] = True  # initjob writes a row per migration there (INITJOB_KEEP_TOOL_TABLE)
    # Its names are initjob's own too (golang-migrate, sqlx's .up/.down): only the setting says so.
    needs_setting: ClassVar[bool] = False

    # ------------------------------------------------------------------ finding and hashing

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        """The entry's name is one this tool reads (advice: which tools the names fit)."""
        return not is_dir and bool(re.match(self.pattern, name))

    def fits_all(self, root: Path, entries: Sequence[tuple[str, bool]]) -> bool:
        """Every entry of ``migrations/`` is one this tool reads (advice: which tools wrote the folder)."""
        return bool(entries) and all(self.fits(root, name, is_dir) for name, is_dir in entries)

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        """The entry shows this tool wrote the folder (detection: markers or folder shapes only it uses)."""
        return False

    def paths(self, root: Path) -> Paths:
        """Every file the reader reads, so an edit to any of them is seen by the no-op's hash."""
        with os.scandir(root) as listing:
            return sorted((e.name, e.path) for e in listing if e.name.endswith(".sql") and not e.name.startswith("."))

    def repeatable_paths(self, root: Path) -> Paths:
        """Repeatable files kept among the migrations (Flyway's R__): none for most tools."""
        return []

    def version_key(self, text: str) -> int | None:
        """A version as the tool writes it, as initjob's integer; None when it is not one."""
        text = text.strip()
        return int(text) if text.isdigit() else None

    # ------------------------------------------------------------------ reading

    def read(self, root: Path, problems: list[str]) -> Read:
        """Its migrations in ``root``, each bad file appended to ``problems``."""
        raise NotImplementedError(self.name)

    # ------------------------------------------------------------------ its history table

    def params(self, root: Path) -> tuple[str, ...]:
        """The parameters of ``query`` (sqitch's project, named in its plan)."""
        return ()

    def interpret_with(self, table: str, rows: Sequence[Row], migrations: Sequence[Migration]) -> ForeignHistory:
        """``interpret``, for a tool whose rows name changes that only the files put in order (sqitch)."""
        return self.interpret(table, rows)

    def interpret(self, table: str, rows: Sequence[Row]) -> ForeignHistory:
        """A row per applied version (the default): what the table holds as applied."""
        return ForeignHistory(self.name, table, tuple(self.version(r[0], table) for r in rows))

    def version(self, text: str, table: str) -> ForeignVersion:
        key = self.version_key(text)
        if key is None:
            raise ForeignHistoryMismatch(f"{table} holds version {text!r}, which is not a {self.name} version",
                                         "check INITJOB_MIGRATIONS_FORMAT (docs/switching.md)")
        return ForeignVersion(key, text)

    def create_table(self) -> list[sql.Composed]:
        """The statements that make its table as the tool makes it, when missing."""
        return []

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        """The statements that record ``m`` as applied, in the tool's own format."""
        return []

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        """The statements that record ``m`` as rolled back (``previous``: the version before it)."""
        return []

    @property
    def ident(self) -> sql.Identifier:
        assert self.table is not None
        return sql.Identifier(self.table)

