"""What a migration costs the server beyond its own statements (issue 24): counted, never timed."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from conftest import Server, initjob, write_migrations


def committed(server: Server, dbname: str) -> int:
    """Transactions committed in ``dbname`` so far (a statement outside a transaction block is one)."""
    with psycopg.connect(server.url(dbname), autocommit=True) as c:
        c.execute("SELECT pg_stat_clear_snapshot()")
        row = c.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (dbname,)).fetchone()
    assert row is not None
    return int(row[0])


def run_chain(server: Server, tmp_path: Path, n: int) -> int:
    """Transactions the server committed for a fresh run of ``n`` one-table migrations."""
    dbname = server.create_db()
    try:
        sql_dir = write_migrations(tmp_path / str(n), {f"{i:04d}_t{i}.up.sql": f"CREATE TABLE t{i} (id int);\n"
                                                       for i in range(1, n + 1)})
        before = committed(server, dbname)
        result = initjob("run", DATABASE_URL=server.uri(dbname), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
        assert result.code == 0, result.stderr
        for _ in range(50):  # a backend's counters reach the shared statistics when it exits
            after = committed(server, dbname)
            if after - before > n:
                break
            time.sleep(0.1)
        return after - before
    finally:
        server.drop_db(dbname)


def test_each_migration_is_one_transaction_and_nothing_else(server: Server, tmp_path: Path) -> None:
    """30 more files cost the server 30 more transactions: the file's name in application_name travels
    with the file, not in a SET (an implicit transaction) of its own per file."""
    small, large = run_chain(server, tmp_path, 5), run_chain(server, tmp_path, 35)
    assert 30 <= large - small <= 33, (small, large)
