"""`initjob lint`: squawk under initjob's rule set, initjob's own rules, opt-outs, output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, base_env, initjob, write_migrations, write_schema

from initjob import lint
from initjob.errors import ConfigError
from initjob.schema.diff import Hazard, Plan, Step

BASE = "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, n integer);\n"
BASE_DOWN = "DROP TABLE items;\n"


def squawk() -> str:
    found = lint.find_squawk()
    assert found, "squawk is not installed: pip install -e '.[dev]' (it is in the dev and lint extras)"
    return found


def run(*args: str, **env: str) -> Result:
    return initjob(*args, env=base_env(**env))


def lint_json(*args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    result = run("lint", "--json", *args, **env)
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.code, doc, result.stderr


def one_file(tmp_path: Path, text: str, name: str = "0002_change.up.sql", down: bool = True) -> Path:
    files = {"0001_items.up.sql": BASE, "0001_items.down.sql": BASE_DOWN, name: text}
    if down:
        files[name.replace(".up.sql", ".down.sql")] = "SELECT 1;\n"
    return write_migrations(tmp_path, files) / "migrations" / name


# ------------------------------------------------------------------ the operations the issue names


UNSAFE = [
    ("index without CONCURRENTLY on an existing table", "CREATE INDEX items_title_idx ON items (title);",
     "require-concurrent-index-creation"),
    ("NOT NULL column without a default", "ALTER TABLE items ADD COLUMN owner text NOT NULL;",
     "adding-required-field"),
    ("type change that rewrites the table", "ALTER TABLE items ALTER COLUMN n TYPE bigint;",
     "changing-column-type"),
    ("CHECK without NOT VALID", "ALTER TABLE items ADD CONSTRAINT items_n_check CHECK (n > 0);",
     "constraint-missing-not-valid"),
    ("foreign key without NOT VALID",
     "ALTER TABLE items ADD CONSTRAINT items_n_fkey FOREIGN KEY (n) REFERENCES items (id);",
     "adding-foreign-key-constraint"),
    ("UNIQUE constraint built under an exclusive lock",
     "ALTER TABLE items ADD CONSTRAINT items_title_key UNIQUE (title);", "disallowed-unique-constraint"),
    ("SET NOT NULL scan", "ALTER TABLE items ALTER COLUMN n SET NOT NULL;", "adding-not-nullable-field"),
    ("volatile default rewrites", "ALTER TABLE items ADD COLUMN r float8 DEFAULT random();",
     "adding-field-with-default"),
    ("rename of a column", "ALTER TABLE items RENAME COLUMN title TO name;", "renaming-column"),
    ("rename of a table", "ALTER TABLE items RENAME TO things;", "renaming-table"),
    ("drop of a column", "ALTER TABLE items DROP COLUMN n;", "ban-drop-column"),
    ("drop of a table", "DROP TABLE items;", "ban-drop-table"),
]


@pytest.mark.parametrize(("what", "statement", "rule"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_each_unsafe_operation_is_found_with_line_and_fix(tmp_path: Path, what: str, statement: str,
                                                           rule: str) -> None:
    """Each operation of the issue is one error finding naming file, 1-based line and the safe alternative."""
    path = one_file(tmp_path, f"-- {what}\n\n{statement}\n")
    code, doc, stderr = lint_json(str(path))
    assert code == 3, stderr
    found = [f for f in doc["findings"] if f["rule"] == rule]
    assert found, doc
    assert found[0]["file"] == str(path)
    assert found[0]["line"] == 3
    assert found[0]["level"] == "error"
    assert found[0]["fix"] == lint.RULES[rule].fix
    assert found[0]["source"] == statement


def test_safe_change_has_no_finding(tmp_path: Path) -> None:
    """A nullable column, a constant default and an index on a table created in the same file are fine."""
    path = one_file(tmp_path, "ALTER TABLE items ADD COLUMN note text;\n"
                              "ALTER TABLE items ADD COLUMN flag boolean NOT NULL DEFAULT false;\n"
                              "CREATE TABLE tags (id bigint PRIMARY KEY, name text);\n"
                              "CREATE INDEX tags_name_idx ON tags (name);\n"
                              "ALTER TABLE items ADD CONSTRAINT items_n_pos CHECK (n > 0) NOT VALID;\n")
    code, doc, stderr = lint_json(str(path))
    assert code == 0, stderr
    assert doc["findings"] == [] and doc["failed"] is False


def test_online_index_in_a_no_transaction_file_is_fine(tmp_path: Path) -> None:
    """CONCURRENTLY in a `-- initjob:no-transaction` file is the safe form: no finding."""
    path = one_file(tmp_path, "-- initjob:no-transaction\n"
                              "CREATE INDEX CONCURRENTLY items_title_idx ON items (title);\n")
    code, doc, _ = lint_json(str(path))
    assert (code, doc["findings"]) == (0, [])


def test_concurrently_in_a_transactional_file_is_exit_2_with_the_line(tmp_path: Path) -> None:
    """The SQL tree check refuses it before squawk runs, exactly as `run` would (exit 2)."""
    sql = one_file(tmp_path, "\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\n").parent.parent
    result = initjob("lint", "--all", INITJOB_SQL_DIR=str(sql))
    assert result.code == 2
    assert "0002_change.up.sql:2" in result.failure["reason"]
    assert "initjob:no-transaction" in result.failure["reason"]


def test_missing_down_file_is_a_warning(tmp_path: Path) -> None:
    """No .down.sql is a warning: shown, but it fails only with --fail-on warning."""
    path = one_file(tmp_path, "ALTER TABLE items ADD COLUMN note text;\n", down=False)
    code, doc, _ = lint_json(str(path))
    assert code == 0
    assert [(f["rule"], f["level"]) for f in doc["findings"]] == [("missing-down-file", "warning")]
    code, doc, _ = lint_json("--fail-on", "warning", str(path))
    assert code == 3 and doc["failed"] is True


def test_timeout_and_style_rules_are_dropped(tmp_path: Path) -> None:
    """initjob sets lock_timeout itself; squawk's timeout, robustness and style rules stay silent."""
    path = one_file(tmp_path, "CREATE TABLE t2 (id int, c char(3), at timestamp);\n")
    code, doc, _ = lint_json(str(path))
    assert (code, doc["findings"]) == (0, [])
    raw = lint.run_squawk(squawk(), lint.file_targets([str(path)]))
    assert {r["rule_name"] for r in raw} & set(lint.DROPPED), "the file does draw the dropped rules from squawk"


# ------------------------------------------------------------------ opt-out, levels, output


def test_lint_ignore_comment_silences_a_considered_finding(tmp_path: Path) -> None:
    """`-- initjob:lint-ignore RULE: why` moves that rule's findings of the file to `ignored`, with the reason."""
    path = one_file(tmp_path, "-- initjob:lint-ignore require-concurrent-index-creation: items has 40 rows\n"
                              "CREATE INDEX items_title_idx ON items (title);\n")
    code, doc, _ = lint_json(str(path))
    assert code == 0
    assert doc["findings"] == []
    assert [(i["rule"], i["reason"]) for i in doc["ignored"]] == [("require-concurrent-index-creation",
                                                                   "items has 40 rows")]


def test_lint_ignore_of_an_unknown_rule_is_reported(tmp_path: Path) -> None:
    """A misspelt rule in an opt-out is a warning, so the opt-out does not silently do nothing."""
    path = one_file(tmp_path, "-- initjob:lint-ignore require-concurent-index-creation\n"
                              "CREATE INDEX items_title_idx ON items (title);\n")
    code, doc, _ = lint_json(str(path))
    assert code == 3
    assert {(f["rule"], f["line"]) for f in doc["findings"]} == {("unknown-lint-ignore", 1),
                                                                ("require-concurrent-index-creation", 2)}


def test_fail_on_never_reports_and_exits_0(tmp_path: Path) -> None:
    path = one_file(tmp_path, "ALTER TABLE items DROP COLUMN n;\n")
    code, doc, _ = lint_json("--fail-on", "never", str(path))
    assert code == 0 and doc["errors"] == 1 and doc["failed"] is False


def test_text_output_for_people(tmp_path: Path) -> None:
    """Text: `file:line:col: level [rule] message`, the offending line, the fix, and a verdict line."""
    path = one_file(tmp_path, "\nALTER TABLE items RENAME COLUMN title TO name;\n")
    result = initjob("lint", str(path))
    assert result.code == 3
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}:2:19: error [renaming-column] ")
    assert lines[1] == "    | ALTER TABLE items RENAME COLUMN title TO name;"
    assert lines[2] == f"    fix: {lint.RULES['renaming-column'].fix}"
    assert lines[-1] == "1 error(s), 1 warning(s) in 1 file(s) (fail on: error): FAIL"  # + belongs-in-contract
    failure = result.failure
    assert failure["exit_code"] == 3 and failure["guide"] == "docs/troubleshooting.md#exit-3"
    assert "renaming-column" in failure["reason"]


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    result = initjob("lint", str(tmp_path / "nope.sql"))
    assert result.code == 2 and "nope.sql" in result.failure["reason"]


# ------------------------------------------------------------------ what gets linted


def test_without_a_database_every_migration_is_linted(tmp_path: Path) -> None:
    """Migrations mode and no DATABASE_URL: every up file, so a developer can lint before merging."""
    sql = one_file(tmp_path, "CREATE INDEX items_title_idx ON items (title);\n").parent.parent
    code, doc, stderr = lint_json(USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql))
    assert code == 3
    assert [Path(p).name for p in doc["linted"]] == ["0001_items.up.sql", "0002_change.up.sql"]
    assert '"no database configured"' in stderr


def test_autosync_without_a_database_asks_for_one(tmp_path: Path) -> None:
    sql = write_schema(tmp_path, {"a.sql": BASE})
    result = initjob("lint", INITJOB_SQL_DIR=str(sql))
    assert result.code == 2 and "--all" in result.failure["reason"]


def test_with_a_database_only_pending_migrations_are_linted(db_url: str, tmp_path: Path) -> None:
    """The history says what is pending: an applied file's findings no longer matter."""
    sql = write_migrations(tmp_path, {"0001_items.up.sql": BASE + "CREATE INDEX i1 ON items (title);\n",
                                      "0001_items.down.sql": BASE_DOWN})
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql)}
    assert run("run", **env).code == 0
    (sql / "migrations" / "0002_n.up.sql").write_text("ALTER TABLE items ALTER COLUMN n SET NOT NULL;\n")
    (sql / "migrations" / "0002_n.down.sql").write_text("ALTER TABLE items ALTER COLUMN n DROP NOT NULL;\n")
    code, doc, _ = lint_json(**env)
    assert code == 3
    assert [Path(p).name for p in doc["linted"]] == ["0002_n.up.sql"]
    assert [f["rule"] for f in doc["findings"]] == ["adding-not-nullable-field", "belongs-in-contract-migration"]
    code, doc, _ = lint_json("--all", **env)
    assert {Path(p).name for p in doc["linted"]} == {"0001_items.up.sql", "0002_n.up.sql"}


def test_run_logs_findings_of_pending_files_as_warnings(db_url: str, tmp_path: Path) -> None:
    """`run` warns about what it is about to apply, and applies it anyway (the gate is `initjob lint`)."""
    sql = write_migrations(tmp_path, {"0001_items.up.sql": BASE, "0001_items.down.sql": BASE_DOWN})
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql)}
    first = run("run", **env)
    assert first.code == 0 and "lint.finding" not in first.names(), "a fresh database is not linted"
    (sql / "migrations" / "0002_idx.up.sql").write_text("CREATE INDEX items_title_idx ON items (title);\n")
    second = run("run", **env)
    assert second.code == 0, second.stderr
    (warning,) = [e for e in second.events if e.get("rule") == "require-concurrent-index-creation"]
    assert (warning["level"], warning["severity"]) == ("warning", "error")
    assert (Path(warning["file"]).name, warning["line"]) == ("0002_idx.up.sql", 1)
    rules = {e["rule"] for e in second.events if e["event"] == "lint.finding"}
    assert rules == {"require-concurrent-index-creation", "missing-down-file"}
    names = second.names()
    assert names.index("lint.finding") < names.index("migration.applied")


def test_autosync_plan_is_linted(db_url: str, tmp_path: Path) -> None:
    """Auto-sync: the plan from sql/schema/ is linted; a destructive step is an error, a locking one a warning."""
    sql = write_schema(tmp_path, {"a.sql": BASE})
    env = {"DATABASE_URL": db_url, "INITJOB_SQL_DIR": str(sql)}
    assert run("run", **env).code == 0
    code, doc, _ = lint_json(**env)
    assert (code, doc["linted"], doc["findings"]) == (0, [], [])
    (sql / "schema" / "a.sql").write_text("CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL);\n"
                                         "CREATE INDEX items_title_idx ON items (title);\n")
    code, doc, _ = lint_json(**env)
    assert code == 3
    rules = {(f["rule"], f["level"]) for f in doc["findings"]}
    assert ("destructive-step", "error") in rules
    assert all(f["file"] == "plan" for f in doc["findings"])
    assert doc["linted"][0].startswith("plan (")


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(("text", "expected"), [
    ("-- initjob:lint-ignore ban-drop-column: dropped after release 41\n", {"ban-drop-column": "dropped after "
                                                                             "release 41"}),
    ("  --initjob:lint-ignore a-rule, b-rule\n", {"a-rule": "", "b-rule": ""}),
    ("--  initjob:lint-ignore a b: why: because\n", {"a": "why: because", "b": "why: because"}),
    ("SELECT 1; -- initjob:lint-ignore a-rule\n", {}),
    ("-- initjob:lint-ignored a-rule\n", {}),
])
def test_parse_ignores(text: str, expected: dict[str, str]) -> None:
    assert lint.parse_ignores(text) == expected


def test_generic_not_valid_advice_gives_way_to_the_specific_rule() -> None:
    """squawk says both constraint-missing-not-valid and disallowed-unique-constraint: only the latter applies."""
    target = lint.Target("f.sql", "ALTER TABLE t\n  ADD CONSTRAINT u UNIQUE (a);\n")
    raw = [{"rule_name": "constraint-missing-not-valid", "line": 1, "column": 2, "message": "m", "target": 0},
           {"rule_name": "disallowed-unique-constraint", "line": 1, "column": 6, "message": "m", "target": 0},
           {"rule_name": "require-lock-timeout", "line": 0, "column": 0, "message": "m", "target": 0}]
    found = lint.to_findings(raw, [target])
    assert [(f.rule, f.line, f.column) for f in found] == [("disallowed-unique-constraint", 2, 7)]


def test_plan_steps_map_back_to_their_numbers() -> None:
    """Plan findings name the step, not a line of a file that does not exist."""
    plan = Plan((Step("CREATE TABLE a (id bigint)", "table a", "new"),
                 Step("ALTER TABLE b DROP COLUMN c", "column b.c", "not in sql/schema/", hazards=(Hazard.DATA_LOSS,)),
                 Step("CREATE INDEX CONCURRENTLY i ON b (d)", "index i", "new", transactional=False,
                      hazards=(Hazard.INDEX_BUILD,)),
                 Step("ALTER TABLE b ALTER COLUMN e TYPE bigint", "column b.e", "rewrites",
                      hazards=(Hazard.TABLE_REWRITE,))))
    targets, own = lint.plan_targets(plan)
    assert [(t.transactional, t.steps) for t in targets] == [
        (True, ((1, 1, "table a"), (2, 2, "column b.c"), (3, 4, "column b.e"))), (False, ((1, 3, "index i"),))]
    assert [(f.rule, f.line) for f in own] == [("destructive-step", 2), ("locking-step", 4)], "online is fine"
    raw = [{"rule_name": "ban-drop-column", "line": 1, "column": 0, "message": "drop", "target": 0},
           {"rule_name": "changing-column-type", "line": 2, "column": 14, "message": "type", "target": 0}]
    (finding,) = lint.to_findings(raw, targets)  # diff's own classification covers the drop
    assert (finding.file, finding.line, finding.message) == ("plan", 4, "column b.e: type")


def test_levels_and_fail_on() -> None:
    result = lint.Result(["f"], [lint.Finding("f", 1, 1, "r", "warning", "m", "x"),
                                 lint.Finding("f", 2, 1, "r", "error", "m", "x")])
    assert [len(result.failing(level)) for level in lint.FAIL_ON] == [1, 2, 0]


def test_rule_tables_are_consistent() -> None:
    """Every kept rule has a level and a fix; none is both kept and dropped."""
    assert not set(lint.RULES) & set(lint.DROPPED)
    assert not set(lint.RULES) & set(lint.OWN_RULES)
    for rule in [*lint.RULES.values(), *lint.OWN_RULES.values()]:
        assert rule.level in ("error", "warning") and rule.fix


def test_kept_rules_are_squawk_rules() -> None:
    """A rule renamed by a squawk upgrade would silently stop firing: every kept name must be a real rule."""
    import subprocess

    for rule in list(lint.RULES) + list(lint.DROPPED):
        if rule in ("syntax-error", "unused-ignore"):  # reported by squawk, not selectable
            continue
        done = subprocess.run([squawk(), "--exclude", rule, "--reporter", "json", "--stdin-filepath", "x.sql"],
                              input="SELECT 1;\n", capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"squawk does not know {rule}: {done.stderr}"


def test_without_squawk_lint_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint, "find_squawk", lambda: None)
    with pytest.raises(ConfigError, match="needs squawk") as raised:
        lint.require_squawk()
    assert "pip install 'initjob[lint]'" in raised.value.hint


def test_pg_version_for_squawk() -> None:
    assert [lint.pg_version(v) for v in (150018, 180001, 0, None)] == ["15.18", "18.1", None, None]


# ------------------------------------------------------------------ text logs for people (issue 7, item 2)


def test_text_logs_are_short_lines_with_progress(db_url: str, tmp_path: Path) -> None:
    """INITJOB_LOG_FORMAT=text: `[2/2] 0002_n … 3 ms` per file, and a failure names its guide."""
    sql = write_migrations(tmp_path, {"0001_items.up.sql": BASE, "0001_items.down.sql": BASE_DOWN,
                                      "0002_n.up.sql": "ALTER TABLE items ADD COLUMN note text;\n"})
    env = {"DATABASE_URL": db_url, "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(sql), "INITJOB_LOG_FORMAT": "text"}
    result = run("run", **env)
    assert result.code == 0, result.stderr
    messages = [line[17:] for line in result.stderr.splitlines()]  # after "HH:MM:SS level   "
    progress = [m for m in messages if m.startswith("[")]
    assert [m.split(" … ")[0] for m in progress] == ["[1/2] 0001_items", "[2/2] 0002_n"]
    assert all(m.endswith(" ms") for m in progress)
    assert messages[-1].startswith("run: exit 0 in ")
    (sql / "migrations" / "0003_bad.up.sql").write_text("ALTER TABLE nope ADD COLUMN x int;\n")
    failed = run("run", **env)
    assert failed.code == 5
    line = next(m for m in failed.stderr.splitlines() if " error " in m)
    assert "0003_bad.up.sql" in line and line.endswith("(exit 5; see docs/troubleshooting.md#exit-5)")
