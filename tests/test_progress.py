"""What an operator sees during a long deploy: progress from PostgreSQL's views, the sessions in the
way, and a deploy seen from another terminal through ``initjob status`` (issue 12).

The index build runs on a real table of two million rows, so the progress is PostgreSQL's own;
a short INITJOB_PROGRESS_INTERVAL makes the events come often instead of making the test wait.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Server, assert_no_secret, base_env, initjob, parse_events, spawn, write_migrations
from psycopg import sql

from initjob.db import activity, appname

ROWS = 2_000_000
SECRET_LITERAL = "mail-of-a-customer@example.org"


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(("host", "release", "file", "expected"), [
    ("pod-1", "v42", None, "initjob/pod-1/v42"),
    ("pod-1", None, None, "initjob/pod-1"),
    ("pod-1", "v 4 2", "0005_idx.up.sql", "initjob/pod-1/v-4-2 0005_idx.up.sql"),
    ("p" * 80, "v1", "0005_idx.up.sql", ("initjob/" + "p" * 80)[:47] + " 0005_idx.up.sql"),
])
def test_application_name_fits_63_bytes_and_keeps_the_file(host: str, release: str | None, file: str | None,
                                                           expected: str) -> None:
    """The file label survives truncation; the whole name fits the server's 63 bytes."""
    name = appname.application_name(host, release, file)
    assert name == expected and len(name.encode()) <= 63
    assert appname.split_application_name(name) == (name.partition(" ")[0], file)


def test_application_name_never_cuts_a_character() -> None:
    """Truncation counts bytes, as the server does, and never leaves half a UTF-8 character."""
    name = appname.application_name("ü" * 40, "v1")
    assert len(name.encode()) <= 63 and "\ufffd" not in name


def test_a_user_chosen_application_name_is_kept() -> None:
    """DATABASE_URL's application_name wins; without one, the deploy names its sessions."""
    mine = "postgresql://u@h/db?application_name=mine"
    assert appname.with_application_name(mine, "pod", "v1") == mine
    assert "application_name=initjob/pod/v1" in appname.with_application_name("postgresql://u@h/db", "pod", "v1")


@pytest.mark.parametrize(("query", "masked"), [
    ("SELECT * FROM users WHERE email = 'a@b.c' AND id = 42", "SELECT * FROM users WHERE email = '?' AND id = ?"),
    ("UPDATE t SET note = E'it''s' WHERE t1.x > 3.5e2", "UPDATE t SET note = '?' WHERE t1.x > ?"),
    ("SELECT $$secret$$, $tag$x$tag$, $1", "SELECT $?$, $?$, $1"),
    (None, None),
])
def test_query_text_loses_its_literals(query: str | None, masked: str | None) -> None:
    """A blocker's query is logged without the values it carries; placeholders and names stay."""
    assert activity.mask_literals(query) == masked


def test_query_text_is_cut() -> None:
    """Only the first part of a long query is logged."""
    masked = activity.mask_literals("SELECT " + ", ".join(f"col_{i}" for i in range(100)))
    assert masked is not None and len(masked) == activity.QUERY_CHARS and masked.endswith("…")


# ---------------------------------------------------------------- a big table, built once


@pytest.fixture(scope="module")
def big_template(server: Server) -> Iterator[str]:
    """A template database with a table of two million narrow rows (about 70 MB), copied per test."""
    name = f"t_big_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(server.url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id int NOT NULL, k int NOT NULL)")
        conn.execute("INSERT INTO big SELECT g, g %% 1000 FROM generate_series(1, %s) g", (ROWS,))
        conn.execute("VACUUM ANALYZE big")
    yield name
    server.drop_db(name)


@pytest.fixture
def big_db(server: Server, big_template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                         sql.Identifier(big_template)))
    yield name
    server.drop_db(name)


class Tail:
    """The JSON events of a running ``initjob``, read as they come, so a test can act mid-run."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        assert proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    @property
    def events(self) -> list[dict[str, Any]]:
        return parse_events("".join(self.lines))

    def wait_for(self, found: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [e for e in self.events if found(e)]
            if hits:
                return hits[0]
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("no such event in:\n" + "".join(self.lines))

    def finish(self, timeout: float = 120) -> tuple[int, list[dict[str, Any]]]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # not communicate(): it would race the reader for stderr
        self.proc.wait(timeout)
        self._reader.join(5)
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        assert_no_secret(out, "".join(self.lines))
        return self.proc.returncode, self.events


def _env(server: Server, dbname: str, sql_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=server.uri(dbname), USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                    INITJOB_RELEASE="r12", HOSTNAME="pod-a", INITJOB_PROGRESS_INTERVAL="0.2", **extra)


# ---------------------------------------------------------------- progress


def test_concurrent_index_build_reports_growing_progress(tmp_path: Path, server: Server, big_db: str) -> None:
    """CREATE INDEX CONCURRENTLY on two million rows: progress events with growing percentages, and
    ``initjob status`` elsewhere names the deploy, its file and its progress meanwhile."""
    sql_dir = write_migrations(tmp_path, {
        "0001_big_md5.up.sql": "-- initjob:no-transaction\nCREATE INDEX CONCURRENTLY big_md5 ON big (md5(id::text));\n",
    })
    env = _env(server, big_db, sql_dir)
    tail = Tail(spawn("run", env=env))
    tail.wait_for(lambda e: e.get("event") == "statement.progress")
    status = initjob("status", "--json", env=env)
    code, events = tail.finish()
    assert code == 0, "".join(tail.lines)
    progress = [e for e in events if e["event"] == "statement.progress"]
    assert all(e["command"] == "CREATE INDEX CONCURRENTLY" and e["relation"] == "big" for e in progress)
    by_phase: dict[str, list[float]] = {}
    for e in progress:
        if e["percent"] is not None:
            by_phase.setdefault(e["phase"], []).append(e["percent"])
    assert any(len(p) >= 2 and p == sorted(p) and p[-1] > p[0] for p in by_phase.values()), progress
    assert any(e["eta_s"] is not None for e in progress), progress
    assert status.code == 0, status.stderr
    deploy = json.loads(status.stdout)["deploy_in_progress"]
    if deploy is not None:  # the build may have ended while status started: then there is nothing to show
        assert deploy["application_name"].startswith("initjob/pod-a/r12")
        assert deploy["file"] == "0001_big_md5.up.sql"


def test_a_plain_long_statement_gets_a_heartbeat(tmp_path: Path, server: Server, dbname: str) -> None:
    """A statement with no progress view still shows it is alive: elapsed time, what it waits on."""
    sql_dir = write_migrations(tmp_path, {"0001_sleep.up.sql": "SELECT pg_sleep(1.2);\n"})
    result = initjob("run", env=_env(server, dbname, sql_dir))
    assert result.code == 0, result.stderr
    beats = [e for e in result.events if e["event"] == "statement.running"]
    assert beats and beats[-1]["elapsed_s"] >= beats[0]["elapsed_s"] > 0
    assert beats[0]["waiting_on"] == "Timeout:PgSleep"


def test_application_name_names_the_deploy_and_its_file(tmp_path: Path, server: Server, dbname: str,
                                                        conn: psycopg.Connection[Any]) -> None:
    """Sessions carry initjob/<host>/<release> and the running file; a name set in the URL is kept."""
    sql_dir = write_migrations(tmp_path, {
        "0001_seen.up.sql": "CREATE TABLE seen AS SELECT current_setting('application_name') AS app;\n"})
    assert initjob("run", env=_env(server, dbname, sql_dir)).code == 0
    assert conn.execute("SELECT app FROM seen").fetchone() == ("initjob/pod-a/r12 0001_seen.up.sql",)
    other = server.create_db()
    try:
        env = _env(server, other, sql_dir)
        env["DATABASE_URL"] += "?application_name=mine"
        assert initjob("run", env=env).code == 0
        with psycopg.connect(server.url(other)) as c:
            assert c.execute("SELECT app FROM seen").fetchone() == ("mine",)
    finally:
        server.drop_db(other)


# ---------------------------------------------------------------- who is in the way


def test_an_idle_in_transaction_blocker_is_named_before_the_retry(tmp_path: Path, server: Server, dbname: str,
                                                                  conn: psycopg.Connection[Any]) -> None:
    """A session idle in transaction holding a lock: named with pid and state before each lock-timeout
    retry and in the exit-5 failure, its query without its literals; status shows the waiting deploy."""
    conn.execute("CREATE TABLE accounts (id int, email text)")
    sql_dir = write_migrations(tmp_path, {"0001_note.up.sql": "ALTER TABLE accounts ADD COLUMN note text;\n"})
    env = _env(server, dbname, sql_dir, INITJOB_DDL_LOCK_TIMEOUT="0.6")
    with psycopg.connect(server.url(dbname), application_name="billing-worker") as blocker:
        blocker.execute(sql.SQL("SELECT count(*) FROM accounts WHERE email = {}").format(
            sql.Literal(SECRET_LITERAL)))  # holds ACCESS SHARE, then sits idle in its transaction
        blocker_pid = blocker.info.backend_pid
        tail = Tail(spawn("run", env=env))
        blocked = tail.wait_for(lambda e: e.get("event") == "statement.blocked")
        status = initjob("status", "--json", env=env)
        code, events = tail.finish()
        blocker.rollback()
    names = [e["event"] for e in events]
    assert code == 5
    assert names.index("statement.blocked") < names.index("migration.lock_timeout")
    first = blocked["blockers"][0]
    assert (first["pid"], first["state"], first["application_name"]) == (blocker_pid, "idle in transaction",
                                                                         "billing-worker")
    assert first["query"] == "SELECT count(*) FROM accounts WHERE email = '?'"
    assert f"pg_terminate_backend({blocker_pid})" in first["advice"]
    assert first["in_transaction_s"] >= first["in_state_s"] >= 0
    retry = next(e for e in events if e["event"] == "migration.lock_timeout")
    assert [b["pid"] for b in retry["blockers"]] == [blocker_pid]
    failed = next(e for e in events if e["event"] == "run.failed")
    assert [b["pid"] for b in failed["blockers"]] == [blocker_pid] and "who-is-in-the-way" in failed["reason"]
    assert SECRET_LITERAL not in "".join(tail.lines) + status.stdout + status.stderr
    deploy = json.loads(status.stdout)["deploy_in_progress"]
    assert deploy is not None and deploy["file"] == "0001_note.up.sql", status.stdout
    assert deploy["application_name"] == "initjob/pod-a/r12 0001_note.up.sql"


def test_status_shows_no_deploy_when_none_runs(tmp_path: Path, server: Server, dbname: str) -> None:
    """Without a lock holder, ``deploy_in_progress`` is null and the text status says nothing of it."""
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id int);\n"})
    env = _env(server, dbname, sql_dir)
    assert initjob("run", env=env).code == 0
    doc = json.loads(initjob("status", "--json", env=env).stdout)
    assert doc["deploy_in_progress"] is None
    assert "deploy in progress" not in initjob("status", env=env).stdout
