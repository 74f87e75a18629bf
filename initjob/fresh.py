"""Auto-sync of an empty database: the files as written, and the state, in one transaction.

Apart from ``sync`` so that a fresh apply loads neither the planner nor the shadow database's edges
(``schema.diff``, ``schema.compare``, ``schema.renames``, ``db.shadow``): a fresh run needs none of
them, and importing them was about a tenth of a fresh 10-table apply's own time.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.config import ApplySettings
from initjob.db import executor
from initjob.db import record as recorded
from initjob.schema.scope import managed_schemas, without_empty_public
from initjob.source import SqlFile, checksums

Connection = psycopg.Connection[Any]


def apply_files(conn: Connection, settings: ApplySettings, files: list[SqlFile], tree_hash: str) -> list[str]:
    """A database with nothing in it gets the files as written, and the state, in one transaction."""
    def finish() -> list[sql.Composed]:
        # An empty desired state still records what it covers (public), or verify would compare everything.
        schemas = managed_schemas(conn, settings.history_schema)
        schemas = without_empty_public(conn, schemas) or schemas
        return recorded.state_statements(conn, settings, "auto-sync", schemas, checksums(files), tree_hash=tree_hash)

    executor.with_lock_retries("schema", lambda: executor.run_files_in_transaction(
        conn, files, settings.ddl_lock_timeout, finish))
    logs.event("sync.applied", files=len(files), fresh=True)
    return [f.path for f in files]
