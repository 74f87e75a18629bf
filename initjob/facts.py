"""Reads the facts the decider asks for, and settles a decision: the loop between ``decide`` and the database.

Each fact costs what it must and no more: the recorded state is two round trips; drift is one
cheap catalog-token query, and a snapshot only when the token moved; the comparison and the
baseline need a shadow database and are read only when the decision depends on them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg

from initjob import decide, discover, logs
from initjob.config import Config
from initjob.db import history
from initjob.decide import Decision, Facts, Inspect, Need
from initjob.schema import token
from initjob.state import DbState
from initjob.tree import Tree, scan

Connection = psycopg.Connection[Any]


def read_tree(cfg: Config) -> Tree:
    """Find and hash the mode's files (one walk, raw bytes); parsing waits until a decision needs it,
    unless the walk saw something the reader would refuse: then it parses now, before any connection."""
    tree = scan(cfg.mode.sql_dir, cfg.mode.use_migrations, cfg.mode.history_schema, cfg.mode.migrations_format)
    if not tree.hash:
        _ = tree.migrations if cfg.mode.use_migrations else tree.schema_files  # raises the exit-2 error
    return tree


def initial(cfg: Config, tree: Tree, state: DbState) -> Facts:
    return Facts(mode=cfg.mode.name, state=state, tree_hash=tree.hash, tool=tree.tool,
                 repeatable_hash=tree.repeatable_hash,
                 allow_destructive=cfg.apply.allow_destructive, force_mode_switch=cfg.mode.force_mode_switch,
                 phase=cfg.mode.phase)


def settle(conn: Connection, cfg: Config, tree: Tree, stop_at: frozenset[Need] = frozenset()) -> Decision:
    """Read the state, then read each fact the decider asks for until it decides (or asks for one in ``stop_at``)."""
    return settle_known(conn, cfg, tree, stop_at)[0]


def settle_known(conn: Connection, cfg: Config, tree: Tree, stop_at: frozenset[Need] = frozenset()
                 ) -> tuple[Decision, Facts]:
    """``settle``, with the facts it read (the state among them), for a caller that needs them next."""
    return settle_facts(conn, cfg, tree, history.read_state(conn, cfg.mode.history_schema), stop_at)


def settle_facts(conn: Connection, cfg: Config, tree: Tree, state: DbState,
                 stop_at: frozenset[Need] = frozenset()) -> tuple[Decision, Facts]:
    """``settle`` from a state already read, with the facts it read (for ``status``, which shows them)."""
    facts = initial(cfg, tree, state)
    while isinstance(decision := decide.decide(facts), Inspect) and decision.need not in stop_at:
        facts = supply(conn, cfg, tree, facts, decision.need)
    return decision, facts


def supply(conn: Connection, cfg: Config, tree: Tree, facts: Facts, need: Need) -> Facts:
    schema = cfg.mode.history_schema
    if need is Need.TREE:  # a malformed tree is exit 2 here, before any change
        if cfg.mode.use_migrations:
            return facts.with_(migrations=tree.migrations, tool_checksums=tree.chain.tool_checksums)
        return facts.with_(schema_files={f.path: f.checksum for f in tree.schema_files})
    if need is Need.FOREIGN:
        from initjob.db import adopt  # other tools' tables and layouts: kept off the no-op path for speed

        if tree.tool == discover.INITJOB:
            return facts.with_(foreign=adopt.golang_migrate_look_alike(conn))
        return facts.with_(foreign=adopt.read_foreign(conn, tree.tool, tree.sql_dir / "migrations", tree.migrations))
    if need is Need.REPEATABLES:
        return facts.with_(repeatables=tree.repeatables, repeatables_applied=history.read_repeatables(conn, schema))
    if need is Need.DRIFT:
        # Auto-sync can rebuild the desired state from the files, so a record it cannot read counts as
        # drift there (compared afresh, re-recorded); migrations mode has only the record to go by.
        lines = drift(conn, schema, facts.state, unreadable_is_drift=not cfg.mode.use_migrations)
        return facts.with_(drift=tuple(lines))
    if need is Need.LIVE_EMPTY:
        from initjob.schema import scope  # the catalog reader: kept off the no-op path for speed
        return facts.with_(live_empty=scope.live_is_empty(conn, schema))
    if need is Need.COMPARISON:
        from initjob import sync  # the snapshot model and the diff: kept off the no-op path for speed
        # The desired state includes what the repeatable files create, so the plan never drops it.
        # After expand the recorded snapshot is expand's target: the desired state comes from the files.
        state = replace(facts.state, schema_files={}) if facts.state.expanded else facts.state
        return facts.with_(comparison=sync.compare(conn, cfg.connection, schema, state,
                                                   list(tree.schema_files) + list(tree.repeatables),
                                                   phase=cfg.mode.phase))
    if need is Need.NULLS:
        if cfg.mode.use_migrations:
            from initjob import plan  # the planner: only a contract asks
            from initjob.db import nulls

            pending = plan.plan_migrations(list(tree.migrations), facts.state.applied).work
            return facts.with_(nulls=nulls.nulls_before_not_null(conn, pending))
        from initjob import sync  # the snapshot model: kept off the no-op path for speed
        assert facts.comparison is not None, "NULLS is asked after the comparison"
        return facts.with_(nulls=sync.nulls_before_not_null(conn, facts.comparison))
    from initjob import transition  # the shadow replay: kept off the no-op path for speed
    from initjob.schema import scope

    schemas = list(facts.state.schemas) or scope.managed_schemas(conn, schema)
    return facts.with_(baseline=transition.find_baseline(conn, cfg.connection, schema, list(tree.migrations), schemas))


def drift(conn: Connection, history_schema: str, state: DbState, unreadable_is_drift: bool = False) -> list[str]:
    """Hand-made changes since initjob last recorded the schema; empty when none.

    The catalog token (row versions of the catalog rows a snapshot reads) costs one cheap query;
    only when it moved is the full snapshot read and its fingerprint compared.
    """
    if state.fingerprint is None:
        return []
    if state.schemas:
        schemas = list(state.schemas)
    else:
        from initjob.schema import scope  # the catalog reader: kept off the no-op path for speed
        schemas = scope.managed_schemas(conn, history_schema)
    if state.catalog_token and token.catalog_token(conn, schemas) == state.catalog_token:
        return []
    from initjob.db import progress  # already loaded by the connection; the phase only once the token moved

    with progress.phase(conn, "drift.read"):  # a large schema: seconds of reading and fingerprinting
        return _snapshot_drift(conn, history_schema, state, schemas, unreadable_is_drift)


def _snapshot_drift(conn: Connection, history_schema: str, state: DbState, schemas: list[str],
                    unreadable_is_drift: bool) -> list[str]:
    from initjob.schema import catalog  # the snapshot model: only once the token moved

    live = catalog.read_snapshot(conn, schemas)
    if catalog.fingerprint(live) == state.fingerprint:
        return []
    recorded = history.read_snapshot_json(conn, history_schema)
    if recorded is None:
        return ["no recorded schema to compare with"]
    try:
        then = catalog.snapshot_from_json(recorded)
    except ValueError:
        # Recorded by an older initjob whose snapshot (and fingerprint) had another format: the two
        # cannot be compared. In migrations mode an upgrade must not read as drift (the next change
        # re-records it); auto-sync compares with the files instead (``unreadable_is_drift``).
        if unreadable_is_drift:
            return ["the recorded schema is in an older format: compared with sql/schema/ again"]
        logs.warning("state.older_format", hint="drift is judged again once this release has recorded the schema")
        return []
    return catalog.describe_differences(live, then) or ["fingerprint differs"]
