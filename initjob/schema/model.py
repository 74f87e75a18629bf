"""The schema model: typed, plain-data values for everything auto-sync compares.

Nothing here is an OID or an attnum; every collection is sorted by name (columns by position), so two
databases holding the same schema give equal values whatever order their objects were made in.
``catalog`` reads these from a live database; ``compare`` diffs two of them; ``diff`` plans the DDL.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """A table, view or composite-type column; ``type`` is ``format_type`` output with modifiers."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    identity: str = ""  # "" | "ALWAYS" | "BY DEFAULT"
    generated: str | None = None  # generation expression of a generated column
    generated_kind: str = ""  # "" | "STORED" | "VIRTUAL"
    collation: str | None = None  # only when it differs from the type's default
    comment: str | None = None
    local: bool = True  # False for a column an inheritance child only inherits
    storage: str | None = None  # "PLAIN" | "EXTERNAL" | "EXTENDED" | "MAIN" when not the type's default
    compression: str = ""  # "" (the default) | "pglz" | "lz4"
    statistics: int | None = None  # per-column statistics target, None for the default
    acl: tuple[str, ...] = ()  # column privileges, "grantee=PRIVILEGE" ("*" when grantable)
    identity_options: tuple[str, ...] = ()  # the identity sequence's clauses ("INCREMENT BY 5", ...)
    # PostgreSQL 18 names NOT NULL constraints (None before 18): renamed where PostgreSQL allows it,
    # but not held against the database (an inherited one keeps the name it was made with).
    not_null_name: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Constraint:
    """A table or domain constraint; ``definition`` is ``pg_get_constraintdef`` (with NOT VALID)."""

    name: str
    kind: str  # "p" primary key, "u" unique, "f" foreign key, "c" check, "x" exclusion
    definition: str
    validated: bool = True
    comment: str | None = None
    clustered: bool = False  # ALTER TABLE ... CLUSTER ON the index behind this constraint
    index_comment: str | None = None  # COMMENT ON INDEX of the index behind a key or exclusion constraint


@dataclass(frozen=True)
class Index:
    """An index that backs no constraint, or a partition's index attached to its parent's index (the
    parent's own, or the one behind its key: then it backs the partition's copy of that key);
    ``definition`` is ``pg_get_indexdef``."""

    name: str
    definition: str
    valid: bool = True  # False after a failed CREATE INDEX CONCURRENTLY: it must be rebuilt
    comment: str | None = None
    clustered: bool = False  # ALTER TABLE ... CLUSTER ON this index
    replica_identity: bool = False  # REPLICA IDENTITY USING INDEX this index
    parent_index: str | None = None  # qualified name of the parent's index it is attached to


@dataclass(frozen=True)
class Trigger:
    """A user trigger (not internal, not cloned onto a partition); ``definition`` is ``pg_get_triggerdef``."""

    name: str
    definition: str
    enabled: str = "O"  # pg_trigger.tgenabled: O origin, D disabled, R replica, A always
    comment: str | None = None


@dataclass(frozen=True)
class Policy:
    """A row-level security policy."""

    name: str
    command: str  # ALL | SELECT | INSERT | UPDATE | DELETE
    permissive: bool
    roles: tuple[str, ...]  # quoted role names, or PUBLIC
    using: str | None = None
    check: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Table:
    """An ordinary or partitioned table, or a partition (``parent`` and ``bound`` set)."""

    schema: str
    name: str
    partition_key: str | None = None  # pg_get_partkeydef for a partitioned table
    parent: str | None = None  # qualified name of the partitioned parent
    bound: str | None = None  # "FOR VALUES ..." / "DEFAULT"
    unlogged: bool = False
    rls: bool = False
    rls_forced: bool = False
    options: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    policies: tuple[Policy, ...] = ()
    comment: str | None = None
    inherits: tuple[str, ...] = ()  # qualified parents of an inheritance child (not a partition)
    replica_identity: str = "d"  # pg_class.relreplident: d default, n nothing, f full, i index
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class View:
    """A view or materialized view; ``definition`` is the normalised ``pg_get_viewdef``."""

    schema: str
    name: str
    definition: str
    materialized: bool = False
    options: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    comment: str | None = None
    populated: bool = True  # a materialized view created WITH NO DATA is not
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sequence_:
    """A free-standing or serial sequence (identity sequences belong to their column)."""

    schema: str
    name: str
    type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    owned_by: str | None = None  # qualified "schema.table.column"
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Enum:
    schema: str
    name: str
    labels: tuple[str, ...]
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Domain:
    schema: str
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    collation: str | None = None
    constraints: tuple[Constraint, ...] = ()
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Composite:
    schema: str
    name: str
    attributes: tuple[Column, ...] = ()
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Range:
    """A range type; ``options`` are the CREATE TYPE ... AS RANGE clauses that differ from the defaults."""

    schema: str
    name: str
    options: tuple[str, ...]
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Collation:
    schema: str
    name: str
    provider: str  # "libc" | "icu" | "builtin"
    collate: str | None
    ctype: str | None
    locale: str | None
    deterministic: bool = True
    comment: str | None = None


@dataclass(frozen=True)
class Unmanaged:
    """An object of a kind auto-sync does not manage: seen, compared, and refused when it must change."""

    schema: str
    name: str  # kind and identity, e.g. "aggregate app.total(integer)"
    definition: str


@dataclass(frozen=True)
class Function:
    """A function or procedure; ``definition`` is ``pg_get_functiondef`` (a CREATE OR REPLACE)."""

    schema: str
    name: str
    arguments: str  # pg_get_function_identity_arguments: the part of the identity after the name
    kind: str  # "function" | "procedure"
    result: str | None
    definition: str
    comment: str | None = None
    acl: tuple[str, ...] = ()
    signature: str = ""  # "schema.name(argtypes)", as pg_depend's objects name it


@dataclass(frozen=True)
class Extension:
    name: str
    schema: str
    comment: str | None = None


@dataclass(frozen=True)
class Schema:
    name: str
    comment: str | None = None
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything initjob compares in the managed schemas; each tuple is sorted by its key."""

    schemas: tuple[Schema, ...] = ()
    extensions: tuple[Extension, ...] = ()
    enums: tuple[Enum, ...] = ()
    domains: tuple[Domain, ...] = ()
    composites: tuple[Composite, ...] = ()
    sequences: tuple[Sequence_, ...] = ()
    tables: tuple[Table, ...] = ()
    views: tuple[View, ...] = ()
    functions: tuple[Function, ...] = ()
    collations: tuple[Collation, ...] = ()
    ranges: tuple[Range, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    # (dependent, referenced) object names from pg_depend, e.g. ("view app.v", "table column app.t.a"):
    # how the planner orders drops and creates. Derived from the rest, so left out of equality.
    depends: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def qualified(item: Any) -> str:
    """``schema.name`` (``name(args)`` for functions), quoted where SQL would need it."""
    if isinstance(item, Unmanaged):
        return item.name
    parts = [quote_ident(item.schema)] if hasattr(item, "schema") and not isinstance(item, Extension) else []
    text = ".".join([*parts, quote_ident(item.name)])
    return f"{text}({item.arguments})" if isinstance(item, Function) else text


_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


# Cached: the planner quotes the same few thousand names hundreds of thousands of times on a large schema
# (a third of planning 1,000 tables was spent here).
@functools.cache
def quote_ident(name: str) -> str:
    """Quote an identifier the way PostgreSQL's quote_ident does (keywords are always quoted)."""
    if _PLAIN_IDENT.fullmatch(name) and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


# Every keyword PostgreSQL 18 does not accept as a bare identifier (pg_get_keywords, catcode <> U):
# quoting one more than needed is harmless, one fewer is a syntax error.
_RESERVED = frozenset([
    "ALL", "ANALYSE", "ANALYZE", "AND", "ANY", "ARRAY", "AS", "ASC", "ASYMMETRIC", "AUTHORIZATION",
    "BETWEEN", "BIGINT", "BINARY", "BIT", "BOOLEAN", "BOTH", "CASE", "CAST", "CHAR", "CHARACTER",
    "CHECK", "COALESCE", "COLLATE", "COLLATION", "COLUMN", "CONCURRENTLY", "CONSTRAINT", "CREATE",
    "CROSS", "CURRENT_CATALOG", "CURRENT_DATE", "CURRENT_ROLE", "CURRENT_SCHEMA", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "CURRENT_USER", "DEC", "DECIMAL", "DEFAULT", "DEFERRABLE", "DESC", "DISTINCT",
    "DO", "ELSE", "END", "EXCEPT", "EXISTS", "EXTRACT", "FALSE", "FETCH", "FLOAT", "FOR", "FOREIGN",
    "FREEZE", "FROM", "FULL", "GRANT", "GREATEST", "GROUP", "GROUPING", "HAVING", "ILIKE", "IN",
    "INITIALLY", "INNER", "INOUT", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INTO", "IS", "ISNULL",
    "JOIN", "JSON", "JSON_ARRAY", "JSON_ARRAYAGG", "JSON_EXISTS", "JSON_OBJECT", "JSON_OBJECTAGG",
    "JSON_QUERY", "JSON_SCALAR", "JSON_SERIALIZE", "JSON_TABLE", "JSON_VALUE", "LATERAL", "LEADING",
    "LEAST", "LEFT", "LIKE", "LIMIT", "LOCALTIME", "LOCALTIMESTAMP", "MERGE_ACTION", "NATIONAL",
    "NATURAL", "NCHAR", "NONE", "NORMALIZE", "NOT", "NOTNULL", "NULL", "NULLIF", "NUMERIC", "OFFSET",
    "ON", "ONLY", "OR", "ORDER", "OUT", "OUTER", "OVERLAPS", "OVERLAY", "PLACING", "POSITION",
    "PRECISION", "PRIMARY", "REAL", "REFERENCES", "RETURNING", "RIGHT", "ROW", "SELECT", "SESSION_USER",
    "SETOF", "SIMILAR", "SMALLINT", "SOME", "SUBSTRING", "SYMMETRIC", "SYSTEM_USER", "TABLE",
    "TABLESAMPLE", "THEN", "TIME", "TIMESTAMP", "TO", "TRAILING", "TREAT", "TRIM", "TRUE", "UNION",
    "UNIQUE", "USER", "USING", "VALUES", "VARCHAR", "VARIADIC", "VERBOSE", "WHEN", "WHERE", "WINDOW",
    "WITH", "XMLATTRIBUTES", "XMLCONCAT", "XMLELEMENT", "XMLEXISTS", "XMLFOREST", "XMLNAMESPACES",
    "XMLPARSE", "XMLPI", "XMLROOT", "XMLSERIALIZE", "XMLTABLE",
])
