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

from initjob.schema import kinds

# The model and the comparison are re-exported: callers read a snapshot and compare it in one place.
from initjob.schema.compare import Change as Change
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
FORMAT_VERSION = 4


# ---------------------------------------------------------------------------------------------
# Reading a live database

# The order the rows come back in does not matter: build_snapshot sorts everything.
QUERIES: dict[str, sql.Composed] = {
    **{k.key: k.query for k in kinds.REGISTRY if k.managed},
    "unmanaged": kinds.UNMANAGED,
    "depends": kinds.DEPENDS,
}

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
            # An empty search_path makes every deparser qualify every name outside pg_catalog. JIT off:
            # from a few thousand tables the estimates pass jit_above_cost, and compiling the pg_depend
            # and column reads took 330 ms of a 1.8 s snapshot of 5,000 tables, which they never won
            # back (bench/RESULTS.md, "JIT"): catalog rows and deparser calls are not what it speeds up.
            conn.execute("SELECT pg_catalog.set_config('search_path', '', true), "
                         "pg_catalog.set_config('jit', 'off', true)")
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
    rows = conn.execute(kinds.USER_SCHEMAS, {"exclude": list(exclude)}).fetchall()
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
        out[kind][(r[0], r[1])].append(Constraint(*r[3:]))
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
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in kinds.MODELS
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


def fingerprint_and_json(snapshot: Snapshot) -> tuple[str, str]:
    """``(fingerprint(snapshot), snapshot_to_json(snapshot))`` from one walk of the model: the state
    recorded after a sync needs both, and the walk is most of their cost (two of them were 18 s of
    a 10 MB tree's silent minute)."""
    plain = _plain(snapshot)
    text = json.dumps({"format": FORMAT_VERSION, "snapshot": plain}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    # What _comparable leaves out, on the plain form: copies only where a value changes.
    comparable = {**plain, "depends": [], "tables": [
        {**t, "columns": [{**c, "not_null_name": None} for c in t["columns"]]}
        if any(c["not_null_name"] for c in t["columns"]) else t
        for t in plain["tables"]]}
    doc = json.dumps({"format": FORMAT_VERSION, "snapshot": comparable}, sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False)
    return hashlib.sha256(doc.encode()).hexdigest(), text


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
