"""The commands other than ``run``: verify, status, plan, rollback, baseline, new, diff, lint.

``verify``, ``status`` and ``plan`` never write to the database (``verify`` and ``plan`` may build
a scratch shadow database, never touching the target); the others take the migration lock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from initjob import facts, layouts, logs, migrate, plan, source, sync, transition
from initjob import lint as lint_
from initjob.config import Config
from initjob.db import activity, executor, history, lock, marker, precheck
from initjob.decide import Inspect, Migrate, Need, RecordState, Refuse, Repeat, Sync, UpToDate, describe
from initjob.errors import (
    ConfigError,
    ContractNotReady,
    DestructiveRefused,
    ExpandNotDone,
    NoMigrations,
    PendingWork,
    SqlFailed,
)
from initjob.facts import read_tree, settle, settle_facts
from initjob.names import comment_text
from initjob.render import render_plan
from initjob.report import Report
from initjob.schema import catalog, scope
from initjob.schema.diff import Plan as DiffPlan
from initjob.schema.diff import plan_sync
from initjob.session import locked, with_connection
from initjob.state import DbState
from initjob.tree import Tree, scan

Connection = psycopg.Connection[Any]

# ------------------------------------------------------------------ read-only: verify, status, plan


def _judge(conn: Connection, cfg: Config, tree: Tree, state: DbState
           ) -> tuple[bool, list[str], list[str], tuple[str, ...] | None]:
    """Up to date?  With the pending work, the problems and the drift if it was read: the decider's
    answer, read-only.

    A decision that would only record the state (changed files that build the same schema) is up
    to date: nothing in the schema differs.
    """
    decision, known = settle_facts(conn, cfg, tree, state, stop_at=frozenset({Need.BASELINE}))
    if isinstance(decision, UpToDate | RecordState) or (isinstance(decision, Repeat) and not decision.files):
        return True, [], [], known.drift
    if isinstance(decision, Refuse):
        return False, [], [decision.error.reason], known.drift
    if isinstance(decision, Inspect):  # the transition is pending
        return False, [], describe(decision), known.drift
    return False, describe(decision), [], known.drift


def _inspect(cfg: Config, conn: Connection, tree: Tree) -> dict[str, Any]:
    """Everything status and verify report, read without writing anything."""
    state = history.read_state(conn, cfg.mode.history_schema)
    doc: dict[str, Any] = {
        "mode": cfg.mode.name, "managed_by": state.mode, "database": conn.info.dbname,
        "applied": [], "pending": [], "problems": [], "drift": False, "up_to_date": False,
        "last_marker": None,
        # who runs a deploy right now, seen from here: read from the lock holder's session, never written
        "deploy_in_progress": activity.deploy_in_progress(conn, lock.lock_key(cfg.mode.history_schema)),
    }
    if state.last_marker is not None:
        m = state.last_marker
        doc["last_marker"] = {"taken_at": m.taken_at.isoformat(), "lsn": m.lsn, "restore_point": m.restore_point,
                              "dump_path": m.dump_path}
    doc["applied"] = [
        {"version": a.version_text, "name": a.name, "checksum": a.checksum, "applied_at": a.applied_at.isoformat(),
         "applied_by": a.applied_by, "execution_ms": a.execution_ms, "kind": a.kind,
         "source": a.source_tool or "initjob",
         "state": "applied" if a.success else f"half-done ({a.statements_done} statements)"}
        for a in state.applied
    ]
    up_to_date, pending, problems, drift = _judge(conn, cfg, tree, state)
    if cfg.mode.use_migrations:
        p = plan.plan_migrations(list(tree.migrations), state.applied)
        labels = {m.label for m in p.work}  # the decider's other work: a takeover, repeatable files
        doc["pending"] = [{"version": m.version_text, "name": m.name} for m in p.work] + [
            {"version": None, "name": line} for line in pending if line not in labels]
    else:
        doc["pending"] = [{"version": None, "name": line} for line in pending]
    if not state.known and not problems:
        problems.append("initjob has never run on this database")
    doc["problems"] = problems
    if state.fingerprint is not None:
        if drift is None:  # the decision did not need it: read it for the report
            drift = tuple(facts.drift(conn, cfg.mode.history_schema, state))
        doc["drift"] = list(drift) or False
    doc["up_to_date"] = up_to_date
    doc["phase"] = _phase_doc(cfg, conn, tree, state)
    return doc


def _phase_doc(cfg: Config, conn: Connection, tree: Tree, state: DbState) -> dict[str, Any]:
    """Where a zero-downtime deploy stands: whether expand completed for these files and its contract
    half waits, and which steps (or contract migrations) wait for it."""
    waiting = state.expanded is not None and state.expanded == tree.hash
    deferred: list[str] = []
    if cfg.mode.use_migrations:
        pending = plan.plan_migrations(list(tree.migrations), state.applied).work
        deferred = [m.label for m in pending if m.contract]
    elif state.known and (waiting or cfg.mode.phase != "all"):
        cleared = replace(state, schema_files={})  # the record may be expand's target: build from the files
        comparison = sync.compare(conn, cfg.connection, cfg.mode.history_schema, cleared,
                                  list(tree.schema_files) + list(tree.repeatables), phase="expand")
        deferred = [f"{s.object}: {s.reason}" for s in comparison.deferred]
    return {"phase": cfg.mode.phase, "expand_done": waiting, "contract_pending": deferred}


def verify(cfg: Config) -> Report:
    tree = read_tree(cfg)

    def work(conn: Connection) -> Report:
        doc = _inspect(cfg, conn, tree)
        if cfg.args.against_schema:
            doc["problems"].extend(_chain_vs_schema(cfg, conn))
            doc["up_to_date"] = doc["up_to_date"] and not doc["problems"]
        if not doc["up_to_date"]:
            reasons = list(doc["problems"])
            if doc["pending"]:
                reasons.append("pending: " + ", ".join(f"{p['version'] or ''} {p['name']}".strip()
                                                      for p in doc["pending"][:20]))
            if doc["drift"]:
                reasons.append("drift: " + "; ".join(doc["drift"][:10]))
            raise PendingWork("the schema is not up to date: " + "; ".join(reasons),
                              "run `initjob run` (or see `initjob status`)", pending=len(doc["pending"]))
        logs.event("verify.ok", mode=cfg.mode.name, applied=len(doc["applied"]))
        return Report(cfg.mode.name)

    return with_connection(cfg.connection, work)


def _chain_vs_schema(cfg: Config, conn: Connection) -> list[str]:
    """Differences between the migration chain's result and sql/schema/, both built in shadows."""
    # In the configured layout, whichever mode this verify runs in.
    migrations = list(scan(cfg.mode.sql_dir, True, cfg.mode.history_schema, cfg.mode.migrations_format).migrations)
    schema_files = source.read_schema_files(cfg.mode.sql_dir, cfg.mode.history_schema)
    desired, schemas = sync.desired_state(conn, cfg.connection, cfg.mode.history_schema, schema_files)
    chain = transition.chain_snapshots(conn, cfg.connection, cfg.mode.history_schema, migrations, schemas)
    final = chain[-1][1] if chain else catalog.Snapshot()
    diff = scope.differences(final, desired)
    return [f"migrations and sql/schema/ disagree: {line}" for line in diff]


def status(cfg: Config) -> Report:
    tree = read_tree(cfg)

    def work(conn: Connection) -> Report:
        doc = _inspect(cfg, conn, tree)
        return Report(cfg.mode.name, details={"up_to_date": doc["up_to_date"]},
                      output=json.dumps(doc, indent=2, default=str) if cfg.args.json else _status_table(doc))

    return with_connection(cfg.connection, work)


def _status_table(doc: dict[str, Any]) -> str:
    lines = [f"database:   {doc['database']}", f"mode:       {doc['mode']} (managed by: {doc['managed_by'] or '-'})",
             f"up to date: {'yes' if doc['up_to_date'] else 'NO'}"]
    marker = doc["last_marker"]
    if marker:
        lines.append(f"last marker: {marker['taken_at']} lsn {marker['lsn']} restore point "
                     f"{marker['restore_point'] or '-'} dump {marker['dump_path'] or '-'}")
    if doc["applied"]:
        lines += ["", f"{'VERSION':<16} {'NAME':<32} {'APPLIED AT':<25} {'BY':<20} {'MS':>7}  STATE"]
        for a in doc["applied"]:
            lines.append(f"{a['version']:<16} {a['name'][:32]:<32} {a['applied_at'][:25]:<25} "
                         f"{a['applied_by'][:20]:<20} {a['execution_ms'] or 0:>7}  {a['kind']}/{a['state']}"
                         + (f" (from {a['source']})" if a["source"] != "initjob" else ""))
    for p in doc["pending"]:
        lines.append(f"{p['version'] or '':<16} {p['name'][:60]:<32} {'':<25} {'':<20} {'':>7}  pending")
    for problem in doc["problems"]:
        lines.append(f"problem: {problem}")
    lines += activity.deploy_lines(doc.get("deploy_in_progress"))
    if doc["drift"]:
        lines += [f"drift: {d}" for d in doc["drift"]]
    phase = doc.get("phase") or {}
    if phase.get("expand_done"):
        lines.append("phase:      expand done for these files; contract waits (INITJOB_PHASE=contract after rollout)")
    lines += [f"waits for contract: {d}" for d in phase.get("contract_pending", ())]
    return "\n".join(lines)


def _phase_work(cfg: Config, tree: Tree, state: DbState) -> tuple[source.Migration, ...]:
    """The pending migrations of this phase: expand the regular ones, contract both kinds in order."""
    pending = plan.plan_migrations(list(tree.migrations), state.applied).work
    if cfg.mode.phase == "expand":
        return tuple(m for m in pending if not m.contract)
    return pending


def _repeatable_plan(decision: Repeat, as_json: bool) -> str:
    if as_json:
        return json.dumps([{"version": None, "name": f.path, "file": f.path, "transactional": True, "sql": f.text}
                           for f in decision.files], indent=2)
    return "\n".join(f"-- {f.path} (repeatable)\n{f.text.rstrip()}\n" for f in decision.files) or "-- nothing to do"


def plan_command(cfg: Config) -> Report:
    tree = read_tree(cfg)

    def work(conn: Connection) -> Report:
        decision = settle(conn, cfg, tree, stop_at=frozenset({Need.BASELINE}))
        if isinstance(decision, Refuse) and not isinstance(decision.error, DestructiveRefused | ExpandNotDone
                                                                                                | ContractNotReady):
            raise decision.error
        if isinstance(decision, Repeat):  # the schema is up to date: only repeatable files would run
            return Report(cfg.mode.name, output=_repeatable_plan(decision, cfg.args.json))
        if cfg.mode.use_migrations:
            work = decision.plan.work if isinstance(decision, Migrate) else ()
            if cfg.mode.phase != "all":  # the contract migrations: expand leaves them, contract runs them
                work = _phase_work(cfg, tree, history.read_state(conn, cfg.mode.history_schema))
            if cfg.args.json:
                output = json.dumps([{"version": m.version_text, "name": m.name, "file": m.up.path,
                                      "transactional": m.transactional, "sql": m.up.text} for m in work], indent=2)
            else:
                output = "\n".join(f"-- {comment_text(m.up.path)}{'' if m.transactional else ' (no transaction)'}\n"
                                   f"{m.up.text.rstrip()}\n" for m in work) or "-- nothing to do"
            return Report(cfg.mode.name, output=output)
        # The comparison the decision was made from, when it needed one: one shadow database per plan.
        # A phase cuts the plan its own way (expand's target, contract's deferred half): compared afresh.
        comparison = (decision.comparison if cfg.mode.phase == "all"
                      and isinstance(decision, Sync | RecordState | Refuse) else None)
        if comparison is None:  # decided without one (an empty database, files as recorded): the first here
            state = history.read_state(conn, cfg.mode.history_schema)
            if state.expanded:  # the record is expand's target: the desired state comes from the files
                state = replace(state, schema_files={})
            comparison = sync.compare(conn, cfg.connection, cfg.mode.history_schema, state,
                                      list(tree.schema_files) + list(tree.repeatables),
                                      phase="all" if cfg.mode.phase == "all" else "expand")
        diff_plan = comparison.plan
        if cfg.mode.phase == "contract":  # the half after the rollout: what expand leaves
            diff_plan = DiffPlan(comparison.deferred)
        # The live rows each data-dependent step needs, counted beside it (read-only).
        diff_plan = precheck.annotate(diff_plan, precheck.survey(conn, diff_plan.steps))
        if cfg.mode.phase == "expand" and comparison.deferred and not cfg.args.json:
            waiting = render_plan(DiffPlan(comparison.deferred)).splitlines()
            return Report(cfg.mode.name, output=(render_plan(diff_plan) or "-- nothing to do in expand\n")
                          + "\n-- Deferred to INITJOB_PHASE=contract (after the rollout):\n"
                          + "\n".join(("-- " + line) if line and not line.startswith("--") else line
                                       for line in waiting))
        if cfg.args.json:
            steps = [s.to_json() for s in diff_plan.steps]
            if cfg.mode.phase != "all":  # each step says its phase; expand also lists what waits
                steps = [{**s, "phase": cfg.mode.phase} for s in steps] + (
                    [{**s.to_json(), "phase": "contract"} for s in comparison.deferred]
                    if cfg.mode.phase == "expand" else [])
            return Report(cfg.mode.name, output=json.dumps(steps, indent=2))
        return Report(cfg.mode.name, output=render_plan(diff_plan) or "-- nothing to do")

    return with_connection(cfg.connection, work)


# ------------------------------------------------------------------ writes: rollback, baseline


def _require_migrations(cfg: Config, command: str) -> None:
    if not cfg.mode.use_migrations:
        raise ConfigError(f"`initjob {command}` works in migrations mode only", "set USE_MIGRATIONS=true")


def _locked_write(cfg: Config, work: Callable[[Connection, DbState], Report]) -> Report:
    """A write command: connect, take the lock, make sure the job's tables exist, read the state, work."""
    def session(conn: Connection) -> Report:
        with locked(conn, cfg.lock, cfg.connection):
            history.ensure(conn, cfg.mode.history_schema)
            return work(conn, history.read_state(conn, cfg.mode.history_schema))

    return with_connection(cfg.connection, session)


def _version_arg(tree: Tree, text: str | None) -> str | None:
    """A version given on the command line as the layout writes it (Flyway's ``1.2``), as initjob's integer."""
    if text is None:
        return None
    key = layouts.get(tree.tool).version_key(text)
    if key is None:
        raise ConfigError(f"{text!r} is not a {tree.tool} version", "give a version from sql/migrations/")
    return str(key)


def rollback(cfg: Config) -> Report:
    _require_migrations(cfg, "rollback")
    tree = read_tree(cfg)
    files, to_version = list(tree.migrations), _version_arg(tree, cfg.args.to_version)

    def work(conn: Connection, state: DbState) -> Report:
        targets, problems = plan.rollback_targets(files, state.applied, cfg.args.steps, to_version)
        if problems:
            raise ConfigError("cannot roll back: " + "; ".join(problems), "write the missing .down.sql files")
        taken = marker.before_change(conn, cfg.backup, cfg.apply, cfg.connection.dsn, state.fingerprint,
                                     "migrations", [f"rollback {row.label}" for row, _ in targets]
                                     ) if targets else None
        undone: list[str] = []
        try:
            for row, m in targets:
                assert m is not None
                start = time.monotonic()
                still = [a.version for a in state.applied if a.version < row.version]
                executor.run_down(conn, cfg.apply, row, m, migrate.tool_rows_down(cfg, tree.chain, m, still))
                undone.append(row.label)
                logs.event("migration.rolled_back", version=row.version_text, name=row.name,
                           duration_ms=int((time.monotonic() - start) * 1000))
        except SqlFailed:
            # The downs before the failing one committed: record what the database now holds, or the
            # next run takes their work for drift.
            migrate.record(conn, cfg.apply)
            raise
        migrate.record(conn, cfg.apply)
        return Report("migrations", applied=tuple(undone), marker=taken)

    return _locked_write(cfg, work)


def baseline(cfg: Config) -> Report:
    _require_migrations(cfg, "baseline")
    tree = read_tree(cfg)
    files, version = list(tree.migrations), int(_version_arg(tree, cfg.args.version) or 0)
    if version not in {m.version for m in files}:
        raise ConfigError(f"no migration has version {cfg.args.version}", "pick a version from sql/migrations/")

    def work(conn: Connection, state: DbState) -> Report:
        targets = plan.baseline_targets(files, state.applied, version)
        done = transition.record_baseline(conn, cfg.apply, version, tuple(targets), action="baseline")
        return Report("migrations", baselined=tuple(done))

    return _locked_write(cfg, work)


# ------------------------------------------------------------------ files: new, diff


def new(cfg: Config) -> Report:
    root = cfg.mode.sql_dir / "migrations"
    root.mkdir(parents=True, exist_ok=True)
    try:
        files = source.read_migrations(cfg.mode.sql_dir, cfg.mode.history_schema)
    except NoMigrations:
        files = []
    name = cfg.args.name
    version = plan.next_version(files, time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    up = root / f"{version}_{name}.up.sql"
    down = root / f"{version}_{name}.down.sql"
    up.write_text(f"-- {name}: write the change here.\n")
    down.write_text(f"-- Undo {version}_{name}.\n")
    logs.event("new.created", up=str(up), down=str(down))
    return Report("migrations", output=f"{up}\n{down}")


def diff(cfg: Config) -> Report:
    """Write the next migration from the difference between the chain's result and sql/schema/."""
    migrations = source.read_migrations(cfg.mode.sql_dir, cfg.mode.history_schema)
    schema_files = source.read_schema_files(cfg.mode.sql_dir, cfg.mode.history_schema)
    name, root = cfg.args.name, cfg.mode.sql_dir / "migrations"

    def work(conn: Connection) -> Report:
        desired, schemas = sync.desired_state(conn, cfg.connection, cfg.mode.history_schema, schema_files)
        chain = transition.chain_snapshots(conn, cfg.connection, cfg.mode.history_schema, migrations, schemas)
        final = chain[-1][1] if chain else catalog.Snapshot()
        up_plan, down_plan = plan_sync(final, desired), plan_sync(desired, final)
        if not up_plan.steps:
            logs.event("diff.none", reason="the migration chain already ends at sql/schema/")
            return Report("migrations", output="")
        version = plan.next_version(migrations, time.strftime("%Y%m%d%H%M%S", time.gmtime()))
        up = root / f"{version}_{name}.up.sql"
        down = root / f"{version}_{name}.down.sql"
        header = "-- initjob:no-transaction\n" if any(not s.transactional for s in up_plan.steps) else ""
        up.write_text(header + f"-- Generated by `initjob diff {name}`: review before committing.\n\n"
                      + render_plan(up_plan))
        down.write_text(f"-- Generated by `initjob diff {name}`: review before committing.\n\n"
                        + render_plan(down_plan))
        logs.event("diff.written", up=str(up), down=str(down), steps=len(up_plan.steps))
        return Report("migrations", output=f"{up}\n{down}")

    return with_connection(cfg.connection, work)


def lint(cfg: Config) -> Report:
    return lint_.command(cfg)
