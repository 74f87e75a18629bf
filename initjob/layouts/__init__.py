"""Migration layouts: one ``Layout`` per tool (``base``), one module per tool, listed here.

``INITJOB_MIGRATIONS_FORMAT`` names the layout of ``sql/migrations/``; unset, it is detected from
the entries when only one tool's marks are found.  Config, discovery, the no-op's hash, the reader
(``reading``, off the no-op path), the takeover (``db.adopt``) and the tool's table kept in step
(``migrate``) all go through ``get(name)``.  Adding a tool: a module with a ``Layout`` subclass, its
name in ``_MODULES``, its tests.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path

from initjob.errors import ConfigError
from initjob.layouts.base import AUTO, INITJOB, Layout, Paths

__all__ = ["AUTO", "INITJOB", "NAMES", "Layout", "detect", "get", "layouts", "resolve"]

# Each tool's name and its module: a module is imported when its layout is first asked for, so an
# auto-sync run (and a run whose format is set) loads none or one of them.
_MODULES = {"initjob": "own", "flyway": "flyway", "golang-migrate": "golang_migrate", "dbmate": "dbmate",
            "goose": "goose", "prisma": "prisma", "diesel": "diesel", "sqlx": "sqlx", "sqitch": "sqitch"}
NAMES = tuple(_MODULES)


@functools.cache
def get(name: str) -> Layout:
    layout: Layout = importlib.import_module(f"initjob.layouts.{_MODULES[name]}").LAYOUT
    return layout


def layouts() -> tuple[Layout, ...]:
    return tuple(get(name) for name in NAMES)


def others(name: str) -> tuple[Layout, ...]:
    """Every layout but ``name``: the ones advice may point to."""
    return tuple(lay for lay in layouts() if lay.name != name)


def detect(sql_dir: Path) -> str:
    """The layout of ``sql/migrations/`` when one tool's marks are found; ``initjob`` otherwise (its
    names are golang-migrate's and sqlx's too: only the setting takes over their history)."""
    root = sql_dir / "migrations"
    try:
        with os.scandir(root) as listing:
            entries = sorted((e.name, e.is_dir()) for e in listing if not e.name.startswith("."))
    except OSError:
        return INITJOB  # the reader says why
    found: set[str] = set()
    marked = [lay for lay in layouts() if not lay.needs_setting and lay.name != INITJOB]
    one_file_seen = False
    for name, is_dir in entries:
        if re.match(get("golang-migrate").pattern, name):
            found.add(INITJOB)
            continue
        if not is_dir and re.match(get("dbmate").pattern, name):
            if one_file_seen:
                continue  # the first one-file migration's markers name the tool (read once: every pod start)
            one_file_seen = True
        found.update(lay.name for lay in marked if lay.claims(root, name, is_dir))
    if len(found) > 1:
        raise ConfigError(f"sql/migrations/ mixes layouts ({', '.join(sorted(found))})",
                          "set INITJOB_MIGRATIONS_FORMAT to the tool that wrote them (docs/switching.md)")
    return found.pop() if found else INITJOB


def resolve(sql_dir: Path, fmt: str) -> str:
    return detect(sql_dir) if fmt == AUTO else fmt


def migration_paths(root: Path, tool: str) -> Paths:
    """The files of ``sql/migrations/`` the layout reads, subfolders included."""
    return get(tool).paths(root)
