"""No secret in any log line, error, status output or termination message, whatever path produced it:
the password reaches initjob through DATABASE_URL, DATABASE_URL_FILE, PGPASSWORD or PGPASSFILE, on
success, on every kind of failure, at DEBUG level, in text format, and in the traceback of a bug.
"""

from __future__ import annotations

import json
import textwrap
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import PASSWORD, Result, Server, base_env, initjob, write_migrations
from helpers_figures import record

pytest_plugins = ["helpers_secrets"]

FILES = {"0001_t.up.sql": "CREATE TABLE t (id int);\n"}
ODD_PASSWORD = "Odd:p@ss/w?rd#%20 'q\"x\\y"


def outputs(result: Result, termination: Path) -> str:
    return result.stdout + result.stderr + (termination.read_text() if termination.exists() else "")


def assert_clean(text: str, *secrets: str) -> None:
    """No secret in ``text``: as it is, percent-encoded (URLs) or escaped (JSON log lines)."""
    for secret in (PASSWORD, *secrets):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
                     json.dumps(secret)[1:-1]}:
            assert form not in text, f"a secret ({form[:3]}...) leaked into:\n{text}"


def port_of(server: Server) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(server.admin_url)["port"])


@pytest.fixture
def termination(tmp_path: Path) -> Path:
    path = tmp_path / "termination-log"
    path.write_text("")
    return path


def test_database_url_file(tmp_path: Path, server: Server, dbname: str, db_url: str, termination: Path) -> None:
    """DATABASE_URL_FILE (a mounted secret) works, and neither run nor status --json shows the password."""
    secret = tmp_path / "url"
    secret.write_text(db_url + "\n")
    secret.chmod(0o600)
    env = {"DATABASE_URL_FILE": str(secret), "USE_MIGRATIONS": "true",
           "INITJOB_SQL_DIR": str(write_migrations(tmp_path, FILES)), "INITJOB_TERMINATION_LOG": str(termination),
           "INITJOB_LOG_LEVEL": "DEBUG"}
    run = initjob("run", env=base_env(**env))
    assert run.code == 0, run.stderr
    status = initjob("status", "--json", env=base_env(**env))
    assert json.loads(status.stdout)["up_to_date"] is True
    assert_clean(outputs(run, termination) + outputs(status, termination))


def test_pgpassfile(tmp_path: Path, server: Server, dbname: str, termination: Path) -> None:
    """A URL without a password and libpq's PGPASSFILE: works; a failure through it shows no password."""
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{port_of(server)}:*:postgres:{PASSWORD}\n")
    passfile.chmod(0o600)
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port_of(server)}/{dbname}", "PGPASSFILE": str(passfile),
           "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(write_migrations(tmp_path, FILES)),
           "INITJOB_TERMINATION_LOG": str(termination)}
    run = initjob("run", env=base_env(**env))
    assert run.code == 0, run.stderr
    missing = initjob("run", env=base_env(**{**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port_of(server)}/nope"}))
    assert missing.code == 4
    assert_clean(outputs(run, termination) + outputs(missing, termination))


def test_libpq_environment(tmp_path: Path, server: Server, dbname: str, termination: Path) -> None:
    """No URL at all, only PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE: works, DEBUG and text logs stay clean."""
    env = {"PGHOST": "127.0.0.1", "PGPORT": port_of(server), "PGUSER": "postgres", "PGPASSWORD": PASSWORD,
           "PGDATABASE": dbname, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(write_migrations(tmp_path, FILES)),
           "INITJOB_TERMINATION_LOG": str(termination), "INITJOB_LOG_LEVEL": "DEBUG"}
    run = initjob("run", env=base_env(**env))
    assert run.code == 0, run.stderr
    text = initjob("status", env=base_env(**{**env, "INITJOB_LOG_FORMAT": "text"}))
    assert text.code == 0
    wrong_db = initjob("run", env=base_env(**{**env, "PGDATABASE": "no_such_db"}))
    assert wrong_db.code == 4
    assert_clean(outputs(run, termination) + text.stdout + text.stderr + outputs(wrong_db, termination))


@pytest.mark.parametrize("url", [
    "postgresql://postgres:{pw}@127.0.0.1:99999/db",
    "postgresql://postgres:{pw}@127.0.0.1:port/db",
    "postgresql://postgres:{pw}@[::1/db",
    "mysql://postgres:{pw}@127.0.0.1/db",
    "postgresql://postgres:{pw}@127.0.0.1:{port}/db?sslmode=sometimes",
    "postgresql://postgres:{pw}@127.0.0.1:{port}/db?bogus_option=1",
    "host=127.0.0.1 port={port} user=postgres password={pw} dbname=no_such_db",
    "host=127.0.0.1 port={port} user=nobody password={pw} dbname=postgres",
], ids=["bad_port", "port_text", "bad_ipv6", "bad_scheme", "bad_sslmode", "unknown_option", "kv_missing_db",
        "kv_missing_role"])
def test_failures_with_the_password_in_the_url(url: str, tmp_path: Path, server: Server, termination: Path,
                                               request: pytest.FixtureRequest) -> None:
    """Malformed and refused URLs that carry the password: exit 2 or 4, the password nowhere."""
    dsn = url.format(pw=PASSWORD, port=port_of(server))
    sql_dir = write_migrations(tmp_path, FILES)
    result = initjob("run", DATABASE_URL=dsn, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                     INITJOB_TERMINATION_LOG=str(termination), INITJOB_LOG_LEVEL="DEBUG", INITJOB_WAIT_TIMEOUT="5")
    assert result.code in (2, 4), result.stderr
    assert termination.read_text().strip(), "the failure reached the termination message"
    assert_clean(outputs(result, termination))
    record(f"secrets.url.{request.node.callspec.id}", exit_code=result.code)


@pytest.fixture
def odd_role(server: Server, dbname: str) -> Iterator[str]:
    """A role whose password holds every character that URLs and conninfo strings treat specially."""
    name = f"odd_{uuid.uuid4().hex[:8]}"
    role = psycopg.sql.Identifier(name)
    with psycopg.connect(server.admin_url, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            role, psycopg.sql.Literal(ODD_PASSWORD)))
    yield name
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        c.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(role))
    with psycopg.connect(server.admin_url, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("DROP ROLE {}").format(role))


def test_password_with_special_characters(tmp_path: Path, server: Server, dbname: str, odd_role: str,
                                          termination: Path) -> None:
    """A percent-encoded password with @ : / ? # % quotes and a backslash: works, and is never shown,
    encoded or not, in success, refusal or status output."""
    url = (f"postgresql://{odd_role}:{urllib.parse.quote(ODD_PASSWORD, safe='')}@127.0.0.1:{port_of(server)}/"
           f"{dbname}")
    env = {"DATABASE_URL": url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(write_migrations(tmp_path, FILES)),
           "INITJOB_TERMINATION_LOG": str(termination), "INITJOB_LOG_LEVEL": "DEBUG"}
    run = initjob("run", env=base_env(**env))
    assert run.code == 0, run.stderr
    status = initjob("status", "--json", env=base_env(**env))
    refused = initjob("run", env=base_env(**{**env, "DATABASE_URL": url.rsplit("/", 1)[0] + "/no_such_db"}))
    assert refused.code == 4
    assert_clean(outputs(run, termination) + status.stdout + status.stderr + outputs(refused, termination),
                 ODD_PASSWORD)


def test_bug_traceback_is_redacted(tmp_path: Path, server: Server, db_url: str, termination: Path) -> None:
    """An unforeseen error (exit 1) whose message and traceback carry the DSN: logged with its
    traceback, and the password scrubbed from the log and from the termination message."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""
        import os
        import initjob.job

        def broken_run(cfg):
            raise RuntimeError("unforeseen failure talking to " + os.environ["DATABASE_URL"]
                               + " password=" + os.environ["LEAK"])

        initjob.job.run = broken_run
    """))
    result = initjob("run", DATABASE_URL=db_url, LEAK=PASSWORD, PYTHONPATH=str(hook), USE_MIGRATIONS="true",
                     INITJOB_SQL_DIR=str(write_migrations(tmp_path, FILES)), INITJOB_TERMINATION_LOG=str(termination))
    assert result.code == 1, result.stderr
    crash = result.event("run.crashed")
    assert "Traceback" in crash["traceback"] and "unforeseen failure" in crash["traceback"]
    assert "***" in crash["reason"]
    assert "bug:" in termination.read_text()
    assert_clean(outputs(result, termination))
    record("secrets.bug_traceback", exit_code=1, redacted=True)
