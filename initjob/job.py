"""The pipeline, top to bottom: config → wait → lock → decide → marker → apply → verify → report.

Each command is a function of a Config returning a Report; failures are InitJobError subclasses
that only ``cli`` turns into exit codes.  Decisions come from ``plan`` and ``diff`` (pure); this
module only sequences them and the database edges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from initjob import logs, source
from initjob.config import Config

# apply, lock and marker are imported where they are used: the no-op run of every pod start needs none.
from initjob.db import history, wait
from initjob.errors import ConfigError, ConnectionLost, Interrupted, NotUpToDate
from initjob.plan import MigrationPlan, plan_migrations
from initjob.schema import token as rowversions

if TYPE_CHECKING:
    from initjob.db import marker
    from initjob.schema import catalog
Connection = psycopg.Connection[Any]
RECONNECTS = 5


@dataclass
class Report:
    """What a command did, for the final log line and for stdout."""

    mode: str
    applied: list[str] = field(default_factory=list)
    baselined: list[str] = field(default_factory=list)
    marker: marker.Marker | None = None
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ connection and lock


def with_connection(cfg: Config, work: Callable[[Connection], Report]) -> Report:
    """Run ``work`` on a fresh connection; when the connection dies, wait again and start over."""
    conn = wait.connect(cfg)
    try:
        for attempt in range(1, RECONNECTS + 1):
            try:
                return work(conn)
            except ConnectionLost as exc:
                reason, lost = exc.reason, exc
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if isinstance(exc.__context__, Interrupted):  # psycopg's pipeline exit hid our signal
                    from initjob.db import apply
                    apply.cancel_and_close(conn)
                    raise exc.__context__ from None
                # Outside apply's guarded blocks (catalog reads, the lock): the same recovery.
                if not (conn.broken or conn.closed):
                    raise
                reason = logs.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
                lost = ConnectionLost(f"connection lost: {reason}", "the job reconnects and resumes")
            if attempt == RECONNECTS:
                raise lost
            logs.warning("db.reconnect", attempt=attempt, reason=reason)
            from initjob.db import apply
            apply.cancel_and_close(conn)
            conn = wait.connect(cfg)
        raise AssertionError("unreachable")
    finally:
        if not conn.closed:
            conn.close()


def locked(cfg: Config, conn: Connection, work: Callable[[], Report]) -> Report:
    """Hold the migration lock around ``work``; a lost session releases it by itself."""
    from initjob.db import lock, pooler
    key = lock.lock_key(cfg.history_schema)
    try:
        pooler.require_session(cfg, conn)  # behind transaction pooling the lock would protect nothing
        lock.acquire(conn, key, cfg.lock_timeout)
    except psycopg.OperationalError as exc:
        raise ConnectionLost(f"connection lost while taking the lock: {exc}") from None
    try:
        return work()
    finally:
        if not conn.closed and not conn.broken:
            # If the session is going away its lock goes with it.
            with contextlib.suppress(psycopg.Error):
                lock.unlock(conn, key)


# ------------------------------------------------------------------ snapshots


def managed_schemas(conn: Connection, cfg: Config) -> list[str]:
    from initjob.schema import catalog
    return catalog.user_schemas(conn, exclude=[cfg.history_schema])


def live_fingerprint(conn: Connection, schemas: list[str]) -> tuple[str, catalog.Snapshot]:
    from initjob.schema import catalog
    snap = catalog.read_snapshot(conn, schemas)
    return catalog.fingerprint(snap), snap


def drift_lines(conn: Connection, cfg: Config, live: catalog.Snapshot) -> list[str]:
    from initjob.schema import catalog
    recorded = history.read_snapshot_json(conn, cfg.history_schema)
    if recorded is None:
        return ["no recorded schema to compare with"]
    return catalog.describe_differences(live, catalog.snapshot_from_json(recorded)) or ["fingerprint differs"]


def record_state(cfg: Config, conn: Connection, mode: str, schemas: list[str],
                 files: dict[str, str] | None = None, snap: catalog.Snapshot | None = None) -> list[sql.Composed]:
    """Statements that record the managed state; the snapshot is read inside the caller's transaction."""
    from initjob.schema import catalog
    if snap is None:
        snap = catalog.read_snapshot(conn, schemas)
    upsert = history.state_upsert(cfg.history_schema, mode, catalog.fingerprint(snap),
                                  catalog.snapshot_to_json(snap), files, cfg.applied_by, schemas,
                                  rowversions.catalog_token(conn, schemas))
    return [upsert]


# ------------------------------------------------------------------ migrations mode


def decide_migrations(cfg: Config, conn: Connection, files: list[source.Migration]
                      ) -> tuple[history.DbState, MigrationPlan]:
    state = history.read_state(conn, cfg.history_schema)
    plan = plan_migrations(files, state.applied)
    if plan.problems:
        raise NotUpToDate(
            "migration history and files disagree: " + "; ".join(plan.problems),
            "restore the original files (history is append-only), or see docs/troubleshooting.md#exit-3",
            problems=list(plan.problems),
        )
    return state, plan


def check_drift(cfg: Config, conn: Connection, state: history.DbState) -> list[str]:
    """Hand-made changes since initjob last recorded the schema; empty when none."""
    if state.fingerprint is None:
        return []
    schemas = state_schemas(conn, cfg, state)
    if unchanged_since_recorded(conn, state, schemas):
        return []
    fp, snap = live_fingerprint(conn, schemas)
    return [] if fp == state.fingerprint else drift_lines(conn, cfg, snap)


def unchanged_since_recorded(conn: Connection, state: history.DbState, schemas: list[str]) -> bool:
    """True when no catalog row of the managed schemas changed since the state was recorded.

    The token (row versions of the catalog rows a snapshot reads) costs one cheap query; only
    when it moved is the full snapshot read and its fingerprint compared.
    """
    return bool(state.catalog_token) and rowversions.catalog_token(conn, schemas) == state.catalog_token


def state_schemas(conn: Connection, cfg: Config, state: history.DbState) -> list[str]:
    return list(state.schemas) if state.schemas else managed_schemas(conn, cfg)


def run_migrations(cfg: Config, conn: Connection, files: list[source.Migration] | None = None) -> Report:
    if files is None:
        files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
    report = Report("migrations")
    state, plan = decide_migrations(cfg, conn, files)
    if state.mode == "auto-sync" and not state.applied:
        return locked(cfg, conn, lambda: _transition_locked(cfg, conn, files, report))
    if plan.is_empty and state.mode == "migrations":
        _fail_on_drift(cfg, conn, state)
        logs.event("run.nothing_to_do", mode="migrations", applied=len(state.applied))
        return report
    return locked(cfg, conn, lambda: _migrate_locked(cfg, conn, files, report))


def _fail_on_drift(cfg: Config, conn: Connection, state: history.DbState) -> None:
    drift = check_drift(cfg, conn, state)
    if drift:
        raise NotUpToDate("the live schema drifted from what initjob recorded: " + "; ".join(drift[:10]),
                          "undo the hand-made change, or capture it in a migration "
                          "(see docs/troubleshooting.md#exit-3)", drift=drift)


def _migrate_locked(cfg: Config, conn: Connection, files: list[source.Migration], report: Report) -> Report:
    history.ensure(conn, cfg.history_schema)
    state, plan = decide_migrations(cfg, conn, files)
    if state.mode == "auto-sync" and not state.applied:
        return _transition_locked(cfg, conn, files, report)
    if plan.is_empty:
        if state.mode != "migrations":
            _record_migrations_state(cfg, conn)
        else:
            _fail_on_drift(cfg, conn, state)
        return report
    if state.mode == "migrations" and plan.resume is None:
        # A half-done file may have left an invalid index behind: that is its own work, not drift.
        _fail_on_drift(cfg, conn, state)
    from initjob.lint import log_findings  # a fresh database has no traffic to hurt: lint only when some ran before

    log_findings(cfg, plan.work if state.applied else (), conn.info.server_version)
    from initjob.db import marker
    report.marker = marker.before_change(cfg, conn, state.fingerprint, "migrations", [m.label for m in plan.work])
    _apply_plan(cfg, conn, plan, report)
    return report


def _apply_plan(cfg: Config, conn: Connection, plan: MigrationPlan, report: Report) -> None:
    from initjob.db import apply
    work = plan.work
    total = len(work)
    for index, m in enumerate(work, start=1):
        last = index == total
        finish = (lambda: record_state(cfg, conn, "migrations", managed_schemas(conn, cfg))
                  ) if last else None
        resume_from = plan.resume_from if (plan.resume is m) else 0
        ms = apply.apply_migration(conn, cfg.history_schema, m, cfg.ddl_lock_timeout, cfg.applied_by,
                                   finish=finish, resume_from=resume_from)
        report.applied.append(m.label)
        logs.event("migration.applied", version=m.version_text, name=m.name, duration_ms=ms,
                   progress=f"{index}/{total}", transactional=m.transactional)


def _record_migrations_state(cfg: Config, conn: Connection) -> None:
    from initjob.db import apply
    with apply.guarded(conn, "state", ""):
        conn.execute("BEGIN")
        for stmt in record_state(cfg, conn, "migrations", managed_schemas(conn, cfg)):
            conn.execute(stmt)
        conn.execute("COMMIT")


def _transition_locked(cfg: Config, conn: Connection, files: list[source.Migration], report: Report) -> Report:
    """Auto-sync → migrations: baseline at the newest migration prefix equal to the live schema."""
    from initjob import transition
    from initjob.db import apply
    history.ensure(conn, cfg.history_schema)
    state = history.read_state(conn, cfg.history_schema)
    if state.applied or state.mode != "auto-sync":
        return _migrate_locked(cfg, conn, files, report)
    version = transition.find_baseline(cfg, conn, files, state_schemas(conn, cfg, state))
    baselined = [m for m in files if m.version <= version]
    with apply.guarded(conn, "baseline", ""):
        conn.execute("BEGIN")
        for m in baselined:
            conn.execute(history.history_insert(cfg.history_schema, m.version, m.version_text, m.name, "baseline",
                                                m.up.checksum, m.transactional, True, cfg.applied_by, timed=False))
        conn.execute(history.event_insert(cfg.history_schema, "transition", cfg.applied_by, version,
                                          {"from": "auto-sync", "baselined": [m.label for m in baselined]}))
        for stmt in record_state(cfg, conn, "migrations", managed_schemas(conn, cfg)):
            conn.execute(stmt)
        conn.execute("COMMIT")
    report.baselined = [m.label for m in baselined]
    logs.event("transition.baselined", version=str(version), baselined=len(baselined))
    return _migrate_locked(cfg, conn, files, report)


# ------------------------------------------------------------------ auto-sync mode


def run_autosync(cfg: Config, conn: Connection, files: list[source.SqlFile] | None = None) -> Report:
    if files is None:
        files = source.read_schema_files(cfg.sql_dir, cfg.history_schema)
    report = Report("auto-sync")
    state = history.read_state(conn, cfg.history_schema)
    # The cheap check of every pod start: files unchanged since the last sync, catalog unchanged.
    if (state.mode == "auto-sync" and state.fingerprint is not None
            and state.schema_files == source.checksums(files) and not check_drift(cfg, conn, state)):
        logs.event("run.nothing_to_do", mode="auto-sync")
        return report
    from initjob import sync
    sync.refuse_mode_switch(cfg, state)
    return locked(cfg, conn, lambda: sync.sync_locked(cfg, conn, files, report))


# ------------------------------------------------------------------ commands


def run(cfg: Config) -> Report:
    # Read and validate the SQL tree before any connection: a bad tree is exit 2 with nothing touched.
    if cfg.use_migrations:
        files = source.read_migrations(cfg.sql_dir, cfg.history_schema)
        return with_connection(cfg, lambda conn: run_migrations(cfg, conn, files))
    schema_files = source.read_schema_files(cfg.sql_dir, cfg.history_schema)
    return with_connection(cfg, lambda conn: run_autosync(cfg, conn, schema_files))


def require_migrations(cfg: Config, command: str) -> None:
    if not cfg.use_migrations:
        raise ConfigError(f"`initjob {command}` works in migrations mode only", "set USE_MIGRATIONS=true")
