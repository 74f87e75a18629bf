"""The recorded state of a managed database: fingerprint, snapshot and catalog token after a change.

Apart from ``history`` so that the no-op path, which only reads the state, never imports the
snapshot model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from initjob.config import ApplySettings
from initjob.db import history, progress
from initjob.schema import catalog
from initjob.schema.token import catalog_token


@progress.phased("state.read")  # a 10 MB tree: tens of seconds of reading and serialising
def state_statements(conn: psycopg.Connection[Any], settings: ApplySettings, mode: str, schemas: Sequence[str],
                     files: dict[str, str] | None = None, snap: catalog.Snapshot | None = None,
                     tree_hash: str | None = None) -> list[sql.Composed]:
    """Statements that record the managed state; the snapshot is read inside the caller's transaction.

    ``tree_hash``: only when the run leaves the database up to date with that tree (not after a
    baseline or a rollback, which leave files pending).
    """
    if snap is None:
        snap = catalog.read_snapshot(conn, schemas)
    fingerprint, text = catalog.fingerprint_and_json(snap)
    return [history.state_upsert(settings.history_schema, mode, fingerprint,
                                 text, files, settings.applied_by, list(schemas),
                                 catalog_token(conn, schemas), tree_hash)]
