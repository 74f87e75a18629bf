"""Auto-sync: make the live schema equal to ``sql/schema/``.

A fresh database gets the files as written, in one transaction.  Otherwise the desired state is
read from a shadow database (or, for hand-made drift with unchanged files, from the snapshot
recorded at the last sync), diffed against the live catalog, and applied step by step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import Config
from initjob.db import apply, history, marker, shadow
from initjob.errors import InitJobError, NotUpToDate
from initjob.job import record_state
from initjob.schema import catalog
from initjob.source import SqlFile, checksums

if TYPE_CHECKING:
    from initjob.job import Report
    from initjob.schema.diff import Plan

Connection = psycopg.Connection[Any]


def same_schema(a: catalog.Snapshot, b: catalog.Snapshot) -> bool:
    """Equal but for column order, which ADD COLUMN cannot choose: how auto-sync judges "up to date"."""
    return catalog.fingerprint(catalog.ignore_column_order(a)) == catalog.fingerprint(catalog.ignore_column_order(b))


def differences(checked: catalog.Snapshot, expected: catalog.Snapshot) -> list[str]:
    """What ``checked`` lacks or has too many of against ``expected``, column order aside."""
    return catalog.describe_differences(catalog.ignore_column_order(checked), catalog.ignore_column_order(expected))


def has_objects(snap: catalog.Snapshot) -> bool:
    return any((snap.tables, snap.views, snap.functions, snap.enums, snap.domains, snap.composites,
                snap.sequences, snap.extensions, snap.collations, snap.ranges, snap.unmanaged))


def refuse_mode_switch(cfg: Config, state: history.DbState) -> None:
    if state.mode == "migrations" and state.applied and not cfg.force_mode_switch:
        raise NotUpToDate(
            f"this database is managed by migrations ({len(state.applied)} applied); auto-sync would bypass "
            "the history",
            "set USE_MIGRATIONS=true, or INITJOB_FORCE_MODE_SWITCH=true to hand it back to auto-sync",
        )


def desired_state(cfg: Config, live: Connection, files: list[SqlFile]) -> tuple[catalog.Snapshot, list[str]]:
    """Build ``sql/schema/`` in a shadow database and read what it made."""
    with shadow.shadow(cfg, live) as sh:
        for index, f in enumerate(files):
            with apply.guarded(sh, f.path, f.text, replay=[earlier.text for earlier in files[:index]]):
                sh.execute(f.text.encode())
        schemas = catalog.user_schemas(sh, exclude=[cfg.history_schema])
        snap = catalog.read_snapshot(sh, schemas)
        if "public" in schemas and not has_objects(catalog.read_snapshot(sh, ["public"])):
            # An unused public is not claimed: what others keep there stays theirs.
            schemas.remove("public")
            snap = catalog.read_snapshot(sh, schemas)
    return snap, schemas


def compared_schemas(conn: Connection, cfg: Config, desired: list[str], recorded: tuple[str, ...] | list[str]
                     ) -> list[str]:
    """The live schemas to compare with the desired state: the desired ones and those the last sync
    managed (one the desired state no longer has is dropped, not ignored). A database initjob has
    never synced is adopted whole: every application schema in it is compared."""
    if recorded:
        return sorted(set(desired) | set(recorded))
    return sorted(set(desired) | set(catalog.user_schemas(conn, exclude=[cfg.history_schema])))


def keep_public(desired: catalog.Snapshot, live: catalog.Snapshot) -> catalog.Snapshot:
    """The desired state with the live ``public`` schema when it has none: ``public`` is emptied when
    nothing uses it any more, never dropped."""
    if any(s.name == "public" for s in desired.schemas):
        return desired
    public = tuple(s for s in live.schemas if s.name == "public")
    return dataclasses.replace(desired, schemas=tuple(sorted(desired.schemas + public, key=lambda s: s.name)))


def nonempty_schemas(conn: Connection, cfg: Config) -> list[str]:
    schemas = catalog.user_schemas(conn, exclude=[cfg.history_schema])
    return [s for s in schemas if s != "public" or has_objects(catalog.read_snapshot(conn, ["public"]))]


def sync_locked(cfg: Config, conn: Connection, files: list[SqlFile], report: Report) -> Report:
    history.ensure(conn, cfg.history_schema)
    state = history.read_state(conn, cfg.history_schema)
    refuse_mode_switch(cfg, state)
    sums = checksums(files)
    if state.mode == "auto-sync" and state.schema_files == sums:
        snap = catalog.read_snapshot(conn, list(state.schemas))
        if catalog.fingerprint(snap) == state.fingerprint:
            return report  # another runner synced it while we waited for the lock
        desired, schemas = _recorded_or_built(cfg, conn, files, state)
        logs.warning("sync.drift", hint="the live schema was changed by hand; putting it back")
    else:
        existing = catalog.user_schemas(conn, exclude=[cfg.history_schema])
        # Fresh means nothing at all, not even an empty schema: the files would collide with it.
        if state.mode is None and set(existing) <= {"public"} and not has_objects(
                catalog.read_snapshot(conn, existing)):
            return _fresh(cfg, conn, files, state, report)
        if state.mode is None:
            logs.event("sync.adopting", schemas=existing,
                       note="objects exist and initjob never synced here: diffing against them")
        desired, schemas = desired_state(cfg, live=conn, files=files)
    live_schemas = compared_schemas(conn, cfg, schemas, state.schemas)
    live = catalog.read_snapshot(conn, live_schemas)
    desired = keep_public(desired, live)
    from initjob.schema.diff import plan_sync

    plan = plan_sync(live, desired)
    if plan.refused:
        raise NotUpToDate("the sync needs changes auto-sync does not manage: " + "; ".join(plan.refused[:10]),
                          "make these changes in a migration or by hand (docs/modes.md lists the kinds)",
                          plan=render_plan(plan), refused=list(plan.refused))
    if not plan.steps:
        if not same_schema(live, desired):
            # Never "up to date" while a difference is left that no step expresses.
            left = differences(live, desired)
            raise NotUpToDate("the schema differs in ways the planner cannot change: " + "; ".join(left[:10]),
                              "report this as a bug; `initjob verify` shows the differences", drift=left)
        _record(cfg, conn, sums, live, schemas)
        return report
    if plan.destructive and not cfg.allow_destructive:
        raise NotUpToDate(
            f"the sync would lose data ({len(plan.destructive)} destructive step(s)): "
            + "; ".join(s.object + ": " + s.reason for s in plan.destructive[:10]),
            "review `initjob plan`; set INITJOB_ALLOW_DESTRUCTIVE=true to apply it anyway",
            plan=render_plan(plan),
        )
    report.marker = marker.before_change(cfg, conn, state.fingerprint, "auto-sync",
                                         [f"{s.kind}: {s.object}" for s in plan.steps])
    _apply_steps(cfg, conn, plan, report)
    after = catalog.read_snapshot(conn, live_schemas)
    if not same_schema(after, desired):
        left = differences(after, desired)
        raise NotUpToDate("after the sync the schema still differs: " + "; ".join(left[:10]),
                          "report this plan as a bug; `initjob plan` shows what is left", drift=left)
    # Drift is judged against what the database really holds, column order included.
    _record(cfg, conn, sums, after, schemas)
    return report


def _recorded_or_built(cfg: Config, conn: Connection, files: list[SqlFile], state: history.DbState
                       ) -> tuple[catalog.Snapshot, list[str]]:
    """The desired state recorded at the last sync; built again from the files when there is none or
    it was recorded by an older initjob (its snapshot format is not this one's)."""
    recorded = history.read_snapshot_json(conn, cfg.history_schema)
    try:
        return catalog.snapshot_from_json(recorded or "{}"), list(state.schemas)
    except ValueError:
        logs.event("sync.rebuilding_desired", reason="no recorded snapshot in this format")
        return desired_state(cfg, live=conn, files=files)


def _record(cfg: Config, conn: Connection, sums: dict[str, str], snap: catalog.Snapshot,
            schemas: list[str]) -> None:
    if not schemas:
        # An empty desired state: record what is left (public), or verify would compare everything.
        schemas = catalog.user_schemas(conn, exclude=[cfg.history_schema])
        snap = catalog.read_snapshot(conn, schemas)
    with apply.guarded(conn, "state", ""):
        for stmt in record_state(cfg, conn, "auto-sync", schemas, sums, snap):
            conn.execute(stmt)


def _fresh(cfg: Config, conn: Connection, files: list[SqlFile], state: history.DbState,
           report: Report) -> Report:
    """A database with nothing in it gets the files as written, and the state, in one transaction."""
    report.marker = marker.before_change(cfg, conn, state.fingerprint, "auto-sync", [f.path for f in files])

    def finish() -> list[sql.Composed]:
        # An empty desired state still records what it covers (public), or verify would compare everything.
        schemas = nonempty_schemas(conn, cfg) or catalog.user_schemas(conn, exclude=[cfg.history_schema])
        return record_state(cfg, conn, "auto-sync", schemas, checksums(files))

    apply.with_lock_retries("schema", lambda: apply.run_files_in_transaction(conn, files, cfg.ddl_lock_timeout,
                                                                            finish))
    report.applied = [f.path for f in files]
    logs.event("sync.applied", files=len(files), fresh=True)
    return report


def _apply_steps(cfg: Config, conn: Connection, plan: Plan, report: Report) -> None:
    """The plan in its own order: each run of transactional steps in one transaction, the others alone.

    The state is recorded only after the result is verified; a run that dies half-way leaves the
    old file checksums, so the next run diffs again from what the database then holds.
    """
    timeout_ms = max(int(cfg.ddl_lock_timeout * 1000), 1)
    committed: list[Any] = []
    try:
        for batch in plan.batches():
            apply.with_lock_retries("plan", functools.partial(_run_batch, conn, batch, timeout_ms))
            committed.extend(batch)
    except InitJobError:
        if committed:
            # Steps that could not share the transaction stay applied: say exactly which.
            logs.warning("sync.partially_applied", applied=[f"{s.kind}: {s.object}" for s in committed],
                         not_applied=len(plan.steps) - len(committed),
                         note="the next run diffs again from what the database now holds")
        raise
    report.applied = [f"{s.kind}: {s.object}" for s in plan.steps]
    logs.event("sync.applied", steps=len(plan.steps), transactions=len(plan.batches()))


def _run_batch(conn: Connection, batch: tuple[Any, ...], timeout_ms: int) -> None:
    """One transaction of steps, or one step that cannot run in a transaction; each waits for a
    table lock at most ``timeout_ms``."""
    transactional = batch[0].transactional
    with apply.guarded(conn, "plan", ""):
        if transactional:
            conn.execute("BEGIN")
            conn.execute(f"SET LOCAL lock_timeout = {timeout_ms}".encode())
            # A function body may call one created later in the plan: check bodies at call time.
            conn.execute("SET LOCAL check_function_bodies = off")
        else:
            conn.execute(f"SET lock_timeout = {timeout_ms}".encode())
    try:
        for step in batch:
            with apply.guarded(conn, f"plan step {step.object}", step.sql):
                conn.execute(step.sql.encode())
        if transactional:
            with apply.guarded(conn, "plan", ""):
                conn.execute("COMMIT")
    finally:
        if not transactional and not conn.closed and not conn.broken:
            with contextlib.suppress(psycopg.Error):
                conn.execute("RESET lock_timeout")


def render_plan(plan: Plan) -> str:
    """The plan as runnable SQL, each step headed by its class and reason."""
    lines = [f"-- REFUSED: {line}" for line in plan.refused]
    for step in plan.steps:
        mark = {"destructive": "!! DESTRUCTIVE", "locking": "!  LOCKING"}.get(step.kind, "   safe")
        tx = "" if step.transactional else " (outside the transaction)"
        hazards = f" [{', '.join(step.hazards)}]" if step.hazards else ""
        lines.append(f"-- {mark}: {step.object} — {step.reason}{tx}{hazards}")
        lines.append(step.sql.rstrip().rstrip(";") + ";")
        lines.append("")
    return "\n".join(lines)
