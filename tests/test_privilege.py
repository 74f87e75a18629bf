"""Least privilege: the job runs as a role that is no superuser and owns only what it creates.

The role gets CONNECT and CREATE on its database (it creates its own schemas, the application's and
initjob's): migrations, verify, status, rollback and a pg_dump backup all work; the restore point is
skipped with a warning until EXECUTE on pg_create_restore_point is granted.  Auto-sync on an existing
database needs a scratch database: CREATEDB, or INITJOB_SHADOW_DATABASE_URL.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import PASSWORD, Result, Server, base_env, initjob, write_migrations, write_schema
from helpers_figures import record
from psycopg import sql

MIGRATIONS = {
    "0001_app.up.sql": "CREATE SCHEMA app;\n"
                       "CREATE TABLE app.accounts (id bigint PRIMARY KEY, email text NOT NULL);\n",
    "0001_app.down.sql": "DROP SCHEMA app CASCADE;\n",
    "0002_index.up.sql": "-- initjob:no-transaction\n"
                         "CREATE INDEX CONCURRENTLY accounts_email_idx ON app.accounts (email);\n",
    "0002_index.down.sql": "DROP INDEX app.accounts_email_idx;\n",
}


@dataclass
class Role:
    name: str
    dbname: str
    server: Server

    def url(self, dbname: str | None = None) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.server.admin_url)
        return f"postgresql://{self.name}:{PASSWORD}@127.0.0.1:{info['port']}/{dbname or self.dbname}"

    def admin(self, sql_text: sql.Composed, dbname: str | None = None) -> None:
        with psycopg.connect(self.server.url(dbname or "postgres"), autocommit=True) as c:
            c.execute(sql_text)


@pytest.fixture
def role(server: Server) -> Iterator[Role]:
    """A LOGIN role, no superuser, no CREATEDB, with CONNECT and CREATE on a database owned by someone else."""
    name = f"migrator_{uuid.uuid4().hex[:8]}"
    dbname = server.create_db()
    r = Role(name, dbname, server)
    ident = sql.Identifier(name)
    r.admin(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
        ident, sql.Literal(PASSWORD)))
    r.admin(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident))
    try:
        yield r
    finally:
        server.drop_db(dbname)
        with psycopg.connect(server.admin_url, autocommit=True) as c:
            for db in c.execute("SELECT datname FROM pg_database WHERE datdba = %s::regrole", (name,)).fetchall():
                server.drop_db(db[0])
            c.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            c.execute(sql.SQL("DROP ROLE {}").format(ident))


def run_as(role: Role, *args: str, sql_dir: Path, **env: str) -> Result:
    return initjob(*args, env=base_env(DATABASE_URL=role.url(), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                                       **env))


def test_migrations_as_a_least_privileged_role(tmp_path: Path, role: Role) -> None:
    """Everything works without superuser; the restore point is skipped with a warning, the marker
    still has its LSN, and the optional pg_dump backup is taken."""
    sql_dir = write_migrations(tmp_path, MIGRATIONS)
    backup = tmp_path / "backup"
    env = {"INITJOB_BACKUP_DIR": str(backup)} if shutil.which("pg_dump") else {}
    result = run_as(role, "run", sql_dir=sql_dir, **env)
    assert result.code == 0, result.stderr
    warning = result.event("marker.no_restore_point")
    assert "pg_create_restore_point" in warning["hint"]
    marker = result.event("marker.taken")
    assert marker["lsn"] and marker["restore_point"] is None
    if env:
        assert marker["dump_path"] and Path(marker["dump_path"]).stat().st_size > 0
    assert run_as(role, "verify", sql_dir=sql_dir).code == 0
    status = json.loads(run_as(role, "status", "--json", sql_dir=sql_dir).stdout)
    assert status["up_to_date"] is True and status["last_marker"]["restore_point"] is None
    back = run_as(role, "rollback", "--steps", "2", sql_dir=sql_dir)
    assert back.code == 0, back.stderr
    assert run_as(role, "run", sql_dir=sql_dir).code == 0
    with psycopg.connect(role.url()) as c:
        owner = c.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'initjob'").fetchone()
        superuser = c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    assert owner == (role.name,) and superuser == (False,)
    record("privilege.no_superuser", exit_code=0, restore_point="skipped with warning", lsn=marker["lsn"] is not None,
           pg_dump=bool(env), rollback_exit=0)


def test_restore_point_with_its_grant(tmp_path: Path, role: Role) -> None:
    """GRANT EXECUTE ON FUNCTION pg_create_restore_point(text), run in the application's database (a
    function's grants live in each database): the restore point is taken, no warning."""
    role.admin(sql.SQL("GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO {}").format(
        sql.Identifier(role.name)), dbname=role.dbname)
    result = run_as(role, "run", sql_dir=write_migrations(tmp_path, MIGRATIONS))
    assert result.code == 0, result.stderr
    assert "marker.no_restore_point" not in result.names(), result.stderr
    assert result.event("marker.taken")["restore_point"].startswith("initjob-")
    record("privilege.restore_point_granted", exit_code=0, restore_point="taken")


def test_auto_sync_needs_a_scratch_database(tmp_path: Path, role: Role, server: Server) -> None:
    """Auto-sync as the role: a fresh database works; a change to an existing one needs a scratch
    database: without CREATEDB exit 2 saying so, with INITJOB_SHADOW_DATABASE_URL it works."""
    v1 = write_schema(tmp_path / "v1", {"01.sql": "CREATE SCHEMA app;\n"
                                                  "CREATE TABLE app.accounts (id bigint PRIMARY KEY);\n"})
    v2 = write_schema(tmp_path / "v2", {"01.sql": "CREATE SCHEMA app;\n"
                                                  "CREATE TABLE app.accounts (id bigint PRIMARY KEY, note text);\n"})
    env = {"DATABASE_URL": role.url(), "USE_MIGRATIONS": "false"}
    first = initjob("run", env=base_env(INITJOB_SQL_DIR=str(v1), **env))
    assert first.code == 0, first.stderr
    refused = initjob("run", env=base_env(INITJOB_SQL_DIR=str(v2), **env))
    assert refused.code == 2, refused.stderr
    assert "CREATEDB" in refused.failure["reason"] and "INITJOB_SHADOW_DATABASE_URL" in refused.failure["reason"]
    scratch = server.create_db()
    try:
        role.admin(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(sql.Identifier(scratch),
                                                                               sql.Identifier(role.name)))
        synced = initjob("run", env=base_env(INITJOB_SQL_DIR=str(v2), INITJOB_SHADOW_DATABASE_URL=role.url(scratch),
                                                    **env))
        assert synced.code == 0, synced.stderr
    finally:
        server.drop_db(scratch)
    record("privilege.auto_sync_shadow", without_createdb_exit=2, with_shadow_url_exit=0)


def test_ensure_database_without_createdb(tmp_path: Path, role: Role) -> None:
    """INITJOB_ENSURE_DATABASE for a role without CREATEDB: exit 4 at once, saying to grant it or create
    the database."""
    missing = f"t_missing_{uuid.uuid4().hex[:8]}"
    result = initjob("run", DATABASE_URL=role.url(missing), USE_MIGRATIONS="true", INITJOB_ENSURE_DATABASE="true",
                     INITJOB_SQL_DIR=str(write_migrations(tmp_path, MIGRATIONS)))
    assert result.code == 4, result.stderr
    assert "CREATEDB" in result.failure["reason"]
    record("privilege.ensure_database_without_createdb", exit_code=4)


def _user_schemas(role: Role) -> list[str]:
    with psycopg.connect(role.server.url(role.dbname)) as c:
        return [r[0] for r in c.execute("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_'"
                                        " AND nspname NOT IN ('public', 'information_schema') ORDER BY 1")]


def test_connect_only_is_a_named_privilege_condition(tmp_path: Path, role: Role) -> None:
    """A role with only CONNECT (PostgreSQL 15's default for a non-owner): exit 2 naming the grant, no traceback."""
    role.admin(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(sql.Identifier(role.dbname),
                                                                      sql.Identifier(role.name)))
    result = run_as(role, "run", sql_dir=write_migrations(tmp_path, MIGRATIONS))
    assert result.code == 2, result.stderr
    assert result.failure["kind"] == "privilege_missing"
    assert f"GRANT CREATE ON DATABASE {role.dbname} TO {role.name}" in result.failure["reason"]
    assert "Traceback" not in result.stderr
    assert _user_schemas(role) == []
    record("privilege.connect_only", exit_code=2)


def test_own_schema_of_another_role_is_a_named_privilege_condition(tmp_path: Path, role: Role) -> None:
    """First deployed by the admin, then run as a least-privileged role: run and verify exit 2 saying how
    to hand the schema over; after REASSIGN OWNED they exit 0."""
    sql_dir = write_migrations(tmp_path, MIGRATIONS)
    admin_url = role.server.uri(role.dbname)
    assert initjob("run", env=base_env(DATABASE_URL=admin_url, USE_MIGRATIONS="true",
                                       INITJOB_SQL_DIR=str(sql_dir))).code == 0
    for command in ("run", "verify"):
        result = run_as(role, command, sql_dir=sql_dir)
        assert result.code == 2, result.stderr
        assert result.failure["kind"] == "privilege_missing"
        assert "belongs to role postgres" in result.failure["reason"]
        assert "Traceback" not in result.stderr
    role.admin(sql.SQL("ALTER SCHEMA initjob OWNER TO {}").format(sql.Identifier(role.name)), dbname=role.dbname)
    with psycopg.connect(role.server.url(role.dbname), autocommit=True) as c:
        for (table,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'initjob'").fetchall():
            c.execute(sql.SQL("ALTER TABLE initjob.{} OWNER TO {}").format(sql.Identifier(table),
                                                                          sql.Identifier(role.name)))
    assert run_as(role, "verify", sql_dir=sql_dir).code == 0
    record("privilege.own_schema_of_another_role", exit_code=2)


def test_missing_create_on_public_names_the_grant(tmp_path: Path, role: Role) -> None:
    """A file creating a table in public without CREATE on it (PostgreSQL 15+): exit 5 with the grant in
    the reason's hint, not "fix the file"; nothing of it applied."""
    if role.server.major < 15:
        pytest.skip("public is open to every role before PostgreSQL 15")
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE public.t (id int);\n"})
    result = run_as(role, "run", sql_dir=sql_dir)
    assert result.code == 5, result.stderr
    assert result.failure["kind"] == "sql_privilege_missing"
    assert "GRANT CREATE ON SCHEMA public" in result.failure["reason"]
    assert "fix the file" not in result.failure["reason"]
    with psycopg.connect(role.server.url(role.dbname)) as c:
        assert c.execute("SELECT to_regclass('public.t')").fetchone() == (None,)
    record("privilege.no_create_on_public", exit_code=5)
