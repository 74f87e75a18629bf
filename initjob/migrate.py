"""Migrations mode's database edges: apply the pending files in order, record the state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from initjob import layouts, logs
from initjob.config import ApplySettings, Config
from initjob.db import adopt, executor, history
from initjob.db import record as recorded
from initjob.errors import SqlFailed
from initjob.layouts import Layout
from initjob.layouts.reading import Chain
from initjob.plan import MigrationPlan
from initjob.schema import scope
from initjob.source import Migration


def apply(conn: psycopg.Connection[Any], cfg: Config, plan: MigrationPlan, tree_hash: str,
          chain: Chain | None = None, also: Sequence[sql.Composed] = ()) -> list[str]:
    """Each file in its own transaction with its history row (and the tool's, see ``tool_table``);
    the last one also records the state (and ``also``: expand's mark, for contract's guard)."""
    work, settings = plan.work, cfg.apply
    tool = tool_table(cfg, chain)
    if tool is not None and not adopt.has_table(conn, tool.name):
        # Made before the first file, as the tool makes it (a file may alter it), with what is applied
        # already, and recorded with the schema: a file that then fails leaves no unrecorded table behind
        # to be taken for drift.
        done = [m for m in chain.migrations if m not in work] if chain is not None else []
        _make_table(conn, settings, tool, done, chain.tool_checksums if chain is not None else {}, plan.has_history)
    sums = chain.tool_checksums if chain is not None else {}
    applied: list[str] = []
    for index, m in enumerate(work, start=1):
        last = index == len(work)
        finish = _finish(conn, settings, tree_hash if last else None, tool, m, sums.get(m.version),
                         also if last else ())
        try:
            ms = executor.apply_migration(conn, settings, m, finish=finish,
                                          resume_from=plan.resume_from if m is plan.resume else 0)
        except SqlFailed as exc:  # the files before it committed: run.finished counts them
            raise exc.with_committed(applied, key="applied") from exc.__cause__
        applied.append(m.label)
        logs.event("migration.applied", version=m.version_text, name=m.name, duration_ms=ms,
                   progress=f"{index}/{len(work)}", transactional=m.transactional)
    return applied


def tool_table(cfg: Config, chain: Chain | None) -> Layout | None:
    """The layout whose history table is kept in step: another tool's with a table, unless opted out."""
    if chain is None or not cfg.mode.keep_tool_table:
        return None
    layout = layouts.get(chain.tool)
    return layout if layout.table is not None and layout.keeps_table else None


def _make_table(conn: psycopg.Connection[Any], settings: ApplySettings, tool: Layout, done: list[Migration],
                sums: Mapping[int, str], has_history: bool) -> None:
    label = f"{tool.name} history table"
    rows = tool.create_table() + [r for m in done for r in tool.applied(m, sums.get(m.version))]
    body = ";\n".join(s.as_string(conn) for s in rows)
    if not has_history:
        executor.transaction(conn, label, [body])
        return
    # The state is read inside the transaction, after the table is made, so that it includes it.
    executor.run_transactional(conn, label, body, settings.ddl_lock_timeout, [], commit=False)
    executor.commit_with(conn, label, _state(conn, settings, None))


def _finish(conn: psycopg.Connection[Any], settings: ApplySettings, tree_hash: str | None, tool: Layout | None,
            m: Migration, tool_sum: str | None, also: Sequence[sql.Composed] = ()
            ) -> Callable[[], list[sql.Composed]] | None:
    """What a file's transaction also writes: the tool's row, and after the last file the state (and
    ``also``)."""
    if tool is None and tree_hash is None:
        return None
    rows = tool.applied(m, tool_sum) if tool is not None else []
    return lambda: rows + ([*_state(conn, settings, tree_hash), *also] if tree_hash is not None else [])


def tool_rows_down(cfg: Config, chain: Chain, m: Migration, applied: Sequence[int]) -> list[sql.Composed]:
    """The tool's record of ``m`` rolled back (in the down's transaction); ``applied``: versions applied before."""
    tool = tool_table(cfg, chain)
    if tool is None:
        return []
    earlier = [v for v in applied if v < m.version]
    by_version = {c.version: c for c in chain.migrations}
    return tool.unapplied(m, by_version.get(max(earlier)) if earlier else None)


def _state(conn: psycopg.Connection[Any], settings: ApplySettings, tree_hash: str | None) -> list[sql.Composed]:
    # The schema list from schema.scope, not sync: migrations mode need not import auto-sync's planner.
    schemas = scope.managed_schemas(conn, settings.history_schema)
    return recorded.state_statements(conn, settings, "migrations", schemas, tree_hash=tree_hash)


def record(conn: psycopg.Connection[Any], settings: ApplySettings, tree_hash: str | None = None,
           also: Sequence[sql.Composed] = ()) -> None:
    """The state of a migrations-managed database, with nothing applied: after a baseline or a rollback
    (no ``tree_hash``: files are pending), or a run that found nothing pending (its tree's hash)."""
    executor.transaction(conn, "state", [*_state(conn, settings, tree_hash), *also])


def record_adopted(conn: psycopg.Connection[Any], settings: ApplySettings, tool: str, table: str,
                   migrations: tuple[Migration, ...]) -> list[str]:
    """Another tool's applied versions as initjob's history (kind ``adopted``), with an event and the
    state, in one transaction; the tool's own table already holds them."""
    schema, by = settings.history_schema, settings.applied_by
    rows = [history.history_insert(schema, m.version, m.version_text, m.name, "adopted", m.up.checksum,
                                   m.transactional, True, by, timed=False, source_tool=tool) for m in migrations]
    rows.append(history.event_insert(schema, "adopt", by, migrations[-1].version,
                                     {"tool": tool, "table": table, "adopted": [m.label for m in migrations]}))
    executor.transaction(conn, "adopt", rows + _state(conn, settings, None))
    logs.event("history.adopted", tool=tool, table=table, adopted=len(migrations),
               newest=migrations[-1].version_text)
    return [m.label for m in migrations]

