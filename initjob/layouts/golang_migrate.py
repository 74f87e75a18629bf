"""golang-migrate: ``<version>_<title>.up.sql`` and ``.down.sql`` (initjob's own names);
``schema_migrations``, one row: the current version and its dirty flag."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.layouts.base import Layout, Read, Row
from initjob.state import ForeignHistory

if TYPE_CHECKING:
    from initjob.source import Migration

NAME = r"^(?P<version>[0-9]+)_(?P<name>.*)\.(?P<dir>up|down)\.sql$"
# golang-migrate runs a file as it is, so its files often wrap themselves in BEGIN; … COMMIT;.
# initjob wraps each file itself: the pair is blanked out (positions kept), never run.
_WRAP_HEAD = (r"\A(?:\s|--[^\n]*\n)*(?P<stmt>(?:BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*;)")
_WRAP_TAIL = r"(?P<stmt>(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;)(?:\s|--[^\n]*)*\Z"


def unwrap(text: str) -> str:
    """A file's own BEGIN; … COMMIT; blanked out (same length, same lines)."""
    head, tail = re.match(_WRAP_HEAD, text, re.IGNORECASE), re.search(_WRAP_TAIL, text, re.IGNORECASE)
    if head is None or tail is None or tail.start("stmt") <= head.end("stmt"):
        return text
    for span in (tail.span("stmt"), head.span("stmt")):
        text = text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]
    return text


class GolangMigrate(Layout):
    name: ClassVar[str] = "golang-migrate"
    expected: ClassVar[str] = "<version>_<title>.up.sql or .down.sql"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "schema_migrations"
    query: ClassVar[str] = "SELECT version::text, dirty FROM {t}"
    needs_setting: ClassVar[bool] = True

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration, SqlFile

        files: dict[tuple[int, str], tuple[str, str, SqlFile]] = {}
        for m, f in reading.named(root, NAME, self.expected, problems):
            files[(int(m["version"]), m["dir"])] = (m["version"], m["name"], reading.sql_file(f.path, unwrap(f.text)))
        out: Read = []
        for (version, direction), (vtext, name, f) in sorted(files.items()):
            if direction == "down":
                if (version, "up") not in files:
                    problems.append(f"{f.path}: down file without its up file")
                continue
            down = files.get((version, "down"))
            out.append((Migration(version, vtext, name or vtext, f, down[2] if down else None,
                                  not reading.marked_no_transaction(f.text)), None))
        return out

    def interpret(self, table: str, rows: Sequence[Row]) -> ForeignHistory:
        """One row: the current version, and ``dirty`` when a migration stopped half-way."""
        if not rows or int(rows[0][0]) < 0:  # no row, or -1 after migrating all the way down: nothing applied
            return ForeignHistory(self.name, table)
        version, dirty = rows[0]
        v = self.version(version, table)
        if dirty:
            return ForeignHistory(self.name, table, (v,), v.version, (
                f"{table} marks version {version} dirty: golang-migrate stopped in the middle of it; "
                f"`migrate force {version}` would only have cleared the flag, so first finish or undo its "
                "changes by hand",))
        return ForeignHistory(self.name, table, (v,), v.version)

    def create_table(self) -> list[sql.Composed]:
        # As its postgres driver creates it before the first file runs.
        return [sql.SQL("CREATE TABLE IF NOT EXISTS {t} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
                        ).format(t=self.ident)]

    def _set(self, version: int | None) -> list[sql.Composed]:
        # Its driver's SetVersion: the table emptied, then the one row (none at "no version").
        rows: list[sql.Composed] = [sql.SQL("DELETE FROM {t}").format(t=self.ident)]
        if version is not None:
            rows.append(sql.SQL("INSERT INTO {t} (version, dirty) VALUES ({v}, false)").format(
                t=self.ident, v=sql.Literal(version)))
        return rows

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return self._set(m.version)

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        return self._set(previous.version if previous else None)


LAYOUT = GolangMigrate()
