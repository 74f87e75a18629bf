"""sqlx: ``<version>_<description>.sql``, or reversible ``.up.sql`` and ``.down.sql``; a file whose
first line is ``-- no-transaction`` runs outside one.  ``_sqlx_migrations``, a row per applied
version with the sha384 of the file as written (``checksum``) and ``success``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.layouts.base import Layout, Read, Row
from initjob.state import ForeignHistory, ForeignVersion

if TYPE_CHECKING:
    from initjob.source import Migration, SqlFile

NAME = r"^(?P<version>[0-9]+)_(?P<name>.+?)(?:\.(?P<dir>up|down))?\.sql$"
_NO_TX = "-- no-transaction"


def sqlx_checksum(raw: bytes) -> str:
    """sqlx records the sha384 of the file as written, in a bytea; here in hex."""
    return hashlib.sha384(raw).hexdigest()


class Sqlx(Layout):
    name: ClassVar[str] = "sqlx"
    expected: ClassVar[str] = "<version>_<description>.sql, or .up.sql and .down.sql"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "_sqlx_migrations"
    query: ClassVar[str] = ("SELECT version::text, encode(checksum, 'hex'), success, description FROM {t}"
                            " ORDER BY version")
    no_tx_hint: ClassVar[str | None] = f"make '{_NO_TX}' the file's first line"
    needs_setting: ClassVar[bool] = True  # its .up.sql names are initjob's own, its plain names dbmate's and goose's

    def fits_all(self, root: Path, entries: Sequence[tuple[str, bool]]) -> bool:
        # `sqlx migrate add` will not mix simple and reversible files: initjob's own .up.sql chain with a
        # name missing its direction is a typo, not a sqlx chain.
        kinds = {bool(m["dir"]) for name, _ in entries if (m := re.match(NAME, name))}
        return super().fits_all(root, entries) and len(kinds) == 1

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration

        files: dict[tuple[int, str], tuple[str, str, SqlFile, bytes]] = {}
        for name in reading.listing(root):
            m = re.match(NAME, name)
            if not m:
                problems.append(f"migrations/{name}: bad file name; expected {self.expected}")
                continue
            loaded = reading.load(root / name, f"migrations/{name}", problems)
            if loaded is not None:
                files[(int(m["version"]), m["dir"] or "up")] = (m["version"], m["name"], *loaded)
        out: Read = []
        for (version, direction), (vtext, name, f, raw) in sorted(files.items()):
            if direction == "down":
                if (version, "up") not in files:
                    problems.append(f"{f.path}: down file without its up file")
                continue
            down = files.get((version, "down"))
            no_tx = f.text.lstrip().startswith(_NO_TX)
            out.append((Migration(version, vtext, name, f, down[2] if down else None, not no_tx), sqlx_checksum(raw)))
        return out

    def interpret(self, table: str, rows: Sequence[Row]) -> ForeignHistory:
        """A row per version; ``success = false`` is a migration that stopped half-way (sqlx calls it dirty)."""
        versions = []
        broken = []
        for version, checksum, success, description in rows:
            v = self.version(version, table)
            if not success:
                broken.append(f"{table} marks version {version} ({description}) as not successful: sqlx stopped "
                              "in the middle of it and refuses to go on (dirty); finish or undo its changes by hand, "
                              "then delete the row or set success")
            versions.append(ForeignVersion(v.version, version, checksum))
        return ForeignHistory(self.name, table, tuple(versions), None, tuple(broken))

    def create_table(self) -> list[sql.Composed]:
        # As sqlx's PostgreSQL migrator creates it.
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {t} (version bigint PRIMARY KEY, description text NOT NULL, "
            "installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL, "
            "execution_time bigint NOT NULL)").format(t=self.ident)]

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return [sql.SQL("INSERT INTO {t} (version, description, success, checksum, execution_time) "
                        "VALUES ({v}, {d}, true, decode({c}, 'hex'), 0)").format(
            t=self.ident, v=sql.Literal(m.version), d=sql.Literal(m.name.replace("_", " ")),
            c=sql.Literal(tool_sum or ""))]

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        return [sql.SQL("DELETE FROM {t} WHERE version = {v}").format(t=self.ident, v=sql.Literal(m.version))]


LAYOUT = Sqlx()
