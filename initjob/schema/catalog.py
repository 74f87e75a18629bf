"""Reading the catalog: a ``model.Snapshot`` of some schemas, from a live database, in one round trip.

Two databases holding the same schema give equal snapshots, whatever order the objects were created
in: nothing here is an OID or an attnum, every collection is sorted by name (columns by their position
among the live columns), and every definition comes from PostgreSQL's own deparsers (``pg_get_*def``,
``format_type``) run with an empty ``search_path`` so that every name outside ``pg_catalog`` is
schema-qualified the same way in both databases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import re
import types
import typing
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql

# The model and the comparison are re-exported: callers read a snapshot and compare it in one place.
from initjob.schema.compare import Difference as Difference
from initjob.schema.compare import compare as compare
from initjob.schema.compare import describe_differences as describe_differences
from initjob.schema.model import Collation as Collation
from initjob.schema.model import Column as Column
from initjob.schema.model import Composite as Composite
from initjob.schema.model import Constraint as Constraint
from initjob.schema.model import Domain as Domain
from initjob.schema.model import Enum as Enum
from initjob.schema.model import Extension as Extension
from initjob.schema.model import Function as Function
from initjob.schema.model import Index as Index
from initjob.schema.model import Policy as Policy
from initjob.schema.model import Range as Range
from initjob.schema.model import Schema as Schema
from initjob.schema.model import Sequence_ as Sequence_
from initjob.schema.model import Snapshot as Snapshot
from initjob.schema.model import Table as Table
from initjob.schema.model import Trigger as Trigger
from initjob.schema.model import Unmanaged as Unmanaged
from initjob.schema.model import View as View
from initjob.schema.model import qualified as qualified
from initjob.schema.model import quote_ident as quote_ident

# Re-exported: the token stands for the snapshot, but lives apart so the no-op path skips this module.
from initjob.schema.token import catalog_token as catalog_token

# Bumped whenever the model or its normalisation changes, so old fingerprints never match new ones.
FORMAT_VERSION = 3


# ---------------------------------------------------------------------------------------------
# Reading a live database

# Queries are composed with psycopg.sql from constant fragments; the only value, the schema list,
# is a bound parameter.
def _not_member(classid: str, oid: str) -> sql.Composable:
    """An extension's own tables, types and functions are the extension's business, never ours."""
    return sql.SQL(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = {}::regclass"
        " AND e.objid = {} AND e.deptype = 'e')"
    ).format(sql.Literal(classid), sql.SQL(oid))


def _comment(classid: str, oid: str) -> sql.Composable:
    return sql.SQL(
        "(SELECT description FROM pg_catalog.pg_description WHERE objoid = {}"
        " AND classoid = {}::regclass AND objsubid = 0)"
    ).format(sql.SQL(oid), sql.Literal(classid))


def _collation(coll: str, default: str) -> sql.Composable:
    """A non-default collation, named as CREATE or ALTER would name it."""
    return sql.SQL("CASE WHEN {c} <> 0 AND {c} <> {d} THEN {c}::regcollation::text END").format(
        c=sql.SQL(coll), d=sql.SQL(default)
    )


def _acl(acl: str, owner: str, kind: str) -> sql.Composable:
    """Privileges as sorted "grantee=PRIVILEGE[*]" texts, the owner's own left out: an object's owner
    may differ between the live and the shadow database, what others may do may not."""
    return sql.SQL(
        "ARRAY(SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END"
        " || '=' || x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END"
        " FROM pg_catalog.aclexplode(coalesce({acl}, pg_catalog.acldefault({kind}, {owner}))) x"
        " WHERE x.grantee <> {owner} ORDER BY 1)"
    ).format(acl=sql.SQL(acl), owner=sql.SQL(owner), kind=sql.Literal(kind))


_FRAGMENTS: dict[str, sql.Composable] = {
    "in_schemas": sql.SQL("n.nspname = ANY(%(schemas)s)"),
    "rel": sql.SQL("pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"),
    "type": sql.SQL("pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"),
    "class_member": _not_member("pg_class", "c.oid"),
    "type_member": _not_member("pg_type", "t.oid"),
    "proc_member": _not_member("pg_proc", "p.oid"),
    "class_comment": _comment("pg_class", "c.oid"),
    "type_comment": _comment("pg_type", "t.oid"),
    "class_acl": _acl("c.relacl", "c.relowner", "r"),
    "type_acl": _acl("t.typacl", "t.typowner", "T"),
}


def _query(template: str, **parts: sql.Composable) -> sql.Composed:
    return sql.SQL(template).format(**_FRAGMENTS, **parts)


_Q_SCHEMAS = _query(
    """SELECT n.nspname, {comment}, {acl} FROM pg_catalog.pg_namespace n WHERE {in_schemas}""",
    comment=_comment("pg_namespace", "n.oid"), acl=_acl("n.nspacl", "n.nspowner", "n"),
)

_Q_EXTENSIONS = _query("""
SELECT x.extname, n.nspname, {comment}
FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
WHERE {in_schemas}""", comment=_comment("pg_extension", "x.oid"))

_Q_ENUMS = _query("""
SELECT n.nspname, t.typname,
       ARRAY(SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = t.oid ORDER BY enumsortorder),
       {type_comment}, {type_acl}
FROM {type} WHERE t.typtype = 'e' AND {in_schemas} AND {type_member}""")

_Q_DOMAINS = _query(
    """
SELECT n.nspname, t.typname, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull,
       pg_catalog.pg_get_expr(t.typdefaultbin, 0), {collation}, {type_comment}, {type_acl}
FROM {type} JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
WHERE t.typtype = 'd' AND {in_schemas} AND {type_member}""",
    collation=_collation("t.typcollation", "b.typcollation"),
)

_Q_COMPOSITES = _query("""
SELECT n.nspname, t.typname, {type_comment}, {type_acl}
FROM {type} JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
WHERE t.typtype = 'c' AND c.relkind = 'c' AND {in_schemas} AND {type_member}""")

# Identity sequences are left out: they belong to their column.
_Q_SEQUENCES = _query("""
SELECT n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       (SELECT d.refobjid::regclass::text || '.' || quote_ident(a.attname)
          FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a
            ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
           AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0),
       {class_comment}, {seq_acl}
FROM pg_catalog.pg_sequence s JOIN {rel} ON c.oid = s.seqrelid
WHERE {in_schemas} AND {class_member}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')""",
    seq_acl=_acl("c.relacl", "c.relowner", "s"))

_Q_TABLES = _query("""
SELECT n.nspname, c.relname,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
       (SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i
         WHERE i.inhrelid = c.oid AND c.relispartition),
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
       c.relpersistence = 'u', c.relrowsecurity, c.relforcerowsecurity,
       coalesce(c.reloptions, '{{}}'), {class_comment},
       ARRAY(SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i
              WHERE i.inhrelid = c.oid AND NOT c.relispartition ORDER BY i.inhseqno),
       c.relreplident, {class_acl}
FROM {rel}
WHERE c.relkind IN ('r', 'p') AND {in_schemas} AND {class_member}""")

_Q_VIEWS = _query("""
SELECT n.nspname, c.relname, pg_catalog.pg_get_viewdef(c.oid), c.relkind = 'm',
       coalesce(c.reloptions, '{{}}'), {class_comment}, c.relispopulated, {class_acl}
FROM {rel}
WHERE c.relkind IN ('v', 'm') AND {in_schemas} AND {class_member}""")

# Columns of tables, views and composite types alike. Sorted by attnum in Python: sorting 25,000
# wide rows in the server spilled to disk and took longer than the query.
_Q_COLUMNS = _query(
    """
SELECT n.nspname, c.relname, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
       a.attidentity,
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
       a.attgenerated, {collation}, d.description, a.attislocal,
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END, a.attcompression::text,
       nullif(a.attstattarget, -1)::int, {acl},
       CASE WHEN a.attidentity <> '' THEN
         (SELECT ARRAY['START WITH ' || s.seqstart, 'INCREMENT BY ' || s.seqincrement,
                       'MINVALUE ' || s.seqmin, 'MAXVALUE ' || s.seqmax, 'CACHE ' || s.seqcache,
                       CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END]
            FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i') END,
       CASE WHEN a.attnotnull THEN  -- PostgreSQL 18 names NOT NULL constraints
         (SELECT k.conname FROM pg_catalog.pg_constraint k
           WHERE k.conrelid = a.attrelid AND k.contype = 'n' AND k.conkey[1] = a.attnum) END
FROM pg_catalog.pg_attribute a
JOIN {rel} ON c.oid = a.attrelid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c') AND {in_schemas}""",
    collation=_collation("a.attcollation", "t.typcollation"), acl=_acl("a.attacl", "c.relowner", "c"),
)

# Constraints cloned onto partitions or inherited follow their parent's; NOT NULL constraints
# (catalogued here from PostgreSQL 18 on) are modelled as the column's not_null instead.
_Q_CONSTRAINTS = _query(
    """
SELECT n.nspname, coalesce(c.relname, t.typname), con.conrelid <> 0, con.conname, con.contype,
       pg_catalog.pg_get_constraintdef(con.oid), con.convalidated, {comment},
       CASE WHEN con.contype IN ('p', 'u', 'x') THEN {index_comment} END
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_namespace n ON n.oid = con.connamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
LEFT JOIN pg_catalog.pg_type t ON t.oid = con.contypid
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND {in_schemas}
  AND con.conparentid = 0 AND (con.conislocal OR con.conrelid = 0)""",
    comment=_comment("pg_constraint", "con.oid"), index_comment=_comment("pg_class", "con.conindid"),
)

# Indexes that back a constraint are the constraint's; a partition's index attached to its parent's
# index is read with that parent (its name is the partition's own: a key's copy on the partition is
# named after it, and a partition whose index had another name keeps it when attached).
_Q_INDEXES = _query(
    """
SELECT n.nspname, c.relname, i.relname, pg_catalog.pg_get_indexdef(i.oid), x.indisvalid, {comment},
       x.indisclustered, x.indisreplident,
       (SELECT h.inhparent::regclass::text FROM pg_catalog.pg_inherits h WHERE h.inhrelid = x.indexrelid)
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN {rel} ON c.oid = x.indrelid
WHERE c.relkind IN ('r', 'p', 'm') AND {in_schemas}
  AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = x.indexrelid
                      AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = x.indexrelid))""",
    comment=_comment("pg_class", "i.oid"),
)

_Q_TRIGGERS = _query(
    """
SELECT n.nspname, c.relname, g.tgname, pg_catalog.pg_get_triggerdef(g.oid), g.tgenabled, {comment}
FROM pg_catalog.pg_trigger g JOIN {rel} ON c.oid = g.tgrelid
WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND {in_schemas}""",
    comment=_comment("pg_trigger", "g.oid"),
)

_Q_POLICIES = _query(
    """
SELECT n.nspname, c.relname, p.polname,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END
               FROM unnest(p.polroles) r ORDER BY 1),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid),
       {comment}
FROM pg_catalog.pg_policy p JOIN {rel} ON c.oid = p.polrelid
WHERE {in_schemas}""",
    comment=_comment("pg_policy", "p.oid"),
)

# Aggregates are left out: pg_get_functiondef cannot deparse them.
_Q_FUNCTIONS = _query(
    """
SELECT n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
       CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
       pg_catalog.pg_get_function_result(p.oid), pg_catalog.pg_get_functiondef(p.oid), {comment}, {acl},
       p.oid::regprocedure::text
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p', 'w') AND {in_schemas} AND {proc_member}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass
                     AND d.objid = p.oid AND d.deptype = 'i')""",
    comment=_comment("pg_proc", "p.oid"), acl=_acl("p.proacl", "p.proowner", "f"),
)

# Each object as "type identity" (pg_identify_object); a view's rewrite rule stands for its view.
_NODE = """CASE WHEN {cls} = 'pg_catalog.pg_rewrite'::regclass
     THEN (SELECT x.type || ' ' || x.identity FROM pg_catalog.pg_rewrite w,
                  pg_catalog.pg_identify_object('pg_catalog.pg_class'::regclass, w.ev_class, 0) x WHERE w.oid = {obj})
     ELSE (SELECT x.type || ' ' || x.identity FROM pg_catalog.pg_identify_object({cls}, {obj}, {sub}) x) END"""

_Q_DEPENDS = _query(
    """
SELECT DISTINCT {dependent}, {referenced}
FROM pg_catalog.pg_depend d
WHERE d.deptype IN ('n', 'a') AND d.refclassid <> 'pg_catalog.pg_namespace'::regclass
  AND d.classid <> 'pg_catalog.pg_type'::regclass
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_identify_object(d.refclassid, d.refobjid, 0) r
               WHERE r.schema = ANY(%(schemas)s))""",
    dependent=sql.SQL(_NODE.format(cls="d.classid", obj="d.objid", sub="d.objsubid")),
    referenced=sql.SQL(_NODE.format(cls="d.refclassid", obj="d.refobjid", sub="d.refobjsubid")),
)

# The ICU/builtin locale column was renamed in 17: read it through to_jsonb, whatever its name.
_Q_COLLATIONS = _query(
    """
SELECT n.nspname, co.collname,
       CASE co.collprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'libc' END,
       CASE WHEN co.collprovider = 'c' THEN co.collcollate END, CASE WHEN co.collprovider = 'c' THEN co.collctype END,
       coalesce(pg_catalog.to_jsonb(co) ->> 'colllocale', pg_catalog.to_jsonb(co) ->> 'colliculocale'),
       co.collisdeterministic, {comment}
FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
WHERE {in_schemas} AND {member}""",
    comment=_comment("pg_collation", "co.oid"), member=_not_member("pg_collation", "co.oid"),
)

_Q_RANGES = _query("""
SELECT n.nspname, t.typname,
       array_remove(ARRAY[
         'subtype = ' || pg_catalog.format_type(r.rngsubtype, NULL),
         CASE WHEN NOT o.opcdefault
              THEN 'subtype_opclass = ' || quote_ident(on_.nspname) || '.' || quote_ident(o.opcname) END,
         CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
              THEN 'collation = ' || r.rngcollation::regcollation::text END,
         CASE WHEN r.rngcanonical <> 0 THEN 'canonical = ' || r.rngcanonical::regproc::text END,
         CASE WHEN r.rngsubdiff <> 0 THEN 'subtype_diff = ' || r.rngsubdiff::regproc::text END,
         'multirange_type_name = ' || r.rngmultitypid::regtype::text], NULL),
       {type_comment}, {type_acl}
FROM {type} JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
JOIN pg_catalog.pg_opclass o ON o.oid = r.rngsubopc JOIN pg_catalog.pg_namespace on_ ON on_.oid = o.opcnamespace
WHERE {in_schemas} AND {type_member}""")

# Kinds auto-sync does not manage, each with enough of its definition to see it change.
_Q_UNMANAGED = _query("""
SELECT n.nspname, 'aggregate ' || p.oid::regprocedure::text,
       concat_ws(' ', a.aggtransfn::regproc::text, a.aggtranstype::regtype::text, a.aggfinalfn::regproc::text,
                 a.agginitval, a.aggcombinefn::regproc::text)
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
WHERE {in_schemas} AND {proc_member}
UNION ALL
SELECT n.nspname, 'rule ' || quote_ident(r.rulename) || ' on ' || c.oid::regclass::text,
       pg_catalog.pg_get_ruledef(r.oid)
FROM pg_catalog.pg_rewrite r JOIN {rel} ON c.oid = r.ev_class
WHERE r.rulename <> '_RETURN' AND {in_schemas} AND {class_member}
UNION ALL
SELECT n.nspname, 'statistics object ' || quote_ident(n.nspname) || '.' || quote_ident(s.stxname),
       pg_catalog.pg_get_statisticsobjdef(s.oid)
FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
WHERE {in_schemas}
UNION ALL
SELECT n.nspname, 'operator ' || o.oid::regoperator::text, o.oprcode::regproc::text
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE {in_schemas} AND {op_member}
UNION ALL
SELECT n.nspname, 'operator class ' || quote_ident(n.nspname) || '.' || quote_ident(o.opcname), ''
FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_namespace n ON n.oid = o.opcnamespace
WHERE {in_schemas} AND {opc_member}
UNION ALL
SELECT n.nspname, 'operator family ' || quote_ident(n.nspname) || '.' || quote_ident(o.opfname), ''
FROM pg_catalog.pg_opfamily o JOIN pg_catalog.pg_namespace n ON n.oid = o.opfnamespace
WHERE {in_schemas} AND {opf_member}
UNION ALL
SELECT n.nspname, 'text search configuration ' || c.oid::regconfig::text, ''
FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
WHERE {in_schemas} AND {cfg_member}
UNION ALL
SELECT n.nspname, 'text search dictionary ' || d.oid::regdictionary::text, coalesce(d.dictinitoption, '')
FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace
WHERE {in_schemas} AND {dict_member}
UNION ALL
SELECT n.nspname, 'conversion ' || quote_ident(n.nspname) || '.' || quote_ident(v.conname), ''
FROM pg_catalog.pg_conversion v JOIN pg_catalog.pg_namespace n ON n.oid = v.connamespace
WHERE {in_schemas} AND {conv_member}
UNION ALL
SELECT n.nspname, 'foreign table ' || c.oid::regclass::text, ''
FROM {rel} WHERE c.relkind = 'f' AND {in_schemas} AND {class_member}
UNION ALL
SELECT n.nspname, 'typed table ' || c.oid::regclass::text, c.reloftype::regtype::text
FROM {rel} WHERE c.reloftype <> 0 AND c.relkind IN ('r', 'p') AND {in_schemas} AND {class_member}
UNION ALL
SELECT n.nspname, 'default privileges of ' || quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)) || ' in schema '
       || quote_ident(n.nspname) || ' on ' || d.defaclobjtype::text, array_to_string(d.defaclacl, ',')
FROM pg_catalog.pg_default_acl d JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
WHERE {in_schemas}""",
    op_member=_not_member("pg_operator", "o.oid"), opc_member=_not_member("pg_opclass", "o.oid"),
    opf_member=_not_member("pg_opfamily", "o.oid"), cfg_member=_not_member("pg_ts_config", "c.oid"),
    dict_member=_not_member("pg_ts_dict", "d.oid"), conv_member=_not_member("pg_conversion", "v.oid"),
)

# The order the rows come back in does not matter: build_snapshot sorts everything.
QUERIES: dict[str, sql.Composed] = {
    "schemas": _Q_SCHEMAS,
    "extensions": _Q_EXTENSIONS,
    "enums": _Q_ENUMS,
    "domains": _Q_DOMAINS,
    "composites": _Q_COMPOSITES,
    "sequences": _Q_SEQUENCES,
    "tables": _Q_TABLES,
    "views": _Q_VIEWS,
    "columns": _Q_COLUMNS,
    "constraints": _Q_CONSTRAINTS,
    "indexes": _Q_INDEXES,
    "triggers": _Q_TRIGGERS,
    "policies": _Q_POLICIES,
    "functions": _Q_FUNCTIONS,
    "collations": _Q_COLLATIONS,
    "ranges": _Q_RANGES,
    "unmanaged": _Q_UNMANAGED,
    "depends": _Q_DEPENDS,
}

_Q_USER_SCHEMAS = _query(
    """
SELECT n.nspname FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
  AND n.nspname <> ALL(%(exclude)s) AND {member}
ORDER BY 1""",
    member=_not_member("pg_namespace", "n.oid"),
)

Rows = list[tuple[Any, ...]]


def read_snapshot(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> Snapshot:
    """Read the catalog of ``schemas`` in one pipelined round trip; changes nothing.

    The queries run inside a transaction (or a savepoint, if the caller has one open) that is
    always rolled back: that is what keeps the ``search_path`` change local and the read read-only,
    and what leaves the connection as it was found (idle stays idle, a transaction stays open).
    """
    params = {"schemas": list(schemas)}
    begin, end = _bracket(conn)
    try:
        with conn.pipeline():
            for statement in begin:
                conn.execute(statement)
            # An empty search_path makes every deparser qualify every name outside pg_catalog.
            conn.execute("SELECT pg_catalog.set_config('search_path', '', true)")
            cursors = {key: conn.execute(query, params) for key, query in QUERIES.items()}
            for statement in end:
                conn.execute(statement)
    except BaseException:
        _undo(conn, end)
        raise
    return build_snapshot({key: cur.fetchall() for key, cur in cursors.items()})


def _undo(conn: psycopg.Connection[Any], end: list[LiteralString]) -> None:
    """After a failed read, close what we opened, so the caller's connection is usable again."""
    if conn.closed or conn.info.transaction_status not in (psycopg.pq.TransactionStatus.INTRANS,
                                                            psycopg.pq.TransactionStatus.INERROR):
        return
    with contextlib.suppress(psycopg.Error):
        for statement in end:
            conn.execute(statement)


def _bracket(conn: psycopg.Connection[Any]) -> tuple[list[LiteralString], list[LiteralString]]:
    """Statements around the read. Sent by hand, not with conn.transaction(): that would cost a
    round trip of its own for BEGIN and another for ROLLBACK."""
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        return ["SAVEPOINT initjob_snapshot"], ["ROLLBACK TO SAVEPOINT initjob_snapshot",
                                                 "RELEASE SAVEPOINT initjob_snapshot"]
    # Idle: in autocommit we open the transaction; otherwise psycopg opens it before the first query.
    return (["BEGIN"] if conn.autocommit else []), ["ROLLBACK"]


def user_schemas(conn: psycopg.Connection[Any], exclude: Sequence[str]) -> list[str]:
    """Every schema an application made: not a system schema, not an extension's, not in ``exclude``."""
    rows = conn.execute(_Q_USER_SCHEMAS, {"exclude": list(exclude)}).fetchall()
    return [r[0] for r in rows]


# ---------------------------------------------------------------------------------------------
# Rows to values (pure)

def build_snapshot(rows: dict[str, Rows]) -> Snapshot:
    """Assemble a snapshot from the rows of each query in ``QUERIES``."""
    children = _children(rows)
    return Snapshot(
        schemas=_sorted(Schema(r[0], r[1], tuple(r[2])) for r in rows["schemas"]),
        extensions=_sorted(Extension(*r) for r in rows["extensions"]),
        enums=_sorted(Enum(r[0], r[1], tuple(r[2]), r[3], tuple(r[4])) for r in rows["enums"]),
        domains=_sorted(_domain(r, children) for r in rows["domains"]),
        composites=_sorted(
            Composite(r[0], r[1], tuple(children["columns"][(r[0], r[1])]), r[2], tuple(r[3]))
            for r in rows["composites"]
        ),
        sequences=_sorted(dataclasses.replace(Sequence_(*r[:-1]), acl=tuple(r[-1])) for r in rows["sequences"]),
        tables=_sorted(_table(r, children) for r in rows["tables"]),
        views=_sorted(_view(r, children) for r in rows["views"]),
        functions=_sorted(dataclasses.replace(Function(*r[:-2]), acl=tuple(r[-2]), signature=r[-1])
                          for r in rows["functions"]),
        collations=_sorted(Collation(*r) for r in rows["collations"]),
        ranges=_sorted(Range(r[0], r[1], tuple(r[2]), r[3], tuple(r[4])) for r in rows["ranges"]),
        unmanaged=_sorted(Unmanaged(*r) for r in rows["unmanaged"]),
        depends=tuple(sorted((a, b) for a, b in rows["depends"] if a and b and a != b)),
    )


Children = dict[str, dict[tuple[str, str], list[Any]]]


def _children(rows: dict[str, Rows]) -> Children:
    """Group columns, constraints, indexes, triggers and policies under their (schema, owner)."""
    out: Children = {k: defaultdict(list) for k in ("columns", "table_constraints", "domain_constraints",
                                                    "indexes", "triggers", "policies")}
    for r in sorted(rows["columns"], key=lambda r: (r[0], r[1], r[2])):
        out["columns"][(r[0], r[1])].append(_column(r[3:]))
    for r in rows["constraints"]:
        kind = "table_constraints" if r[2] else "domain_constraints"
        out[kind][(r[0], r[1])].append(Constraint(*r[3:9]))
    for r in rows["indexes"]:
        out["indexes"][(r[0], r[1])].append(Index(*r[2:]))
    for r in rows["triggers"]:
        out["triggers"][(r[0], r[1])].append(Trigger(*r[2:]))
    for r in rows["policies"]:
        out["policies"][(r[0], r[1])].append(Policy(r[2], r[3], r[4], tuple(r[5]), *r[6:]))
    return out


_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}
_GENERATED = {"s": "STORED", "v": "VIRTUAL"}


def _column(r: tuple[Any, ...]) -> Column:
    (name, type_, not_null, default, identity, generated, gen_kind, collation, comment, local, storage,
     compression, statistics, acl, identity_options, not_null_name) = r
    return Column(name, type_, not_null, default, _IDENTITY.get(identity, ""), generated,
                  _GENERATED.get(gen_kind, ""), collation, comment, local, _STORAGE.get(storage),
                  _COMPRESSION.get(compression, ""), statistics, tuple(acl), tuple(identity_options or ()),
                  not_null_name)


_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "x": "EXTENDED", "m": "MAIN"}
_COMPRESSION = {"p": "pglz", "l": "lz4"}


def _domain(r: tuple[Any, ...], children: Children) -> Domain:
    checks = _sorted(children["domain_constraints"][(r[0], r[1])])
    return Domain(r[0], r[1], r[2], r[3], r[4], r[5], checks, r[6], tuple(r[7]))


def _table(r: tuple[Any, ...], children: Children) -> Table:
    schema, name, key, parent, bound, unlogged, rls, forced, options, comment, inherits, replident, acl = r
    own = (schema, name)
    return Table(
        schema, name, key, parent, bound, unlogged, rls, forced, tuple(sorted(options)),
        columns=tuple(children["columns"][own]),
        constraints=_sorted(children["table_constraints"][own]),
        indexes=_sorted(children["indexes"][own]),
        triggers=_sorted(children["triggers"][own]),
        policies=_sorted(children["policies"][own]),
        comment=comment,
        inherits=tuple(inherits),
        replica_identity=replident,
        acl=tuple(acl),
    )


def _view(r: tuple[Any, ...], children: Children) -> View:
    schema, name, definition, materialized, options, comment, populated, acl = r
    own = (schema, name)
    return View(
        schema, name, normalize_sql(definition), materialized, tuple(sorted(options)),
        columns=tuple(children["columns"][own]),
        indexes=_sorted(children["indexes"][own]),
        triggers=_sorted(children["triggers"][own]),
        comment=comment,
        populated=populated,
        acl=tuple(acl),
    )


_T = typing.TypeVar("_T")


def _sorted(items: Iterable[_T]) -> tuple[_T, ...]:
    """Sort by the identifying fields (schema, name, arguments) so creation order never shows."""
    return tuple(sorted(items, key=_key))


def _key(item: Any) -> tuple[str, ...]:
    return tuple(getattr(item, f, "") for f in ("schema", "name", "arguments"))


# Outside quotes, any run of whitespace becomes one space: pg_get_viewdef's indentation and line
# breaks are layout, and they changed between PostgreSQL majors.
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|\s+|[^'"\s]+)""")


def normalize_sql(text: str) -> str:
    """Collapse layout whitespace outside string literals and quoted identifiers."""
    return "".join(" " if tok.isspace() else tok for tok in _TOKENS.findall(text)).strip().rstrip(";").rstrip()


def ignore_column_order(snapshot: Snapshot) -> Snapshot:
    """The snapshot with each table's columns sorted by name.

    ADD COLUMN can only append, so a column declared mid-table in the desired schema arrives last in
    a live database; only a table rewrite could move it. Compare through this when that difference
    must not count (auto-sync's "up to date"); the fingerprint keeps the real order.
    """
    tables = tuple(
        dataclasses.replace(t, columns=tuple(sorted(t.columns, key=lambda c: c.name))) for t in snapshot.tables
    )
    return dataclasses.replace(snapshot, tables=tables)


# ---------------------------------------------------------------------------------------------
# Fingerprint and JSON

def snapshot_to_json(snapshot: Snapshot) -> str:
    """Canonical JSON: sorted keys, no spaces; the same snapshot always gives the same text."""
    doc = {"format": FORMAT_VERSION, "snapshot": _plain(snapshot)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """dataclasses.asdict without its deep copies: five times faster on a 3,000-table snapshot."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        return value
    return {name: _plain(getattr(value, name)) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (Column, Constraint, Index, Trigger, Policy, Table, View, Sequence_, Enum, Domain, Composite,
                Function, Extension, Schema, Collation, Range, Unmanaged, Snapshot)
}


def snapshot_from_json(text: str) -> Snapshot:
    """The inverse of ``snapshot_to_json``."""
    doc = json.loads(text)
    if doc.get("format") != FORMAT_VERSION:
        found = doc.get("format")
        raise ValueError(f"snapshot format {found!r} is not {FORMAT_VERSION}; take a new snapshot")
    return _decode(Snapshot, doc["snapshot"])  # type: ignore[no-any-return]


def fingerprint(snapshot: Snapshot) -> str:
    """sha256 hex of the canonical JSON, dependencies aside (they follow from the objects)."""
    return hashlib.sha256(snapshot_to_json(_comparable(snapshot)).encode()).hexdigest()


def _comparable(snapshot: Snapshot) -> Snapshot:
    """The snapshot without what equality leaves out: dependencies and NOT NULL constraint names."""
    tables = tuple(
        dataclasses.replace(t, columns=tuple(dataclasses.replace(c, not_null_name=None) for c in t.columns))
        if any(c.not_null_name for c in t.columns) else t
        for t in snapshot.tables
    )
    return dataclasses.replace(snapshot, depends=(), tables=tables)


def _decode(cls: Any, value: dict[str, Any]) -> Any:
    """Rebuild a dataclass from its plain form, through decoders worked out once per class."""
    return cls(**{name: decode(value[name]) for name, decode in _decoders(cls)})


@functools.cache
def _decoders(cls: Any) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _decoder_for(hints[f.name])) for f in dataclasses.fields(cls))


def _decoder_for(tp: Any) -> Callable[[Any], Any]:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return functools.partial(_decode, tp)
    if typing.get_origin(tp) is tuple:
        item = _decoder_for(typing.get_args(tp)[0])
        return lambda v: tuple(item(x) for x in v)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = _decoder_for(typing.get_args(tp)[0])
        return inner if inner is _same else (lambda v: None if v is None else inner(v))
    return _same


def _same(value: Any) -> Any:
    return value
