"""diesel: ``<version>_<name>/up.sql`` and ``down.sql`` (``metadata.toml`` may say
``run_in_transaction = false``); ``__diesel_schema_migrations``, a row per applied version.

Its version is the folder name up to the first ``_``, dashes dropped (``2024-01-15-143022`` is
``20240115143022``), as diesel records it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.layouts.base import Layout, Paths, Read
from initjob.layouts.prisma import folder_paths

if TYPE_CHECKING:
    from initjob.source import Migration

NAME = r"^(?P<version>[0-9][0-9-]*)_(?P<name>.+)$"
_NO_TX = r"(?m)^\s*run_in_transaction\s*=\s*false\s*$"


class Diesel(Layout):
    name: ClassVar[str] = "diesel"
    expected: ClassVar[str] = "<version>_<name>/up.sql (and down.sql)"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "__diesel_schema_migrations"
    query: ClassVar[str] = "SELECT version FROM {t} ORDER BY version"
    no_tx_hint: ClassVar[str | None] = "write run_in_transaction = false in its metadata.toml"

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        return is_dir and (root / name / "up.sql").is_file()

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        return is_dir and (root / name / "up.sql").is_file()

    def paths(self, root: Path) -> Paths:
        return folder_paths(root, ("up.sql", "down.sql", "metadata.toml"))

    def version_key(self, text: str) -> int | None:
        digits = text.strip().replace("-", "")
        return int(digits) if digits.isdigit() else None

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration

        out: Read = []
        for m, up, _, down in reading.folder_chain(root, NAME, "up.sql", "down.sql", self.expected, problems):
            folder = root / up.path.removeprefix("migrations/").split("/")[0]
            meta = folder / "metadata.toml"
            no_tx = meta.is_file() and re.search(_NO_TX, meta.read_text("utf-8", "replace")) is not None
            version = m["version"].replace("-", "")
            out.append((Migration(int(version), version, m["name"], up, down, not no_tx), None))
        return out

    def create_table(self) -> list[sql.Composed]:
        # As diesel creates it on PostgreSQL.
        return [sql.SQL("CREATE TABLE IF NOT EXISTS {t} (version varchar(50) PRIMARY KEY NOT NULL, "
                        "run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)").format(t=self.ident)]

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return [sql.SQL("INSERT INTO {t} (version) VALUES ({v})").format(t=self.ident, v=sql.Literal(m.version_text))]

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        return [sql.SQL("DELETE FROM {t} WHERE version = {v}").format(t=self.ident, v=sql.Literal(m.version_text))]


LAYOUT = Diesel()
