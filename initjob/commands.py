"""The commands other than ``run``: verify, status, plan, rollback, baseline, new, diff.

``verify``, ``status`` and ``plan`` never write to the database (``verify`` and ``plan`` may build
a scratch shadow database, never touching the target); the others take the migration lock.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from initjob import job, logs, plan, source, sync
from initjob.config import Config
from initjob.db import activity, apply, history, lock, marker
from initjob.errors import ConfigError, NotUpToDate
from initjob.job import Connection, Report
from initjob.schema import catalog

# ------------------------------------------------------------------ read-only: verify, status, plan


def _inspect(cfg: Config, conn: Connection) -> dict[str, Any]:
    """Everything status and verify report, read without writing anything."""
    state = history.read_state(conn, cfg.history_schema)
    doc: dict[str, Any] = {
        "mode": cfg.mode, "managed_by": state.mode, "database": conn.info.dbname,
        "applied": [], "pending": [], "problems": [], "drift": False, "up_to_date": False,
        "last_marker": None,
        # who runs a deploy right now, seen from here: read from the lock holder's session, never written
        "deploy_in_progress": activity.deploy_in_progress(conn, lock.lock_key(cfg.history_schema)),
    }
    if state.last_marker is not None:
        m = state.last_marker
        doc["last_marker"] = {"taken_at": m.taken_at.isoformat(), "lsn": m.lsn, "restore_point": m.restore_point,
                              "dump_path": m.dump_path}
    doc["applied"] = [
        {"version": a.version_text, "name": a.name, "checksum": a.checksum, "applied_at": a.applied_at.isoformat(),
         "applied_by": a.applied_by, "execution_ms": a.execution_ms, "kind": a.kind,
         "state": "applied" if a.success else f"half-done ({a.statements_done} statements)"}
        for a in state.applied
    ]
    problems: list[str] = doc["problems"]
    if cfg.use_migrations:
        files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
        p = plan.plan_migrations(files, state.applied)
        problems.extend(p.problems)
        doc["pending"] = [{"version": m.version_text, "name": m.name} for m in p.work]
        if state.mode == "auto-sync" and not state.applied:
            problems.append("managed by auto-sync: the first `initjob run` with USE_MIGRATIONS=true baselines it")
        elif not state.known:
            problems.append("initjob has never run on this database")
    else:
        files_ = source.read_schema_files(cfg.sql_dir, cfg.history_schema)
        if state.mode == "migrations" and state.applied:
            problems.append("managed by migrations; auto-sync would bypass the history")
        elif state.mode != "auto-sync":
            problems.append("initjob has never synced this database")
        elif state.schema_files != source.checksums(files_):
            desired, schemas = sync.desired_state(cfg, conn, files_)
            live = catalog.read_snapshot(conn, sorted(set(schemas) | set(state.schemas)))
            if not sync.same_schema(live, desired):
                doc["pending"] = [{"version": None, "name": line} for line in
                                  sync.differences(live, desired)]
    if state.fingerprint is not None:
        drift = job.check_drift(cfg, conn, state)
        doc["drift"] = drift or False
    doc["up_to_date"] = not (problems or doc["pending"] or doc["drift"])
    return doc


def verify(cfg: Config) -> Report:
    def work(conn: Connection) -> Report:
        doc = _inspect(cfg, conn)
        if cfg.against_schema:
            doc["problems"].extend(_chain_vs_schema(cfg, conn))
            doc["up_to_date"] = doc["up_to_date"] and not doc["problems"]
        if not doc["up_to_date"]:
            reasons = list(doc["problems"])
            if doc["pending"]:
                reasons.append("pending: " + ", ".join(f"{p['version'] or ''} {p['name']}".strip()
                                                      for p in doc["pending"][:20]))
            if doc["drift"]:
                reasons.append("drift: " + "; ".join(doc["drift"][:10]))
            raise NotUpToDate("the schema is not up to date: " + "; ".join(reasons),
                              "run `initjob run` (or see `initjob status`)", pending=len(doc["pending"]))
        logs.event("verify.ok", mode=cfg.mode, applied=len(doc["applied"]))
        return Report(cfg.mode)

    return job.with_connection(cfg, work)


def _chain_vs_schema(cfg: Config, conn: Connection) -> list[str]:
    """Differences between the migration chain's result and sql/schema/, both built in shadows."""
    from initjob import transition
    migrations = source.read_migrations(cfg.sql_dir, cfg.history_schema)
    schema_files = source.read_schema_files(cfg.sql_dir, cfg.history_schema)
    desired, schemas = sync.desired_state(cfg, conn, schema_files)
    chain = transition.chain_snapshots(cfg, conn, migrations, schemas)
    final = chain[-1][1] if chain else catalog.Snapshot()
    diff = sync.differences(final, desired)
    return [f"migrations and sql/schema/ disagree: {line}" for line in diff]


def status(cfg: Config) -> Report:
    def work(conn: Connection) -> Report:
        doc = _inspect(cfg, conn)
        report = Report(cfg.mode, details={"up_to_date": doc["up_to_date"]})
        report.output = json.dumps(doc, indent=2, default=str) if cfg.json else _status_table(doc)
        return report

    return job.with_connection(cfg, work)


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
                         f"{a['applied_by'][:20]:<20} {a['execution_ms'] or 0:>7}  {a['kind']}/{a['state']}")
    for p in doc["pending"]:
        lines.append(f"{p['version'] or '':<16} {p['name'][:60]:<32} {'':<25} {'':<20} {'':>7}  pending")
    for problem in doc["problems"]:
        lines.append(f"problem: {problem}")
    lines += activity.deploy_lines(doc.get("deploy_in_progress"))
    if doc["drift"]:
        lines += [f"drift: {d}" for d in doc["drift"]]
    return "\n".join(lines)


def plan_command(cfg: Config) -> Report:
    def work(conn: Connection) -> Report:
        state = history.read_state(conn, cfg.history_schema)
        report = Report(cfg.mode)
        if cfg.use_migrations:
            files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
            p = plan.plan_migrations(files, state.applied)
            if p.problems:
                raise NotUpToDate("; ".join(p.problems), "see `initjob status`")
            if cfg.json:
                report.output = json.dumps([{"version": m.version_text, "name": m.name, "file": m.up.path,
                                             "transactional": m.transactional, "sql": m.up.text} for m in p.work],
                                           indent=2)
            else:
                report.output = "\n".join(f"-- {m.up.path}{'' if m.transactional else ' (no transaction)'}\n"
                                          f"{m.up.text.rstrip()}\n" for m in p.work) or "-- nothing to do"
            return report
        files_ = source.read_schema_files(cfg.sql_dir, cfg.history_schema)
        desired, schemas = sync.desired_state(cfg, conn, files_)
        live = catalog.read_snapshot(conn, sorted(set(schemas) | set(state.schemas)))
        from initjob.schema.diff import plan_sync

        diff_plan = plan_sync(live, desired)
        if cfg.json:
            report.output = json.dumps([asdict(s) for s in diff_plan.steps], indent=2)
        else:
            report.output = sync.render_plan(diff_plan) or "-- nothing to do"
        return report

    return job.with_connection(cfg, work)


# ------------------------------------------------------------------ writes: rollback, baseline


def rollback(cfg: Config) -> Report:
    job.require_migrations(cfg, "rollback")
    files = source.read_migrations(cfg.sql_dir, cfg.history_schema)

    def locked_work(conn: Connection) -> Report:
        history.ensure(conn, cfg.history_schema)
        state = history.read_state(conn, cfg.history_schema)
        targets, problems = plan.rollback_targets(files, state.applied, cfg.steps, cfg.to_version)
        if problems:
            raise ConfigError("cannot roll back: " + "; ".join(problems), "write the missing .down.sql files")
        report = Report("migrations")
        if targets:
            report.marker = marker.before_change(cfg, conn, state.fingerprint, "migrations",
                                             [f"rollback {row.label}" for row, _ in targets])
        for row, m in targets:
            assert m is not None
            start = time.monotonic()
            apply.run_down(conn, cfg.history_schema, row, m, cfg.ddl_lock_timeout, cfg.applied_by)
            report.applied.append(row.label)
            logs.event("migration.rolled_back", version=row.version_text, name=row.name,
                       duration_ms=int((time.monotonic() - start) * 1000))
        job._record_migrations_state(cfg, conn)
        return report

    return job.with_connection(cfg, lambda conn: job.locked(cfg, conn, lambda: locked_work(conn)))


def baseline(cfg: Config) -> Report:
    job.require_migrations(cfg, "baseline")
    files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
    version = int(cfg.version or 0)
    if version not in {m.version for m in files}:
        raise ConfigError(f"no migration has version {cfg.version}", "pick a version from sql/migrations/")

    def locked_work(conn: Connection) -> Report:
        history.ensure(conn, cfg.history_schema)
        state = history.read_state(conn, cfg.history_schema)
        targets = plan.baseline_targets(files, state.applied, version)
        with apply.guarded(conn, "baseline", ""):
            conn.execute("BEGIN")
            for m in targets:
                conn.execute(history.history_insert(cfg.history_schema, m.version, m.version_text, m.name,
                                                    "baseline", m.up.checksum, m.transactional, True,
                                                    cfg.applied_by, timed=False))
            conn.execute(history.event_insert(cfg.history_schema, "baseline", cfg.applied_by, version,
                                              {"recorded": [m.label for m in targets]}))
            conn.execute("COMMIT")
        job._record_migrations_state(cfg, conn)
        logs.event("baseline.recorded", version=cfg.version, recorded=len(targets))
        return Report("migrations", baselined=[m.label for m in targets])

    return job.with_connection(cfg, lambda conn: job.locked(cfg, conn, lambda: locked_work(conn)))


# ------------------------------------------------------------------ files: new, diff


def new(cfg: Config) -> Report:
    root = cfg.migrations_dir
    root.mkdir(parents=True, exist_ok=True)
    try:
        files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
    except ConfigError as exc:
        if "holds no migration" not in exc.reason:
            raise
        files = []
    version = plan.next_version(files, time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    up = root / f"{version}_{cfg.name}.up.sql"
    down = root / f"{version}_{cfg.name}.down.sql"
    up.write_text(f"-- {cfg.name}: write the change here.\n")
    down.write_text(f"-- Undo {version}_{cfg.name}.\n")
    logs.event("new.created", up=str(up), down=str(down))
    return Report("migrations", output=f"{up}\n{down}")


def diff(cfg: Config) -> Report:
    """Write the next migration from the difference between the chain's result and sql/schema/."""
    from initjob import transition
    from initjob.schema.diff import plan_sync

    migrations = source.read_migrations(cfg.sql_dir, cfg.history_schema)
    schema_files = source.read_schema_files(cfg.sql_dir, cfg.history_schema)

    def work(conn: Connection) -> Report:
        desired, schemas = sync.desired_state(cfg, conn, schema_files)
        chain = transition.chain_snapshots(cfg, conn, migrations, schemas)
        final = chain[-1][1] if chain else catalog.Snapshot()
        up_plan, down_plan = plan_sync(final, desired), plan_sync(desired, final)
        if not up_plan.steps:
            logs.event("diff.none", reason="the migration chain already ends at sql/schema/")
            return Report("migrations", output="")
        version = plan.next_version(migrations, time.strftime("%Y%m%d%H%M%S", time.gmtime()))
        up = cfg.migrations_dir / f"{version}_{cfg.name}.up.sql"
        down = cfg.migrations_dir / f"{version}_{cfg.name}.down.sql"
        header = "-- initjob:no-transaction\n" if any(not s.transactional for s in up_plan.steps) else ""
        up.write_text(header + f"-- Generated by `initjob diff {cfg.name}`: review before committing.\n\n"
                      + sync.render_plan(up_plan))
        down.write_text(f"-- Generated by `initjob diff {cfg.name}`: review before committing.\n\n"
                        + sync.render_plan(down_plan))
        logs.event("diff.written", up=str(up), down=str(down), steps=len(up_plan.steps))
        return Report("migrations", output=f"{up}\n{down}")

    return job.with_connection(cfg, work)


def lint(cfg: Config) -> Report:
    from initjob import lint as lint_
    return lint_.command(cfg)
