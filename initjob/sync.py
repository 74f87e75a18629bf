"""Auto-sync's database edges: build the desired state, compare it with the live schema, apply.

A fresh database gets the files as written, in one transaction (``fresh``, apart).  Otherwise the
desired state is read from a shadow database (or, for hand-made drift with unchanged files, from the
snapshot recorded at the last sync), compared with the live catalog, and the plan applied step by
step; the result is compared again on the full model before anything is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import ApplySettings, ConnectionSettings
from initjob.db import executor, history, progress, shadow
from initjob.db import record as recorded
from initjob.decide import Comparison
from initjob.errors import NotConverged, RehearsalImpossible, SqlFailed
from initjob.schema import catalog
from initjob.schema.diff import Plan, plan_sync
from initjob.schema.renames import MARK, Rename, declared_renames, plan_with_renames
from initjob.schema.scope import (
    compared_schemas,
    differences,
    keep_public,
    managed_schemas,
    nonempty_schemas,
    same_schema,
)
from initjob.source import SqlFile, checksums, undeclared_empty
from initjob.state import DbState

Connection = psycopg.Connection[Any]


@progress.phased("sync.build_desired")  # signs of life on a large tree (issue 20 item 7)
def desired_state(conn: Connection, settings: ConnectionSettings, history_schema: str, files: list[SqlFile]
                  ) -> tuple[catalog.Snapshot, list[str]]:
    """Build ``sql/schema/`` in a shadow database and read what it made."""
    started = time.monotonic()
    # A database of its own is built in committed pieces (one transaction is quadratic on the server);
    # INITJOB_SHADOW_DATABASE_URL's is someone's: all of it in the one transaction that is rolled back.
    with shadow.shadow(settings, conn, transaction=False) as sh:
        for index, f in enumerate(files):
            if not settings.shadow_dsn:
                sh.execute(executor.FILE_RESET.encode())  # each file starts where psql would: no SET leaks in
                executor.run_in_pieces(sh, f.path, f.text)
                continue
            with executor.guarded(sh, f.path, f.text, replay=[earlier.text for earlier in files[:index]]):
                sh.execute(executor.FILE_RESET.encode())  # each file starts where psql would: no SET leaks in
                sh.execute(f.text.encode())
        # An unused public is not claimed: what others keep there stays theirs.
        built = time.monotonic()
        schemas = nonempty_schemas(sh, history_schema)
        snap = catalog.read_snapshot(sh, schemas)
    # Signs of life on a large tree: each phase says how long it took (a 10 MB tree was minutes of silence).
    logs.event("sync.desired_built", files=len(files), schemas=len(schemas),
               build_ms=round((built - started) * 1000), read_ms=round((time.monotonic() - built) * 1000))
    return snap, schemas


@progress.phased("sync.compare")  # signs of life on a large tree (issue 20 item 7)
def compare(conn: Connection, settings: ConnectionSettings, history_schema: str, state: DbState,
            files: list[SqlFile], phase: str = "all") -> Comparison:
    """The live schema against the desired state (built from the files, or the recorded one when they
    are unchanged), and the plan between them; for ``expand``, against expand's target, with the
    contract half as its deferred steps."""
    from_record = state.mode == "auto-sync" and state.schema_files == checksums(files)
    recorded = _recorded(conn, history_schema) if from_record else None
    if recorded is not None:
        desired, schemas = recorded, list(state.schemas)
    else:
        desired, schemas = desired_state(conn, settings, history_schema, files)
    live_schemas = compared_schemas(conn, history_schema, schemas, state.schemas)
    started = time.monotonic()
    live = catalog.read_snapshot(conn, live_schemas)
    desired = keep_public(desired, live)
    renames = _renames(files)
    if phase == "expand":
        return _expand_half(live, desired, schemas, live_schemas, renames)
    read = time.monotonic()
    plan = plan_with_renames(live, desired, renames) if renames else plan_sync(live, desired)
    logs.event("sync.compared", steps=len(plan.steps), read_ms=round((read - started) * 1000),
               plan_ms=round((time.monotonic() - read) * 1000))
    return Comparison(plan, tuple(differences(live, desired)), recorded is not None,
                      desired=desired, schemas=tuple(schemas), live_schemas=tuple(live_schemas), live=live,
                      renames=renames, undeclared_empty=undeclared_empty(files))


def _renames(files: list[SqlFile]) -> tuple[Rename, ...]:
    """The renames declared in the files (``-- initjob:renamed from=OLD``)."""
    return declared_renames((f.path, f.text) for f in files if MARK in f.text)


def _expand_half(live: catalog.Snapshot, desired: catalog.Snapshot, schemas: list[str], live_schemas: list[str],
                 renames: tuple[Rename, ...]) -> Comparison:
    """expand: the plan to expand's target (what the previous release survives), which the apply
    then checks the result against on the full model; the rest waits as the deferred steps."""
    from initjob.schema.phases import split  # only a phased run cuts the plan

    halves = split(live, desired, renames)
    return Comparison(halves.expand, tuple(differences(live, halves.target)), False, desired=halves.target,
                      schemas=tuple(schemas), live_schemas=tuple(live_schemas), live=live,
                      deferred=halves.contract.steps, final=desired, renames=renames)


def check_only_deferred(after: catalog.Snapshot, comparison: Comparison, committed: Sequence[str] = ()) -> None:
    """After expand: planned afresh from what the database now holds to the whole desired state, only
    the deferred steps' objects are left to change: expand's target was reached, nothing more, nothing less.

    Objects, not statements: the target is a model built from two others, and a statement's text may
    differ from the one planned from the catalog (a NOT NULL constraint's name) for the same change."""
    if comparison.final is None:
        return
    left = {s.object for s in plan_with_renames(after, comparison.final, comparison.renames).steps}
    expected = {s.object for s in comparison.deferred}
    if left != expected:
        extra = sorted(left ^ expected)
        raise NotConverged("after expand, the steps left to the desired state are not the deferred ones: "
                           + "; ".join(extra[:10]), "report this plan as a bug; `initjob plan --phase contract` "
                           "prints what is left", drift=extra, committed=list(committed))


def nulls_before_not_null(conn: Connection, comparison: Comparison) -> dict[str, int]:
    """Column → rows holding NULL, for each existing column the plan makes NOT NULL: contract refuses
    such a step until the rows are backfilled (exit 3), rather than fail it half-way (exit 5)."""
    live, desired = comparison.live, comparison.desired
    if live is None or desired is None:
        return {}
    before = {(t.schema, t.name): {c.name: c for c in t.columns} for t in live.tables}
    counts: dict[str, int] = {}
    for table in desired.tables:
        columns = before.get((table.schema, table.name), {})
        for col in table.columns:
            if col.not_null and col.name in columns and not columns[col.name].not_null and col.generated is None:
                query = sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
                    sql.Identifier(table.schema, table.name), sql.Identifier(col.name))
                row = conn.execute(query).fetchone()
                counts[f"{table.schema}.{table.name}.{col.name}"] = int(row[0]) if row else 0
    return counts


def _recorded(conn: Connection, history_schema: str) -> catalog.Snapshot | None:
    """The desired state recorded at the last sync; None when there is none or an older initjob
    recorded it (its snapshot format is not this one's): then it is built again from the files."""
    text = history.read_snapshot_json(conn, history_schema)
    try:
        return catalog.snapshot_from_json(text) if text else None
    except ValueError:
        logs.event("sync.rebuilding_desired", reason="no recorded snapshot in this format")
        return None


@progress.phased("sync.apply")  # signs of life on a large tree (issue 20 item 7)
def apply_plan(conn: Connection, settings: ApplySettings, comparison: Comparison, files: list[SqlFile],
               tree_hash: str, also: Sequence[sql.Composed] = ()) -> list[str]:
    """The plan (rehearsed by ``rehearse`` before the backup marker) in its own order, then the result
    compared on the full model before it is recorded.

    The state is recorded only after the result is verified; a run that dies half-way leaves the
    old file checksums, so the next run compares again from what the database then holds.
    """
    plan, desired = comparison.plan, comparison.desired
    assert desired is not None, "a comparison made by compare() carries its desired state"
    batches = _batches(plan)
    applied = executor.run_batches(conn, batches, settings.ddl_lock_timeout)
    logs.event("sync.applied", steps=len(plan.steps), transactions=len(batches))
    after = catalog.read_snapshot(conn, list(comparison.live_schemas))
    if not same_schema(after, desired):
        left = differences(after, desired)
        # Every step is committed by now: the failure says so (run.finished counts them).
        raise NotConverged("after the sync the schema still differs: " + "; ".join(left[:10]),
                           "report this plan as a bug; `initjob plan` shows what is left", drift=left,
                           committed=applied)
    if comparison.final is not None:  # expand: only the deferred steps may be left to the whole desired state
        check_only_deferred(after, comparison, applied)
    # Drift is judged against what the database really holds, column order included; ``also`` (expand's
    # mark, for contract's guard) goes in the same transaction, so the record never claims more than this.
    # After expand a schema the desired state no longer has is still there: recorded, so contract drops it.
    schemas = comparison.live_schemas if comparison.final is not None else comparison.schemas
    record(conn, settings, checksums(files), list(schemas), after, tree_hash, also)
    return applied


def _batches(plan: Plan) -> list[list[tuple[str, str, bool]]]:
    """The plan's batches as the executor takes them: (object, sql, transactional) per step."""
    return [[(s.object, s.sql, s.transactional) for s in batch] for batch in plan.batches()]


@progress.phased("sync.rehearse")  # signs of life on a large tree (issue 20 item 7)
def rehearse(conn: Connection, settings: ConnectionSettings, ddl_lock_timeout: float, comparison: Comparison) -> None:
    """Run the plan on a copy of the live schema in a scratch database, batch by batch as it will run
    here; the live database is touched only when the copy then equals the desired state.

    The copy is built from the live model (the planner's own create path) and must equal the live
    schema first; when it cannot be built faithfully the plan is refused (``RehearsalImpossible``,
    exit 3) and the run says why, rather than applying a plan never tried.  The copy holds no rows, so
    a step that fails only on data (a NOT NULL over NULLs) is not caught here: the apply's own
    transaction handles that.
    """
    plan, live, desired = comparison.plan, comparison.live, comparison.desired
    if not plan.steps or live is None or desired is None:
        return
    schemas = list(comparison.live_schemas)
    started = time.monotonic()
    with shadow.shadow(settings, conn, transaction=False) as sh:
        def run(steps: Plan) -> None:
            for replayed in _batches(steps):
                if settings.shadow_dsn:  # already inside the shadow's transaction: the steps go in it
                    for _, stmt, _ in replayed:
                        sh.execute(_in_transaction(stmt).encode())
                else:
                    executor.run_batch(sh, replayed, ddl_lock_timeout)

        if settings.shadow_dsn:
            sh.execute("SET LOCAL check_function_bodies = off")
        try:
            run(plan_sync(catalog.read_snapshot(sh, schemas), live))
        except (SqlFailed, psycopg.Error) as exc:
            raise RehearsalImpossible(
                "the live schema could not be rebuilt from its model for the rehearsal, so the plan was not "
                "applied untried: " + logs.redact(_first_line(exc)), _CANNOT_REHEARSE, rehearsal="no copy") from None
        copy = catalog.read_snapshot(sh, schemas)
        if not same_schema(copy, live):
            left = differences(copy, live)
            raise RehearsalImpossible(
                "the live schema could not be rebuilt faithfully from its model for the rehearsal, so the plan "
                "was not applied untried: " + "; ".join(left[:5]), _CANNOT_REHEARSE, rehearsal="no copy",
                differences=left[:10])
        try:
            run(plan)
        except (SqlFailed, psycopg.Error) as exc:
            if isinstance(exc, psycopg.errors.UnsafeNewEnumValueUsage):
                raise RehearsalImpossible(
                    "the plan uses a new enum label in the transaction of INITJOB_SHADOW_DATABASE_URL's database, "
                    "where it cannot be tried: " + logs.redact(_first_line(exc)),
                    "let initjob create its own scratch database (CREATEDB), or apply the new label first",
                    rehearsal="no copy") from None
            reason = exc.reason if isinstance(exc, SqlFailed) else str(exc).splitlines()[0]
            raise NotConverged("the plan fails on a copy of the live schema, so nothing was applied: "
                               + logs.redact(reason), "report this plan as a bug; `initjob plan` prints it",
                               rehearsal="failed") from None
        after = catalog.read_snapshot(sh, schemas)
    if not same_schema(after, desired):
        left = differences(after, desired)
        raise NotConverged("on a copy of the live schema the plan does not reach the desired state, so nothing was "
                           "applied: " + "; ".join(left[:10]), "report this plan as a bug; `initjob plan` prints it",
                           drift=left, rehearsal="differs")
    logs.event("sync.rehearsed", steps=len(plan.steps), duration_ms=round((time.monotonic() - started) * 1000))


_CANNOT_REHEARSE = ("report this as a bug with `initjob plan`; until it is fixed, apply this change as a "
                    "migration or by hand")


def _first_line(exc: Exception) -> str:
    if isinstance(exc, SqlFailed):
        return exc.reason
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _in_transaction(stmt: str) -> str:
    """A step as it can run inside the shadow's one transaction: an index built or dropped
    CONCURRENTLY ends the same without the word (ALTER TYPE ... ADD VALUE runs as it is)."""
    head = stmt.lstrip()[:40].upper()
    if head.startswith(("CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY")):
        return stmt.replace(" CONCURRENTLY", "", 1)
    return stmt


@progress.phased("sync.record_state")  # signs of life on a large tree (issue 20 item 7)
def record(conn: Connection, settings: ApplySettings, sums: dict[str, str], schemas: list[str],
           snap: catalog.Snapshot | None, tree_hash: str, also: Sequence[sql.Composed] = ()) -> None:
    if not schemas:
        # An empty desired state: record what is left (public), or verify would compare everything.
        schemas = managed_schemas(conn, settings.history_schema)
        snap = None
    executor.transaction(conn, "state", [*recorded.state_statements(conn, settings, "auto-sync", schemas, sums,
                                                                    snap, tree_hash), *also])
