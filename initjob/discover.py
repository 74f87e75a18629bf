"""Which layout ``sql/migrations/`` is in, and which files a run hashes: the part of reading other
tools' layouts that the no-op path needs, kept apart from ``layouts`` (the reader and splitter)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from initjob.config import MIGRATIONS_FORMATS
from initjob.errors import ConfigError

INITJOB = "initjob"
AUTO = "auto"
FOREIGN = tuple(f for f in MIGRATIONS_FORMATS if f != INITJOB)

# The layouts' file names, as text: ``re`` compiles (and caches) each when a migrations/ folder is
# first looked at, which an auto-sync run never does.
_FLYWAY = r"^(?P<prefix>[VU])(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<name>.+)\.sql$"
_FLYWAY_REPEATABLE = r"^R__(?P<name>.+)\.sql$"
_GOLANG_MIGRATE = r"^(?P<version>[0-9]+)_(?P<name>.*)\.(?P<dir>up|down)\.sql$"
_ONE_FILE = r"^(?P<version>[0-9]+)_(?P<name>.+)\.sql$"  # dbmate and goose


def detect(sql_dir: Path) -> str:
    """The layout of ``sql/migrations/`` when only one fits; ``initjob`` for its own (and golang-migrate's,
    the same names: set INITJOB_MIGRATIONS_FORMAT=golang-migrate to take over its history)."""
    root = sql_dir / "migrations"
    try:
        with os.scandir(root) as listing:
            entries = [(e.name, e.is_dir()) for e in listing if not e.name.startswith(".")]
    except OSError:
        return INITJOB  # the reader says why
    found: set[str] = set()
    one_file: str | None = None
    for name, is_dir in sorted(entries):
        if is_dir and (root / name / "migration.sql").is_file():
            found.add("prisma")
        elif re.match(_FLYWAY, name) or re.match(_FLYWAY_REPEATABLE, name):
            found.add("flyway")
        elif re.match(_GOLANG_MIGRATE, name):
            found.add(INITJOB)
        elif re.match(_ONE_FILE, name) and one_file is None:
            # The first file's markers name the tool (read once: this runs on every pod start).
            one_file = _one_file_tool(root / name)
            found.add(one_file)
    found.discard("")
    if len(found) > 1:
        raise ConfigError(f"sql/migrations/ mixes layouts ({', '.join(sorted(found))})",
                          "set INITJOB_MIGRATIONS_FORMAT to the tool that wrote them (docs/switching.md)")
    return found.pop() if found else INITJOB


def _one_file_tool(path: Path) -> str:
    try:
        head = path.read_bytes()[:65536].decode("utf-8", "replace")
    except OSError:
        return ""
    if re.search(r"^--\s*migrate:up", head, re.MULTILINE):
        return "dbmate"
    if re.search(r"^--\s*\+goose\s+up", head, re.MULTILINE | re.IGNORECASE):
        return "goose"
    return ""


def resolve(sql_dir: Path, fmt: str) -> str:
    return detect(sql_dir) if fmt == AUTO else fmt


def migration_paths(root: Path) -> list[tuple[str, str]]:
    """Every file of ``sql/migrations/`` any layout reads: its ``.sql`` files and Prisma's ``*/migration.sql``."""
    found: list[tuple[str, str]] = []
    with os.scandir(root) as listing:
        for e in listing:
            if e.name.endswith(".sql"):
                found.append((e.name, e.path))
            elif e.is_dir() and not e.name.startswith(".") and os.path.isfile(inner := os.path.join(e.path,
                                                                                                   "migration.sql")):
                found.append((f"{e.name}/migration.sql", inner))
    return sorted(found)


def repeatable_paths(sql_dir: Path, tool: str) -> list[tuple[str, str]]:
    """``repeatable/*.sql``, and Flyway's ``migrations/R__*.sql``, as (shown path, full path), in lexical order."""
    found: list[tuple[str, str]] = []
    for folder, wanted in (("repeatable", r".*\.sql"), ("migrations", _FLYWAY_REPEATABLE)):
        if folder == "migrations" and tool != "flyway":
            continue
        try:
            with os.scandir(sql_dir / folder) as listing:
                found += [(f"{folder}/{e.name}", e.path) for e in listing
                          if re.fullmatch(wanted, e.name) and not e.name.startswith(".") and e.is_file()]
        except OSError:
            continue  # no such folder: no repeatable file there
    return sorted(found)
