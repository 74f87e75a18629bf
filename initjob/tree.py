"""The SQL tree of the run's mode: found in one directory walk and hashed over its raw bytes.

Hashing is the only per-byte work of a no-op run: the files are parsed (decoded, split, checked)
only when the decision needs them, i.e. when the hash differs from the one a complete run recorded.
A tree the reader would refuse outright (a link out of the SQL directory, a badly named initjob
migration) hashes to "": the caller parses it at once, so it is exit 2 before any connection.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from initjob import discover, layouts
from initjob.names import MIGRATION_NAME
from initjob.record import record

if TYPE_CHECKING:  # the reader and splitter stay off the no-op path
    from initjob.layouts.reading import Chain
    from initjob.source import Migration, SqlFile


@record
class Tree:
    """A mode's files: their combined hash now, their parsed values on first use."""

    sql_dir: Path
    use_migrations: bool
    history_schema: str
    hash: str
    tool: str = discover.INITJOB  # the layout of migrations/ (resolved: never "auto")
    repeatable_hash: str = ""    # of the repeatable files, apart: "" when there are none

    @cached_property
    def chain(self) -> Chain:
        from initjob.layouts import reading  # the reader: only when the tree changed

        if not self.use_migrations:
            return reading.Chain(self.tool, ())
        return reading.read_chain(self.sql_dir, layouts.get(self.tool), self.history_schema,
                                  layouts.others(self.tool))

    @property
    def migrations(self) -> tuple[Migration, ...]:
        return self.chain.migrations

    @cached_property
    def repeatables(self) -> tuple[SqlFile, ...]:
        from initjob.layouts import reading  # the reader: only when a repeatable file changed

        return reading.read_repeatables(self.sql_dir, discover.repeatable_paths(self.sql_dir, self.tool),
                                        self.history_schema)

    @cached_property
    def schema_files(self) -> tuple[SqlFile, ...]:
        from initjob import source  # the reader and splitter: only when the tree changed

        return () if self.use_migrations else tuple(source.read_schema_files(self.sql_dir, self.history_schema))


def scan(sql_dir: Path, use_migrations: bool, history_schema: str, fmt: str = discover.INITJOB) -> Tree:
    tool = discover.resolve(sql_dir, fmt) if use_migrations else discover.INITJOB
    repeatable = discover.repeatable_paths(sql_dir, tool)
    return Tree(sql_dir, use_migrations, history_schema, tree_hash(sql_dir, use_migrations, tool), tool,
                _hash(sql_dir, b"repeatable", repeatable) if repeatable else "")


class _Suspect(Exception):
    """Something the reader would refuse: the tree must be parsed now, before any connection."""


def tree_hash(sql_dir: Path, use_migrations: bool, tool: str = discover.INITJOB) -> str:
    """sha256 over each file's path, size and bytes, in path order; "" when the directory is missing
    or holds something the reader would refuse.

    Another tool's layout is part of the hash (the same files read another way are another tree);
    initjob's own is not, so a database recorded before layouts existed still matches.
    """
    root = sql_dir / ("migrations" if use_migrations else "schema")
    seed = b"migrations" if use_migrations else b"schema"
    if not root.is_dir():
        return ""  # missing (os.walk would say nothing): the reader names it, before any connection
    try:
        paths = discover.migration_paths(root, tool) if use_migrations else _schema_files(root)
        if use_migrations and tool == discover.INITJOB:
            named = re.compile(MIGRATION_NAME).match  # compiled here, not at import: auto-sync never needs it
            if any(not named(rel) for rel, _ in paths):
                return ""
    except (OSError, _Suspect):
        return ""  # the parse that follows says why
    return _hash(sql_dir, seed if tool == discover.INITJOB else seed + b":" + tool.encode(), paths)


def _hash(sql_dir: Path, seed: bytes, paths: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256(seed)
    inside = os.path.realpath(sql_dir)
    try:
        for rel, full in paths:
            linked = os.path.islink(full) or os.path.islink(os.path.dirname(full))
            if linked and os.path.commonpath([inside, os.path.realpath(full)]) != inside:
                return ""  # a link out of the SQL directory: never read what it points at
            if not stat.S_ISREG(os.stat(full).st_mode):
                return ""  # a FIFO would block the open forever: the reader names it (exit 2)
            with open(full, "rb") as f:
                data = f.read()
            digest.update(f"\0{rel}\0{len(data)}\0".encode())
            digest.update(data)
    except (OSError, ValueError):
        return ""  # unreadable: the parse that follows says why
    return digest.hexdigest()


def _schema_files(root: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        # Hidden paths are skipped, as source does: a ConfigMap mount keeps a second copy under "..<stamp>/".
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if os.path.islink(folder) or (folder != str(root) and os.path.islink(os.path.dirname(folder))):
            raise _Suspect(folder)  # a linked directory: let the reader judge where it leads
        rel_folder = os.path.relpath(folder, root)
        for name in files:
            if name.endswith(".sql") and not name.startswith("."):
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                found.append((rel.replace(os.sep, "/"), os.path.join(folder, name)))
    return sorted(found)
