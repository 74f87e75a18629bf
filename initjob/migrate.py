"""Migrations mode's database edges: apply the pending files in order, record the state."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from initjob import logs, sync
from initjob.config import ApplySettings, Config
from initjob.db import executor, history
from initjob.db import record as recorded
from initjob.errors import SqlFailed
from initjob.plan import MigrationPlan
from initjob.source import Migration


def apply(conn: psycopg.Connection[Any], cfg: Config, plan: MigrationPlan, tree_hash: str) -> list[str]:
    """Each file in its own transaction with its history row; the last one also records the state."""
    work, settings = plan.work, cfg.apply
    if plan.has_history:  # a fresh database has no traffic to hurt: lint only when something ran before
        from initjob import lint  # squawk: kept off the no-op path for speed

        lint.log_findings(cfg.mode.sql_dir, work, conn.info.server_version)
    applied: list[str] = []
    for index, m in enumerate(work, start=1):
        finish = (lambda: _state(conn, settings, tree_hash)) if index == len(work) else None
        try:
            ms = executor.apply_migration(conn, settings, m, finish=finish,
                                          resume_from=plan.resume_from if m is plan.resume else 0)
        except SqlFailed as exc:  # the files before it committed: run.finished counts them
            exc.fields["applied"] = list(applied)
            raise
        applied.append(m.label)
        logs.event("migration.applied", version=m.version_text, name=m.name, duration_ms=ms,
                   progress=f"{index}/{len(work)}", transactional=m.transactional)
    return applied


def _state(conn: psycopg.Connection[Any], settings: ApplySettings, tree_hash: str | None) -> list[sql.Composed]:
    return recorded.state_statements(conn, settings, "migrations", sync.managed_schemas(conn, settings.history_schema),
                                     tree_hash=tree_hash)


def record(conn: psycopg.Connection[Any], settings: ApplySettings, tree_hash: str | None = None) -> None:
    """The state of a migrations-managed database, with nothing applied: after a baseline or a rollback
    (no ``tree_hash``: files are pending), or a run that found nothing pending (its tree's hash)."""
    executor.transaction(conn, "state", _state(conn, settings, tree_hash))


def record_adopted(conn: psycopg.Connection[Any], settings: ApplySettings, tool: str, table: str,
                   migrations: tuple[Migration, ...]) -> list[str]:
    """Another tool's applied versions as initjob's history (kind ``adopted``), with an event and the
    state, in one transaction; the tool's own table is left as it is."""
    schema, by = settings.history_schema, settings.applied_by
    rows = [history.history_insert(schema, m.version, m.version_text, m.name, "adopted", m.up.checksum,
                                   m.transactional, True, by, timed=False, source_tool=tool) for m in migrations]
    rows.append(history.event_insert(schema, "adopt", by, migrations[-1].version,
                                     {"tool": tool, "table": table, "adopted": [m.label for m in migrations]}))
    executor.transaction(conn, "adopt", rows + _state(conn, settings, None))
    logs.event("history.adopted", tool=tool, table=table, adopted=len(migrations),
               newest=migrations[-1].version_text)
    return [m.label for m in migrations]
