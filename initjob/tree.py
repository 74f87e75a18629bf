"""The SQL tree of the run's mode: found in one directory walk and hashed over its raw bytes.

Hashing is the only per-byte work of a no-op run: the files are parsed (decoded, split, checked)
only when the decision needs them, i.e. when the hash differs from the one a complete run recorded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from initjob.names import MIGRATION_NAME

if TYPE_CHECKING:
    from initjob.source import Migration, SqlFile


@dataclass(frozen=True)
class Tree:
    """A mode's files: their combined hash now, their parsed values on first use."""

    sql_dir: Path
    use_migrations: bool
    history_schema: str
    hash: str

    @cached_property
    def migrations(self) -> tuple[Migration, ...]:
        from initjob import source  # the reader and splitter: only when the tree changed

        return tuple(source.read_migrations(self.sql_dir, self.history_schema)) if self.use_migrations else ()

    @cached_property
    def schema_files(self) -> tuple[SqlFile, ...]:
        from initjob import source  # the reader and splitter: only when the tree changed

        return () if self.use_migrations else tuple(source.read_schema_files(self.sql_dir, self.history_schema))


def scan(sql_dir: Path, use_migrations: bool, history_schema: str) -> Tree:
    return Tree(sql_dir, use_migrations, history_schema, tree_hash(sql_dir, use_migrations))


class _Suspect(Exception):
    """Something the reader would refuse: the tree must be parsed now, before any connection."""


def tree_hash(sql_dir: Path, use_migrations: bool) -> str:
    """sha256 over each file's path, size and bytes, in path order.

    "" when the directory is missing or anything in it would be refused (a link out of the SQL
    directory, a migration file badly named): the caller then parses at once, so a malformed tree
    is exit 2 before any connection, and nothing outside the tree is ever read.
    """
    root = sql_dir / ("migrations" if use_migrations else "schema")
    digest = hashlib.sha256(b"migrations" if use_migrations else b"schema")
    try:
        inside = os.path.realpath(sql_dir)
        paths = _migration_files(root) if use_migrations else _schema_files(root)
        for rel, full in paths:
            linked = os.path.islink(full) or os.path.islink(os.path.dirname(full))
            if linked and os.path.commonpath([inside, os.path.realpath(full)]) != inside:
                raise _Suspect(rel)
            with open(full, "rb") as f:
                data = f.read()
            digest.update(f"\0{rel}\0{len(data)}\0".encode())
            digest.update(data)
    except (OSError, ValueError, _Suspect):
        return ""  # the parse that follows says why
    return digest.hexdigest()


def _migration_files(root: Path) -> list[tuple[str, str]]:
    with os.scandir(root) as listing:
        found = sorted((e.name, e.path) for e in listing if e.name.endswith(".sql"))
    for name, _ in found:
        if not MIGRATION_NAME.match(name):
            raise _Suspect(name)
    return found


def _schema_files(root: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        # Hidden paths are skipped, as source does: a ConfigMap mount keeps a second copy under "..<stamp>/".
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_folder = os.path.relpath(folder, root)
        if os.path.islink(folder) or (folder != str(root) and os.path.islink(os.path.dirname(folder))):
            raise _Suspect(folder)  # a linked directory: let the reader judge where it leads
        for name in files:
            if name.endswith(".sql") and not name.startswith("."):
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                found.append((rel.replace(os.sep, "/"), os.path.join(folder, name)))
    return sorted(found)
