"""The example in sql/: the auto-sync tree and the migration chain must build the same schema.

Self-contained on purpose: it does not import initjob, only the throwaway-server launcher and
psycopg, and compares the two results with ``pg_dump --schema-only`` of the ``app`` schema.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

# The repository root on sys.path, so `devtools` imports without a conftest or an install.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools import pgserver  # noqa: E402

SQL = ROOT / "sql"
SCHEMA_DIR = SQL / "schema"
MIGRATIONS_DIR = SQL / "migrations"
NO_TRANSACTION = "-- initjob:no-transaction"
MIGRATION_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Path
    down: Path | None


def migrations() -> list[Migration]:
    """The migration chain, ordered numerically by version."""
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    names: dict[int, str] = {}
    for path in MIGRATIONS_DIR.glob("*.sql"):
        m = MIGRATION_NAME.match(path.name)
        assert m, f"bad migration file name: {path.name}"
        target = ups if m["direction"] == "up" else downs
        version = int(m["version"])
        assert version not in target, f"duplicate {m['direction']} version {version}: {path.name}"
        target[version] = path
        assert names.setdefault(version, m["name"]) == m["name"], f"version {version} has two names"
    assert set(downs) <= set(ups), f"down files without an up: {sorted(set(downs) - set(ups))}"
    return [Migration(v, names[v], ups[v], downs.get(v)) for v in sorted(ups)]


def schema_files() -> list[Path]:
    """The desired-state files, in the lexical path order auto-sync applies them in."""
    return sorted(SCHEMA_DIR.glob("*.sql"))


def is_no_transaction(text: str) -> bool:
    return text.split("\n", 1)[0].strip() == NO_TRANSACTION


def sql_code(path: Path) -> str:
    """A file's text without comment lines and function bodies (a plpgsql BEGIN is no transaction)."""
    text = re.sub(r"\$(\w*)\$.*?\$\1\$", "$$", path.read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def run_file(url: str, path: Path) -> None:
    """Run one file as one execute: in a transaction, or bare when its first line opts out."""
    text = path.read_text(encoding="utf-8")
    with psycopg.connect(url, autocommit=True) as conn:
        if is_no_transaction(text):
            conn.execute(text)
        else:
            with conn.transaction():
                conn.execute(text)


def create_database(server: pgserver.PgServer, name: str) -> str:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def dump_app_schema(server: pgserver.PgServer, dbname: str) -> list[str]:
    """``pg_dump --schema-only --schema=app``, without comments, blank lines or restrict keys."""
    env = dict(os.environ, PGPASSWORD=pgserver.PASSWORD)
    out = subprocess.run(
        [
            str(server.bindir / "pg_dump"),
            "--schema-only",
            "--schema=app",
            "--dbname",
            server.url(dbname, password=None),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    # \restrict / \unrestrict (pg_dump 15.14+, 18) carry a random key that differs per run.
    return [
        line
        for line in out.splitlines()
        if line.strip() and not line.startswith("--") and not line.startswith(("\\restrict", "\\unrestrict"))
    ]


def app_schema_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'app'").fetchone() is not None


def assert_same(expected: list[str], actual: list[str], expected_name: str, actual_name: str) -> None:
    if expected != actual:
        diff = "\n".join(difflib.unified_diff(expected, actual, expected_name, actual_name, lineterm="", n=2))
        pytest.fail(f"schemas differ:\n{diff}")


def _bindirs_by_major() -> list[Path]:
    seen: dict[int, Path] = {}
    for bindir in pgserver.available_bindirs():
        seen.setdefault(pgserver.server_major(bindir), bindir)
    return [seen[m] for m in sorted(seen)]


BINDIRS = _bindirs_by_major()
SERVER_PARAMS: list[Path | None] = [*BINDIRS] or [None]


@pytest.fixture(
    scope="module",
    params=SERVER_PARAMS,
    ids=[f"pg{pgserver.server_major(b)}" for b in BINDIRS] or ["no-server"],
)
def server(request: pytest.FixtureRequest) -> Iterator[pgserver.PgServer]:
    """One throwaway server per available PostgreSQL major, shared by this module's tests."""
    if request.param is None:
        pytest.skip("no PostgreSQL server binaries on this machine")
    with pgserver.running_server(request.param) as srv:
        yield srv


# --- the tree itself ------------------------------------------------------------------------


def test_sql_tree_is_well_formed() -> None:
    """Versions are unique, every up has a down, and no file does what the job forbids."""
    chain = migrations()
    assert len(chain) >= 8
    assert all(m.down is not None for m in chain), "every example migration has a down file"
    assert len(schema_files()) >= 3
    for path in [*schema_files(), *MIGRATIONS_DIR.glob("*.sql")]:
        code = sql_code(path)
        assert not re.search(r"^\s*\\", code, re.M), f"{path.name}: psql meta-command"
        assert not re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)\s*;", code, re.M | re.I), (
            f"{path.name}: transaction control belongs to the job"
        )
        assert not re.search(r"\binitjob\b", code, re.I), f"{path.name}: the initjob schema is the job's own"
    for path in schema_files():
        code = sql_code(path)
        assert not re.search(r"^\s*(INSERT|UPDATE|DELETE|COPY)\b", code, re.M | re.I), (
            f"{path.name}: seed data does not belong in the desired-state schema"
        )


def test_concurrent_index_files_hold_one_statement() -> None:
    """Statements sent together run as one implicit transaction, which CONCURRENTLY refuses."""
    flagged = [p for p in MIGRATIONS_DIR.glob("*.sql") if is_no_transaction(p.read_text(encoding="utf-8"))]
    assert flagged, "the example shows the no-transaction directive"
    for path in flagged:
        assert sql_code(path).count(";") == 1, f"{path.name}: exactly one statement outside a transaction"


# --- against a server -----------------------------------------------------------------------


def test_schema_tree_and_migration_chain_build_the_same_schema(server: pgserver.PgServer) -> None:
    """Auto-sync's desired state and the end of the migration chain are the same catalog."""
    via_schema = create_database(server, "via_schema")
    for path in schema_files():
        run_file(via_schema, path)
    via_migrations = create_database(server, "via_migrations")
    for m in migrations():
        run_file(via_migrations, m.up)

    expected = dump_app_schema(server, "via_schema")
    assert "CREATE TABLE app.tenants (" in expected
    assert_same(expected, dump_app_schema(server, "via_migrations"), "sql/schema", "sql/migrations")


def test_each_down_undoes_its_up(server: pgserver.PgServer) -> None:
    """Down k returns the schema to exactly what up k-1 left; the last down removes app."""
    url = create_database(server, "round_trip")
    chain = migrations()
    after: dict[int, list[str]] = {}
    previous: list[str] = []
    for m in chain:
        run_file(url, m.up)
        after[m.version] = dump_app_schema(server, "round_trip")
        assert after[m.version] != previous or m.name.startswith("seed"), f"{m.up.name} changed no schema"
        previous = after[m.version]

    with psycopg.connect(url) as conn:
        builtin = conn.execute("SELECT key FROM app.roles WHERE tenant_id IS NULL ORDER BY key").fetchall()
    assert [k for (k,) in builtin] == ["admin", "billing", "member", "owner", "viewer"]

    for i in range(len(chain) - 1, -1, -1):
        m = chain[i]
        assert m.down is not None
        run_file(url, m.down)
        if i == 0:
            break
        prior = chain[i - 1]
        assert_same(
            after[prior.version],
            dump_app_schema(server, "round_trip"),
            f"after {prior.up.name}",
            f"after {m.down.name}",
        )
    assert not app_schema_exists(url), "the first migration's down leaves no app schema behind"
