"""``initjob lint``: find the operations in pending migrations (or in the auto-sync plan) that hurt a live database.

squawk (``pip install 'initjob[lint]'``, a PostgreSQL migration linter) reads the SQL; this module picks
the rules that matter under initjob (``RULES``, each with a level and the safe alternative), drops the
ones initjob already satisfies (``DROPPED``), adds initjob's own (a missing down file, the plan's
destructive and locking steps), honours ``-- initjob:lint-ignore RULE: reason`` comments, and turns the
result into text, JSON, log events and an exit code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from initjob import logs, sqltext
from initjob.config import Config
from initjob.db import history
from initjob.decide import ApplyFiles, Migrate, Need, Sync
from initjob.errors import ConfigError, LintFindings, ToolMissing
from initjob.facts import read_tree, settle
from initjob.report import Report
from initjob.session import with_connection
from initjob.source import NO_TRANSACTION, Migration, is_contract, normalise
from initjob.tree import Tree, scan

if TYPE_CHECKING:
    from initjob.schema.diff import Plan

Connection = psycopg.Connection[Any]

ERROR = "error"
WARNING = "warning"
FAIL_ON = ("error", "warning", "never")
_RANK = {WARNING: 1, ERROR: 2, "never": 3}
IGNORE = "-- initjob:lint-ignore"
SQUAWK_TIMEOUT = 60.0
_NO_TX = "in a file of its own whose first line is `-- initjob:no-transaction`"
_EXPAND_CONTRACT = ("the running release still uses the old shape while this runs: stop using it in one release "
                    "and remove it in the next (expand, then contract)")


@dataclass(frozen=True)
class Rule:
    """A rule's level under initjob and the safe alternative to what it found."""

    level: str
    fix: str


# squawk's rules that initjob keeps, by name. Rules squawk adds later stay off until listed here.
RULES: dict[str, Rule] = {
    "require-concurrent-index-creation": Rule(ERROR, f"CREATE INDEX CONCURRENTLY, {_NO_TX}"),
    "require-concurrent-index-deletion": Rule(WARNING, f"DROP INDEX CONCURRENTLY, {_NO_TX}"),
    "require-concurrent-reindex": Rule(WARNING, f"REINDEX ... CONCURRENTLY, {_NO_TX}"),
    "require-concurrent-partition-detach": Rule(WARNING, f"DETACH PARTITION ... CONCURRENTLY, {_NO_TX}"),
    "ban-concurrent-index-creation-in-transaction": Rule(
        ERROR, "make `-- initjob:no-transaction` the file's first line and keep the statement alone in its file"),
    "adding-required-field": Rule(
        ERROR, "add the column with a constant DEFAULT (no rewrite since PostgreSQL 11) or nullable, backfill, "
               "and enforce NOT NULL in a later migration"),
    "adding-not-nullable-field": Rule(
        ERROR, "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c in the next migration; "
               "then SET NOT NULL (PostgreSQL 12+ skips the scan thanks to the valid check) and drop c"),
    "adding-field-with-default": Rule(
        ERROR, "add the column with a constant default or none, backfill in batches, then set the volatile default"),
    "changing-column-type": Rule(
        ERROR, "add a column of the new type, write both, backfill in batches, move readers, drop the old one later "
               "(varchar(n) to a wider varchar or to text does not rewrite: ignore the rule for those)"),
    "constraint-missing-not-valid": Rule(
        ERROR, "ADD CONSTRAINT ... NOT VALID here, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration "
               "(it scans without blocking writes)"),
    "adding-foreign-key-constraint": Rule(
        ERROR, "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID here, VALIDATE CONSTRAINT in a later migration"),
    "adding-serial-primary-key-field": Rule(
        ERROR, f"CREATE UNIQUE INDEX CONCURRENTLY {_NO_TX}, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX"),
    "disallowed-unique-constraint": Rule(
        ERROR, f"CREATE UNIQUE INDEX CONCURRENTLY {_NO_TX}, then ADD CONSTRAINT ... UNIQUE USING INDEX"),
    "renaming-column": Rule(ERROR, "add the new column, write both, backfill, move readers in one release and drop "
                                   "the old column in the next; or keep the old name through a view"),
    "renaming-table": Rule(ERROR, "keep a view under the old name for one release, or rename in the release after "
                                  "the code stopped using the old name"),
    "renaming-object": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-column": Rule(ERROR, _EXPAND_CONTRACT + "; the data is gone: check the backup marker first"),
    "ban-drop-table": Rule(ERROR, _EXPAND_CONTRACT + "; the data is gone: check the backup marker first"),
    "ban-drop-database": Rule(ERROR, "never drop a database from a migration"),
    "ban-truncate-cascade": Rule(ERROR, "TRUNCATE the tables you mean by name, without CASCADE"),
    "ban-drop-view": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-function": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-type": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-domain": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-schema": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-sequence": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-extension": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-drop-constraint": Rule(WARNING, "make sure the running release does not rely on the guarantee any more"),
    "ban-drop-not-null": Rule(WARNING, "make sure the running release copes with NULL in this column first"),
    "ban-set-schema": Rule(WARNING, _EXPAND_CONTRACT),
    "ban-create-domain-with-constraint": Rule(
        WARNING, "put the CHECK on the table's columns instead (added NOT VALID, then validated)"),
    "ban-alter-domain-with-add-constraint": Rule(
        WARNING, "put the CHECK on the table's columns instead (added NOT VALID, then validated)"),
    "transaction-nesting": Rule(ERROR, "remove BEGIN/COMMIT: initjob runs each file in its own transaction"),
    "ban-uncommitted-transaction": Rule(ERROR, "remove BEGIN/COMMIT: initjob runs each file in its own transaction"),
    "syntax-error": Rule(WARNING, "squawk could not parse this, so the rest of the file went unchecked; "
                                  "`initjob plan` against a scratch database is the real test"),
}

# initjob's own rules, found without squawk.
OWN_RULES: dict[str, Rule] = {
    "missing-down-file": Rule(WARNING, "write the .down.sql that undoes it (`initjob rollback` needs it), or "
                                       "ignore the rule for a change that only rolls forward"),
    "destructive-step": Rule(ERROR, "keep the object for one more release, or review `initjob plan` and run with "
                                    "INITJOB_ALLOW_DESTRUCTIVE=true"),
    "locking-step": Rule(WARNING, "expect a lock or a scan that grows with the table: run it at a quiet hour"),
    "unknown-lint-ignore": Rule(WARNING, "name rules as `initjob lint` prints them"),
    "belongs-in-contract-migration": Rule(
        WARNING, "move it to a migration whose header holds `-- initjob:contract`: INITJOB_PHASE=expand leaves it "
                 "pending while the previous release still runs, contract applies it after the rollout "
                 "(docs/zero-downtime.md)"),
}
# What breaks the previous release while it still runs (INITJOB_PHASE): a drop of a column or table, a
# rename, a SET NOT NULL, a type change (a narrowing; widening varchar is harmless: ignore the rule there).
_BREAKING = re.compile(r"\bDROP\s+(?:COLUMN|TABLE)\b|\bRENAME\b|\bSET\s+NOT\s+NULL\b"
                       r"|\bALTER\s+(?:COLUMN\s+)?(?!TABLE\b)\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.I)

# squawk's rules that initjob turns off, and why (docs/ci.md lists them).
DROPPED: dict[str, str] = {
    "require-lock-timeout": "initjob sets lock_timeout (INITJOB_DDL_LOCK_TIMEOUT) around every DDL and retries",
    "require-statement-timeout": "a long build is meant to finish; lock_timeout already keeps it from blocking",
    "require-timeout-settings": "initjob sets lock_timeout itself",
    "prefer-robust-stmts": "each file runs in one transaction with its history row; no-transaction files resume",
    "prefer-bigint-over-int": "style, not live-database safety (run squawk itself for style)",
    "prefer-bigint-over-smallint": "style, not live-database safety",
    "prefer-identity": "style, not live-database safety",
    "prefer-text-field": "style, not live-database safety",
    "prefer-timestamp-tz": "style, not live-database safety",
    "ban-char-field": "style, not live-database safety",
    "require-enum-value-ordering": "style, not live-database safety",
    "unused-ignore": "about squawk's own ignore comments",
}

# A statement that draws a specific rule does not also need the generic advice.
_SUPERSEDES = {
    "constraint-missing-not-valid": ("disallowed-unique-constraint", "adding-foreign-key-constraint",
                                     "adding-serial-primary-key-field"),
}
# In the auto-sync plan, diff's own classification knows which drop loses data (a view dropped to be
# re-created does not): squawk's drop and rename rules would only repeat it, or be wrong.
_PLAN_KNOWS = ("ban-drop-", "renaming-", "ban-set-schema", "ban-truncate-cascade")
# The online forms diff already chose: classed "locking" because they scan, but they do not block.
_ONLINE = re.compile(r"\bCONCURRENTLY\b|\bVALIDATE\s+CONSTRAINT\b|\bNOT\s+VALID\b", re.I)
_IGNORE_LINE = re.compile(r"^\s*--\s*initjob:lint-ignore\b(?P<rules>[^:\n]*)(?::(?P<reason>[^\n]*))?$", re.M)


@dataclass(frozen=True)
class Target:
    """One piece of SQL to lint: a migration file, or a batch of the auto-sync plan."""

    path: str
    text: str
    transactional: bool = True
    on_disk: bool = True
    down_missing: bool = False
    steps: tuple[tuple[int, int, str], ...] = ()  # plan batches: (first line, step number, object)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    column: int
    rule: str
    level: str
    message: str
    fix: str
    source: str = ""


@dataclass(frozen=True)
class Ignored:
    finding: Finding
    reason: str


@dataclass
class Result:
    linted: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def failing(self, fail_on: str) -> list[Finding]:
        return [f for f in self.findings if _RANK[f.level] >= _RANK[fail_on]]

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)

    def to_json(self, fail_on: str) -> dict[str, Any]:
        return {"linted": self.linted, "fail_on": fail_on, "failed": bool(self.failing(fail_on)),
                "errors": self.count(ERROR), "warnings": self.count(WARNING),
                "findings": [asdict(f) for f in self.findings],
                "ignored": [{**asdict(i.finding), "reason": i.reason} for i in self.ignored]}


# ------------------------------------------------------------------ targets


def migration_targets(sql_dir: Path, migrations: Iterable[Migration]) -> list[Target]:
    """The up files of these migrations, as paths the user can open."""
    return [Target(str(sql_dir / m.up.path), m.up.text, m.transactional, down_missing=m.down is None)
            for m in migrations]


def file_targets(paths: Sequence[str]) -> list[Target]:
    """SQL files named on the command line; a ``.up.sql`` without its ``.down.sql`` is flagged."""
    targets, problems = [], []
    for name in paths:
        path = Path(name)
        try:
            text = normalise(path.read_bytes())
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{name}: cannot be read ({exc.__class__.__name__})")
            continue
        down = path.with_name(path.name[: -len(".up.sql")] + ".down.sql") if path.name.endswith(".up.sql") else None
        targets.append(Target(name, text, not text.lstrip().startswith(NO_TRANSACTION),
                              down_missing=down is not None and not down.exists()))
    if problems:
        raise ConfigError("cannot lint: " + "; ".join(problems), "name readable UTF-8 SQL files")
    return targets


def plan_targets(plan: Plan) -> tuple[list[Target], list[Finding]]:
    """The plan's transactional steps as one batch (so squawk sees tables created earlier in it), the
    others as a second, and a finding for each destructive step and each locking one not done online."""
    own: list[Finding] = []
    batches: dict[bool, tuple[list[str], list[tuple[int, int, str]]]] = {True: ([], []), False: ([], [])}
    for number, step in enumerate(plan.steps, start=1):
        lines, steps = batches[step.transactional]
        steps.append((len(lines) + 1, number, step.object))
        lines.extend((step.sql.rstrip().rstrip(";") + ";").split("\n"))
        if step.kind == "destructive" or (step.kind == "locking" and not _ONLINE.search(step.sql)):
            rule = f"{step.kind}-step"
            own.append(Finding("plan", number, 1, rule, OWN_RULES[rule].level, f"{step.object}: {step.reason}",
                               OWN_RULES[rule].fix, step.sql.split("\n", 1)[0][:120]))
    targets = [Target("plan", "\n".join(lines) + "\n", tx, on_disk=False, steps=tuple(steps))
               for tx, (lines, steps) in batches.items() if lines]
    return targets, own


# ------------------------------------------------------------------ squawk


def find_squawk() -> str | None:
    """The squawk installed beside this Python (the ``lint`` extra), else one on PATH."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("squawk")


def require_squawk() -> str:
    squawk = find_squawk()
    if squawk is None:
        raise ToolMissing("`initjob lint` needs squawk, which is not installed",
                          "pip install 'initjob[lint]' (or squawk-cli), or put squawk on PATH")
    return squawk


def pg_version(server_version: int | None) -> str | None:
    """squawk's ``--pg-version`` from libpq's number: 150018 → 15.18."""
    if not server_version:
        return None
    return f"{server_version // 10000}.{server_version % 10000}"


def run_squawk(squawk: str, targets: Sequence[Target], version: str | None = None) -> list[dict[str, Any]]:
    """squawk's raw JSON findings, with ``target`` (an index into ``targets``) added to each."""
    found: list[dict[str, Any]] = []
    for transactional in (True, False):
        group = [(i, t) for i, t in enumerate(targets) if t.transactional is transactional]
        # Transactional files run in one transaction: squawk then knows a table created earlier in
        # the file is new, and flags CONCURRENTLY where it cannot run.
        args = [squawk, "--reporter", "json", "--config", os.devnull]
        args += ["--assume-in-transaction"] if transactional else []
        args += [f"--pg-version={version}"] if version else []
        on_disk = [(i, t) for i, t in group if t.on_disk]
        if on_disk:
            by_path = {os.path.realpath(t.path): i for i, t in on_disk}
            for item in _squawk([*args, *(t.path for _, t in on_disk)], None):
                index = by_path.get(os.path.realpath(str(item.get("file", ""))))
                if index is None:
                    raise ConfigError(f"squawk reported a file it was not given: {item.get('file')!r}",
                                      "squawk 2.x is expected: pip install 'initjob[lint]'")
                item["target"] = index
                found.append(item)
        for i, t in group:
            if not t.on_disk:
                for item in _squawk([*args, "--stdin-filepath", t.path], t.text):
                    item["target"] = i
                    found.append(item)
    return found


def _squawk(args: list[str], stdin: str | None) -> list[dict[str, Any]]:
    try:
        done = subprocess.run(args, input=stdin if stdin is not None else "", capture_output=True, text=True,
                              timeout=SQUAWK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"squawk could not run: {exc}", "reinstall it: pip install 'initjob[lint]'") from exc
    try:
        data = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        data = None
    if done.returncode not in (0, 1) or not isinstance(data, list):
        reason = (done.stderr or done.stdout).strip().splitlines()[:1] or [f"exit {done.returncode}"]
        raise ConfigError(f"squawk failed: {reason[0][:300]}", "check the files named; squawk 2.x is expected")
    return [d for d in data if isinstance(d, dict)]


# ------------------------------------------------------------------ findings (pure)


def to_findings(raw: Sequence[dict[str, Any]], targets: Sequence[Target]) -> list[Finding]:
    """Keep the rules of RULES, at initjob's level, 1-based lines, one finding per rule and statement."""
    out: list[Finding] = []
    seen: set[tuple[int, int, str]] = set()
    by_statement: dict[tuple[int, int], set[str]] = {}
    kept: list[tuple[int, int, dict[str, Any]]] = []
    for item in raw:
        rule = str(item.get("rule_name", ""))
        if rule not in RULES:
            continue
        index = int(item.get("target", 0))
        if targets[index].steps and rule.startswith(_PLAN_KNOWS):
            continue
        line = int(item.get("line", 0)) + 1  # squawk counts lines from 0
        if (index, line, rule) in seen:
            continue
        seen.add((index, line, rule))
        stmt = _statement_at(targets[index].text, line)
        by_statement.setdefault((index, stmt), set()).add(rule)
        kept.append((index, stmt, item))
    for index, stmt, item in kept:
        rule = str(item["rule_name"])
        if any(r in by_statement[(index, stmt)] for r in _SUPERSEDES.get(rule, ())):
            continue
        out.append(_finding(targets[index], item, rule))
    return out


def _finding(target: Target, item: dict[str, Any], rule: str) -> Finding:
    line = int(item.get("line", 0)) + 1
    column = int(item.get("column", 0)) + 1
    lines = target.text.split("\n")
    source = lines[line - 1].strip()[:160] if 0 < line <= len(lines) else ""
    message = " ".join(str(item.get("message", "")).split())
    if not target.steps:
        return Finding(target.path, line, column, rule, RULES[rule].level, message, RULES[rule].fix, source)
    first, number, obj = max((s for s in target.steps if s[0] <= line), default=target.steps[0])
    return Finding("plan", number, line - first + 1, rule, RULES[rule].level, f"{obj}: {message}",
                   RULES[rule].fix, source)


def _statement_at(text: str, line: int) -> int:
    """The first line of the statement that holds ``line`` (findings of one statement share it)."""
    starts = [s.line for s in sqltext.split_statements(text)]
    return max((s for s in starts if s <= line), default=0)


def own_findings(targets: Sequence[Target]) -> list[Finding]:
    rule = OWN_RULES["missing-down-file"]
    return [Finding(t.path, 1, 1, "missing-down-file", rule.level, "no .down.sql: `initjob rollback` cannot undo "
                    "this migration", rule.fix) for t in targets if t.down_missing] + _breaking(targets)


def _what(found: str) -> str:
    words = " ".join(found.split()).upper()
    return "a type change" if words.endswith("TYPE") else words


def _breaking(targets: Sequence[Target]) -> list[Finding]:
    """A breaking statement in a regular migration file: it belongs in a contract (post-deploy) one."""
    rule = OWN_RULES["belongs-in-contract-migration"]
    out = []
    for t in targets:
        if t.steps or is_contract(t.text):  # the auto-sync plan splits itself; a contract file is the place
            continue
        for stmt in sqltext.split_statements(t.text):
            if stmt.first_words[:1] == ("ALTER",) or stmt.first_words[:1] == ("DROP",):
                found = _BREAKING.search(stmt.text)
                if found:
                    out.append(Finding(t.path, stmt.line, 1, "belongs-in-contract-migration", rule.level,
                                       f"{_what(found[0])} breaks the previous release while it "
                                       "still runs: it belongs in a contract migration", rule.fix,
                                       stmt.text.strip().split("\n", 1)[0][:160]))
    return out


def parse_ignores(text: str) -> dict[str, str]:
    """``-- initjob:lint-ignore rule-a, rule-b: why`` anywhere in a file → {rule: why} for that file."""
    out: dict[str, str] = {}
    for m in _IGNORE_LINE.finditer(text):
        reason = (m["reason"] or "").strip()
        for rule in re.split(r"[\s,]+", m["rules"].strip()):
            if rule:
                out[rule] = reason
    return out


def apply_ignores(findings: Sequence[Finding], targets: Sequence[Target]) -> Result:
    """Split findings into reported and ignored-by-comment; an ignore naming no known rule is a finding."""
    result = Result(linted=list(dict.fromkeys(t.path for t in targets)))
    ignores: dict[str, dict[str, str]] = {}
    for t in targets:
        if t.on_disk:
            ignores[t.path] = parse_ignores(t.text)
            for rule in ignores[t.path]:
                if rule not in RULES and rule not in OWN_RULES:
                    unknown = OWN_RULES["unknown-lint-ignore"]
                    result.findings.append(Finding(t.path, _ignore_line(t.text, rule), 1, "unknown-lint-ignore",
                                                   unknown.level, f"{IGNORE} names {rule!r}, which is not a rule "
                                                   "of `initjob lint`", unknown.fix))
    for f in findings:
        reason = ignores.get(f.file, {}).get(f.rule)
        if reason is not None:
            result.ignored.append(Ignored(f, reason))
        else:
            result.findings.append(f)
    result.findings.sort(key=lambda f: (result.linted.index(f.file) if f.file in result.linted else 0, f.line))
    return result


def _ignore_line(text: str, rule: str) -> int:
    for number, line in enumerate(text.split("\n"), start=1):
        if "initjob:lint-ignore" in line and rule in line:
            return number
    return 1


def lint_targets(targets: Sequence[Target], squawk: str, version: str | None = None,
                 extra: Sequence[Finding] = ()) -> Result:
    """squawk's findings under initjob's rules, initjob's own, and the files' opt-outs."""
    raw = run_squawk(squawk, targets, version) if targets else []
    return apply_ignores([*to_findings(raw, targets), *own_findings(targets), *extra], targets)


# ------------------------------------------------------------------ output


_COLOUR = {ERROR: "\033[31m", WARNING: "\033[33m"}


def render_text(result: Result, fail_on: str, colour: bool = False) -> str:
    """Findings for a person: where, what, the line, and the safe alternative."""
    lines: list[str] = []
    for f in result.findings:
        where = f"plan step {f.line}" if f.file == "plan" else f"{f.file}:{f.line}:{f.column}"
        level = f"{_COLOUR[f.level]}{f.level}\033[0m" if colour else f.level
        lines.append(f"{where}: {level} [{f.rule}] {f.message}")
        if f.source:
            lines.append(f"    | {f.source}")
        lines.append(f"    fix: {f.fix}")
    for i in result.ignored:
        where = f"plan step {i.finding.line}" if i.finding.file == "plan" else f"{i.finding.file}:{i.finding.line}"
        lines.append(f"{where}: ignored [{i.finding.rule}] {i.reason or '(no reason given)'}")
    if lines:
        lines.append("")
    lines.append(summary(result, fail_on))
    return "\n".join(lines)


def summary(result: Result, fail_on: str) -> str:
    errors, warnings = result.count(ERROR), result.count(WARNING)
    what = (result.linted[0] if result.linted[:1] and result.linted[0].startswith("plan")
            else f"{len(result.linted)} file(s)")
    head = (f"{errors} error(s), {warnings} warning(s) in {what}" if result.findings
            else f"no findings in {what}" if result.linted else "nothing to lint")
    ignored = f", {len(result.ignored)} ignored by comment" if result.ignored else ""
    verdict = "FAIL" if result.failing(fail_on) else "ok"
    return f"{head}{ignored} (fail on: {fail_on}): {verdict}"


# ------------------------------------------------------------------ the command and the run's warnings


def command(cfg: Config) -> Report:
    """Lint what ``run`` would apply (a database), or every migration (``--all``, no database), or FILEs."""
    squawk = require_squawk()
    if cfg.args.lint_paths:
        result = lint_targets(file_targets(cfg.args.lint_paths), squawk)
    elif cfg.args.lint_all or (cfg.mode.use_migrations and not cfg.database_configured):
        result = _lint_every_migration(cfg, squawk)
    elif not cfg.database_configured:
        raise ConfigError("auto-sync lint needs a database: it checks the plan built from sql/schema/",
                          "set DATABASE_URL, or run `initjob lint --all` to lint sql/migrations/")
    else:
        tree = read_tree(cfg)
        result = with_connection(cfg.connection, lambda conn: _lint_database(cfg, conn, tree, squawk))
    return _answer(cfg, result)


def _lint_every_migration(cfg: Config, squawk: str) -> Result:
    logs.event("lint.every_file", reason="--all" if cfg.args.lint_all else "no database configured",
               sql_dir=str(cfg.mode.sql_dir / "migrations"))
    migrations = scan(cfg.mode.sql_dir, True, cfg.mode.history_schema, cfg.mode.migrations_format).migrations
    return lint_targets(migration_targets(cfg.mode.sql_dir, migrations), squawk)


def _lint_database(cfg: Config, conn: Connection, tree: Tree, squawk: str) -> Result:
    """What ``run`` would apply, as the decider says: pending migrations, or the auto-sync plan.

    The plan is asked for as if destructive steps were allowed: lint's job is to report them.
    """
    version = pg_version(conn.info.server_version)
    asked = replace(cfg, apply=replace(cfg.apply, allow_destructive=True))
    decision = settle(conn, asked, tree, stop_at=frozenset({Need.BASELINE}))
    if isinstance(decision, Migrate):
        return lint_targets(migration_targets(cfg.mode.sql_dir, decision.plan.work), squawk, version)
    if isinstance(decision, ApplyFiles | Sync):
        from initjob import sync  # auto-sync's edges: a migrations-mode run's lint hook never loads them

        comparison = decision.comparison if isinstance(decision, Sync) else sync.compare(
            conn, cfg.connection, cfg.mode.history_schema, history.read_state(conn, cfg.mode.history_schema),
            list(tree.schema_files))
        plan = comparison.plan
        targets, own = plan_targets(plan)
        result = lint_targets(targets, squawk, version, own)
        result.linted = [f"plan ({len(plan.steps)} step(s))"] if plan.steps else []
        return result
    return Result()


def _answer(cfg: Config, result: Result) -> Report:
    """Findings on stdout; exit 3 when any is at or above --fail-on (stdout is written first)."""
    fail_on = cfg.args.fail_on
    report = Report(cfg.mode.name, output=json.dumps(result.to_json(fail_on), indent=2) if cfg.args.json
                    else render_text(result, fail_on, colour=sys.stdout.isatty()))
    logs.event("lint.done", files=len(result.linted), errors=result.count(ERROR), warnings=result.count(WARNING),
               ignored=len(result.ignored), fail_on=fail_on)
    failing = result.failing(fail_on)
    if failing:
        # cli prints a report's output only on success; a gate's findings must show on failure too.
        sys.stdout.write(report.output.rstrip("\n") + "\n")
        sys.stdout.flush()
        first = "; ".join(f"{f.file}:{f.line} {f.rule}" for f in failing[:5])
        raise LintFindings(f"lint: {len(failing)} finding(s) at or above {fail_on}: {first}",
                          "apply the fix shown for each, or, once reviewed, add "
                          f"`{IGNORE} RULE: why` to the file before it is applied", findings=len(failing))
    return report


def log_findings(sql_dir: Path, work: Sequence[Migration], server_version: int | None = None) -> None:
    """``run``: each finding of what is about to be applied, as a warning; never stops the run."""
    if not work:
        return
    squawk = find_squawk()
    if squawk is None:
        logs.debug("lint.skipped", reason="squawk is not installed (pip install 'initjob[lint]')")
        return
    try:
        result = lint_targets(migration_targets(sql_dir, work), squawk, pg_version(server_version))
    except ConfigError as exc:
        logs.warning("lint.skipped", reason=exc.reason)
        return
    except Exception as exc:  # advice only: a lint bug must not stop a deploy
        logs.warning("lint.skipped", reason=f"bug: {exc.__class__.__name__}: {exc}")
        return
    for f in result.findings:
        # ``level`` is the log line's own field: the finding's level goes in ``severity``.
        logs.warning("lint.finding", file=f.file, line=f.line, rule=f.rule, severity=f.level, message=f.message,
                     fix=f.fix)
