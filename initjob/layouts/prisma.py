"""Prisma: ``<timestamp>_<name>/migration.sql``; ``_prisma_migrations``, a row per attempt, with the
sha256 of the file and when it finished or was rolled back."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.errors import ForeignHistoryMismatch
from initjob.layouts.base import Layout, Paths, Read, Row
from initjob.state import ForeignHistory, ForeignVersion

if TYPE_CHECKING:
    from initjob.source import Migration

NAME = r"^(?P<version>[0-9]+)_(?P<name>.+)$"
_LOCK = "migration_lock.toml"  # Prisma's provider lock: nothing to run


def folder_paths(root: Path, inner: tuple[str, ...]) -> Paths:
    """The ``inner`` files of each visible sub-folder, as ``folder/file``: what a folder layout reads."""
    found: Paths = []
    with os.scandir(root) as listing:
        for e in listing:
            if e.is_dir() and not e.name.startswith("."):
                found += [(f"{e.name}/{n}", p) for n in inner if os.path.isfile(p := os.path.join(e.path, n))]
    return sorted(found)


class Prisma(Layout):
    name: ClassVar[str] = "prisma"
    expected: ClassVar[str] = "<timestamp>_<name>/migration.sql"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "_prisma_migrations"
    query: ClassVar[str] = ("SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL"
                            " FROM {t} ORDER BY started_at")

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        return name == _LOCK or (is_dir and (root / name / "migration.sql").is_file())

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        return is_dir and (root / name / "migration.sql").is_file()

    def paths(self, root: Path) -> Paths:
        return folder_paths(root, ("migration.sql",))

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration

        return [(Migration(int(m["version"]), m["version"], m["name"], up, None, reading.is_transactional(up.text)),
                 reading.sha256(raw))
                for m, up, raw, _ in reading.folder_chain(root, NAME, "migration.sql", None, self.expected, problems,
                                                          skip=(_LOCK,))]

    def interpret(self, table: str, rows: Sequence[Row]) -> ForeignHistory:
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
        return ForeignHistory(self.name, table, tuple(sorted(applied.values(), key=lambda f: f.version)), None,
                              broken)

    def create_table(self) -> list[sql.Composed]:
        # As prisma migrate creates it.
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {t} (id varchar(36) PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL, "
            "finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, "
            "started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)"
        ).format(t=self.ident)]

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return [sql.SQL(
            "INSERT INTO {t} (id, checksum, finished_at, migration_name, started_at, applied_steps_count) "
            "VALUES (gen_random_uuid()::text, {c}, clock_timestamp(), {n}, now(), 1)").format(
            t=self.ident, c=sql.Literal(tool_sum or ""), n=sql.Literal(f"{m.version_text}_{m.name}"))]


LAYOUT = Prisma()
