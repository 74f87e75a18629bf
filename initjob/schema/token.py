"""The catalog token: a cheap digest of the catalog rows a snapshot of some schemas is made from.

Kept apart from ``catalog`` so that the no-op run of every pod start, which needs only this one
query, does not pay for importing the snapshot model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql


# Every catalog row a snapshot is made from, summed as (rows, sum of row-version xids, sum of a
# value): any DDL inserts, deletes or rewrites one of them (a rewritten row gets a newer xid), while
# DML, ANALYZE, VACUUM and nextval() leave them alone. Integer sums rather than a hash of sorted
# text: an order-free digest that costs a tenth as much on 100,000 rows.
def _versions(catalog: str, where: str, value: str = "0") -> sql.Composable:
    return sql.SQL(
        "(SELECT count(*)::text || '/' || coalesce(sum(xmin::text::bigint), 0)::text || '/'"
        " || coalesce(sum({value}), 0)::text FROM pg_catalog.{catalog} WHERE {where})"
    ).format(value=sql.SQL(value), catalog=sql.Identifier(catalog), where=sql.SQL(where))


_IN_NS = "IN (SELECT oid FROM ns)"
_IN_REL = "IN (SELECT oid FROM rel)"
@functools.cache
def _token_query() -> sql.Composed:
    # Composed at first use: a no-op run imports this module, and composing costs more than the query.
    return sql.SQL(
    """
WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY(%(schemas)s)),
rel AS MATERIALIZED (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM ns)),
typ AS MATERIALIZED (SELECT oid FROM pg_catalog.pg_type WHERE typnamespace IN (SELECT oid FROM ns))
SELECT concat_ws(' ', {parts})""").format(parts=sql.SQL(", ").join([
        _versions("pg_namespace", f"oid {_IN_NS}"),
        _versions("pg_class", f"oid {_IN_REL}", "oid::bigint"),
        _versions("pg_attribute", f"attnum > 0 AND attrelid {_IN_REL}", "attrelid::bigint * attnum"),
        _versions("pg_attrdef", f"adrelid {_IN_REL}", "oid::bigint"),
        _versions("pg_constraint", f"connamespace {_IN_NS}", "oid::bigint"),
        # indisvalid and tgenabled may change in place, without a new row version: counted by value.
        _versions("pg_index", f"indrelid {_IN_REL}", "indexrelid::bigint * (1 + indisvalid::int)"),
        _versions("pg_trigger", f"NOT tgisinternal AND tgrelid {_IN_REL}", "oid::bigint * ascii(tgenabled::text)"),
        _versions("pg_policy", f"polrelid {_IN_REL}", "oid::bigint"),
        _versions("pg_rewrite", f"ev_class {_IN_REL}", "oid::bigint"),
        _versions("pg_type", "oid IN (SELECT oid FROM typ)", "oid::bigint"),
        _versions("pg_enum", "enumtypid IN (SELECT oid FROM typ)", "oid::bigint"),
        _versions("pg_proc", f"pronamespace {_IN_NS}", "oid::bigint"),
        _versions("pg_sequence", f"seqrelid {_IN_REL}", "seqrelid::bigint"),
        _versions("pg_inherits", f"inhrelid {_IN_REL}", "inhparent::bigint"),
        _versions("pg_extension", "true", "oid::bigint"),
        _versions("pg_depend", f"deptype = 'e' OR (deptype IN ('a', 'i') AND objid {_IN_REL})",
                  "objid::bigint * 7 + refobjid::bigint * 3 + refobjsubid"),
        _versions("pg_description", "true", "objoid::bigint + objsubid"),
        _versions("pg_default_acl", f"defaclnamespace {_IN_NS}", "oid::bigint"),
    ]))


def catalog_token(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> str:
    """A digest of the row versions of every catalog row a snapshot of ``schemas`` is made from.

    Cheap at any size (no deparsing): store it next to a fingerprint, and while it is unchanged no
    DDL has touched the schemas, so the stored fingerprint still holds and no snapshot is needed.
    A changed token says nothing more than "take a snapshot": TRUNCATE, CLUSTER, VACUUM FULL and
    comments on any object change it too. Not seen: renames of things outside ``schemas`` that
    definitions mention (a role named in a policy, a type in another schema).
    """
    row = conn.execute(_token_query(), {"schemas": list(schemas)}).fetchone()
    return str(row[0]) if row else ""
