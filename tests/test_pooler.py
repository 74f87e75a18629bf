"""Connection poolers, with Debian's real PgBouncer: in transaction or statement mode a session
advisory lock protects nothing, so the job stops with exit 2 before taking it; session pooling works,
and so does a plain TCP proxy (a NAT, a sidecar) that keeps one server session per client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Result, Server, base_env, finish, initjob, spawn, write_migrations
from helpers_figures import kill_all, record
from helpers_pgbouncer import BINARY, running_pgbouncer
from helpers_proxy import running_proxy

needs_pgbouncer = pytest.mark.skipif(BINARY is None, reason="pgbouncer is not installed (.ci/packages.txt)")

FILES = {"0001_ledger.up.sql": "CREATE TABLE ledger (v int NOT NULL);\nINSERT INTO ledger VALUES (1);\n",
         "0002_more.up.sql": "INSERT INTO ledger VALUES (2);\nALTER TABLE ledger ADD COLUMN note text;\n"}


def server_port(server: Server) -> int:
    return int(psycopg.conninfo.conninfo_to_dict(server.admin_url)["port"])  # type: ignore[arg-type]


@pytest.fixture
def bouncer(request: pytest.FixtureRequest, server: Server) -> Iterator[int]:
    with running_pgbouncer(server_port(server), request.param) as port:
        yield port


def via(server: Server, dbname: str, port: int) -> str:
    return server.uri(dbname).replace(f":{server_port(server)}/", f":{port}/")


def untouched(server: Server, dbname: str) -> bool:
    with psycopg.connect(server.url(dbname)) as c:
        row = c.execute("SELECT to_regnamespace('initjob') IS NULL AND to_regclass('public.ledger') IS NULL").fetchone()
    return bool(row and row[0])


def ledger(server: Server, dbname: str) -> list[tuple[int, int]]:
    with psycopg.connect(server.url(dbname)) as c:
        return c.execute("SELECT v, count(*)::int FROM ledger GROUP BY v ORDER BY v").fetchall()


@needs_pgbouncer
@pytest.mark.parametrize("bouncer", ["transaction", "statement"], indirect=True)
def test_transaction_pooling_is_refused(tmp_path: Path, server: Server, dbname: str, bouncer: int,
                                        request: pytest.FixtureRequest) -> None:
    """Behind PgBouncer in transaction or statement mode: exit 2, 'connect directly or use session
    pooling', before the lock and before any change."""
    sql_dir = write_migrations(tmp_path, FILES)
    start = time.monotonic()
    result = initjob("run", DATABASE_URL=via(server, dbname, bouncer), USE_MIGRATIONS="true",
                     INITJOB_SQL_DIR=str(sql_dir))
    took = time.monotonic() - start
    assert result.code == 2, result.stderr
    reason = result.failure["reason"]
    assert "transaction or statement mode" in reason and "directly" in reason and "session" in reason
    assert "\n" not in reason
    assert "lock.acquired" not in result.names()
    assert untouched(server, dbname)
    record(f"pooler.pgbouncer_{request.node.callspec.id}_mode_refused", exit_code=2, took_s=round(took, 2),
           detected=result.event("db.pooler_check")["session_pinned"] is False)


@needs_pgbouncer
@pytest.mark.parametrize("bouncer", ["session"], indirect=True)
def test_session_pooling_works_with_concurrent_runners(tmp_path: Path, server: Server, dbname: str,
                                                       bouncer: int) -> None:
    """Behind PgBouncer in session mode: 4 runners at once all exit 0 and each migration runs once."""
    sql_dir = write_migrations(tmp_path, FILES)
    env = base_env(DATABASE_URL=via(server, dbname, bouncer), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    procs = [spawn("run", env=env) for _ in range(4)]
    try:
        results: list[Result] = [finish(p, timeout=120) for p in procs]
    except BaseException:
        kill_all(procs)
        raise
    assert [r.code for r in results] == [0, 0, 0, 0], [r.stderr for r in results if r.code]
    assert ledger(server, dbname) == [(1, 1), (2, 1)]
    checks = [e for r in results for e in r.events if e.get("event") == "db.pooler_check"]
    assert checks and all(e["session_pinned"] is True for e in checks)
    assert initjob("verify", env=env).code == 0
    record("pooler.pgbouncer_session_mode", runners=4, exit_0=4, rows_once=2)


def test_plain_tcp_proxy_keeps_the_session(tmp_path: Path, server: Server, dbname: str) -> None:
    """A proxy that keeps one server session per client (NAT, sidecar) is checked and accepted."""
    sql_dir = write_migrations(tmp_path, FILES)
    with running_proxy(server_port(server)) as proxy:
        result = initjob("run", DATABASE_URL=via(server, dbname, proxy.port), USE_MIGRATIONS="true",
                         INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 0, result.stderr
    assert result.event("db.pooler_check") == {**result.event("db.pooler_check"), "direct": False,
                                               "session_pinned": True}
    assert ledger(server, dbname) == [(1, 1), (2, 1)]


def test_direct_connection_costs_no_probe(tmp_path: Path, server: Server, dbname: str, db_url: str) -> None:
    """Connected directly, the server sees our own address and port: no second connection is opened."""
    sql_dir = write_migrations(tmp_path, FILES)
    result = initjob("run", DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    assert result.code == 0, result.stderr
    assert "db.pooler_check" not in result.names()
