"""Configuration parsing: flag beats environment beats default; every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from initjob.config import load_config, parse_bool
from initjob.errors import ConfigError
from initjob.logs import redact


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
    ("false", False), ("0", False), ("no", False), ("OFF", False), ("maybe", None), ("", None), ("2", None),
])
def test_parse_bool(text: str, value: bool | None) -> None:
    """USE_MIGRATIONS and the other switches take true/false/1/0/yes/no/on/off in any case."""
    assert parse_bool(text) is value


def test_defaults() -> None:
    """With nothing set, the documented defaults apply and libpq's environment supplies the server."""
    cfg = load_config([], {})
    assert cfg.command == "run" and not cfg.mode.use_migrations and cfg.mode.name == "auto-sync"
    assert (cfg.connection.wait_timeout, cfg.lock.timeout, cfg.apply.ddl_lock_timeout) == (60, 300, 5)
    assert cfg.mode.sql_dir == Path("./sql") and cfg.mode.history_schema == "initjob" and cfg.connection.dsn == ""
    # Each concern's value is built once, and all that name the history schema agree.
    assert cfg.lock.history_schema == cfg.apply.history_schema == cfg.mode.history_schema


def test_flag_beats_environment() -> None:
    """A flag wins over its environment variable, for values and for switches."""
    env = {"USE_MIGRATIONS": "false", "INITJOB_LOCK_TIMEOUT": "10", "INITJOB_SQL_DIR": "/env"}
    cfg = load_config(["run", "--use-migrations", "--lock-timeout", "20"], env)
    assert cfg.mode.use_migrations and cfg.lock.timeout == 20 and cfg.mode.sql_dir == Path("/env")
    assert not load_config(["run", "--no-use-migrations"], {"USE_MIGRATIONS": "true"}).mode.use_migrations


def test_options_before_the_command_default_to_run() -> None:
    """`initjob --use-migrations` is `initjob run --use-migrations`."""
    assert load_config(["--use-migrations"], {}).command == "run"


def test_every_problem_at_once() -> None:
    """All bad values are named in one error, each with what it accepts."""
    env = {"USE_MIGRATIONS": "maybe", "INITJOB_WAIT_TIMEOUT": "-1", "INITJOB_LOG_FORMAT": "xml",
           "INITJOB_HISTORY_SCHEMA": "Bad Name", "INITJOB_LOG_LEVEL": "loud", "INITJOB_ENSURE_DATABASE": "y"}
    with pytest.raises(ConfigError) as err:
        load_config([], env)
    for name in env:
        assert name in err.value.reason
    assert err.value.exit_code == 2


@pytest.mark.parametrize("url", [
    "mysql://u:secretpw@h/db", "postgresql://u:secretpw@h:99999/db", "postgresql://u:secretpw@h:abc/db",
    "just-a-word",
])
def test_bad_urls_are_config_errors_without_the_password(url: str) -> None:
    """A malformed DATABASE_URL is exit 2 and its password never appears in the message."""
    with pytest.raises(ConfigError) as err:
        load_config([], {"DATABASE_URL": url})
    assert "secretpw" not in err.value.one_line()


def test_database_url_file(tmp_path: Path) -> None:
    """DATABASE_URL_FILE (a mounted secret) is read and trimmed; a missing file is exit 2."""
    secret = tmp_path / "url"
    secret.write_text("postgresql://u:pw-from-file@127.0.0.1:5432/db\n")
    assert load_config([], {"DATABASE_URL_FILE": str(secret)}).connection.dsn.endswith("/db")
    with pytest.raises(ConfigError):
        load_config([], {"DATABASE_URL_FILE": str(tmp_path / "missing")})


def test_dsn_stays_out_of_repr() -> None:
    """The Config's repr (what a debug log would show) holds no DSN."""
    cfg = load_config([], {"DATABASE_URL": "postgresql://u:hunter2hunter2@h/db"})
    assert "hunter2hunter2" not in repr(cfg)


@pytest.mark.parametrize(("text", "hidden"), [
    ("postgresql://user:pa55word@host:5432/db", "pa55word"),
    ("postgres://user:p%40ss@host/db?sslmode=require", "p%40ss"),
    ("host=h password=pa55word dbname=x", "pa55word"),
    ("host=h password='with space' dbname=x", "with space"),
    ("connection to server failed: password=abc123 ", "abc123"),
])
def test_redact(text: str, hidden: str) -> None:
    """Passwords in URLs and key=value strings are hidden wherever they appear."""
    assert hidden not in redact(text)


def test_command_arguments() -> None:
    """rollback needs --steps or --to; versions are digits; names are safe file names."""
    assert load_config(["rollback", "--steps", "2"], {}).args.steps == 2
    assert load_config(["rollback", "--to", "0003"], {}).args.to_version == "0003"
    for argv in (["rollback"], ["rollback", "--steps", "0"], ["rollback", "--to", "abc"],
                 ["baseline", "--version", "x1"], ["new", "bad name"], ["frobnicate"], ["run", "--nope"]):
        with pytest.raises(ConfigError):
            load_config(argv, {})
