"""Declared renames in ``sql/schema/``: rename instead of drop + add, so no data is lost.

A comment on the line before a column definition, or before ``CREATE TABLE``, says what it was called::

    CREATE TABLE app.people (            -- initjob:renamed from=persons  on the line before this one
        id bigint PRIMARY KEY,
        -- initjob:renamed from=nickname
        handle text
    );

Pure.  ``declared_renames`` reads the comments; ``plan_with_renames`` plans as ``plan_sync`` does, after
renaming in a copy of the live model what the live database still holds under the old name (and the
new name nowhere): the rename steps come first, and the planner sees the rest as it will be.  A
declaration whose old name is gone (the rename already ran) is no step at all, so the comment may stay.
The result is checked like any plan (the rehearsal, the comparison after the apply): a rename that
leaves a difference is reported, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from initjob.errors import SqlTreeInvalid
from initjob.schema.diff import Plan, Step, plan_sync, qname
from initjob.schema.graph import column_node, relation_node
from initjob.schema.model import Snapshot, Table, quote_ident

MARK = "initjob:renamed"
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_COMMENT = re.compile(rf"^\s*--\s*{MARK}\s+from=(?P<old>{_IDENT})\s*$")
_CREATE_TABLE = re.compile(rf"^\s*CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)", re.I)
_FIRST = re.compile(rf"^\s*(?P<name>{_IDENT})")


@dataclass(frozen=True)
class Rename:
    """``old`` is now ``schema.table`` (``column`` None), or column ``old`` of it is now ``column``."""

    schema: str
    table: str
    old: str
    column: str | None = None


def _ident(text: str) -> str:
    text = text.strip()
    return text[1:-1].replace('""', '"') if text.startswith('"') else text.lower()


def declared_renames(files: Iterable[tuple[str, str]]) -> tuple[Rename, ...]:
    """The declarations in (path, text) pairs, in file order; a comment before anything else is exit 2."""
    found: list[Rename] = []
    problems: list[str] = []
    for path, text in files:
        table: tuple[str, str] | None = None
        pending: tuple[int, str] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            comment = _COMMENT.match(line)
            if comment:
                pending = (number, _ident(comment["old"]))
                continue
            if not line.strip() or line.lstrip().startswith("--"):
                continue
            create = _CREATE_TABLE.match(line)
            if create:
                parts = [_ident(p) for p in re.findall(_IDENT, create["name"])]
                table = (parts[0], parts[1]) if len(parts) == 2 else ("public", parts[0])
                if pending:
                    found.append(Rename(table[0], table[1], pending[1]))
            elif pending:
                first = _FIRST.match(line)
                if table is None or first is None:
                    problems.append(f"{path}:{pending[0]}: `-- {MARK}` must stand on the line before a column of a "
                                    "CREATE TABLE, or before the CREATE TABLE")
                else:
                    found.append(Rename(table[0], table[1], pending[1], _ident(first["name"])))
            if line.lstrip().startswith(")"):
                table = None
            pending = None
    if problems:
        raise SqlTreeInvalid("misplaced rename declaration: " + "; ".join(problems),
                             "put the comment on the line just before the column or the CREATE TABLE "
                             "(docs/zero-downtime.md#declared-renames)")
    return tuple(found)


def plan_with_renames(live: Snapshot, desired: Snapshot, renames: Iterable[Rename]) -> Plan:
    """``plan_sync(live, desired)``, with the declared renames done by renaming."""
    steps, renamed = rename_live(live, desired, renames)
    plan = plan_sync(renamed, desired)
    return Plan(tuple(steps) + plan.steps, plan.refused) if steps else plan


def rename_live(live: Snapshot, desired: Snapshot, renames: Iterable[Rename]) -> tuple[list[Step], Snapshot]:
    """The rename steps that apply (old name live, new name only desired), and the live model after them."""
    steps: list[Step] = []
    touched: set[tuple[str, str]] = set()
    ordered = sorted(renames, key=lambda r: r.column is not None)  # tables first: columns name the new table
    for r in ordered:
        before = _table(live, r.schema, r.old if r.column is None else r.table)
        want = _table(desired, r.schema, r.table)
        if before is None or want is None:
            continue
        if r.column is None:
            if _table(live, r.schema, r.table) is None and _table(desired, r.schema, r.old) is None:
                live = _rename_table(live, before, want, steps)
                touched.add((r.schema, r.table))
        elif (_column(before, r.old) and not _column(before, r.column) and _column(want, r.column)
              and not _column(want, r.old)):
            live = _rename_column(live, before, r.old, r.column, steps)
            touched.add((r.schema, r.table))
    return steps, _match_names(live, desired, touched, steps) if touched else live


def with_old_names(desired: Snapshot, live: Snapshot, renames: Iterable[Rename]) -> Snapshot:
    """``desired`` with each rename that applies to ``live`` undone: the names the live database has."""
    renames = list(renames)
    table_back = {(r.schema, r.table): r.old for r in renames if r.column is None}
    inverse = [Rename(r.schema, r.old, r.table) for r in renames if r.column is None]
    inverse += [Rename(r.schema, table_back.get((r.schema, r.table), r.table), r.column, r.old)
                for r in renames if r.column is not None]
    return rename_live(desired, live, inverse)[1]


def _table(snap: Snapshot, schema: str, name: str) -> Table | None:
    return next((t for t in snap.tables if (t.schema, t.name) == (schema, name)), None)


def _column(table: Table, name: str) -> bool:
    return any(c.name == name for c in table.columns)


def _swap(text: str, old: str, new: str) -> str:
    """``old`` (a quoted identifier or a qualified name) replaced by ``new`` where it stands as a whole name."""
    return re.sub(r"(?<![\w$\"])" + re.escape(old) + r"(?![\w$\"])", new.replace("\\", r"\\"), text)


def _rename_column(live: Snapshot, table: Table, old: str, new: str, steps: list[Step]) -> Snapshot:
    name = qname(table.schema, table.name)
    steps.append(Step(f"ALTER TABLE {name} RENAME COLUMN {quote_ident(old)} TO {quote_ident(new)}",
                      f"column {name}.{quote_ident(new)}",
                      f"renamed from {quote_ident(old)} (declared: -- {MARK}): the data stays"))
    a, b = quote_ident(old), quote_ident(new)

    def fix(t: Table) -> Table:
        if (t.schema, t.name) == (table.schema, table.name):
            return replace(
                t, columns=tuple(replace(c, name=new) if c.name == old else c for c in t.columns),
                indexes=tuple(replace(i, definition=_swap(i.definition, a, b)) for i in t.indexes),
                constraints=tuple(replace(c, definition=_swap(c.definition, a, b)) for c in t.constraints),
                triggers=tuple(replace(g, definition=_swap(g.definition, a, b)) for g in t.triggers))
        # A foreign key elsewhere names the column after the table: REFERENCES app.t(old).
        return replace(t, constraints=tuple(
            replace(c, definition=re.sub(re.escape(name) + r"\((.*?)\)",
                                         lambda m: f"{name}({_swap(m[1], a, b)})", c.definition))
            if c.kind == "f" else c for c in t.constraints))

    old_node, new_node = column_node(table.schema, table.name, old), column_node(table.schema, table.name, new)
    owned_old, owned_new = f"{name}.{a}", f"{name}.{b}"
    return replace(
        live, tables=tuple(fix(t) for t in live.tables),
        sequences=tuple(replace(s, owned_by=owned_new) if s.owned_by == owned_old else s for s in live.sequences),
        depends=tuple((new_node if x == old_node else x, new_node if y == old_node else y) for x, y in live.depends))


def _rename_table(live: Snapshot, table: Table, want: Table, steps: list[Step]) -> Snapshot:
    """The table, and the constraints and indexes named after it by PostgreSQL (``old_pkey`` → ``new_pkey``)."""
    old, new = qname(table.schema, table.name), qname(want.schema, want.name)
    steps.append(Step(f"ALTER TABLE {old} RENAME TO {quote_ident(want.name)}", f"table {new}",
                      f"renamed from {old} (declared: -- {MARK}): the rows stay"))
    moved = replace(table, name=want.name)

    def fix(t: Table) -> Table:
        t = moved if t is table else t
        return replace(
            t, indexes=tuple(replace(i, definition=_swap(i.definition, old, new)) for i in t.indexes),
            constraints=tuple(replace(c, definition=_swap(c.definition, old, new)) for c in t.constraints),
            triggers=tuple(replace(g, definition=_swap(g.definition, old, new)) for g in t.triggers))

    node_old, node_new = relation_node(table.schema, table.name), relation_node(want.schema, want.name)
    col_old, col_new = f"table column {old}.", f"table column {new}."

    def node(x: str) -> str:
        return node_new if x == node_old else (col_new + x[len(col_old):] if x.startswith(col_old) else x)

    return replace(
        live, tables=tuple(sorted((fix(t) for t in live.tables), key=lambda t: (t.schema, t.name))),
        sequences=tuple(replace(s, owned_by=new + (s.owned_by or "")[len(old):])
                        if (s.owned_by or "").startswith(old + ".") else s for s in live.sequences),
        depends=tuple((node(x), node(y)) for x, y in live.depends))


_INDEX_NAME = re.compile(rf"^(CREATE (?:UNIQUE )?INDEX )({_IDENT})( ON )")


def _unnamed(definition: str) -> str:
    return _INDEX_NAME.sub(r"\1\3", definition, count=1)


def _match_names(live: Snapshot, desired: Snapshot, touched: set[tuple[str, str]], steps: list[Step]) -> Snapshot:
    """In a renamed table (or one with a renamed column), a constraint or index that is the same but for a
    name PostgreSQL derived from the old names (``persons_nickname_key``) is renamed, not rebuilt."""
    def fix(t: Table) -> Table:
        want = _table(desired, t.schema, t.name)
        if (t.schema, t.name) not in touched or want is None:
            return t
        name = qname(t.schema, t.name)
        have = {c.name for c in want.constraints}
        mine = {x.name for x in t.constraints}
        free = {(c.kind, c.definition): c.name for c in want.constraints if c.name not in mine}
        constraints = []
        for c in t.constraints:
            target = free.pop((c.kind, c.definition), None) if c.name not in have else None
            if target is not None:
                sql = f"ALTER TABLE {name} RENAME CONSTRAINT {quote_ident(c.name)} TO {quote_ident(target)}"
                steps.append(Step(sql, f"constraint {quote_ident(target)} on {name}", "named after old names"))
                c = replace(c, name=target)
            constraints.append(c)
        have = {i.name for i in want.indexes}
        spare = {_unnamed(i.definition): i for i in want.indexes if i.name not in {x.name for x in t.indexes}}
        indexes = []
        for i in t.indexes:
            wanted = spare.pop(_unnamed(i.definition), None) if i.name not in have else None
            if wanted is not None:
                steps.append(Step(f"ALTER INDEX {qname(t.schema, i.name)} RENAME TO {quote_ident(wanted.name)}",
                                  f"index {qname(t.schema, wanted.name)}", "named after the old names"))
                i = replace(i, name=wanted.name, definition=wanted.definition)
            indexes.append(i)
        return replace(t, constraints=tuple(constraints), indexes=tuple(indexes))

    return replace(live, tables=tuple(fix(t) for t in live.tables))
