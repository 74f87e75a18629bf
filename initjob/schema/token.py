"""The catalog token: a cheap digest of the catalog rows a snapshot of some schemas is made from.

Kept apart from ``catalog`` so that the no-op run of every pod start, which needs only this one
query, does not pay for importing the snapshot model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from initjob.schema.reads import CATALOGS


# Every catalog row a snapshot is made from, summed as (rows, sum of row-version xids, sum of a
# value): any DDL inserts, deletes or rewrites one of them (a rewritten row gets a newer xid), while
# DML, ANALYZE, VACUUM and nextval() leave them alone. Integer sums rather than a hash of sorted
# text: an order-free digest that costs a tenth as much on 100,000 rows.
def _versions(catalog: str, where: str, value: str = "0") -> sql.Composable:
    return sql.SQL(
        "(SELECT count(*)::text || '/' || coalesce(sum(xmin::text::bigint), 0)::text || '/'"
        " || coalesce(sum({value}), 0)::text FROM {source} WHERE {where})"
    ).format(value=sql.SQL(value), source=_source(catalog), where=sql.SQL(where))


def _source(catalog: str) -> sql.Composable:
    return sql.SQL(_SOURCES[catalog]) if catalog in _SOURCES else sql.SQL("pg_catalog.{}").format(
        sql.Identifier(catalog))


_IN_NS = "IN (SELECT oid FROM ns)"
_IN_REL = "IN (SELECT oid FROM rel)"

# How each catalog of ``reads.CATALOGS`` is narrowed to the managed schemas (its WHERE), and the value
# summed besides the row versions. A catalog listed there without an entry here is a KeyError at the
# first token query (and a failure of tests/test_kinds.py).
_SCOPES: dict[str, tuple[str, str]] = {
    "pg_namespace": (f"oid {_IN_NS}", "0"),
    "pg_class": (f"relnamespace {_IN_NS}", "oid::bigint"),
    "pg_attribute": (f"attnum > 0 AND attrelid {_IN_REL}", "attrelid::bigint * attnum"),
    "pg_attrdef": (f"adrelid {_IN_REL}", "oid::bigint"),
    "pg_constraint": (f"connamespace {_IN_NS}", "oid::bigint"),
    # indisvalid and tgenabled may change in place, without a new row version: counted by value.
    "pg_index": (f"indrelid {_IN_REL}", "indexrelid::bigint * (1 + indisvalid::int)"),
    "pg_trigger": (f"NOT tgisinternal AND tgrelid {_IN_REL}", "oid::bigint * ascii(tgenabled::text)"),
    "pg_policy": (f"polrelid {_IN_REL}", "oid::bigint"),
    "pg_rewrite": (f"ev_class {_IN_REL}", "oid::bigint"),
    "pg_type": ("oid IN (SELECT oid FROM typ)", "oid::bigint"),
    "pg_enum": ("enumtypid IN (SELECT oid FROM typ)", "oid::bigint"),
    "pg_range": ("rngtypid IN (SELECT oid FROM typ)", "rngtypid::bigint"),
    "pg_proc": (f"pronamespace {_IN_NS}", "oid::bigint"),
    "pg_aggregate": ("aggfnoid::oid IN (SELECT p.oid FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace)",
                     "aggfnoid::oid::bigint"),
    "pg_language": ("true", "oid::bigint"),
    "pg_sequence": (f"seqrelid {_IN_REL}", "seqrelid::bigint"),
    "pg_inherits": (f"inhrelid {_IN_REL}", "inhparent::bigint"),
    "pg_extension": ("true", "oid::bigint"),
    "pg_collation": (f"collnamespace {_IN_NS}", "oid::bigint"),
    "pg_opclass": (f"opcnamespace {_IN_NS}", "oid::bigint"),
    "pg_opfamily": (f"opfnamespace {_IN_NS}", "oid::bigint"),
    "pg_operator": (f"oprnamespace {_IN_NS}", "oid::bigint"),
    "pg_statistic_ext": (f"stxnamespace {_IN_NS}", "oid::bigint"),
    "pg_ts_config": (f"cfgnamespace {_IN_NS}", "oid::bigint"),
    "pg_ts_dict": (f"dictnamespace {_IN_NS}", "oid::bigint"),
    "pg_conversion": (f"connamespace {_IN_NS}", "oid::bigint"),
    "pg_depend": ("true", "objid::bigint * 7 + refobjid::bigint * 3 + refobjsubid"),
"pg_description": ("true", "objoid::bigint + objsubid"),
    "pg_default_acl": (f"defaclnamespace {_IN_NS}", "oid::bigint"),
}


_WITH = """
WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY(%(schemas)s)),
rel AS NOT MATERIALIZED (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM ns)),
typ AS NOT MATERIALIZED (SELECT oid FROM pg_catalog.pg_type WHERE typnamespace IN (SELECT oid FROM ns))
"""


# Catalogs read through a row source of their own rather than one filtered scan. pg_depend: two index
# ranges instead of a scan of every dependency with an OR, extension membership (each such row
# refers to an extension) and the sequences' links to their columns (OWNED BY, identity), the only
# other pg_depend rows a snapshot reads.
_SOURCES: dict[str, LiteralString] = {
    "pg_depend": """(SELECT xmin, objid, refobjid, refobjsubid FROM pg_catalog.pg_depend
      WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'
    UNION ALL
    SELECT d.xmin, d.objid, d.refobjid, d.refobjsubid
      FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_depend d
        ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.seqrelid AND d.objsubid = 0
     WHERE d.deptype IN ('a', 'i') AND s.seqrelid IN (SELECT oid FROM rel)) AS pg_depend""",
}


@functools.cache
def _token_query() -> sql.Composed:
    # Composed at first use: a no-op run imports this module, and composing costs more than the query.
    return sql.SQL(_WITH + "SELECT concat_ws(' ', {parts})").format(parts=sql.SQL(", ").join(
        _versions(catalog, *_SCOPES[catalog]) for catalog in CATALOGS))


def part_query(catalog: str) -> sql.Composed:
    """One catalog's part of the token on its own (bench/bench_token.py times each)."""
    return sql.SQL(_WITH + "SELECT {part}").format(part=_versions(catalog, *_SCOPES[catalog]))


def count_query(catalog: str) -> sql.Composed:
    """How many rows of ``catalog`` the token digests."""
    where, _ = _SCOPES[catalog]
    return sql.SQL(_WITH) + sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_source(catalog), sql.SQL(where))


def floor_query() -> sql.Composed:
    """Every row the token digests, counted and nothing more: the floor its cost is measured against."""
    counts = sql.SQL(" + ").join(
        sql.SQL("(SELECT count(*) FROM {} WHERE {})").format(_source(c), sql.SQL(_SCOPES[c][0]))
        for c in CATALOGS)
    return sql.SQL(_WITH + "SELECT {}").format(counts)


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
