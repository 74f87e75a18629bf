"""Which layout ``sql/migrations/`` is in, and which files a run hashes: the part of the layouts the
no-op path needs (``initjob.layouts`` and its tool modules stay light: the reader is ``layouts.reading``)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from initjob import layouts
from initjob.layouts import AUTO, INITJOB, detect, resolve

__all__ = ["AUTO", "INITJOB", "detect", "migration_paths", "repeatable_paths", "resolve"]


def migration_paths(root: Path, tool: str = INITJOB) -> list[tuple[str, str]]:
    """Every file of ``sql/migrations/`` the layout reads, subfolders included, as (shown path, full path)."""
    return layouts.get(tool).paths(root)


def repeatable_paths(sql_dir: Path, tool: str) -> list[tuple[str, str]]:
    """``repeatable/*.sql``, and the layout's own repeatable files (Flyway's ``migrations/R__*.sql``), as
    (shown path, full path), in lexical order."""
    found: list[tuple[str, str]] = []
    with contextlib.suppress(OSError), os.scandir(sql_dir / "repeatable") as listing:  # no such folder: none there
        found += [(f"repeatable/{e.name}", e.path) for e in listing
                  if e.name.endswith(".sql") and not e.name.startswith(".") and e.is_file()]
    with contextlib.suppress(OSError):
        found += layouts.get(tool).repeatable_paths(sql_dir / "migrations")
    return sorted(found)
