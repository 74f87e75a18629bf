"""Bad input, table-driven: every bad value of every variable, bad URLs, flags and SQL trees gives its
documented exit code, a one-line reason (in the log and the termination message), and no change in
the database.  Plus the inputs that look odd but are fine: a UTF-8 BOM and CRLF line ends keep a
migration's checksum.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import PASSWORD, Result, Server, base_env, finish, initjob, spawn, write_migrations, write_schema
from helpers_figures import initjob_backends, record

GOOD = {"0001_accounts.up.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n",
        "0001_accounts.down.sql": "DROP TABLE accounts;\n"}

Tree = Callable[[Path], Path]


def migrations(files: dict[str, str | bytes]) -> Tree:
    def make(root: Path) -> Path:
        mig = root / "sql" / "migrations"
        mig.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (mig / name).write_bytes(body if isinstance(body, bytes) else body.encode())
        return root / "sql"
    return make


def with_good(extra: dict[str, str | bytes]) -> Tree:
    return migrations({**GOOD, **extra})


def empty_dir(root: Path) -> Path:
    (root / "sql").mkdir()
    return root / "sql"


def symlink_out(root: Path) -> Path:
    sql_dir = with_good({})(root)
    outside = root / "outside.sql"
    outside.write_text("CREATE TABLE leaked (id int);\n")
    (sql_dir / "migrations" / "0002_leak.up.sql").symlink_to(outside)
    return sql_dir


def huge_file(root: Path) -> Path:
    sql_dir = with_good({})(root)
    with open(sql_dir / "migrations" / "0002_huge.up.sql", "wb") as f:
        f.write(b"SELECT 1;\n")
        f.truncate(50 * 1024 * 1024)  # 50 MB, sparse: the size check must come before reading it
    return sql_dir


def odd_entries(root: Path) -> Path:
    """A symlink loop, a directory named like a migration and a FIFO (whose read would block forever)."""
    sql_dir = with_good({})(root)
    mig = sql_dir / "migrations"
    (mig / "0002_a.up.sql").symlink_to(mig / "0003_b.up.sql")
    (mig / "0003_b.up.sql").symlink_to(mig / "0002_a.up.sql")
    (mig / "0004_dir.up.sql").mkdir()
    os.mkfifo(mig / "0005_fifo.up.sql")
    return sql_dir


def schema_fifo(root: Path) -> Path:
    sql_dir = write_schema(root, {"01.sql": "CREATE TABLE a (id int);\n"})
    os.mkfifo(sql_dir / "schema" / "02.sql")
    (sql_dir / "schema" / "03.sql").mkdir()
    return sql_dir


def schema_tree(files: dict[str, str]) -> Tree:
    return lambda root: write_schema(root, files)


@dataclass(frozen=True)
class Case:
    id: str
    code: int
    says: str  # a fragment of the one-line reason
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("run",)
    tree: Tree = field(default_factory=lambda: with_good({}))
    changes_allowed: bool = False  # exit 5: initjob's own tables may now exist, nothing else


def url_with(server: Server, dbname: str, **parts: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(server.url(dbname))
    user, password = parts.get("user", "postgres"), parts.get("password", PASSWORD)
    port, db = parts.get("port", str(info["port"])), parts.get("db", dbname)
    query = f"?{parts['query']}" if "query" in parts else ""
    return f"{parts.get('scheme', 'postgresql')}://{user}:{password}@127.0.0.1:{port}/{db}{query}"


CASES = [
    Case("use_migrations_maybe", 2, "USE_MIGRATIONS must be one of", {"USE_MIGRATIONS": "maybe"}),
    Case("wait_timeout_text", 2, "INITJOB_WAIT_TIMEOUT must be a number", {"INITJOB_WAIT_TIMEOUT": "soon"}),
    Case("wait_timeout_negative", 2, "INITJOB_WAIT_TIMEOUT must be a finite number", {"INITJOB_WAIT_TIMEOUT": "-5"}),
    Case("lock_timeout_nan", 2, "INITJOB_LOCK_TIMEOUT", {"INITJOB_LOCK_TIMEOUT": "nan"}),
    Case("lock_timeout_inf", 2, "INITJOB_LOCK_TIMEOUT", {"INITJOB_LOCK_TIMEOUT": "inf"}),
    Case("ddl_lock_timeout_zero", 2, "INITJOB_DDL_LOCK_TIMEOUT", {"INITJOB_DDL_LOCK_TIMEOUT": "0"}),
    Case("ensure_database_2", 2, "INITJOB_ENSURE_DATABASE", {"INITJOB_ENSURE_DATABASE": "2"}),
    Case("allow_destructive_words", 2, "INITJOB_ALLOW_DESTRUCTIVE", {"INITJOB_ALLOW_DESTRUCTIVE": "yes please"}),
    Case("force_mode_switch_sure", 2, "INITJOB_FORCE_MODE_SWITCH", {"INITJOB_FORCE_MODE_SWITCH": "sure"}),
    Case("history_schema_public", 2, "INITJOB_HISTORY_SCHEMA", {"INITJOB_HISTORY_SCHEMA": "public"}),
    Case("history_schema_mixed_case", 2, "INITJOB_HISTORY_SCHEMA", {"INITJOB_HISTORY_SCHEMA": "Init-Job"}),
    Case("history_schema_pg_prefix", 2, "INITJOB_HISTORY_SCHEMA", {"INITJOB_HISTORY_SCHEMA": "pg_initjob"}),
    Case("log_format_xml", 2, "INITJOB_LOG_FORMAT", {"INITJOB_LOG_FORMAT": "xml"}),
    Case("log_level_loud", 2, "INITJOB_LOG_LEVEL", {"INITJOB_LOG_LEVEL": "loud"}),
    Case("url_scheme_mysql", 2, "scheme 'mysql'", {"DATABASE_URL": "{url:scheme=mysql}"}),
    Case("url_port_out_of_range", 2, "invalid port '99999'", {"DATABASE_URL": "{url:port=99999}"}),
    Case("url_port_text", 2, "DATABASE_URL", {"DATABASE_URL": "{url:port=abc}"}),
    Case("url_unknown_option", 2, "bogus_option", {"DATABASE_URL": "{url:query=bogus_option=1}"}),
    Case("url_bad_sslmode", 2, "invalid sslmode value", {"DATABASE_URL": "{url:query=sslmode=sometimes}"}),
    Case("url_bad_option_value", 2, "invalid integer value", {"DATABASE_URL": "{url:query=keepalives=often}"}),
    Case("url_not_a_url", 2, "neither a postgresql:// URL", {"DATABASE_URL": "db.example.internal"}),
    Case("url_file_missing", 2, "DATABASE_URL_FILE", {"DATABASE_URL": "", "DATABASE_URL_FILE": "/nonexistent/url"}),
    Case("url_file_empty", 2, "is empty", {"DATABASE_URL": "", "DATABASE_URL_FILE": "{empty_file}"}),
    Case("unknown_flag", 2, "usage", args=("run", "--frobnicate")),
    Case("unknown_command", 2, "usage", args=("explode",)),
    Case("rollback_steps_zero", 2, "--steps must be at least 1", args=("rollback", "--steps", "0")),
    Case("rollback_to_not_a_version", 2, "--to must be a migration version", args=("rollback", "--to", "abc")),
    Case("baseline_unknown_version", 2, "no migration has version", args=("baseline", "--version", "99")),
    Case("sql_dir_missing", 2, "is not a directory", {"INITJOB_SQL_DIR": "/nonexistent/sql"}),
    Case("sql_dir_empty_value", 2, "INITJOB_SQL_DIR must not be empty", {"INITJOB_SQL_DIR": ""}),
    Case("sql_dir_without_migrations", 2, "is not a directory", tree=empty_dir),
    Case("migrations_dir_empty", 2, "holds no migration", tree=migrations({})),
    Case("file_name_without_direction", 2, "bad file name", tree=with_good({"0002_add.sql": "SELECT 1;"})),
    Case("file_name_without_version", 2, "bad file name", tree=with_good({"abc_add.up.sql": "SELECT 1;"})),
    Case("duplicate_version", 2, "duplicate version 1", tree=with_good({"001_again.up.sql": "SELECT 1;"})),
    Case("down_without_up", 2, "down file without its up file", tree=with_good({"0002_x.down.sql": "SELECT 1;"})),
    Case("copy_from_stdin", 2, "2: COPY ... FROM stdin",
         tree=with_good({"0002_copy.up.sql": "CREATE TABLE a (id int);\nCOPY a FROM stdin;\n1\n\\.\n"})),
    Case("non_utf8_bytes", 2, "is not UTF-8", tree=with_good({"0002_latin1.up.sql": b"-- caf\xe9\nSELECT 1;\n"})),
    Case("commit_inside", 2, "COMMIT would break", tree=with_good({
        "0002_commit.up.sql": "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n"})),
    Case("begin_inside", 2, "BEGIN would break",
         tree=with_good({"0002_begin.up.sql": "BEGIN;\nCREATE TABLE a (id int);\n"})),
    Case("psql_include", 2, "psql meta-command", tree=with_good({"0002_i.up.sql": "\\i other.sql\n"})),
    Case("statement_hidden_behind_a_cr", 2, "touches initjob's own schema", tree=with_good({
        "0002_cr.up.sql": "-- a note\rDELETE FROM initjob.history;\n"})),
    Case("psql_connect", 2, "psql meta-command", tree=with_good({
        "0002_c.up.sql": "CREATE TABLE a (id int);\n\\connect other\n"})),
    Case("touches_own_schema", 2, "touches initjob's own schema", tree=with_good({
        "0002_own.up.sql": "DELETE FROM initjob.history;\n"})),
    Case("symlink_leaves_sql_dir", 2, "leaves the SQL directory", tree=symlink_out),
    Case("file_of_50_mb", 2, "over the", tree=huge_file),
    Case("symlink_loop_dir_and_fifo", 2, "0002_a.up.sql: is a symlink loop", tree=odd_entries),
    Case("directory_named_like_a_migration", 2, "0004_dir.up.sql: is a directory, not a regular file",
         tree=odd_entries),
    Case("fifo_named_like_a_migration", 2, "0005_fifo.up.sql: is a FIFO, not a regular file", tree=odd_entries),
    Case("schema_fifo_and_directory", 2, "schema/02.sql: is a FIFO, not a regular file", {"USE_MIGRATIONS": "false"},
         tree=schema_fifo),
    Case("concurrently_without_directive", 2, "cannot run inside a transaction", tree=with_good({
        "0002_idx.up.sql": "CREATE INDEX CONCURRENTLY accounts_idx ON accounts (id);\n"})),
    Case("autosync_without_schema_dir", 2, "is not a directory", {"USE_MIGRATIONS": "false"}),
    Case("autosync_no_transaction_file", 2, "no-transaction is refused", {"USE_MIGRATIONS": "false"},
         tree=schema_tree({"01.sql": "-- initjob:no-transaction\nCREATE TABLE a (id int);\n"})),
    Case("wrong_password", 4, "password authentication failed", {"DATABASE_URL": "{url:password=not-the-password}"}),
    Case("missing_role", 4, "nobody_here", {"DATABASE_URL": "{url:user=nobody_here}"}),
    Case("sslmode_require_without_tls", 4, "a TLS problem, not the credentials",
         {"DATABASE_URL": "{url:query=sslmode=require}"}),
    Case("missing_database", 4, "INITJOB_ENSURE_DATABASE", {"DATABASE_URL": "{url:db=no_such_database}"}),
    Case("sql_error_rolls_back", 5, "0001_broken.up.sql:2", tree=migrations({
        "0001_broken.up.sql": "CREATE TABLE fine (id int);\nCREATE TABLE broken (id no_such_type);\n"}),
        changes_allowed=True),
]


def expand(value: str, server: Server, dbname: str, tmp: Path) -> str:
    if value == "{empty_file}":
        (tmp / "empty-url").write_text("")
        return str(tmp / "empty-url")
    if value.startswith("{url:") and value.endswith("}"):
        key, _, val = value[5:-1].partition("=")
        return url_with(server, dbname, **{key: val})
    return value


def user_objects(server: Server, dbname: str) -> list[tuple[str, str]]:
    with psycopg.connect(server.url(dbname)) as c:
        return c.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION ALL SELECT nspname, '' FROM pg_namespace"
            " WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public')"
            " AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%' ORDER BY 1, 2").fetchall()


@dataclass
class Outcome:
    result: Result | None = None
    termination: str = ""
    error: BaseException | None = None
    objects: list[tuple[str, str]] = field(default_factory=list)
    history_rows: int | None = None


def run_case(case: Case, tmp: Path, server: Server, dbname: str) -> Outcome:
    out = Outcome()
    try:
        sql_dir = case.tree(tmp)
        termination = tmp / "termination-log"
        termination.write_text("")
        env = {"DATABASE_URL": url_with(server, dbname), "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql_dir),
               "INITJOB_TERMINATION_LOG": str(termination), "INITJOB_WAIT_TIMEOUT": "20"}
        env.update({k: expand(v, server, dbname, tmp) for k, v in case.env.items()})
        if env.get("DATABASE_URL") == "":
            del env["DATABASE_URL"]
        out.result = initjob(*case.args, env=base_env(**env))
        out.termination = termination.read_text()
        if case.changes_allowed:
            out.objects = user_objects(server, dbname)
            with psycopg.connect(server.url(dbname)) as c:
                row = c.execute("SELECT count(*) FROM initjob.history").fetchone()
                out.history_rows = int(row[0]) if row else None
    except BaseException as exc:  # reported by the case's own test
        out.error = exc
    return out


@pytest.fixture(scope="module")
def outcomes(server: Server,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Outcome], list[Any]]]:
    """Every case run once, three at a time (each is a process start), against one database that must
    stay exactly as it was; a case allowed to change something (exit 5) gets a database of its own."""
    target = server.create_db()
    own = {c.id: server.create_db() for c in CASES if c.changes_allowed}
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {c.id: pool.submit(run_case, c, tmp_path_factory.mktemp(c.id), server, own.get(c.id, target))
                       for c in CASES}
            done = {name: f.result() for name, f in futures.items()}
        yield done, user_objects(server, target)
    finally:
        for name in [target, *own.values()]:
            server.drop_db(name)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, outcomes: tuple[dict[str, Outcome], list[Any]]) -> None:
    """Each bad input: its documented exit code, a one-line reason, nothing changed in the database."""
    runs, left_in_target = outcomes
    out = runs[case.id]
    if out.error is not None:
        raise out.error
    result = out.result
    assert result is not None
    assert result.code == case.code, result.stderr
    reason = result.failure["reason"]
    assert case.says in reason, reason
    assert "\n" not in reason
    assert out.termination.count("\n") == 1 and case.says in out.termination
    assert "not-the-password" not in result.stderr + out.termination
    if case.changes_allowed:
        assert {schema for schema, _ in out.objects} <= {"initjob"}, out.objects
        assert out.history_rows == 0
    else:
        assert left_in_target == [], f"bad input changed the database: {left_in_target}"
    record(f"bad_input.{case.id}", exit_code=result.code, reason=reason[:160])


def test_bad_input_table_is_big_enough() -> None:
    """The issue asks for at least 25 bad inputs."""
    assert len(CASES) >= 25
    record("bad_input.count", cases=len(CASES))


def test_crlf_and_bom_keep_the_checksum(tmp_path: Path, server: Server, dbname: str) -> None:
    """A migration re-saved on Windows (CRLF, UTF-8 BOM) is the same migration: same checksum, nothing to do."""
    env = {"DATABASE_URL": url_with(server, dbname), "USE_MIGRATIONS": "true"}
    lf = write_migrations(tmp_path / "lf", {"0001_accounts.up.sql": "CREATE TABLE accounts (\n  id bigint\n);\n"})
    assert initjob("run", env=base_env(INITJOB_SQL_DIR=str(lf), **env)).code == 0
    crlf = tmp_path / "crlf" / "sql" / "migrations"
    crlf.mkdir(parents=True)
    (crlf / "0001_accounts.up.sql").write_bytes(b"\xef\xbb\xbfCREATE TABLE accounts (\r\n  id bigint\r\n);\r\n")
    again = initjob("run", env=base_env(INITJOB_SQL_DIR=str(crlf.parent), **env))
    assert again.code == 0, again.stderr
    assert "run.nothing_to_do" in again.names()
    assert initjob("verify", env=base_env(INITJOB_SQL_DIR=str(crlf.parent), **env)).code == 0
    status = json.loads(initjob("status", "--json", env=base_env(INITJOB_SQL_DIR=str(crlf.parent), **env)).stdout)
    assert status["up_to_date"] is True
    record("bad_input.crlf_bom_same_checksum", exit_code=0, checksum=status["applied"][0]["checksum"][:12])


def test_nothing_read_outside_the_tree(tmp_path: Path) -> None:
    """The symlink case reads nothing outside: the target's content never reaches any output."""
    sql_dir = symlink_out(tmp_path)
    result = initjob("run", DATABASE_URL="postgresql://u@127.0.0.1:1/db", USE_MIGRATIONS="true",
                     INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 2
    assert "leaked" not in result.stderr + result.stdout
    assert os.path.islink(sql_dir / "migrations" / "0002_leak.up.sql")


@pytest.mark.parametrize("use_migrations", ["true", "false"])
def test_missing_mode_directory_is_exit_2_before_connecting(tmp_path: Path, use_migrations: str) -> None:
    """No schema/ or migrations/ at all: exit 2 naming it, even with no database to reach (the tree
    walk cannot hash what is not there, so the reader runs before any connection)."""
    result = initjob("run", DATABASE_URL="postgresql://u@127.0.0.1:1/db", USE_MIGRATIONS=use_migrations,
                     INITJOB_SQL_DIR=str(tmp_path), INITJOB_WAIT_TIMEOUT="30")
    assert result.code == 2, result.stderr
    assert "is not a directory" in result.failure["reason"]


# ---------------------------------------------------------------- issue 20: edges that lost data or exited 0


def full_dump(server: Server, dbname: str) -> str:
    """Schema and rows of the application (initjob's own schema aside): what must not change."""
    if server.handle is None:
        pytest.skip("needs a server this suite started (its pg_dump)")
    done = subprocess.run([str(server.handle.bindir / "pg_dump"), "-N", "initjob", "--no-comments", "-d",
                           server.uri(dbname)], capture_output=True, text=True, timeout=120, check=True)
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def autosync_env(server: Server, dbname: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=server.uri(dbname), INITJOB_SQL_DIR=str(sql_dir), **extra)


def test_shadow_database_naming_the_target_is_refused(tmp_path: Path, server: Server, dbname: str) -> None:
    """INITJOB_SHADOW_DATABASE_URL naming the target (written differently) is exit 2 for run and verify:
    the IF NOT EXISTS files made the target look up to date, and a column was never added."""
    sql_dir = write_schema(tmp_path, {"01.sql": "CREATE TABLE IF NOT EXISTS t (id int);\n"})
    assert initjob("run", env=autosync_env(server, dbname, sql_dir)).code == 0
    write_schema(tmp_path, {"01.sql": "CREATE TABLE IF NOT EXISTS t (id int, note text);\n"})
    before = full_dump(server, dbname)
    env = autosync_env(server, dbname, sql_dir, INITJOB_SHADOW_DATABASE_URL=server.url(dbname))  # key=value form
    for command in ("run", "verify"):
        result = initjob(command, env=env)
        assert result.code == 2, result.stderr
        assert "INITJOB_SHADOW_DATABASE_URL names the target database itself" in result.failure["reason"]
    assert full_dump(server, dbname) == before
    assert initjob("run", env=autosync_env(server, dbname, sql_dir)).code == 0  # with a scratch database of its own


def test_shadow_database_holding_objects_is_refused(tmp_path: Path, server: Server, dbname: str) -> None:
    """A leftover table in the scratch database is exit 2 naming the setting, not created in the target."""
    scratch = server.create_db()
    try:
        with psycopg.connect(server.url(scratch), autocommit=True) as c:
            c.execute("CREATE TABLE leftover (id int)")
        with psycopg.connect(server.url(dbname), autocommit=True) as c:
            c.execute("CREATE TABLE t (id int, gone text); INSERT INTO t VALUES (1, 'kept')")
        sql_dir = write_schema(tmp_path, {"01.sql": "CREATE TABLE t (id int);\n"})
        before = full_dump(server, dbname)
        result = initjob("run", env=autosync_env(server, dbname, sql_dir, INITJOB_ALLOW_DESTRUCTIVE="true",
                                                 INITJOB_SHADOW_DATABASE_URL=server.uri(scratch)))
        assert result.code == 2, result.stderr
        assert "INITJOB_SHADOW_DATABASE_URL's database is not empty: schema public" in result.failure["reason"]
        assert full_dump(server, dbname) == before
    finally:
        server.drop_db(scratch)


@pytest.mark.parametrize("declared", [False, True], ids=["mounted_empty", "declared_empty"])
def test_empty_desired_state_needs_a_declaration(tmp_path: Path, server: Server, dbname: str, declared: bool) -> None:
    """Files with no statement against a database with tables: exit 3 and nothing dropped, even with the
    destructive opt-in, unless a file starts with ``-- initjob:empty``."""
    sql_dir = write_schema(tmp_path, {"01.sql": "CREATE TABLE users (id int);\nCREATE VIEW v AS SELECT 1 AS one;\n"})
    env = autosync_env(server, dbname, sql_dir, INITJOB_ALLOW_DESTRUCTIVE="true")
    assert initjob("run", env=env).code == 0
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        c.execute("INSERT INTO users VALUES (1)")
    write_schema(tmp_path, {"01.sql": "-- initjob:empty\n" if declared else ""})
    before = full_dump(server, dbname)
    result = initjob("run", env=env)
    if declared:
        assert result.code == 0, result.stderr
        assert "users" not in full_dump(server, dbname)
        return
    assert result.code == 3, result.stderr
    assert "sql/schema/ holds no statement" in result.failure["reason"]
    assert "-- initjob:empty" in result.failure["reason"]
    assert initjob("verify", env=env).code == 3
    assert full_dump(server, dbname) == before


def _lock_holders(server: Server, dbname: str) -> list[int]:
    from initjob.db.lock import lock_key

    unsigned = lock_key("initjob") & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        rows = c.execute("SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                         " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND d.datname = %s"
                         " AND l.classid = %s AND l.objid = %s",
                         (dbname, (unsigned >> 32) & 0xFFFFFFFF, unsigned & 0xFFFFFFFF)).fetchall()
    return [int(r[0]) for r in rows]


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _ledger_count(server: Server, dbname: str) -> int:
    with psycopg.connect(server.url(dbname)) as c:
        exists = c.execute("SELECT to_regclass('ledger') IS NOT NULL").fetchone()
        row = c.execute("SELECT count(*) FROM ledger").fetchone() if exists and exists[0] else (0,)
    return int(row[0]) if row else 0


def test_a_migration_cannot_release_the_lock(tmp_path: Path, server: Server, dbname: str) -> None:
    """A file running pg_advisory_unlock_all() releases nothing: a second runner waits, then finds the
    work done; both exit 0 and the file ran once."""
    sql_dir = write_migrations(tmp_path, {
        "0001_ledger.up.sql": "CREATE TABLE ledger (n int);\n",
        "0002_unlock.up.sql": "SELECT pg_advisory_unlock_all();\nINSERT INTO ledger VALUES (2);\n"
                              "SELECT pg_sleep(4);\n"})
    env = base_env(DATABASE_URL=server.uri(dbname), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    first = spawn("run", env=env)
    try:
        _wait_for(lambda: bool(initjob_backends(server.admin_url, dbname, like="%pg_sleep%")), "the sleeping file")
        second = initjob("run", env=env)
    finally:
        done = finish(first)
    assert done.code == 0, done.stderr
    assert second.code == 0, second.stderr
    assert "lock.waiting" in second.names() or "lock.acquired" in second.names()
    assert _ledger_count(server, dbname) == 1


def test_losing_the_lock_mid_run_starts_over_cleanly(tmp_path: Path, server: Server, dbname: str) -> None:
    """The lock's session terminated while a file runs: lock.lost, that file's transaction rolled back,
    the run takes the lock again and resumes from the history (exit 0, the file's row once)."""
    sql_dir = write_migrations(tmp_path, {
        "0001_ledger.up.sql": "CREATE TABLE ledger (n int);\n",
        "0002_slow.up.sql": "INSERT INTO ledger VALUES (2);\nSELECT pg_sleep(3);\n"})
    env = base_env(DATABASE_URL=server.uri(dbname), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    proc = spawn("run", env=env)
    try:
        _wait_for(lambda: bool(initjob_backends(server.admin_url, dbname, like="%pg_sleep%")), "the sleeping file")
        holders = _lock_holders(server, dbname)
        assert len(holders) == 1
        with psycopg.connect(server.url(dbname), autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(%s)", (holders[0],))
    finally:
        result = finish(proc)
    assert result.code == 0, result.stderr
    assert "lock.lost" in result.names()
    assert _ledger_count(server, dbname) == 1


def test_a_failed_plan_step_is_named_with_its_detail(tmp_path: Path, server: Server, dbname: str) -> None:
    """An exclusion constraint the live rows break (the data prechecks count NULLs, duplicates and
    misfits, not exclusions, so the step itself fails): exit 5 naming the step's object and PostgreSQL's
    DETAIL in the one-line reason, no file:line that does not exist, nothing of the batch applied."""
    v1 = "CREATE TABLE users (id int PRIMARY KEY, email text);\n"
    sql_dir = write_schema(tmp_path, {"01.sql": v1})
    env = autosync_env(server, dbname, sql_dir)
    assert initjob("run", env=env).code == 0
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        c.execute("INSERT INTO users VALUES (1, 'x@example.com'), (2, 'x@example.com')")
    write_schema(tmp_path, {"01.sql": "CREATE TABLE users (id int PRIMARY KEY, email text,"
                                      " CONSTRAINT users_email_excl EXCLUDE USING btree (email WITH =));\n"
                                      "CREATE TABLE notes (id int);\n"})
    before = full_dump(server, dbname)
    result = initjob("run", env=env)
    assert result.code == 5, result.stderr
    reason = result.failure["reason"]
    assert reason.startswith("plan step ") and "users_email_excl" in reason, reason
    assert "Key (email)=(x@example.com) conflicts with key (email)=(x@example.com)" in reason, reason
    assert "fix the file" not in reason and ":1:" not in reason and "plan step 1" not in reason, reason
    assert full_dump(server, dbname) == before


def test_near_misses_of_settings_are_named(tmp_path: Path, server: Server, dbname: str) -> None:
    """USE_MIGRATION, INITJOB_ALLOW_DESTRUCTIV and an unknown INITJOB_ variable: a warning each, naming the
    setting meant (never the value); a configuration error of `new` is logged as `new`."""
    sql_dir = write_schema(tmp_path, {"01.sql": "CREATE TABLE t (id int);\n"})
    result = initjob("run", env=autosync_env(server, dbname, sql_dir, USE_MIGRATION="true",
                                             INITJOB_ALLOW_DESTRUCTIV="secret-ish", INITJOB_FROBNICATE="1"))
    assert result.code == 0, result.stderr
    warned = {e["variable"]: e["meant"] for e in result.events if e.get("event") == "config.unknown_variable"}
    assert warned == {"USE_MIGRATION": "USE_MIGRATIONS", "INITJOB_ALLOW_DESTRUCTIV": "INITJOB_ALLOW_DESTRUCTIVE",
                      "INITJOB_FROBNICATE": None}
    assert "secret-ish" not in result.stderr
    bad = initjob("new", "add_things", env=base_env(INITJOB_WAIT_TIMEOUT="soon", INITJOB_SQL_DIR=str(sql_dir)))
    assert bad.code == 2 and bad.failure["command"] == "new", bad.stderr


def test_unknown_variables_table() -> None:
    """Table-driven: what is flagged, and what an application's own variables beside ours are not."""
    from initjob.config import unknown_variables

    for env, want in [({"USE_MIGRATIONS": "1", "DATABASE_URL": "x"}, []),
                      ({"DATABASE_USER": "u", "DATABASE_PORT": "1", "DATABASE_NAME": "n", "HOME": "/"}, []),
                      ({"DATABASE_URI": "x"}, [("DATABASE_URI", "DATABASE_URL")]),
                      ({"use_migrations": "1"}, [("use_migrations", "USE_MIGRATIONS")]),
                      ({"INITJOB_LOCK_TIMOUT": "1"}, [("INITJOB_LOCK_TIMOUT", "INITJOB_LOCK_TIMEOUT")]),
                      ({"INITJOB_WHATEVER": "1"}, [("INITJOB_WHATEVER", None)])]:
        assert unknown_variables(env) == want, env


def test_a_failure_after_committed_files_counts_them_and_status_orders_by_number(tmp_path: Path, server: Server,
                                                                                  dbname: str) -> None:
    """run.finished says how many files committed before the one that failed; status lists versions by
    number (0001, 0002, 0010), not as text."""
    files = {"0001_a.up.sql": "CREATE TABLE a (id int);\n", "0002_b.up.sql": "CREATE TABLE b (id int);\n",
             "0010_c.up.sql": "CREATE TABLE c (id int);\n", "0011_broken.up.sql": "CREATE TABLE d (id no_such);\n"}
    sql_dir = write_migrations(tmp_path, files)
    env = base_env(DATABASE_URL=server.uri(dbname), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    result = initjob("run", env=env)
    assert result.code == 5, result.stderr
    assert result.event("run.finished")["applied"] == 3
    status = json.loads(initjob("status", "--json", env=env).stdout)
    assert [a["version"] for a in status["applied"]] == ["0001", "0002", "0010"]
    assert [p["version"] for p in status["pending"]] == ["0011"]
