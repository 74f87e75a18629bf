"""Every auto-sync plan is rehearsed on a copy of the live schema before the live database is touched.

The planner's own plans are exercised through the real command; a wrong plan is built by hand here
(a real ``Plan`` run against a real server, not a mock) to show that the rehearsal stops it with
exit-3 semantics and leaves the live database as it was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Server, initjob, write_schema

from initjob.config import ConnectionSettings
from initjob.db import shadow
from initjob.decide import Comparison
from initjob.errors import NotConverged, RehearsalImpossible
from initjob.schema import catalog
from initjob.schema.diff import Plan, Step
from initjob.sync import rehearse

BEFORE = "CREATE SCHEMA app;\nCREATE TABLE app.t (id int PRIMARY KEY, a text);\n"
AFTER = BEFORE + "CREATE INDEX t_a ON app.t (a);\nCREATE VIEW app.v AS SELECT id, a FROM app.t;\n"  # noqa: S608


def shadows(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'initjob_shadow_%'")]


def test_a_run_rehearses_its_plan_and_leaves_no_scratch_database(db_url: str, tmp_path: Path,
                                                                   conn: psycopg.Connection[Any]) -> None:
    sql_dir = write_schema(tmp_path, {"app.sql": BEFORE})
    assert initjob("run", env={"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)}).code == 0
    conn.execute("INSERT INTO app.t VALUES (1, 'x')")
    (sql_dir / "schema" / "app.sql").write_text(AFTER)
    result = initjob("run", env={"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir)})
    assert result.code == 0, result.stderr
    rehearsed = [e for e in result.events if e.get("event") == "sync.rehearsed"]
    assert rehearsed and rehearsed[0]["steps"] == 2, result.stderr
    names = result.names()
    # Before the backup marker too: a plan refused on the copy leaves no marker of a change never made.
    assert names.index("sync.rehearsed") < names.index("marker.taken") < names.index("sync.applied")
    assert shadows(conn) == []


def _comparison(conn: psycopg.Connection[Any], db_url: str, desired_sql: str, plan: Plan) -> Comparison:
    live = catalog.read_snapshot(conn, ["app"])
    with shadow.shadow(ConnectionSettings(db_url), conn) as sh:  # the desired state, built as a run builds it
        sh.execute(desired_sql.encode())
        desired = catalog.read_snapshot(sh, ["app"])
    return Comparison(plan, desired=desired, schemas=("app",), live_schemas=("app",), live=live)


@pytest.mark.parametrize(("step_sql", "says"), [
    # runs, but reaches something other than the desired state
    ("CREATE INDEX t_b ON app.t (id)", "does not reach the desired state"),
    # fails outright
    ("CREATE INDEX t_a ON app.nope (a)", "fails on a copy of the live schema"),
])
def test_a_wrong_plan_is_stopped_before_the_live_database_is_touched(
        conn: psycopg.Connection[Any], db_url: str, step_sql: str, says: str) -> None:
    conn.execute(BEFORE)
    conn.execute("INSERT INTO app.t VALUES (1, 'x')")
    wrong = Plan((Step(step_sql, "index app.t_a", "hand-made"),))
    comparison = _comparison(conn, db_url, BEFORE + "CREATE INDEX t_a ON app.t (a);\n", wrong)
    before = catalog.read_snapshot(conn, ["app"])
    with pytest.raises(NotConverged, match=says):
        rehearse(conn, ConnectionSettings(db_url), 5.0, comparison)
    assert catalog.read_snapshot(conn, ["app"]) == before
    assert shadows(conn) == []


def test_a_right_plan_passes_the_rehearsal(conn: psycopg.Connection[Any], db_url: str) -> None:
    conn.execute(BEFORE)
    right = Plan((Step("CREATE INDEX t_a ON app.t (a)", "index app.t_a", "hand-made"),))
    comparison = _comparison(conn, db_url, BEFORE + "CREATE INDEX t_a ON app.t (a);\n", right)
    before = catalog.read_snapshot(conn, ["app"])
    rehearse(conn, ConnectionSettings(db_url), 5.0, comparison)  # no error
    assert catalog.read_snapshot(conn, ["app"]) == before  # a rehearsal never touches the live database


def test_a_live_schema_its_model_cannot_rebuild_is_refused_not_applied_untried(
        conn: psycopg.Connection[Any], db_url: str) -> None:
    """Where the copy cannot be built from the live model, the plan is refused (exit 3) with the reason:
    it was once skipped, and the untried plan then failed on the live database."""
    conn.execute(BEFORE)
    right = Plan((Step("CREATE INDEX t_a ON app.t (a)", "index app.t_a", "hand-made"),))
    comparison = _comparison(conn, db_url, BEFORE + "CREATE INDEX t_a ON app.t (a);\n", right)
    assert comparison.live is not None
    # A live model the planner's create path cannot rebuild (a column of a type the copy lacks).
    t = comparison.live.tables[0]
    broken = dataclasses.replace(t, columns=(*t.columns, catalog.Column("z", "app.nosuchtype")))
    comparison = dataclasses.replace(comparison, live=dataclasses.replace(comparison.live, tables=(broken,)))
    before = catalog.read_snapshot(conn, ["app"])
    with pytest.raises(RehearsalImpossible, match="could not be rebuilt") as refused:
        rehearse(conn, ConnectionSettings(db_url), 5.0, comparison)
    assert refused.value.exit_code == 3 and "nosuchtype" in refused.value.reason
    assert catalog.read_snapshot(conn, ["app"]) == before
    assert shadows(conn) == []


def test_with_a_shadow_database_url_an_online_index_build_is_rehearsed_too(
        server: Server, db_url: str, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    """INITJOB_SHADOW_DATABASE_URL's database is used inside one transaction: a CREATE INDEX
    CONCURRENTLY step is tried there without the word (the same end), not skipped."""
    scratch = server.create_db()
    try:
        env = {"DATABASE_URL": db_url, "INITJOB_SHADOW_DATABASE_URL": server.uri(scratch)}
        sql_dir = write_schema(tmp_path, {"app.sql": BEFORE})
        assert initjob("run", env={**env, "INITJOB_SQL_DIR": str(sql_dir)}).code == 0
        conn.execute("INSERT INTO app.t VALUES (1, 'x')")
        (sql_dir / "schema" / "app.sql").write_text(BEFORE + "CREATE INDEX t_a ON app.t (a);\n")
        result = initjob("run", env={**env, "INITJOB_SQL_DIR": str(sql_dir)})
        assert result.code == 0, result.stderr
        assert "sync.rehearsal_skipped" not in result.names()
        assert "sync.rehearsed" in result.names(), result.stderr
    finally:
        server.drop_db(scratch)
