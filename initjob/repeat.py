"""Repeatable files' database edge: apply the changed ones in lexical order, each in its own
transaction with its row, and record their combined hash and the schema they leave with the last."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import ApplySettings
from initjob.db import executor, history
from initjob.schema import catalog, scope
from initjob.schema.token import catalog_token
from initjob.source import SqlFile


def apply(conn: psycopg.Connection[Any], settings: ApplySettings, files: tuple[SqlFile, ...],
          repeatable_hash: str) -> list[str]:
    """A failure stops the run (exit 5) with the files before it kept and the hash unrecorded, so the
    next run applies the failed file and those after it again."""
    schema = settings.history_schema
    schemas = list(history.read_state(conn, schema).schemas) or scope.managed_schemas(conn, schema)

    def finish() -> list[sql.Composed]:
        # Read inside the last file's transaction: what the files created is recorded, not taken for drift.
        snap = catalog.read_snapshot(conn, schemas)
        return [history.state_refresh(schema, catalog.fingerprint(snap), catalog.snapshot_to_json(snap),
                                      catalog_token(conn, schemas), repeatable_hash)]

    for index, f in enumerate(files, start=1):
        ms = executor.apply_repeatable(conn, settings, f, finish=finish if index == len(files) else None)
        logs.event("repeatable.applied", file=f.path, duration_ms=ms, progress=f"{index}/{len(files)}")
    if not files:  # only a file removed: its objects stay (initjob never guesses a DROP); the hash is recorded
        executor.transaction(conn, "repeatable", finish())
    return [f.path for f in files]
