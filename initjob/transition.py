"""The move from auto-sync to migrations: find the newest migration prefix equal to the live schema.

Migrations are replayed in one shadow database, a snapshot after each, so the cost is one chain
replay, not one per prefix.  ``CONCURRENTLY`` is dropped in the shadow, which runs in a single
transaction: the resulting index is the same.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from initjob import logs, sqltext
from initjob.config import ApplySettings, ConnectionSettings
from initjob.db import executor, history, shadow
from initjob.db import record as recorded
from initjob.decide import BaselineMatch
from initjob.schema import catalog, scope
from initjob.source import Migration

Connection = psycopg.Connection[Any]
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def run_in_shadow(sh: Connection, m: Migration) -> None:
    text = m.up.text
    if not m.transactional:
        text = ";\n".join(_CONCURRENTLY.sub("", s.text) if sqltext.needs_no_transaction(s) else s.text
                          for s in sqltext.split_statements(text))
    with executor.guarded(sh, m.up.path, text):
        sh.execute(executor.FILE_RESET.encode())  # each file starts where psql would: no SET leaks in
        sh.execute(text.encode())


def chain_snapshots(conn: Connection, settings: ConnectionSettings, history_schema: str, files: list[Migration],
                    schemas: list[str]) -> list[tuple[Migration, catalog.Snapshot, list[str]]]:
    """The snapshot after each migration of the chain, over the given schemas plus those the chain makes."""
    out = []
    with shadow.shadow(settings, conn) as sh:
        for m in files:
            run_in_shadow(sh, m)
            names = sorted(set(schemas) | set(scope.nonempty_schemas(sh, history_schema)))
            out.append((m, catalog.read_snapshot(sh, names), names))
    return out


def find_baseline(conn: Connection, settings: ConnectionSettings, history_schema: str, files: list[Migration],
                  schemas: list[str]) -> BaselineMatch:
    """The newest version whose chain result equals the live schema, else the closest miss."""
    live_cache: dict[tuple[str, ...], catalog.Snapshot] = {}
    best: int | None = None
    closest: tuple[int, str, list[str]] | None = None
    for m, snap, names in chain_snapshots(conn, settings, history_schema, files, schemas):
        key = tuple(names)
        if key not in live_cache:
            live_cache[key] = catalog.read_snapshot(conn, names)
        live = live_cache[key]
        if scope.same_schema(live, snap):
            best = m.version
        else:
            diff = scope.differences(live, snap)
            if closest is None or len(diff) <= closest[0]:
                closest = (len(diff), m.label, diff)
    if best is None:
        name, diff = (closest[1], closest[2]) if closest else ("none", [])
        return BaselineMatch(None, name, tuple(diff))
    logs.event("transition.match", version=best)
    return BaselineMatch(best)


def record_baseline(conn: Connection, settings: ApplySettings, version: int, migrations: tuple[Migration, ...],
                    action: str = "transition") -> list[str]:
    """Record ``migrations`` as applied without running them, with an event and the state, in one transaction."""
    schema, by = settings.history_schema, settings.applied_by
    rows = [history.history_insert(schema, m.version, m.version_text, m.name, "baseline", m.up.checksum,
                                   m.transactional, True, by, timed=False) for m in migrations]
    detail = {"from": "auto-sync", "baselined": [m.label for m in migrations]} if action == "transition" else {
        "recorded": [m.label for m in migrations]}
    rows.append(history.event_insert(schema, action, by, version, detail))
    rows += recorded.state_statements(conn, settings, "migrations", scope.managed_schemas(conn, schema))
    executor.transaction(conn, action, rows)
    if action == "transition":
        logs.event("transition.baselined", version=str(version), baselined=len(migrations))
    else:
        logs.event("baseline.recorded", version=str(version), recorded=len(migrations))
    return [m.label for m in migrations]
