"""One shadow database per command: what a decision was made from is carried, never built again (issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Result, initjob, write_schema

V1 = "CREATE SCHEMA shop;\nCREATE TABLE shop.items (id bigint PRIMARY KEY, name text NOT NULL, price integer);\n"
ADDED = V1.replace("price integer);", "price integer, note text);")
DROPPED = V1.replace(", price integer);", ");")


def shadows(result: Result) -> int:
    return result.names().count("shadow.created")


def env(db_url: str, sql_dir: Path) -> dict[str, str]:
    # shadow.created is a debug event
    return {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_LEVEL": "DEBUG"}


@pytest.mark.parametrize(("change", "needle"), [(ADDED, "ADD COLUMN note"), (DROPPED, "DROP COLUMN price")])
def test_plan_verify_and_run_build_the_desired_state_once(db_url: str, tmp_path: Path, change: str,
                                                           needle: str) -> None:
    """A changed sql/schema/ is built in one shadow by plan, verify and a refused run; run adds its rehearsal's copy."""
    sql_dir = write_schema(tmp_path, {"shop.sql": V1})
    assert initjob("run", **env(db_url, sql_dir)).code == 0
    (sql_dir / "schema" / "shop.sql").write_text(change)
    plan = initjob("plan", **env(db_url, sql_dir))
    assert plan.code == 0 and needle in plan.stdout, plan.stderr
    assert shadows(plan) == 1, plan.names()
    verify = initjob("verify", **env(db_url, sql_dir))
    assert verify.code == 3 and shadows(verify) == 1, verify.names()
    if change is DROPPED:  # refused under the lock, from the one comparison
        refused = initjob("run", **env(db_url, sql_dir))
        assert refused.code == 3 and shadows(refused) == 1, refused.names()
    run = initjob("run", **env(db_url, sql_dir), INITJOB_ALLOW_DESTRUCTIVE="true")
    assert run.code == 0, run.stderr
    assert "sync.rehearsed" in run.names() and shadows(run) == 2, run.names()


def test_plan_on_an_empty_database_builds_one_shadow(db_url: str, tmp_path: Path) -> None:
    """An empty database is decided without a comparison: plan makes the one it prints."""
    plan = initjob("plan", **env(db_url, write_schema(tmp_path, {"shop.sql": V1})))
    assert plan.code == 0 and "CREATE TABLE shop.items" in plan.stdout, plan.stderr
    assert shadows(plan) == 1, plan.names()
