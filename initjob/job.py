"""The pipeline of ``initjob run``, top to bottom as SPEC's steps:
configure → wait → lock → read state → decide → marker → apply → verify → report.

What to do is decided in ``decide`` (pure) from facts read by ``facts``; this module only sequences
the steps and the database edges.  There is no recursion: the transition records its baseline and
the run decides once more.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import Composed

from initjob import logs
from initjob.config import Config
from initjob.db import history
from initjob.decide import (
    WORK,
    Adopt,
    ApplyFiles,
    Baseline,
    Decision,
    Inspect,
    Migrate,
    Need,
    RecordState,
    Refuse,
    Repeat,
    Sync,
    UpToDate,
)
from initjob.facts import read_tree, settle, settle_known
from initjob.report import Report
from initjob.session import locked, with_connection
from initjob.tree import Tree

Connection = psycopg.Connection[Any]


def run(cfg: Config) -> Report:
    tree = read_tree(cfg)  # 1. configure: a bad tree is exit 2 before any connection
    return with_connection(cfg.connection, lambda conn: _run(conn, cfg, tree))  # 2. wait (and reconnect)


def _run(conn: Connection, cfg: Config, tree: Tree) -> Report:
    # 5. decide unlocked first: the no-op of every pod start takes no lock. A fact that needs a shadow
    # database means work: it is read once, under the lock, not here and again there.
    decision = settle(conn, cfg, tree, stop_at=frozenset({Need.COMPARISON, Need.BASELINE}))
    if not isinstance(decision, (*WORK, Inspect)):
        return _conclude(decision, cfg)
    if cfg.mode.phase == "contract" and cfg.mode.contract_wait_for:
        from initjob.db import previous  # only a contract that waits for the previous release

        previous.wait_gone(conn, cfg.mode.contract_wait_for, cfg.mode.contract_wait_timeout)
    with locked(conn, cfg.lock, cfg.connection):  # 4. lock, then read the state again
        history.ensure(conn, cfg.mode.history_schema)
        decision, known = settle_known(conn, cfg, tree)
        baselined: list[str] = []
        while isinstance(decision, Baseline | Adopt):  # record what is already applied, then decide again
            baselined += _record_applied(conn, cfg, decision)
            decision, known = settle_known(conn, cfg, tree)
        if not isinstance(decision, WORK):
            return _conclude(decision, cfg, baselined)
        _precheck(conn, decision)  # the live rows a sync step needs: refused before the marker, nothing touched
        _rehearse(conn, cfg, decision)  # a sync plan on a copy first: a refused plan leaves no marker behind
        from initjob.db import marker  # pg_dump's machinery: kept off the no-op path for speed

        taken = marker.before_change(conn, cfg.backup, cfg.apply, cfg.connection.dsn,  # 6. backup marker
                                     known.state.fingerprint,
                                     cfg.mode.name, _planned(decision))
        applied = _apply(conn, cfg, tree, decision)  # 7. apply; 8. verify (auto-sync compares the result)
        if _deferred(cfg, decision):
            logs.event("phase.expanded", mode=cfg.mode.name, deferred=list(_deferred(cfg, decision)),
                       hint="run INITJOB_PHASE=contract after the rollout")
        # The repeatable files come after the migrations or the sync. Without any, in the tree or on record,
        # the state is read again only to find what this run just recorded (20-30 ms of a fresh run).
        if not isinstance(decision, Repeat) and (tree.repeatable_hash or known.state.repeatable_hash):
            decision = settle(conn, cfg, tree)
            if isinstance(decision, Repeat):
                applied += _apply(conn, cfg, tree, decision)
            elif isinstance(decision, Refuse):
                raise decision.error
    return Report(cfg.mode.name, tuple(applied), tuple(baselined), taken)  # 9. report (cli logs it)


def _deferred(cfg: Config, decision: Decision) -> tuple[str, ...]:
    """What an expand leaves for contract (nothing in another phase)."""
    if cfg.mode.phase != "expand" or not isinstance(decision, Sync | RecordState | Migrate):
        return ()
    return decision.deferred


def _expanded(cfg: Config, tree: Tree, decision: Decision) -> list[Composed]:
    """The mark that expand completed for this tree while its contract half waits (contract's guard),
    written in the transaction that records the state expand left."""
    return [history.expanded_upsert(cfg.mode.history_schema, tree.hash)] if _deferred(cfg, decision) else []


def _record_applied(conn: Connection, cfg: Config, decision: Baseline | Adopt) -> list[str]:
    """The transition's baseline, or another tool's history taken over: recorded, nothing run."""
    if isinstance(decision, Adopt):
        from initjob import migrate  # the snapshot model: kept off the no-op path for speed

        return migrate.record_adopted(conn, cfg.apply, decision.tool, decision.table, decision.migrations)
    from initjob import transition  # the shadow replay: kept off the no-op path for speed

    return transition.record_baseline(conn, cfg.apply, decision.version, decision.migrations)


def _conclude(decision: Decision, cfg: Config, baselined: list[str] | None = None) -> Report:
    """Nothing to apply: up to date (exit 0), or the refusal the decision carries (exit 3)."""
    if isinstance(decision, Refuse):
        raise decision.error
    assert isinstance(decision, UpToDate), f"unexpected decision {decision!r}"
    if decision.deferred:
        logs.event("run.nothing_to_do", mode=decision.mode, phase=cfg.mode.phase, deferred=list(decision.deferred))
    else:
        logs.event("run.nothing_to_do", mode=decision.mode)
    return Report(cfg.mode.name, baselined=tuple(baselined or ()))


def _precheck(conn: Connection, decision: Decision) -> None:
    comparison = decision.comparison if isinstance(decision, Sync | RecordState) else None
    if comparison is not None and any(s.precheck for s in comparison.plan.steps):
        from initjob.db import precheck  # the snapshot model: kept off the no-op path for speed

        precheck.require_fit(conn, comparison.plan)


def _rehearse(conn: Connection, cfg: Config, decision: Decision) -> None:
    comparison = decision.comparison if isinstance(decision, Sync | RecordState) else None
    if comparison is not None and comparison.plan.steps:
        from initjob import sync  # the snapshot model: kept off the no-op path for speed

        sync.rehearse(conn, cfg.connection, cfg.apply.ddl_lock_timeout, comparison)


def _planned(decision: Decision) -> list[str]:
    if isinstance(decision, Migrate):
        return [m.label for m in decision.plan.work]
    if isinstance(decision, Sync):
        return [f"{s.kind}: {s.object}" for s in decision.comparison.plan.steps]
    if isinstance(decision, Repeat):
        return [f.path for f in decision.files]
    return []


def _apply(conn: Connection, cfg: Config, tree: Tree, decision: Decision) -> list[str]:
    # Each mode's edges are imported only when there is work: the no-op path needs neither.
    if isinstance(decision, Repeat):
        from initjob import repeat  # the snapshot model: kept off the no-op path for speed

        return repeat.apply(conn, cfg.apply, decision.files, tree.repeatable_hash)
    if isinstance(decision, Migrate):
        from initjob import migrate

        if decision.plan.has_history:  # a fresh database has no traffic to hurt: lint only when something ran before
            from initjob import lint  # squawk: kept off the no-op path for speed

            lint.log_findings(cfg.mode.sql_dir, decision.plan.work, conn.info.server_version)
        return migrate.apply(conn, cfg, decision.plan, tree.hash, tree.chain, _expanded(cfg, tree, decision))
    if isinstance(decision, RecordState):
        from initjob import migrate, sync

        if decision.comparison is None:
            migrate.record(conn, cfg.apply, tree.hash, _expanded(cfg, tree, decision))
            return []
        return sync.apply_plan(conn, cfg.apply, decision.comparison, list(tree.schema_files), tree.hash,
                               _expanded(cfg, tree, decision))
    if isinstance(decision, ApplyFiles):
        from initjob import fresh  # not sync: a fresh apply needs neither the planner nor a shadow database

        return fresh.apply_files(conn, cfg.apply, list(tree.schema_files), tree.hash)
    from initjob import sync

    assert isinstance(decision, Sync), f"unexpected decision {decision!r}"
    if decision.adopting:
        logs.event("sync.adopting", hint="the database already holds objects: initjob compares instead of "
                   "applying the files as written")
    return sync.apply_plan(conn, cfg.apply, decision.comparison, list(tree.schema_files), tree.hash,
                           _expanded(cfg, tree, decision))

