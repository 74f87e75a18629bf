"""The doors other tools come in by: the GitHub Action (action.yml), the pre-commit hook, and the
example workflow that uses the action (issue 12). Each is read as its host reads it and run here.

The image's `-lint` variant and the manifests' NetworkPolicy are checked by .ci/container-checks.sh.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLE_SQL, ROOT, assert_no_secret, base_env

from devtools import actionrunner

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
EXAMPLE = ROOT / "examples" / "github-actions" / "schema-check-action.yaml"
INSTALL = "Install initjob"
# pre-commit's manifest keys (pre-commit/clientlib.py MANIFEST_HOOK_DICT)
_HOOK_KEYS = {"id", "name", "entry", "language", "alias", "files", "exclude", "types", "types_or", "exclude_types",
              "additional_dependencies", "args", "always_run", "fail_fast", "pass_filenames", "description",
              "language_version", "log_file", "require_serial", "stages", "verbose", "minimum_pre_commit_version"}


# ---------------------------------------------------------------- action.yml, read


def _expressions(text: str) -> set[str]:
    return {m.strip() for m in re.findall(r"\$\{\{(.*?)\}\}", text)}


def test_action_inputs_are_named_as_github_users_expect() -> None:
    """Kebab-case inputs with descriptions; the ones a user reaches for first are there."""
    inputs = ACTION["inputs"]
    assert {"command", "database-url", "sql-dir", "use-migrations", "args"} <= set(inputs)
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name) and spec["description"], name
        assert spec.get("required") is False and "default" in spec, f"{name}: optional, with a default"


def test_action_uses_what_it_declares_and_declares_what_it_uses() -> None:
    """Every `${{ inputs.X }}` is declared and every input is used; inputs reach scripts only via env."""
    text = (ROOT / "action.yml").read_text()
    used = {e.removeprefix("inputs.") for e in _expressions(text) if e.startswith("inputs.")}
    assert used == set(ACTION["inputs"])
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash"
        assert not _expressions(step["run"]), f"{step['name']}: an expression pasted into a script can inject"
    ids = {s.get("id") for s in ACTION["runs"]["steps"]}
    for name, out in ACTION["outputs"].items():
        assert all(e.split(".")[1] in ids for e in _expressions(out["value"])), name


def test_the_example_workflow_uses_the_action_with_its_inputs() -> None:
    """The example calls the action with declared inputs only, for lint, plan, run and verify."""
    job = next(iter(yaml.safe_load(EXAMPLE.read_text())["jobs"].values()))
    steps = [s for s in job["steps"] if s.get("uses", "").startswith("example/initjob@")]
    assert [s["with"]["command"] for s in steps] == ["lint", "plan", "run", "verify"]
    for s in steps:
        assert set(s["with"]) <= set(ACTION["inputs"]), s["with"]


# ---------------------------------------------------------------- action.yml, run


def _runner_env() -> dict[str, str]:
    """A runner's environment: no PYTHONWARNINGS=error, which would turn pip's own warnings into failures."""
    env = base_env()
    env.pop("PYTHONWARNINGS")
    return env


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RUNNER_TEMP with the action's venv in it: the install step runs once, for real (pip)."""
    temp = tmp_path_factory.mktemp("runner-temp")
    checkout = temp / "checkout"
    shutil.copytree(EXAMPLE_SQL, checkout / "sql")
    done = actionrunner.run(ROOT, {"command": "lint", "use-migrations": "true", "args": "--all"}, checkout,
                            env=_runner_env(), runner_temp=temp)
    assert [s.name for s in done.steps] == [INSTALL, "initjob lint"], done.log
    assert done.steps[0].code == 0, done.log
    yield temp


def _run(runner_temp: Path, inputs: dict[str, str]) -> actionrunner.ActionRun:
    done = actionrunner.run(ROOT, inputs, runner_temp / "checkout", env=_runner_env(), runner_temp=runner_temp,
                            skip=(INSTALL,))
    assert_no_secret(done.log, done.summary)
    return done


def test_action_lints_offline_and_fails_on_a_finding(runner_temp: Path) -> None:
    """lint needs no database; the example tree's planted finding fails the step with exit 3."""
    done = _run(runner_temp, {"command": "lint", "use-migrations": "true", "args": "--all",
                              "database-url": ""})
    assert done.code == 3 and done.outputs["exit-code"] == "3", done.log
    assert "disallowed-unique-constraint" in done.steps[0].stdout
    assert "::error title=initjob lint::exit 3" in done.steps[0].stdout
    assert "### initjob lint: exit 3" in done.summary


def test_action_plans_runs_and_verifies_a_service_database(runner_temp: Path, db_url: str) -> None:
    """Against a real database: verify fails on an empty one, plan prints SQL, run applies, verify passes."""
    common = {"database-url": db_url, "use-migrations": "true", "wait-timeout": "10"}
    assert _run(runner_temp, {**common, "command": "verify"}).code == 3
    plan = _run(runner_temp, {**common, "command": "plan"})
    assert plan.code == 0, plan.log
    assert "CREATE TABLE" in Path(plan.outputs["output-file"]).read_text()
    assert "```sql" in plan.summary
    assert _run(runner_temp, {**common, "command": "run"}).code == 0
    verify = _run(runner_temp, {**common, "command": "verify", "args": "--against-schema"})
    assert verify.code == 0 and verify.outputs["exit-code"] == "0", verify.log


def test_action_refuses_an_unknown_command(runner_temp: Path) -> None:
    """A typo in `command` is exit 2 before initjob runs, with a GitHub error annotation."""
    done = _run(runner_temp, {"command": "migrate"})
    assert done.code == 2 and "::error title=initjob::command must be" in done.steps[0].stdout


# ---------------------------------------------------------------- .pre-commit-hooks.yaml


def test_pre_commit_manifest_is_valid_and_pins_squawk_like_the_lint_extra() -> None:
    """Only keys pre-commit knows; squawk pinned as `initjob[lint]` pins it."""
    (hook,) = HOOKS
    assert set(hook) <= _HOOK_KEYS and hook["id"] == "initjob-lint" and hook["language"] == "python"
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lint"]
    assert hook["additional_dependencies"] == extra


@pytest.mark.parametrize(("path", "linted"), [
    ("sql/migrations/0004_unique_project_slug.up.sql", True),
    ("db/migrations/20260101000000_x.up.sql", True),
    ("sql/migrations/0004_unique_project_slug.down.sql", False),
    ("sql/schema/010_tables.sql", False),
    ("sql/migrations/README.md", False),
])
def test_pre_commit_hook_picks_the_migration_files(path: str, linted: bool) -> None:
    """The hook's `files` pattern takes up migrations and leaves everything else alone."""
    assert bool(re.search(HOOKS[0]["files"], path)) is linted


def test_pre_commit_hook_entry_runs_offline_as_pre_commit_would(tmp_path: Path) -> None:
    """`entry + args + changed files`, in the repository, with a DATABASE_URL that goes nowhere:
    a safe migration passes, the unsafe one fails with its finding."""
    hook = HOOKS[0]
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE_SQL, repo / "sql")
    (repo / "sql" / "migrations" / "0100_safe.up.sql").write_text("CREATE TABLE app.notes (id bigint);\n")
    env = base_env(DATABASE_URL="postgresql://nobody:nothing@127.0.0.1:1/none", INITJOB_LOG_FORMAT="text",
                   PATH=f"{Path(sys.executable).parent}:{base_env()['PATH']}")

    def pre_commit(*files: str) -> subprocess.CompletedProcess[str]:
        argv = [*hook["entry"].split(), *hook.get("args", []), *files]
        return subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)

    safe = pre_commit("sql/migrations/0100_safe.up.sql")
    assert safe.returncode == 0, safe.stderr
    unsafe = pre_commit("sql/migrations/0100_safe.up.sql", "sql/migrations/0004_unique_project_slug.up.sql")
    assert unsafe.returncode == 3
    assert "0004_unique_project_slug.up.sql:6:9: error [disallowed-unique-constraint]" in unsafe.stdout
    assert "db.wait" not in unsafe.stderr and "db.connected" not in unsafe.stderr

