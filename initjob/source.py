"""Read ``sql/`` into values: schema files and migrations, normalised, checksummed and validated.

Pure apart from reading files (and one warning event per file with no statement).  Every problem in
the tree is collected and raised at once as a ConfigError (exit 2), so one run shows every bad file.
A file with no statement (empty, or only comments) is legal: a no-op, applied and recorded like any
other, as other projects' runners treat it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from initjob import logs, sqltext
from initjob.errors import ConfigError, NoMigrations, SqlTreeInvalid
from initjob.names import MIGRATION_NAME

MAX_FILE_BYTES = 10 * 1024 * 1024
NO_TRANSACTION = "-- initjob:no-transaction"
CONTRACT = "-- initjob:contract"  # in a migration's header: a post-deploy migration (INITJOB_PHASE=contract)
# The first line of a schema file that means "the desired state is empty on purpose" (docs/modes.md).
EMPTY_ON_PURPOSE = "-- initjob:empty"


@dataclass(frozen=True)
class SqlFile:
    """One file's normalised text (no BOM, LF line ends) and the checksum of that text."""

    path: str
    text: str
    checksum: str


@dataclass(frozen=True)
class Migration:
    version: int
    version_text: str
    name: str
    up: SqlFile
    down: SqlFile | None
    transactional: bool

    @property
    def label(self) -> str:
        return f"{self.version_text}_{self.name}"

    @property
    def contract(self) -> bool:
        """A post-deploy migration: its header (the comment lines before the first statement) holds
        ``-- initjob:contract``; ``expand`` leaves it pending, ``contract`` applies it."""
        return is_contract(self.up.text)


def is_contract(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return False
        if stripped.startswith(CONTRACT):
            return True
    return False


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksums(files: list[SqlFile]) -> dict[str, str]:
    """Path → checksum of schema files, as auto-sync records them."""
    return {f.path: f.checksum for f in files}


def normalise(raw: bytes) -> str:
    """Decode UTF-8, drop a BOM and CRLF line ends: a file re-saved on Windows is the same file."""
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def _read(path: Path, root: Path, problems: list[str]) -> SqlFile | None:
    shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    try:
        resolved = path.resolve(strict=True)
        st = resolved.stat()
    except RuntimeError:  # pathlib's word for a symlink loop
        problems.append(f"{shown}: is a symlink loop")
        return None
    except OSError as exc:
        problems.append(f"{shown}: cannot be read ({exc.__class__.__name__})")
        return None
    if not resolved.is_relative_to(root.resolve()):
        problems.append(f"{shown}: is a link that leaves the SQL directory")
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever, a directory fail it
        problems.append(f"{shown}: is a {_kind(st.st_mode)}, not a regular file")
        return None
    return _load(resolved, shown, st.st_size, problems)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _load(resolved: Path | str, shown: str, size: int, problems: list[str]) -> SqlFile | None:
    if size > MAX_FILE_BYTES:
        problems.append(f"{shown}: is {size} bytes, over the {MAX_FILE_BYTES} byte limit")
        return None
    try:
        with open(resolved, "rb") as f:
            text = normalise(f.read())
    except UnicodeDecodeError as exc:
        problems.append(f"{shown}: is not UTF-8 (byte {exc.start})")
        return None
    if "\\" in text:  # pg_dump's \restrict lines load as comments: the server never sees them
        text = sqltext.without_dump_directives(text)
    return SqlFile(shown, text, checksum(text))


def _check_text(f: SqlFile, transactional: bool, history_schema: str, problems: list[str],
                found: sqltext.Scan | None = None) -> None:
    found = found or sqltext.scan(f.text)
    statements = found.statements
    if not statements and not found.psql_only:
        logs.warning("source.empty_file", path=f.path, hint="a file with no statement is applied as a no-op")
    for line, what in found.psql_only:
        problems.append(f"{f.path}:{line}: {what}; initjob runs plain SQL only (psql runs it, the server does not)")
    own = re.compile(rf'(?<![\w$."])"?{re.escape(history_schema)}"?\s*\.', re.IGNORECASE)
    own_schema = re.compile(rf'\bSCHEMA\s+(IF\s+(NOT\s+)?EXISTS\s+)?"?{re.escape(history_schema)}"?(?![\w$])',
                            re.IGNORECASE)
    for stmt in statements:
        where = f"{f.path}:{stmt.line}"
        if sqltext.transaction_control(stmt):
            problems.append(f"{where}: {stmt.first_words[0]} would break the file's own transaction; remove it")
        elif transactional and sqltext.needs_no_transaction(stmt) and f.path.startswith("schema/"):
            # A schema file's remedy is not no-transaction (refused there): auto-sync itself builds a
            # new index on an existing table CONCURRENTLY.
            problems.append(
                f"{where}: this statement cannot run inside a schema file's transaction; write it without "
                "CONCURRENTLY: auto-sync builds a new index on an existing table CONCURRENTLY itself"
            )
        elif transactional and sqltext.needs_no_transaction(stmt):
            problems.append(
                f"{where}: this statement cannot run inside a transaction; "
                f"make '{NO_TRANSACTION}' the file's first line"
            )
        if own.search(stmt.text) or own_schema.search(stmt.text):
            problems.append(f"{where}: touches initjob's own schema {history_schema!r}")


def check_migration_text(f: SqlFile, transactional: bool, history_schema: str) -> list[str]:
    """The problems of one migration text, for the readers of other tools' layouts (``layouts``)."""
    problems: list[str] = []
    _check_text(f, transactional, history_schema, problems)
    return problems


def read_schema_files(sql_dir: Path, history_schema: str) -> list[SqlFile]:
    """``schema/**/*.sql`` in lexical path order (auto-sync's desired state)."""
    root = sql_dir / "schema"
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", "auto-sync needs sql/schema/*.sql; set INITJOB_SQL_DIR")
    problems: list[str] = []
    files = []
    # Hidden paths are skipped: a ConfigMap mount keeps a second copy of every file under "..<timestamp>/".
    visible = (p for p in root.rglob("*.sql") if not any(part.startswith(".") for part in p.relative_to(root).parts))
    for path in sorted(visible, key=lambda p: p.relative_to(root).as_posix()):
        f = _read(path, sql_dir, problems)
        if f is not None:
            if f.text.lstrip().startswith(NO_TRANSACTION):
                problems.append(f"{f.path}: schema files are applied in one transaction; no-transaction is refused")
            found = sqltext.scan(f.text)  # once: a 10 MB file took seconds per scan
            if found.statements:  # only comments: legal, part of a (maybe empty) desired state
                _check_text(f, True, history_schema, problems, found)
            files.append(f)
    if not files and not problems:
        problems.append(f"{root} holds no .sql file")
    _raise(problems, "schema")
    return files


def undeclared_empty(files: list[SqlFile]) -> bool:
    """No file holds a statement and none starts with ``-- initjob:empty``: an empty ConfigMap mount
    or a truncated file, not a decision to drop everything."""
    if any(f.text.lstrip().startswith(EMPTY_ON_PURPOSE) for f in files):
        return False
    return not any(sqltext.has_statement(f.text) for f in files)


def read_migrations(sql_dir: Path, history_schema: str) -> list[Migration]:
    """``migrations/<version>_<name>.up.sql`` (+ ``.down.sql``), ordered by version as a number."""
    root = sql_dir / "migrations"
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", "migrations mode needs sql/migrations/; set INITJOB_SQL_DIR")
    problems: list[str] = []
    ups: dict[int, tuple[str, str, SqlFile]] = {}
    downs: dict[int, tuple[str, SqlFile]] = {}
    # One directory listing and one resolve for the whole directory: a regular file (not a link) in
    # it resolves to the directory's real path plus its name, which _read would find one lstat per
    # path component at a time, per file (most of a no-op run's cost with hundreds of migrations).
    real_dir = root.resolve(strict=True)
    inside = real_dir.is_relative_to(sql_dir.resolve())
    with os.scandir(root) as listing:
        entries = sorted((e for e in listing if e.name.endswith(".sql")), key=lambda e: e.name)
    for entry in entries:
        m = re.match(MIGRATION_NAME, entry.name)
        if not m:
            problems.append(
                f"migrations/{entry.name}: bad file name; expected <digits>_<name>.up.sql or .down.sql"
            )
            continue
        if inside and entry.is_file(follow_symlinks=False):
            f = _load(os.path.join(real_dir, entry.name), f"migrations/{entry.name}",
                      entry.stat(follow_symlinks=False).st_size, problems)
        else:
            f = _read(root / entry.name, sql_dir, problems)
        if f is None:
            continue
        version = int(m["version"])
        table: dict[int, object] = ups if m["dir"] == "up" else downs  # type: ignore[assignment]
        if version in table:
            other = ups[version][2].path if m["dir"] == "up" else downs[version][1].path
            problems.append(f"{f.path}: duplicate version {version} (also {other})")
            continue
        if m["dir"] == "up":
            ups[version] = (m["version"], m["name"], f)
        else:
            downs[version] = (m["name"], f)
    for version, (_, orphan) in sorted(downs.items()):
        if version not in ups:
            problems.append(f"{orphan.path}: down file without its up file")
    migrations = []
    for version, (vtext, name, up) in sorted(ups.items()):
        transactional = not up.text.lstrip().startswith(NO_TRANSACTION)
        _check_text(up, transactional, history_schema, problems)
        down: SqlFile | None = downs[version][1] if version in downs else None
        if down is not None:
            _check_text(down, not down.text.lstrip().startswith(NO_TRANSACTION), history_schema, problems)
        migrations.append(Migration(version, vtext, name, up, down, transactional))
    if not migrations and not problems:
        raise NoMigrations(f"the SQL tree has 1 problem(s): {root} holds no migration (<version>_<name>.up.sql)",
                           "fix the migrations files named above")
    _raise(problems, "migrations")
    return migrations


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise SqlTreeInvalid(
            f"the SQL tree has {len(problems)} problem(s): " + "; ".join(problems),
            f"fix the {what} files named above",
            problems=problems,
        )
