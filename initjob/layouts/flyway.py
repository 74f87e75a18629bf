"""Flyway: ``V<version>__<description>.sql``, ``U…`` undo files, ``R__…`` repeatable files;
``flyway_schema_history``, a row per script in installed order, with a CRC32 checksum.

Versions are integers, as initjob orders them.  Flyway's dotted versions (``1.2``, ``1_2_3``) are
mapped to one integer per version that sorts as Flyway sorts (part by part, numerically; ``1.0`` is
``1``): the first part times 10**24, then up to four more parts of six digits each.  Every Flyway
version is mapped so, a plain ``V3`` too, so a dotted version added later cannot reorder the history.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.layouts.base import Layout, Paths, Read, Row
from initjob.state import ForeignHistory, ForeignVersion

if TYPE_CHECKING:
    from initjob.source import Migration

NAME = r"^(?P<prefix>[VU])(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<name>.+)\.sql$"
REPEATABLE = r"^R__(?P<name>.+)\.sql$"
_PART_DIGITS = 6
_MORE_PARTS = 4


def flyway_key(text: str) -> int | None:
    """Flyway's version order as one integer; None when a part is too big or there are too many."""
    parts = [int(p) for p in re.split(r"[._]", text)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # Flyway: 1.0 is 1
    more = parts[1:]
    if len(more) > _MORE_PARTS or any(p >= 10 ** _PART_DIGITS for p in more):
        return None
    more += [0] * (_MORE_PARTS - len(more))
    key = parts[0]
    for p in more:
        key = key * 10 ** _PART_DIGITS + p
    return key


def flyway_checksum(raw: bytes) -> str:
    """Flyway's checksum of a script: CRC32 over its lines without their line ends (a BOM dropped),
    as a signed 32-bit integer, the way ``flyway_schema_history.checksum`` holds it."""
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):  # Java's readLine: only these end a line
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return str(crc - (1 << 32) if crc >= 1 << 31 else crc)


class Flyway(Layout):
    name: ClassVar[str] = "flyway"
    expected: ClassVar[str] = "V<version>__<description>.sql, U…, or R__….sql"
    pattern: ClassVar[str] = NAME
    table: ClassVar[str | None] = "flyway_schema_history"
    query: ClassVar[str] = "SELECT version, description, type, checksum::text, success FROM {t} ORDER BY installed_rank"

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        return not is_dir and bool(re.match(NAME, name) or re.match(REPEATABLE, name))

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        return self.fits(root, name, is_dir)

    def repeatable_paths(self, root: Path) -> Paths:
        with os.scandir(root) as listing:
            return sorted((f"migrations/{e.name}", e.path) for e in listing
                          if re.fullmatch(REPEATABLE, e.name) and e.is_file())

    def version_key(self, text: str) -> int | None:
        text = text.strip()
        return flyway_key(text) if re.fullmatch(r"[0-9]+(?:[._][0-9]+)*", text) else None

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration, SqlFile

        ups: dict[int, tuple[str, str, SqlFile, bytes]] = {}
        downs: dict[int, SqlFile] = {}
        for name in reading.listing(root):
            shown = f"migrations/{name}"
            m = re.match(NAME, name)
            if re.match(REPEATABLE, name):
                continue  # a repeatable file: read with the others
            if not m:
                problems.append(f"{shown}: bad file name; expected {self.expected}")
                continue
            key = flyway_key(m["version"])
            if key is None:
                problems.append(f"{shown}: version {m['version']} has more than {1 + _MORE_PARTS} parts "
                                f"or a part over {_PART_DIGITS} digits")
                continue
            loaded = reading.load(root / name, shown, problems)
            if loaded is None:
                continue
            if m["prefix"] == "U":
                downs[key] = loaded[0]
            elif key in ups:
                problems.append(f"{shown}: duplicate version {m['version']} (also {ups[key][2].path})")
            else:
                ups[key] = (m["version"], m["name"], *loaded)
        for key, orphan in downs.items():
            if key not in ups:
                problems.append(f"{orphan.path}: undo file without its V file")
        return [(Migration(key, vtext, name, up, downs.get(key), reading.is_transactional(up.text)),
                 flyway_checksum(raw)) for key, (vtext, name, up, raw) in ups.items()]

    def interpret(self, table: str, rows: Sequence[Row]) -> ForeignHistory:
        """Rows in installed order: a success applies a version, an undo or a repair's DELETE unapplies it,
        a BASELINE stands for everything up to it, a failure is broken; repeatable rows (no version) are
        left to initjob's repeatable files, which are applied once on the first run."""
        applied: dict[int, ForeignVersion] = {}
        baseline: int | None = None
        broken: list[str] = []
        for version, description, kind, checksum, success in rows:
            if version is None or kind == "SCHEMA":
                continue
            v = self.version(version, table)
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
        return ForeignHistory(self.name, table, tuple(sorted(applied.values(), key=lambda f: f.version)),
                              baseline, tuple(broken))

    def create_table(self) -> list[sql.Composed]:
        # As Flyway 10 creates it on PostgreSQL, with its index on success.
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {t} (installed_rank integer NOT NULL, version varchar(50), "
            "description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL, "
            "checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), "
            "execution_time integer NOT NULL, success boolean NOT NULL, "
            "CONSTRAINT {pk} PRIMARY KEY (installed_rank))").format(
                t=self.ident, pk=sql.Identifier(f"{self.table}_pk")),
            sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (success)").format(
                i=sql.Identifier(f"{self.table}_s_idx"), t=self.ident)]

    def _row(self, m: Migration, kind: str, script: str, checksum: str | None) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {t} (installed_rank, version, description, type, script, checksum, installed_by, "
            "execution_time, success) SELECT coalesce(max(installed_rank), 0) + 1, {v}, {d}, {k}, {s}, {c}, "
            "current_user, 0, true FROM {t}").format(
            t=self.ident, v=sql.Literal(m.version_text), d=sql.Literal(m.name.replace("_", " ")),
            k=sql.Literal(kind), s=sql.Literal(script), c=sql.Literal(int(checksum) if checksum else None))

    def applied(self, m: Migration, tool_sum: str | None) -> list[sql.Composed]:
        return [self._row(m, "SQL", m.up.path.removeprefix("migrations/"), tool_sum)]

    def unapplied(self, m: Migration, previous: Migration | None) -> list[sql.Composed]:
        # Flyway Teams records an undo as an UNDO_SQL row of the same version, naming the U script.
        script = m.down.path.removeprefix("migrations/") if m.down else ""
        return [self._row(m, "UNDO_SQL", script, None)]


LAYOUT = Flyway()
