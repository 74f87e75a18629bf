"""Other tools' migration layouts read as they are, into initjob's ``Migration`` values (pure apart from reading files).

``INITJOB_MIGRATIONS_FORMAT`` names the layout of ``sql/migrations/``: ``initjob`` (``source``),
``flyway``, ``golang-migrate``, ``dbmate``, ``goose`` or ``prisma``; unset, it is detected from the
file names when only one layout fits.  Each reader keeps the file's line numbers (a section of a
dbmate or goose file is the file with the other lines blanked), so an error names the real line.

Versions are integers, as initjob orders them.  Flyway's dotted versions (``1.2``, ``1_2_3``) are
mapped to one integer per version that sorts as Flyway sorts (part by part, numerically; ``1.0`` is
``1``): the first part times 10**24, then up to four more parts of six digits each.  Every Flyway
version is mapped so, a plain ``V3`` too, so a dotted version added later cannot reorder the history.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from initjob import discover, source, sqltext
from initjob.discover import INITJOB, repeatable_paths
from initjob.errors import ConfigError, NoMigrations, SqlTreeInvalid
from initjob.source import Migration, SqlFile

# discover keeps the layouts' names as text (compiled on first use, off the no-op path); the reader
# compiles them once here.
_FLYWAY = re.compile(discover._FLYWAY)
_FLYWAY_REPEATABLE = re.compile(discover._FLYWAY_REPEATABLE)
_GOLANG_MIGRATE = re.compile(discover._GOLANG_MIGRATE)
_ONE_FILE = re.compile(discover._ONE_FILE)
_PRISMA_DIR = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.+)$")
_DBMATE_UP = re.compile(r"^--\s*migrate:up\b(?P<options>.*)$")
_DBMATE_DOWN = re.compile(r"^--\s*migrate:down\b(?P<options>.*)$")
_GOOSE_UP = re.compile(r"^--\s*\+goose\s+up\b", re.IGNORECASE)
_GOOSE_DOWN = re.compile(r"^--\s*\+goose\s+down\b", re.IGNORECASE)
_GOOSE_NO_TX = re.compile(r"^--\s*\+goose\s+no\s+transaction\b", re.IGNORECASE | re.MULTILINE)
_GOOSE_ENVSUB = re.compile(r"^--\s*\+goose\s+envsub\s+on\b", re.IGNORECASE | re.MULTILINE)
# golang-migrate runs a file as it is, so its files often wrap themselves in BEGIN; … COMMIT;.
# initjob wraps each file itself: the pair is blanked out (positions kept), never run.
_WRAP_HEAD = re.compile(r"\A(?:\s|--[^\n]*\n)*(?P<stmt>(?:BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*;)",
                        re.IGNORECASE)
_WRAP_TAIL = re.compile(r"(?P<stmt>(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;)(?:\s|--[^\n]*)*\Z", re.IGNORECASE)
# What the tool's own files say where initjob's say "-- initjob:no-transaction".
_NO_TX_HINTS = {"dbmate": "add transaction:false to its '-- migrate:up' line",
                "goose": "add a '-- +goose NO TRANSACTION' line"}
_FLYWAY_PART_DIGITS = 6
_FLYWAY_MORE_PARTS = 4


@dataclass(frozen=True)
class Chain:
    """``sql/migrations/`` read in one layout: the migrations, and the checksums that tool records."""

    tool: str
    migrations: tuple[Migration, ...]
    tool_checksums: Mapping[int, str] = field(default_factory=dict)  # Flyway's CRC32, Prisma's sha256


# ------------------------------------------------------------------ versions and the tools' checksums


def flyway_key(text: str) -> int | None:
    """Flyway's version order as one integer; None when a part is too big or there are too many."""
    parts = [int(p) for p in re.split(r"[._]", text)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # Flyway: 1.0 is 1
    more = parts[1:]
    if len(more) > _FLYWAY_MORE_PARTS or any(p >= 10 ** _FLYWAY_PART_DIGITS for p in more):
        return None
    more += [0] * (_FLYWAY_MORE_PARTS - len(more))
    key = parts[0]
    for p in more:
        key = key * 10 ** _FLYWAY_PART_DIGITS + p
    return key


def version_key(tool: str, text: str) -> int | None:
    """A version as another tool wrote it, as initjob's integer; None when it is not one."""
    text = text.strip()
    if tool == "flyway":
        return flyway_key(text) if re.fullmatch(r"[0-9]+(?:[._][0-9]+)*", text) else None
    return int(text) if text.isdigit() else None


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


def prisma_checksum(raw: bytes) -> str:
    """Prisma records the sha256 of ``migration.sql`` as written, in hex."""
    return hashlib.sha256(raw).hexdigest()


# ------------------------------------------------------------------ which layout


# ------------------------------------------------------------------ reading


def read_chain(sql_dir: Path, tool: str, history_schema: str) -> Chain:
    """``sql/migrations/`` in ``tool``'s layout, ordered by version; every bad file reported at once (exit 2)."""
    if tool == INITJOB:
        return Chain(INITJOB, tuple(source.read_migrations(sql_dir, history_schema)))
    root = sql_dir / "migrations"
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", "migrations mode needs sql/migrations/; set INITJOB_SQL_DIR")
    reader = _READERS[tool]
    problems: list[str] = []
    found: dict[int, Migration] = {}
    sums: dict[int, str] = {}
    for m, tool_sum in reader(root, problems):
        if m.version in found:
            problems.append(f"{m.up.path}: duplicate version {m.version_text} (also {found[m.version].up.path})")
            continue
        found_now = source.check_migration_text(m.up, m.transactional, history_schema)
        if m.down is not None and m.down.text.strip():
            found_now += source.check_migration_text(m.down, m.transactional, history_schema)
        if tool in _NO_TX_HINTS:
            initjob_hint = f"make '{source.NO_TRANSACTION}' the file's first line"
            found_now = [p.replace(initjob_hint, _NO_TX_HINTS[tool]) for p in found_now]
        problems += found_now
        found[m.version] = m
        if tool_sum is not None:
            sums[m.version] = tool_sum
    if problems:
        raise SqlTreeInvalid(f"the SQL tree has {len(problems)} problem(s): " + "; ".join(problems),
                             f"fix the files named above ({tool} layout; see docs/switching.md)", problems=problems)
    if not found:
        raise NoMigrations(f"{root} holds no migration in the {tool} layout",
                           "check INITJOB_MIGRATIONS_FORMAT and the file names (docs/switching.md)")
    return Chain(tool, tuple(found[v] for v in sorted(found)), sums)


Read = list[tuple[Migration, str | None]]


def _load(path: Path, shown: str, problems: list[str]) -> tuple[SqlFile, bytes] | None:
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


def _sql_file(path: str, text: str) -> SqlFile:
    return SqlFile(path, text, source.checksum(text))


def _is_transactional(text: str) -> bool:
    """Flyway and Prisma mark nothing: a file is run in a transaction unless a statement cannot be."""
    if text.lstrip().startswith(source.NO_TRANSACTION):
        return False
    return not any(sqltext.needs_no_transaction(s) for s in sqltext.split_statements(text))


def _listing(root: Path) -> list[str]:
    with os.scandir(root) as listing:
        return sorted(e.name for e in listing if not e.name.startswith("."))


def _read_flyway(root: Path, problems: list[str]) -> Read:
    ups: dict[int, tuple[str, str, SqlFile, bytes]] = {}
    downs: dict[int, SqlFile] = {}
    for name in _listing(root):
        shown = f"migrations/{name}"
        m = _FLYWAY.match(name)
        if _FLYWAY_REPEATABLE.match(name):
            continue  # a repeatable file: read by read_repeatables
        if not m:
            problems.append(f"{shown}: bad file name; expected V<version>__<description>.sql, U…, or R__….sql")
            continue
        key = flyway_key(m["version"])
        if key is None:
            problems.append(f"{shown}: version {m['version']} has more than {1 + _FLYWAY_MORE_PARTS} parts "
                            f"or a part over {_FLYWAY_PART_DIGITS} digits")
            continue
        loaded = _load(root / name, shown, problems)
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
    return [(Migration(key, vtext, name, up, downs.get(key), _is_transactional(up.text)), flyway_checksum(raw))
            for key, (vtext, name, up, raw) in ups.items()]


def _unwrap(text: str) -> str:
    """A golang-migrate file's own BEGIN; … COMMIT; blanked out (same length, same lines)."""
    head, tail = _WRAP_HEAD.match(text), _WRAP_TAIL.search(text)
    if head is None or tail is None or tail.start("stmt") <= head.end("stmt"):
        return text
    for span in (tail.span("stmt"), head.span("stmt")):
        text = text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]
    return text


def _named(root: Path, pattern: re.Pattern[str], expected: str,
           problems: list[str]) -> Iterator[tuple[re.Match[str], SqlFile]]:
    """Each file of the directory whose name fits the layout, read; the others reported."""
    for name in _listing(root):
        m = pattern.match(name)
        if not m:
            problems.append(f"migrations/{name}: bad file name; expected {expected}")
            continue
        loaded = _load(root / name, f"migrations/{name}", problems)
        if loaded is not None:
            yield m, loaded[0]


def _read_golang_migrate(root: Path, problems: list[str]) -> Read:
    files: dict[tuple[int, str], tuple[str, str, SqlFile]] = {}
    for m, f in _named(root, _GOLANG_MIGRATE, "<version>_<title>.up.sql or .down.sql", problems):
        files[(int(m["version"]), m["dir"])] = (m["version"], m["name"], _sql_file(f.path, _unwrap(f.text)))
    out: Read = []
    for (version, direction), (vtext, name, f) in sorted(files.items()):
        if direction == "down":
            if (version, "up") not in files:
                problems.append(f"{f.path}: down file without its up file")
            continue
        down = files.get((version, "down"))
        out.append((Migration(version, vtext, name or vtext, f, down[2] if down else None,
                              not f.text.lstrip().startswith(source.NO_TRANSACTION)), None))
    return out


def _section(lines: list[str], start: int, end: int) -> str:
    """Lines ``start``..``end`` (0-based, exclusive), the lines before them blank: line numbers kept."""
    return "\n" * start + "\n".join(lines[start:end])


def _split_sections(f: SqlFile, up: re.Pattern[str], down: re.Pattern[str],
                    problems: list[str]) -> tuple[str, str, int, int] | None:
    """The up and down sections of a one-file migration, and the marker lines (0-based)."""
    lines = f.text.split("\n")
    ups = [i for i, line in enumerate(lines) if up.match(line.strip())]
    downs = [i for i, line in enumerate(lines) if down.match(line.strip())]
    if len(ups) != 1 or len(downs) > 1 or (downs and downs[0] < ups[0]):
        problems.append(f"{f.path}: expected one up marker, then at most one down marker")
        return None
    end = downs[0] if downs else len(lines)
    down_text = _section(lines, downs[0] + 1, len(lines)) if downs else ""
    return _section(lines, ups[0] + 1, end), down_text, ups[0], downs[0] if downs else -1


def _one_file_chain(root: Path, problems: list[str],
                    split: Callable[[SqlFile, list[str]], tuple[str, str, bool] | None]) -> Read:
    out: Read = []
    for m, f in _named(root, _ONE_FILE, "<version>_<name>.sql", problems):
        parts = split(f, problems)
        if parts is not None:
            up, down, transactional = parts
            path = f.path
            out.append((Migration(int(m["version"]), m["version"], m["name"], _sql_file(path, up),
                                  _sql_file(f"{path} (down)", down) if down.strip() else None, transactional), None))
    return out


def _dbmate(f: SqlFile, problems: list[str]) -> tuple[str, str, bool] | None:
    got = _split_sections(f, _DBMATE_UP, _DBMATE_DOWN, problems)
    if got is None:
        return None
    up, down, at, _ = got
    options = _DBMATE_UP.match(f.text.split("\n")[at].strip())
    transactional = not (options and re.search(r"\btransaction:false\b", options["options"]))
    return up, down, transactional


def _goose(f: SqlFile, problems: list[str]) -> tuple[str, str, bool] | None:
    if _GOOSE_ENVSUB.search(f.text):
        problems.append(f"{f.path}: '-- +goose ENVSUB ON' substitutes environment variables; initjob runs the "
                        "file as written: write the values in")
        return None
    got = _split_sections(f, _GOOSE_UP, _GOOSE_DOWN, problems)
    if got is None:
        return None
    # StatementBegin/End are comments to PostgreSQL: initjob's splitter already keeps a dollar-quoted body whole.
    return got[0], got[1], not _GOOSE_NO_TX.search(f.text)


def _read_dbmate(root: Path, problems: list[str]) -> Read:
    return _one_file_chain(root, problems, _dbmate)


def _read_goose(root: Path, problems: list[str]) -> Read:
    go = [n for n in _listing(root) if n.endswith(".go")]
    if go:
        problems += [f"migrations/{n}: a Go migration; initjob runs SQL files only" for n in go]
        return []
    return _one_file_chain(root, problems, _goose)


def _read_prisma(root: Path, problems: list[str]) -> Read:
    out: Read = []
    for name in _listing(root):
        if name == "migration_lock.toml":
            continue  # Prisma's provider lock: nothing to run
        m = _PRISMA_DIR.match(name)
        if not m or not (root / name).is_dir():
            problems.append(f"migrations/{name}: expected <timestamp>_<name>/migration.sql")
            continue
        loaded = _load(root / name / "migration.sql", f"migrations/{name}/migration.sql", problems)
        if loaded is not None:
            up, raw = loaded
            out.append((Migration(int(m["version"]), m["version"], m["name"], up, None,
                                  _is_transactional(up.text)), prisma_checksum(raw)))
    return out


_READERS: dict[str, Callable[[Path, list[str]], Read]] = {
    "flyway": _read_flyway, "golang-migrate": _read_golang_migrate, "dbmate": _read_dbmate,
    "goose": _read_goose, "prisma": _read_prisma,
}


# ------------------------------------------------------------------ the files a tree hash covers, repeatable files


def read_repeatables(sql_dir: Path, tool: str, history_schema: str) -> tuple[SqlFile, ...]:
    """The repeatable files, checked as transactional migrations are (each runs in its own transaction)."""
    problems: list[str] = []
    files = []
    for shown, full in repeatable_paths(sql_dir, tool):
        loaded = _load(Path(full), shown, problems)
        if loaded is not None:
            problems += source.check_migration_text(loaded[0], True, history_schema)
            files.append(loaded[0])
    if problems:
        raise SqlTreeInvalid(f"the SQL tree has {len(problems)} problem(s): " + "; ".join(problems),
                             "fix the repeatable files named above", problems=problems)
    return tuple(files)
