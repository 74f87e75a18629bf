"""The kind registry: the one place each object kind auto-sync reads is described.

An entry says how a kind is read (its catalog query and the catalogs that query reads), which model
class holds one object and what names it, how each field of that class is treated by the planner
(planned, refused by name, or not compared), and the label its differences are reported under. The
snapshot reader (``catalog.QUERIES``, the JSON field lists), the comparison (``compare``) and the
catalog token's list of catalogs (``reads.CATALOGS``, checked against the union of ``Kind.reads``
here, at import) all follow from ``REGISTRY``: a kind cannot be known to one of them and missing
from another.

Kinds auto-sync does not manage (aggregates, rules, operators, ...) are entries too (``managed`` is
False): read into ``Snapshot.unmanaged``, compared, and refused by name whenever they differ, so a
hand-made object of such a kind is drift, never invisible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from psycopg import sql

from initjob.schema import reads
from initjob.schema.model import (
    Collation,
    Column,
    Composite,
    Constraint,
    Domain,
    Enum,
    Extension,
    Function,
    Index,
    Policy,
    Range,
    Schema,
    Sequence_,
    Snapshot,
    Table,
    Trigger,
    Unmanaged,
    View,
)

# ---------------------------------------------------------------------------------------------
# Catalog queries

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
       con.contype IN ('p', 'u', 'x') AND coalesce((SELECT x.indisclustered FROM pg_catalog.pg_index x
                                                     WHERE x.indexrelid = con.conindid), false),
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
  -- An object in a managed schema was made after initdb, so its OID is at least FirstNormalObjectId
  -- (the counter never wraps below it): initdb's own thousands of rows skip pg_identify_object.
  AND d.refobjid >= 16384
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
# Kinds auto-sync does not manage, one query each, every row (schema, "label identity", definition)
# with enough of its definition to see it change. Read together as one UNION ALL (``UNMANAGED``).
_Q_AGGREGATES = _query("""
SELECT n.nspname, 'aggregate ' || p.oid::regprocedure::text,
       concat_ws(' ', a.aggtransfn::regproc::text, a.aggtranstype::regtype::text, a.aggfinalfn::regproc::text,
                 a.agginitval, a.aggcombinefn::regproc::text)
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
WHERE {in_schemas} AND {proc_member}""")

_Q_RULES = _query("""
SELECT n.nspname, 'rule ' || quote_ident(r.rulename) || ' on ' || c.oid::regclass::text,
       pg_catalog.pg_get_ruledef(r.oid)
FROM pg_catalog.pg_rewrite r JOIN {rel} ON c.oid = r.ev_class
WHERE r.rulename <> '_RETURN' AND {in_schemas} AND {class_member}""")

_Q_STATISTICS = _query("""
SELECT n.nspname, 'statistics object ' || quote_ident(n.nspname) || '.' || quote_ident(s.stxname),
       pg_catalog.pg_get_statisticsobjdef(s.oid)
FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
WHERE {in_schemas}""")

_Q_OPERATORS = _query("""
SELECT n.nspname, 'operator ' || o.oid::regoperator::text, o.oprcode::regproc::text
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_operator", "o.oid"))

_Q_OPERATOR_CLASSES = _query("""
SELECT n.nspname, 'operator class ' || quote_ident(n.nspname) || '.' || quote_ident(o.opcname), ''
FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_namespace n ON n.oid = o.opcnamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_opclass", "o.oid"))

_Q_OPERATOR_FAMILIES = _query("""
SELECT n.nspname, 'operator family ' || quote_ident(n.nspname) || '.' || quote_ident(o.opfname), ''
FROM pg_catalog.pg_opfamily o JOIN pg_catalog.pg_namespace n ON n.oid = o.opfnamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_opfamily", "o.oid"))

_Q_TS_CONFIGS = _query("""
SELECT n.nspname, 'text search configuration ' || c.oid::regconfig::text, ''
FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_ts_config", "c.oid"))

_Q_TS_DICTIONARIES = _query("""
SELECT n.nspname, 'text search dictionary ' || d.oid::regdictionary::text, coalesce(d.dictinitoption, '')
FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_ts_dict", "d.oid"))

_Q_CONVERSIONS = _query("""
SELECT n.nspname, 'conversion ' || quote_ident(n.nspname) || '.' || quote_ident(v.conname), ''
FROM pg_catalog.pg_conversion v JOIN pg_catalog.pg_namespace n ON n.oid = v.connamespace
WHERE {in_schemas} AND {member}""", member=_not_member("pg_conversion", "v.oid"))

_Q_FOREIGN_TABLES = _query("""
SELECT n.nspname, 'foreign table ' || c.oid::regclass::text, ''
FROM {rel} WHERE c.relkind = 'f' AND {in_schemas} AND {class_member}""")

_Q_TYPED_TABLES = _query("""
SELECT n.nspname, 'typed table ' || c.oid::regclass::text, c.reloftype::regtype::text
FROM {rel} WHERE c.reloftype <> 0 AND c.relkind IN ('r', 'p') AND {in_schemas} AND {class_member}""")

_Q_DEFAULT_PRIVILEGES = _query("""
SELECT n.nspname, 'default privileges of ' || quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)) || ' in schema '
       || quote_ident(n.nspname) || ' on ' || d.defaclobjtype::text, array_to_string(d.defaclacl, ',')
FROM pg_catalog.pg_default_acl d JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
WHERE {in_schemas}""")


# Not a kind: the schemas an application made (auto-sync's default list of managed schemas).
USER_SCHEMAS = _query(
    """
SELECT n.nspname FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
  AND n.nspname <> ALL(%(exclude)s) AND {member}
ORDER BY 1""",
    member=_not_member("pg_namespace", "n.oid"),
)


# ---------------------------------------------------------------------------------------------
# The registry


class Handling(StrEnum):
    """What the planner does when a field of two objects of a kind differs."""

    IDENTITY = "identity"  # names the object: a different value is another object (drop + create)
    PLANNED = "planned"  # diff.py plans the change (ALTER, or drop and create)
    REFUSED = "refused"  # any change is refused by name (exit 3), never applied
    MEMBERS = "members"  # a tuple of member objects, compared and planned by the member kind's entry
    IGNORED = "ignored"  # left out of equality (``field(compare=False)``): derived or informative only


_I, _P, _R, _M, _X = Handling.IDENTITY, Handling.PLANNED, Handling.REFUSED, Handling.MEMBERS, Handling.IGNORED


@dataclass(frozen=True)
class Kind:
    """One object kind: how it is read, held, named, compared and handled."""

    key: str  # the Snapshot field (top-level kinds), or a name of its own (members, refused kinds)
    label: str  # how differences and refusals name it: "table", "operator class", ...
    query: sql.Composed  # the catalog query; the only parameter is %(schemas)s
    reads: frozenset[str]  # every catalog the query reads, functions and casts included
    model: type  # the class of one object
    fields: Mapping[str, Handling]  # every field of ``model``, classified
    owners: tuple[str, ...] = ()  # member kinds: the fields of their owners that hold them
    managed: bool = True  # False: read, compared, and refused by name when it differs

    @property
    def is_member(self) -> bool:
        return bool(self.owners)


def _kind(key: str, label: str, query: sql.Composed, reads_: str, model: type, *,
          planned: str = "", identity: str = "schema name", refused: str = "", members: str = "",
          ignored: str = "", owners: str = "", managed: bool = True) -> Kind:
    """An entry, its catalogs and fields given as space-separated words (the table below stays legible)."""
    fields = {f: h for words, h in ((identity, _I), (planned, _P), (refused, _R), (members, _M), (ignored, _X))
              for f in words.split()}
    return Kind(key, label, query, frozenset(f"pg_{c}" for c in reads_.split()), model, fields,
                tuple(owners.split()), managed)


def _refused(key: str, label: str, query: sql.Composed, reads_: str) -> Kind:
    """A kind refused by name: its rows are ``Unmanaged`` values named "label identity"."""
    return _kind(key, label, query, reads_, Unmanaged, refused="definition", managed=False)


# The catalogs behind the shared fragments: the schema filter, comments, extension membership.
# (Role names come from pg_authid, which only a superuser may read: a renamed role is not seen.)
_BASE = "namespace depend description"

REGISTRY: tuple[Kind, ...] = (
    _kind("schemas", "schema", _Q_SCHEMAS, _BASE, Schema, identity="name", planned="comment acl"),
    _kind("extensions", "extension", _Q_EXTENSIONS, f"{_BASE} extension", Extension, identity="name",
          planned="schema comment"),
    _kind("enums", "enum", _Q_ENUMS, f"{_BASE} type enum", Enum, planned="labels comment acl"),
    _kind("domains", "domain", _Q_DOMAINS, f"{_BASE} type collation", Domain,
          planned="type not_null default collation comment acl", members="constraints"),
    _kind("composites", "type", _Q_COMPOSITES, f"{_BASE} type class", Composite, planned="comment acl",
          members="attributes"),
    _kind("sequences", "sequence", _Q_SEQUENCES, f"{_BASE} sequence class attribute type", Sequence_,
          planned="type start increment minimum maximum cache cycle owned_by comment acl"),
    _kind("tables", "table", _Q_TABLES, f"{_BASE} class inherits type", Table,
          planned="partition_key parent bound unlogged rls rls_forced options comment inherits "
                  "replica_identity acl",
          members="columns constraints indexes triggers policies"),
    _kind("views", "view", _Q_VIEWS, f"{_BASE} class rewrite", View,
          planned="definition materialized options comment populated acl", members="columns indexes triggers"),
    _kind("functions", "function", _Q_FUNCTIONS, f"{_BASE} proc type language", Function,
          identity="schema name arguments signature", planned="kind result definition comment acl"),
    _kind("collations", "collation", _Q_COLLATIONS, f"{_BASE} collation", Collation,
          planned="provider collate ctype locale deterministic comment"),
    _kind("ranges", "range type", _Q_RANGES, f"{_BASE} type range opclass collation proc", Range,
          planned="options comment acl"),
    # Members: held by their owners (columns of tables, views and composite types, ...).
    _kind("columns", "column", _Q_COLUMNS, f"{_BASE} attribute class type attrdef collation sequence "
          "constraint", Column, identity="name",
          planned="type not_null default identity generated generated_kind collation comment local storage "
                  "compression statistics acl identity_options",
          ignored="not_null_name", owners="tables.columns views.columns composites.attributes"),
    _kind("constraints", "constraint", _Q_CONSTRAINTS, f"{_BASE} constraint class type index", Constraint,
          identity="name", planned="kind definition validated comment clustered index_comment",
          owners="tables.constraints domains.constraints"),
    _kind("indexes", "index", _Q_INDEXES, f"{_BASE} index class constraint inherits opclass collation", Index,
          identity="name", planned="definition valid comment clustered replica_identity parent_index",
          owners="tables.indexes views.indexes"),
    _kind("triggers", "trigger", _Q_TRIGGERS, f"{_BASE} trigger class proc", Trigger, identity="name",
          planned="definition enabled comment", owners="tables.triggers views.triggers"),
    _kind("policies", "policy", _Q_POLICIES, f"{_BASE} policy class", Policy, identity="name",
          planned="command permissive roles using check comment", owners="tables.policies"),
    # Refused by name.
    _refused("aggregates", "aggregate", _Q_AGGREGATES, f"{_BASE} proc aggregate type"),
    _refused("rules", "rule", _Q_RULES, f"{_BASE} rewrite class"),
    _refused("statistics", "statistics object", _Q_STATISTICS, f"{_BASE} statistic_ext class attribute"),
    _refused("operators", "operator", _Q_OPERATORS, f"{_BASE} operator proc type"),
    _refused("operator_classes", "operator class", _Q_OPERATOR_CLASSES, f"{_BASE} opclass"),
    _refused("operator_families", "operator family", _Q_OPERATOR_FAMILIES, f"{_BASE} opfamily"),
    _refused("ts_configs", "text search configuration", _Q_TS_CONFIGS, f"{_BASE} ts_config"),
    _refused("ts_dictionaries", "text search dictionary", _Q_TS_DICTIONARIES, f"{_BASE} ts_dict"),
    _refused("conversions", "conversion", _Q_CONVERSIONS, f"{_BASE} conversion"),
    _refused("foreign_tables", "foreign table", _Q_FOREIGN_TABLES, f"{_BASE} class"),
    _refused("typed_tables", "typed table", _Q_TYPED_TABLES, f"{_BASE} class type"),
    _refused("default_privileges", "default privileges", _Q_DEFAULT_PRIVILEGES, f"{_BASE} default_acl"),
)

BY_KEY: dict[str, Kind] = {k.key: k for k in REGISTRY}
TOP_LEVEL = tuple(k for k in REGISTRY if k.managed and not k.is_member)
MEMBERS = tuple(k for k in REGISTRY if k.is_member)
REFUSED = tuple(k for k in REGISTRY if not k.managed)

# The one query the refused kinds are read with: one round trip for all of them.
UNMANAGED = sql.SQL("\nUNION ALL\n").join(k.query for k in REFUSED)

# Not a kind: the pg_depend edges between objects, for the planner's ordering (compared by no one).
DEPENDS = _Q_DEPENDS
DEPENDS_READS = frozenset({"pg_depend", "pg_rewrite", "pg_namespace"})

# Every class the snapshot is made of, in the order JSON and equality see them.
MODELS: tuple[type, ...] = tuple(dict.fromkeys([*(k.model for k in REGISTRY), Snapshot]))


def refused_kind(name: str) -> Kind:
    """The refused kind an ``Unmanaged`` object belongs to, by its name's label (the longest that fits:
    "operator class x" is an operator class, not an operator)."""
    return max((k for k in REFUSED if name.startswith(f"{k.label} ")), key=lambda k: len(k.label))


def identity_of(kind: Kind, item: Any) -> str:
    """What a refused object is called without its label (the label is the kind's)."""
    return str(item.name)[len(kind.label) + 1:]


def _check() -> None:
    """Raised at import, so that no test run can miss it: the token reads every catalog a kind reads,
    and every compared Snapshot field is a kind's."""
    missing = frozenset().union(DEPENDS_READS, *(k.reads for k in REGISTRY)) - frozenset(reads.CATALOGS)
    if missing:
        raise RuntimeError(f"the catalog token does not read {sorted(missing)}: add them to schema/reads.py")
    fields = {f.name for f in dataclasses.fields(Snapshot) if f.compare}
    if fields != {k.key for k in TOP_LEVEL} | {"unmanaged"}:
        raise RuntimeError(f"Snapshot fields without a kind: {sorted(fields - {k.key for k in TOP_LEVEL})}")


_check()
