"""dbmate: ``<version>_<name>.sql`` with ``-- migrate:up`` and ``-- migrate:down`` sections;
``schema_migrations``, a row per applied version."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.layouts.base import Layout, Read

if TYPE_CHECKING:
    from initjob.source import Migration, SqlFile

NAME = r"^(?P<version>[0-9]+)_(?P<name>.+)\.sql$"
_UP = r"^--\s*migrate:up\b(?P<options>.*)$"
_DOWN = r"^--\s*migrate:down\b(?P<options>.*)$"


def head_of(path: Path) -> str:
    """The start of a file, for markers (read once: detection runs on every pod start)."""
    try:
        return path.read_bytes()[:65536].decode("utf-8", "replace")
    except OSError:
        return ""


class Dbmate(Layout):
    name: ClassVar[str] = "dbmate"
    expected: ClassVar[str] = "<version>_<name>.sql"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "schema_migrations"
    query: ClassVar[str] = "SELECT version::text FROM {t} ORDER BY version"
    no_tx_hint: ClassVar[str | None] = "add transaction:false to its '-- migrate:up' line"

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        return self.claims(root, name, is_dir)  # its names are anyone's: its marker says it is dbmate's

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        return (not is_dir and bool(re.match(NAME, name))
                and bool(re.search(r"^--\s*migrate:up", head_of(root / name), re.MULTILINE)))

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path

        def split(f: SqlFile, problems: list[str]) -> tuple[str, str, bool] | None:
            got = reading.split_sections(f, re.compile(_UP), re.compile(_DOWN), problems)
            if got is None:
                return None
            up, down, at, _ = got
            options = re.match(_UP, f.text.split("\n")[at].strip())
            return up, down, not (options and re.search(r"\btransaction:false\b", options["options"]))

        return reading.one_file_chain(root, NAME, problems, split)

    def create_table(self) -> list[sql.Composed]:
        # As dbmate's postgres driver creates it.
        return [sql.SQL("CREATE TABLE IF NOT EXISTS {t} (version varchar(128) PRIMARY KEY)").format(t=self.ident)]

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return [sql.SQL("INSERT INTO {t} (version) VALUES ({v})").format(t=self.ident, v=sql.Literal(m.version_text))]

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        return [sql.SQL("DELETE FROM {t} WHERE version = {v}").format(t=self.ident, v=sql.Literal(m.version_text))]


LAYOUT = Dbmate()
