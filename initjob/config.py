"""Configuration: flags beat environment beat defaults, validated before any connection.

This is the only module that reads the environment (libpq itself reads ``PG*`` variables when
no URL is given).  Every problem is reported at once, as one exit-2 error.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, NoReturn

from initjob import __version__, layouts
from initjob.errors import ConfigError
from initjob.logs import redact, register_secret
from initjob.record import record

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
# Patterns as text: ``re`` compiles and caches each on first use, so a `run` compiles only the one it checks.
_SCHEMA_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
_VERSION = r"^[0-9]+(?:[._][0-9]+)*$"  # digits, or a Flyway version such as 1.2 or 1_2_3

# (flag dest, environment variable, default, help)
_SETTINGS: tuple[tuple[str, str, str | None, str], ...] = (
    ("database_url", "DATABASE_URL", None, "postgresql://user:pass@host:port/db (else DATABASE_URL_FILE, else PG*)"),
    ("database_url_file", "DATABASE_URL_FILE", None, "file holding the database URL (a mounted secret)"),
    ("use_migrations", "USE_MIGRATIONS", "false", "true: migrations mode; false: auto-sync"),
    ("sql_dir", "INITJOB_SQL_DIR", "./sql", "directory holding schema/ and migrations/"),
    ("wait_timeout", "INITJOB_WAIT_TIMEOUT", "60", "seconds to wait for the database"),
    ("lock_timeout", "INITJOB_LOCK_TIMEOUT", "300", "seconds to wait for another runner"),
    ("ddl_lock_timeout", "INITJOB_DDL_LOCK_TIMEOUT", "5", "seconds a statement may wait for a table lock"),
    ("ensure_database", "INITJOB_ENSURE_DATABASE", "false", "create the database if missing"),
    ("backup_dir", "INITJOB_BACKUP_DIR", None, "also pg_dump there before changing anything"),
    ("allow_destructive", "INITJOB_ALLOW_DESTRUCTIVE", "false", "let auto-sync drop or narrow"),
    ("history_schema", "INITJOB_HISTORY_SCHEMA", "initjob", "schema of initjob's own tables"),
    ("migrations_format", "INITJOB_MIGRATIONS_FORMAT", None,
     "layout of sql/migrations/: " + ", ".join(layouts.NAMES) + " (default: detected)"),
    ("keep_tool_table", "INITJOB_KEEP_TOOL_TABLE", "true",
     "in another tool's layout, also record each migration in that tool's history table"),
    ("log_format", "INITJOB_LOG_FORMAT", None, "json or text (default json; text on a terminal)"),
    ("log_level", "INITJOB_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    ("shadow_database_url", "INITJOB_SHADOW_DATABASE_URL", None, "scratch database for auto-sync's desired state"),
    ("release", "INITJOB_RELEASE", None, "release name recorded in backup markers"),
    ("progress_interval", "INITJOB_PROGRESS_INTERVAL", "10", "seconds between progress events of a long statement"),
    ("force_mode_switch", "INITJOB_FORCE_MODE_SWITCH", "false", "allow auto-sync on a migrations-managed database"),
    ("termination_log", "INITJOB_TERMINATION_LOG", "/dev/termination-log", "where a failure's reason is also written"),
    ("phase", "INITJOB_PHASE", "all",
     "all; expand (before the rollout: only what the previous release survives); contract (after it: the rest)"),
)
_SETTINGS += (
    ("contract_wait_for", "INITJOB_CONTRACT_WAIT_FOR", None,
     "contract: first wait until no session whose application_name matches this LIKE pattern is connected"),
    ("contract_wait_timeout", "INITJOB_CONTRACT_WAIT_TIMEOUT", "300",
     "seconds contract waits for those sessions to leave before it refuses (exit 3)"),
)
# The phases of a zero-downtime deploy (docs/zero-downtime.md); "all" is both at once.
PHASES = ("all", "expand", "contract")
# The layouts ``layouts`` reads; "auto" (the variable unset) detects one from the file names.
MIGRATIONS_FORMATS = layouts.NAMES
_BOOLS = {"use_migrations", "ensure_database", "allow_destructive", "force_mode_switch", "keep_tool_table"}


@record
class ConnectionSettings:
    """How to reach the database; the DSNs stay out of ``repr`` so they never land in a log."""

    dsn: str = field(default="", repr=False)
    wait_timeout: float = 60.0
    ensure_database: bool = False
    shadow_dsn: str | None = field(default=None, repr=False)
    writes: bool = True  # the command writes: a read-only server (a standby) is refused, see db.standby
    # Sessions are named initjob/<applied_by>/<release>, so a deploy can be found from outside.
    applied_by: str = "unknown"
    release: str | None = None
    progress_interval: float = 10.0  # seconds between progress events of a long statement

    @property
    def safe_dsn(self) -> str:
        return redact(self.dsn) if self.dsn else "(libpq environment)"


@record
class LockSettings:
    """The migration lock: which one (per history schema) and how long to wait for it."""

    timeout: float = 300.0
    history_schema: str = "initjob"


@record
class ApplySettings:
    """How changes are written: DDL lock timeout, what may be lost, who is recorded."""

    ddl_lock_timeout: float = 5.0
    allow_destructive: bool = False
    history_schema: str = "initjob"
    applied_by: str = "unknown"


@record
class BackupSettings:
    """The backup marker: optional pg_dump directory and the release recorded with it."""

    backup_dir: Path | None = None
    release: str | None = None


@record
class LogSettings:
    format: str = "json"
    level: str = "INFO"
    termination_log: Path = Path("/dev/termination-log")


@record
class ModeSettings:
    """Which mode, where the SQL tree is, and where the job keeps its own tables."""

    use_migrations: bool = False
    sql_dir: Path = Path("./sql")
    history_schema: str = "initjob"
    force_mode_switch: bool = False
    migrations_format: str = "auto"
    keep_tool_table: bool = True  # in another tool's layout, its history table kept in step (docs/switching.md)
    phase: str = "all"  # PHASES: which half of a zero-downtime deploy this run applies
    contract_wait_for: str | None = None  # LIKE pattern of the previous release's application_name
    contract_wait_timeout: float = 300.0

    @property
    def name(self) -> str:
        return "migrations" if self.use_migrations else "auto-sync"


@record
class CommandArgs:
    """The arguments of the command given on the command line."""

    json: bool = False
    steps: int | None = None
    to_version: str | None = None
    version: str | None = None
    name: str | None = None
    against_schema: bool = False
    lint_all: bool = False
    lint_paths: tuple[str, ...] = ()
    fail_on: str = "error"


@record
class Config:
    """Small settings values by concern, built once by the CLI; each function takes only what it uses."""

    command: str = "run"
    connection: ConnectionSettings = ConnectionSettings()
    lock: LockSettings = LockSettings()
    apply: ApplySettings = ApplySettings()
    backup: BackupSettings = BackupSettings()
    log: LogSettings = LogSettings()
    mode: ModeSettings = ModeSettings()
    args: CommandArgs = CommandArgs()
    # DATABASE_URL(_FILE) or a libpq variable naming a server: lint reads the history only then
    database_configured: bool = False


@record
class Argument:
    """One argument of a command: ``add_argument``'s flags and options."""

    flags: tuple[str, ...]
    options: Mapping[str, Any]
    choice: bool = False  # one of the command's required, mutually exclusive arguments


@record
class Command:
    """One command: the parser and the CLI read it from ``COMMAND_TABLE``, the one list of commands."""

    name: str
    help: str
    # "module:function", imported only when the command runs: `run` on every pod start loads no other command
    function: str
    writes: bool = False  # writes to the target database: a read-only server (a standby) is refused
    arguments: tuple[Argument, ...] = ()


def _json(help_text: str) -> Argument:
    return Argument(("--json",), {"action": "store_true", "help": help_text})


COMMAND_TABLE = {c.name: c for c in (
    Command("run", "wait, lock, apply, verify (the default)", "job:run", writes=True),
    Command("verify", "read-only check: exit 0 up to date, 3 not", "commands:verify", arguments=(
        Argument(("--against-schema",), {"action": "store_true", "help": "also check that the migration chain "
                                         "ends at sql/schema/ (uses scratch databases)"}),)),
    Command("status", "mode, applied and pending migrations, drift", "commands:status",
            arguments=(_json("one JSON document on stdout"),)),
    Command("plan", "what run would do, as SQL, changing nothing", "commands:plan_command",
            arguments=(_json("the plan as JSON on stdout"),)),
    Command("rollback", "run .down.sql files in reverse order", "commands:rollback", writes=True, arguments=(
        Argument(("--steps",), {"type": int, "help": "how many applied migrations to undo"}, choice=True),
        Argument(("--to",), {"dest": "to_version", "metavar": "VERSION", "help": "undo every migration after VERSION"},
                 choice=True))),
    Command("baseline", "record migrations up to V as applied", "commands:baseline", writes=True, arguments=(
        Argument(("--version",), {"dest": "version", "required": True, "metavar": "V"}),)),
    Command("new", "create the next migration's up and down files", "commands:new",
            arguments=(Argument(("name",), {}),)),
    Command("diff", "write the next migration from chain vs sql/schema/", "commands:diff",
            arguments=(Argument(("name",), {}),)),
    Command("lint", "check pending migrations for unsafe operations", "commands:lint", arguments=(
        _json("the findings as one JSON document on stdout"),
        Argument(("--all",), {"dest": "lint_all", "action": "store_true",
                              "help": "every migration file, not only the pending ones (no database needed)"}),
        Argument(("--fail-on",), {"dest": "fail_on", "choices": ("error", "warning", "never"), "default": "error",
                                  "help": "exit 3 on findings at or above this level (default error)"}),
        Argument(("paths",), {"nargs": "*", "metavar": "FILE",
                              "help": "lint these SQL files (no database needed)"}))),
)}
COMMANDS = tuple(COMMAND_TABLE)
# The commands that write to the target database; the others only read and may run on a replica.
WRITERS = frozenset(c.name for c in COMMAND_TABLE.values() if c.writes)


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"usage: {message}", "see `initjob --help`")


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    for dest, env, default, help_text in _SETTINGS:
        flag = "--" + dest.replace("_", "-")
        shown = f"[{env}; default {default}]" if default is not None else f"[{env}]"
        if dest in _BOOLS:
            common.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{help_text} {shown}")
        else:
            common.add_argument(flag, dest=dest, default=None, metavar=env, help=f"{help_text} {shown}")
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only`` (a valid command), that command's parser alone.

    Parsing one command never looks at another's parser, and building all nine (argparse looks up
    translations on disk for each) took longer than the rest of a no-op run's configuration.  The
    top-level help and the error for an unknown command come from the full parser (``only=None``).
    """
    common = _common_options()
    parser = _Parser(prog="initjob", description="Make a PostgreSQL schema match the SQL shipped with a release.")
    parser.add_argument("--version", action="version", version=f"initjob {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for c in COMMAND_TABLE.values():
        if only is None or only == c.name:
            _add_command(sub.add_parser(c.name, parents=[common], help=c.help), c)
    return parser


def _add_command(parser: argparse.ArgumentParser, command: Command) -> None:
    choices = parser.add_mutually_exclusive_group(required=True) if any(a.choice for a in command.arguments) else None
    for a in command.arguments:
        (choices if a.choice and choices is not None else parser).add_argument(*a.flags, **a.options)


def parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


# Names a typo of a setting most likely starts with: only these are compared with the known names.
_NEAR_PREFIXES = ("INITJOB", "USE_MIGR", "USEMIGR", "DATABASE", "DATABSE", "DATA_BASE")
_OTHERS = {"INITJOB_PROPERTY_EXAMPLES"}  # read by the test suite, not by initjob


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Variables that look meant for initjob but are none of its settings, each with the setting it
    most resembles (``USE_MIGRATION`` → ``USE_MIGRATIONS``): a typo must not pass silently."""
    known = {env for _, env, _, _ in _SETTINGS}
    suspects = sorted(k for k in environ if k.upper().startswith(_NEAR_PREFIXES) and k not in known | _OTHERS)
    if not suspects:
        return []
    import difflib  # only when something looks off: the no-op path does not pay for it

    found: list[tuple[str, str | None]] = []
    for name in suspects:
        ours = name.upper().startswith("INITJOB")
        # An application's own DATABASE_USER or DATABASE_PORT beside ours is no typo: others need a near match.
        # INITJOB_ names are matched on what follows the prefix: the shared prefix alone made INITJOB_WHATEVER
        # "close" to INITJOB_PHASE.
        bare = {_bare(k): k for k in sorted(known)}
        close = difflib.get_close_matches(_bare(name.upper()), list(bare), n=1, cutoff=0.75 if ours else 0.9)
        if close or ours:
            found.append((name, bare[close[0]] if close else None))
    return found


def _bare(name: str) -> str:
    return name.removeprefix("INITJOB_")


def command_of(argv: Sequence[str]) -> str:
    """The command an argument list asks for, as ``load_config`` reads it: for logging a failure to read it."""
    args = list(argv)
    return args[0] if args and args[0] in COMMANDS else "run"


def load_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    """Parse flags and environment into a Config, or raise one ConfigError listing every problem."""
    args = list(argv)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "run")
    ns = build_parser(args[0] if args[0] in COMMANDS else None).parse_args(args)
    raw: dict[str, str | None] = {}
    for dest, env, default, _ in _SETTINGS:
        flag_value = getattr(ns, dest)
        if isinstance(flag_value, bool):
            flag_value = "true" if flag_value else "false"
        raw[dest] = flag_value if flag_value is not None else environ.get(env, default)
    problems: list[str] = []
    values = _convert(raw, environ, problems)
    _check_command_args(ns, problems)
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems), "fix the values named above")
    return _assemble(ns, values, environ)


def _assemble(ns: argparse.Namespace, v: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """The checked values, split by concern."""
    schema = v["history_schema"]
    by = environ.get("HOSTNAME") or socket.gethostname()
    return Config(
        command=ns.command,
        connection=ConnectionSettings(v["dsn"], v["wait_timeout"], v["ensure_database"], v.get("shadow_dsn"),
                                      ns.command in WRITERS, by, v["release"], v["progress_interval"]),
        lock=LockSettings(v["lock_timeout"], schema),
        apply=ApplySettings(v["ddl_lock_timeout"], v["allow_destructive"], schema, by),
        backup=BackupSettings(v["backup_dir"], v["release"]),
        log=LogSettings(v["log_format"], v["log_level"], v["termination_log"]),
        mode=ModeSettings(v["use_migrations"], v["sql_dir"], schema, v["force_mode_switch"],
                          v["migrations_format"], keep_tool_table=v["keep_tool_table"], phase=v["phase"],
                          contract_wait_for=v["contract_wait_for"], contract_wait_timeout=v["contract_wait_timeout"]),
        args=CommandArgs(
            json=bool(getattr(ns, "json", False)),
            steps=getattr(ns, "steps", None),
            to_version=getattr(ns, "to_version", None),
            version=getattr(ns, "version", None),
            name=getattr(ns, "name", None),
            against_schema=bool(getattr(ns, "against_schema", False)),
            lint_all=bool(getattr(ns, "lint_all", False)),
            lint_paths=tuple(getattr(ns, "paths", None) or ()),
            fail_on=getattr(ns, "fail_on", None) or "error",
        ),
        database_configured=bool(v["dsn"]) or any(
            environ.get(k) for k in ("PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE")),
    )


def _convert(raw: Mapping[str, str | None], environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dest in _BOOLS:
        env = _env_name(dest)
        parsed = parse_bool(raw[dest] or "")
        if parsed is None:
            problems.append(f"{env} must be one of true/false/1/0/yes/no/on/off, got {raw[dest]!r}")
        out[dest] = bool(parsed)
    for dest, minimum in (("wait_timeout", 0.0), ("lock_timeout", 0.0), ("ddl_lock_timeout", 0.001),
                            ("progress_interval", 0.05), ("contract_wait_timeout", 0.0)):
        out[dest] = _number(dest, raw[dest] or "", minimum, problems)
    out["dsn"] = _dsn(raw, environ, problems)
    if raw["shadow_database_url"]:
        out["shadow_dsn"] = _check_dsn("INITJOB_SHADOW_DATABASE_URL", raw["shadow_database_url"], problems)
    sql_dir = raw["sql_dir"] or ""
    if not sql_dir.strip():
        problems.append("INITJOB_SQL_DIR must not be empty")
    out["sql_dir"] = Path(sql_dir)
    out["backup_dir"] = Path(raw["backup_dir"]) if raw["backup_dir"] else None
    schema = raw["history_schema"] or ""
    if not re.match(_SCHEMA_NAME, schema) or schema.startswith("pg_") or schema in ("public", "information_schema"):
        problems.append(
            f"INITJOB_HISTORY_SCHEMA must be a lower-case identifier (a-z, 0-9, _), not public or pg_*, got {schema!r}"
        )
    out["history_schema"] = schema
    fmt = (raw["migrations_format"] or "auto").strip().lower()
    if fmt not in (*MIGRATIONS_FORMATS, "auto"):
        problems.append(f"INITJOB_MIGRATIONS_FORMAT must be one of {', '.join(MIGRATIONS_FORMATS)}, "
                        f"got {raw['migrations_format']!r}")
    out["migrations_format"] = fmt
    phase = (raw["phase"] or "all").strip().lower()
    if phase not in PHASES:
        problems.append(f"INITJOB_PHASE must be one of {', '.join(PHASES)}, got {raw['phase']!r}")
    out["phase"] = phase
    out["contract_wait_for"] = raw["contract_wait_for"] or None
    log_format = raw["log_format"] or ("text" if sys.stderr.isatty() else "json")
    if log_format not in ("json", "text"):
        problems.append(f"INITJOB_LOG_FORMAT must be json or text, got {log_format!r}")
    out["log_format"] = log_format
    level = (raw["log_level"] or "").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"INITJOB_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw['log_level']!r}")
    out["log_level"] = level
    out["release"] = raw["release"] or None
    out["termination_log"] = Path(raw["termination_log"] or "/dev/termination-log")
    return out


def _env_name(dest: str) -> str:
    return next(env for d, env, _, _ in _SETTINGS if d == dest)


def _number(dest: str, text: str, minimum: float, problems: list[str]) -> float:
    env = _env_name(dest)
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{env} must be a number of seconds, got {text!r}")
        return 0.0
    if not value >= minimum or value == float("inf"):
        problems.append(f"{env} must be a finite number of seconds >= {minimum:g}, got {text!r}")
    return value


def _dsn(raw: Mapping[str, str | None], environ: Mapping[str, str], problems: list[str]) -> str:
    register_secret(environ.get("PGPASSWORD"))
    if raw["database_url"]:
        return _check_dsn("DATABASE_URL", raw["database_url"], problems)
    path = raw["database_url_file"]
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"DATABASE_URL_FILE {path!r} cannot be read: {exc.__class__.__name__}")
            return ""
        if not text:
            problems.append(f"DATABASE_URL_FILE {path!r} is empty")
            return ""
        return _check_dsn("DATABASE_URL_FILE", text, problems)
    return ""


def _check_dsn(source: str, dsn: str, problems: list[str]) -> str:
    """Validate a URL or key=value conninfo without connecting; remember its password as a secret."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    dsn = dsn.strip()
    if "://" in dsn:
        scheme = dsn.split("://", 1)[0].lower()
        if scheme not in ("postgresql", "postgres"):
            problems.append(f"{source} must start with postgresql:// or postgres://, got scheme {scheme!r}")
            return dsn
    elif "=" not in dsn:
        problems.append(f"{source} is neither a postgresql:// URL nor a key=value connection string")
        return dsn
    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        problems.append(f"{source} is malformed: {redact(str(exc)).splitlines()[0]}")
        return dsn
    register_secret(str(params.get("password") or ""))
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            problems.append(f"{source} has an invalid port {port!r}: it must be a number from 1 to 65535")
    return dsn


def _check_command_args(ns: argparse.Namespace, problems: list[str]) -> None:
    steps = getattr(ns, "steps", None)
    if steps is not None and steps < 1:
        problems.append(f"--steps must be at least 1, got {steps}")
    for attr, flag in (("to_version", "--to"), ("version", "--version")):
        value = getattr(ns, attr, None)
        if value is not None and not re.match(_VERSION, value):
            problems.append(f"{flag} must be a migration version (digits, or Flyway's 1.2), got {value!r}")
    name = getattr(ns, "name", None)
    if name is not None and not re.match(_NAME, name):
        problems.append(f"NAME must be letters, digits, '_' or '-' (at most 100), got {name!r}")
