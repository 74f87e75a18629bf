"""The move from auto-sync to migrations: find the newest migration prefix equal to the live schema.

Migrations are replayed in one shadow database, a snapshot after each, so the cost is one chain
replay, not one per prefix.  ``CONCURRENTLY`` is dropped in the shadow, which runs in a single
transaction: the resulting index is the same.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from initjob import logs, sqltext, sync
from initjob.config import Config
from initjob.db import apply, shadow
from initjob.errors import NotUpToDate
from initjob.schema import catalog
from initjob.source import Migration

Connection = psycopg.Connection[Any]
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def run_in_shadow(sh: Connection, m: Migration) -> None:
    text = m.up.text
    if not m.transactional:
        text = ";\n".join(_CONCURRENTLY.sub("", s.text) if sqltext.needs_no_transaction(s) else s.text
                          for s in sqltext.split_statements(text))
    with apply.guarded(sh, m.up.path, text):
        sh.execute(b"RESET search_path")  # each file starts where psql would: no set_config leaks in
        sh.execute(text.encode())


def chain_snapshots(cfg: Config, live: Connection, files: list[Migration], schemas: list[str]
                    ) -> list[tuple[Migration, catalog.Snapshot, list[str]]]:
    """The snapshot after each migration of the chain, over the given schemas plus those the chain makes."""
    out = []
    with shadow.shadow(cfg, live) as sh:
        for m in files:
            run_in_shadow(sh, m)
            names = sorted(set(schemas) | set(sync.nonempty_schemas(sh, cfg)))
            out.append((m, catalog.read_snapshot(sh, names), names))
    return out


def find_baseline(cfg: Config, conn: Connection, files: list[Migration], schemas: list[str]) -> int:
    """The newest version whose chain result equals the live schema, or exit 3 naming the closest."""
    live_cache: dict[tuple[str, ...], catalog.Snapshot] = {}
    best: int | None = None
    closest: tuple[int, str, list[str]] | None = None
    for m, snap, names in chain_snapshots(cfg, conn, files, schemas):
        key = tuple(names)
        if key not in live_cache:
            live_cache[key] = catalog.read_snapshot(conn, names)
        live = live_cache[key]
        if sync.same_schema(live, snap):
            best = m.version
        else:
            diff = sync.differences(live, snap)
            if closest is None or len(diff) <= closest[0]:
                closest = (len(diff), m.label, diff)
    if best is None:
        name, diff = (closest[1], closest[2]) if closest else ("none", [])
        raise NotUpToDate(
            f"no migration prefix matches the live schema; closest is {name}: " + "; ".join(diff[:10]),
            "make the migrations end at the live schema, or record them by hand with "
            "`initjob baseline --version V` after checking",
            closest=name, differences=diff,
        )
    logs.event("transition.match", version=best)
    return best
