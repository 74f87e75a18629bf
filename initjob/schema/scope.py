"""Which schemas are the application's, whether they hold anything, and whether two states of them match.

Every mode needs these lists (auto-sync to compare, migrations mode and the repeatable files to record
the state, the transition to replay a chain), so they live here, beside the catalog reader, and not in
auto-sync's edge module: migrations mode and the no-op never import ``sync``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg

from initjob.schema import catalog

Connection = psycopg.Connection[Any]


def managed_schemas(conn: Connection, history_schema: str) -> list[str]:
    """The application schemas: every user schema but initjob's own (system and extension ones aside)."""
    return catalog.user_schemas(conn, exclude=[history_schema])


def compared_schemas(conn: Connection, history_schema: str, desired: list[str], recorded: tuple[str, ...]
                     ) -> list[str]:
    """The live schemas to compare with the desired state: the desired ones and those the last sync
    managed (one the desired state no longer has is dropped, not ignored). A database initjob has
    never synced is adopted whole: every application schema in it is compared."""
    if recorded:
        return sorted(set(desired) | set(recorded))
    return sorted(set(desired) | set(managed_schemas(conn, history_schema)))


def nonempty_schemas(conn: Connection, history_schema: str) -> list[str]:
    """The application schemas, public only when something is in it."""
    return without_empty_public(conn, managed_schemas(conn, history_schema))


def without_empty_public(conn: Connection, schemas: list[str]) -> list[str]:
    return [s for s in schemas if s != "public" or holds_objects(conn, ["public"])]


def keep_public(desired: catalog.Snapshot, live: catalog.Snapshot) -> catalog.Snapshot:
    """The desired state with the live ``public`` schema when it has none: ``public`` is emptied when
    nothing uses it any more, never dropped."""
    if any(s.name == "public" for s in desired.schemas):
        return desired
    public = tuple(s for s in live.schemas if s.name == "public")
    return dataclasses.replace(desired, schemas=tuple(sorted(desired.schemas + public, key=lambda s: s.name)))


# The one definition of "holds objects of its own", for a database (live_is_empty) and for public
# (nonempty_schemas): a relation, routine, type (arrays and table row types aside), collation,
# extension or object of a refused kind in the given schemas.
_HOLDS_OBJECTS = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = ANY(%(schemas)s))
SELECT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_type WHERE typnamespace IN (SELECT oid FROM ns) AND typrelid = 0
               AND typcategory <> 'A')
    OR EXISTS (SELECT 1 FROM pg_collation WHERE collnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_extension WHERE extnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_conversion WHERE connamespace IN (SELECT oid FROM ns))
    OR EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxnamespace IN (SELECT oid FROM ns))
"""


def holds_objects(conn: Connection, schemas: list[str]) -> bool:
    row = conn.execute(_HOLDS_OBJECTS, {"schemas": schemas}).fetchone()
    return bool(row and row[0])


def live_is_empty(conn: Connection, history_schema: str) -> bool:
    """True when the database holds nothing of its own (no schema but an empty public): the files may
    be applied as written."""
    schemas = managed_schemas(conn, history_schema)
    return not any(s != "public" for s in schemas) and not holds_objects(conn, schemas)


def same_schema(a: catalog.Snapshot, b: catalog.Snapshot) -> bool:
    """Equal but for column order, which ADD COLUMN cannot choose: how auto-sync judges "up to date".

    Model equality leaves out what the fingerprint leaves out (dependencies, NOT NULL names) and
    costs milliseconds, where two fingerprints (JSON of both snapshots) took 2 s on 1,000 tables."""
    return catalog.ignore_column_order(a) == catalog.ignore_column_order(b)


def differences(checked: catalog.Snapshot, expected: catalog.Snapshot) -> list[str]:
    """What ``checked`` lacks or has too many of against ``expected``, column order aside."""
    return catalog.describe_differences(catalog.ignore_column_order(checked), catalog.ignore_column_order(expected))
