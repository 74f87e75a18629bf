"""Reading a layout's files into ``Migration`` values: the chain, the repeatable files, and the
helpers the tools' readers share (pure apart from reading files; off the no-op path).

Each reader keeps the file's line numbers (a section of a dbmate or goose file is the file with the
other lines blanked), so an error names the real line.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from initjob import source, sqltext
from initjob.errors import ConfigError, NoMigrations, SqlTreeInvalid
from initjob.layouts.base import INITJOB, Layout, Read
from initjob.source import Migration, SqlFile


@dataclass(frozen=True)
class Chain:
    """``sql/migrations/`` read in one layout: the migrations, and the checksums that tool records."""

    tool: str
    migrations: tuple[Migration, ...]
    tool_checksums: Mapping[int, str] = field(default_factory=dict)  # Flyway's CRC32, Prisma's sha256, ...


def read_chain(sql_dir: Path, layout: Layout, history_schema: str, others: tuple[Layout, ...] = ()) -> Chain:
    """``sql/migrations/`` in ``layout``, ordered by version; every bad file reported at once (exit 2).

    In initjob's own layout, names that do not fit it but fit ``others`` are one problem naming
    those tools and the setting, instead of one "bad file name" per file.
    """
    try:
        return _read_chain(sql_dir, layout, history_schema)
    except SqlTreeInvalid as exc:
        if not any(": bad file name" in p for p in exc.problems or ()):
            raise
        raise _advice(sql_dir / "migrations", layout, others) or exc from None


def _read_chain(sql_dir: Path, layout: Layout, history_schema: str) -> Chain:
    if layout.name == INITJOB:
        return Chain(INITJOB, tuple(source.read_migrations(sql_dir, history_schema)))
    root = sql_dir / "migrations"
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", "migrations mode needs sql/migrations/; set INITJOB_SQL_DIR")
    problems: list[str] = []
    found: dict[int, Migration] = {}
    sums: dict[int, str] = {}
    for m, tool_sum in layout.read(root, problems):
        if m.version in found:
            problems.append(f"{m.up.path}: duplicate version {m.version_text} (also {found[m.version].up.path})")
            continue
        found_now = source.check_migration_text(m.up, m.transactional, history_schema)
        if m.down is not None and m.down.text.strip():
            found_now += source.check_migration_text(m.down, m.transactional, history_schema)
        if layout.no_tx_hint:
            initjob_hint = f"make '{source.NO_TRANSACTION}' the file's first line"
            found_now = [p.replace(initjob_hint, layout.no_tx_hint) for p in found_now]
        problems += found_now
        found[m.version] = m
        if tool_sum is not None:
            sums[m.version] = tool_sum
    if problems:
        raise SqlTreeInvalid(f"the SQL tree has {len(problems)} problem(s): " + "; ".join(problems),
                             f"fix the files named above ({layout.name} layout; see docs/switching.md)",
                             problems=problems)
    if not found:
        raise NoMigrations(f"{root} holds no migration in the {layout.name} layout",
                           "check INITJOB_MIGRATIONS_FORMAT and the file names (docs/switching.md)")
    return Chain(layout.name, tuple(found[v] for v in sorted(found)), sums)


def _advice(root: Path, layout: Layout, others: tuple[Layout, ...]) -> SqlTreeInvalid | None:
    """One problem when the names are not the layout's but fit other tools' layouts; None when none fits."""
    try:
        with os.scandir(root) as listing:
            entries = [(e.name, e.is_dir()) for e in listing if not e.name.startswith(".")]
    except OSError:
        return None
    fitting = [lay.name for lay in others if lay.fits_all(root, entries)]
    if not fitting:
        return None
    what = f"they fit {fitting[0]}'s layout" if len(fitting) == 1 else f"they fit the layouts of {', '.join(fitting)}"
    hint = (f"set INITJOB_MIGRATIONS_FORMAT={fitting[0]}" if len(fitting) == 1 else
            f"set INITJOB_MIGRATIONS_FORMAT to the tool that wrote them: {' or '.join(fitting)}")
    problem = (f"sql/migrations/: the {len(entries)} name(s) are not {layout.name}'s ({layout.expected}), "
               f"but {what}")
    return SqlTreeInvalid(f"the SQL tree has 1 problem(s): {problem}", hint + " (docs/switching.md)",
                          problems=[problem], fits=fitting)


def read_repeatables(sql_dir: Path, paths: list[tuple[str, str]], history_schema: str) -> tuple[SqlFile, ...]:
    """The repeatable files, checked as transactional migrations are (each runs in its own transaction)."""
    problems: list[str] = []
    files = []
    for shown, full in paths:
        loaded = load(Path(full), shown, problems)
        if loaded is not None:
            problems += source.check_migration_text(loaded[0], True, history_schema)
            files.append(loaded[0])
    if problems:
        raise SqlTreeInvalid(f"the SQL tree has {len(problems)} problem(s): " + "; ".join(problems),
                             "fix the repeatable files named above", problems=problems)
    return tuple(files)


# ------------------------------------------------------------------ shared by the readers


def load(path: Path, shown: str, problems: list[str]) -> tuple[SqlFile, bytes] | None:
    """A file's normalised text and its raw bytes (for the tool's own checksum)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{shown}: cannot be read ({exc.__class__.__name__})")
        return None
    if len(raw) > source.MAX_FILE_BYTES:
        problems.append(f"{shown}: is {len(raw)} bytes, over the {source.MAX_FILE_BYTES} byte limit")
        return None
    try:
        text = source.normalise(raw)
    except UnicodeDecodeError as exc:
        problems.append(f"{shown}: is not UTF-8 (byte {exc.start})")
        return None
    return SqlFile(shown, text, source.checksum(text)), raw


def sql_file(path: str, text: str) -> SqlFile:
    return SqlFile(path, text, source.checksum(text))


def is_transactional(text: str) -> bool:
    """Tools that mark nothing: a file is run in a transaction unless a statement cannot be."""
    if text.lstrip().startswith(source.NO_TRANSACTION):
        return False
    return not any(sqltext.needs_no_transaction(s) for s in sqltext.split_statements(text))


def marked_no_transaction(text: str) -> bool:
    return text.lstrip().startswith(source.NO_TRANSACTION)


def listing(root: Path) -> list[str]:
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if not e.name.startswith("."))


def named(root: Path, pattern: str, expected: str, problems: list[str]) -> Iterator[tuple[re.Match[str], SqlFile]]:
    """Each file of the directory whose name fits the layout, read; the others reported."""
    for name in listing(root):
        m = re.match(pattern, name)
        if not m:
            problems.append(f"migrations/{name}: bad file name; expected {expected}")
            continue
        loaded = load(root / name, f"migrations/{name}", problems)
        if loaded is not None:
            yield m, loaded[0]


def section(lines: list[str], start: int, end: int) -> str:
    """Lines ``start``..``end`` (0-based, exclusive), the lines before them blank: line numbers kept."""
    return "\n" * start + "\n".join(lines[start:end])


def split_sections(f: SqlFile, up: re.Pattern[str], down: re.Pattern[str],
                   problems: list[str]) -> tuple[str, str, int, int] | None:
    """The up and down sections of a one-file migration, and the marker lines (0-based)."""
    lines = f.text.split("\n")
    ups = [i for i, line in enumerate(lines) if up.match(line.strip())]
    downs = [i for i, line in enumerate(lines) if down.match(line.strip())]
    if len(ups) != 1 or len(downs) > 1 or (downs and downs[0] < ups[0]):
        problems.append(f"{f.path}: expected one up marker, then at most one down marker")
        return None
    end = downs[0] if downs else len(lines)
    down_text = section(lines, downs[0] + 1, len(lines)) if downs else ""
    return section(lines, ups[0] + 1, end), down_text, ups[0], downs[0] if downs else -1


def one_file_chain(root: Path, pattern: str, problems: list[str],
                   split: Callable[[SqlFile, list[str]], tuple[str, str, bool] | None]) -> Read:
    """``<version>_<name>.sql`` files with up and down sections (dbmate, goose)."""
    out: Read = []
    for m, f in named(root, pattern, "<version>_<name>.sql", problems):
        parts = split(f, problems)
        if parts is not None:
            up, down, transactional = parts
            out.append((Migration(int(m["version"]), m["version"], m["name"], sql_file(f.path, up),
                                  sql_file(f"{f.path} (down)", down) if down.strip() else None, transactional), None))
    return out


def folder_chain(root: Path, pattern: str, up_name: str, down_name: str | None, expected: str, problems: list[str],
                 skip: tuple[str, ...] = ()) -> list[tuple[re.Match[str], SqlFile, bytes, SqlFile | None]]:
    """``<version>_<name>/`` folders holding an up file (and maybe a down file): Prisma, diesel."""
    out = []
    for name in listing(root):
        if name in skip:
            continue
        m = re.match(pattern, name)
        if not m or not (root / name).is_dir():
            problems.append(f"migrations/{name}: bad file name; expected {expected}")
            continue
        loaded = load(root / name / up_name, f"migrations/{name}/{up_name}", problems)
        down = None
        if down_name is not None and (root / name / down_name).is_file():
            got = load(root / name / down_name, f"migrations/{name}/{down_name}", problems)
            down = got[0] if got is not None else None
        if loaded is not None:
            out.append((m, loaded[0], loaded[1], down))
    return out


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
