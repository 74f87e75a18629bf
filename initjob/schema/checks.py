"""Which rows a plan step needs to fit: the data checks the planner attaches to its steps (pure).

The planner sees two schemas, never the rows. A step that holds only when the live data allows it
(a NOT NULL over rows that hold NULL, a new unique key over duplicates, a narrowing type change
over values that do not fit, a conversion through text over values the new type does not take as
input, a foreign key or check over rows that violate it) carries a
``DataCheck`` saying what to count; ``db.precheck`` counts the offending rows on the live database
before anything is touched, and ``plan`` shows the count beside the step.

Definitions come from the catalog's deparsers (``pg_get_indexdef``, ``pg_get_constraintdef``), read
with an empty ``search_path``: every name in them is quoted where it must be and qualified.  Plain
column names are taken out of them (and go back through ``psycopg.sql.Identifier``); expressions
stay the catalog's own SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from initjob.schema.model import Column, Constraint, Index, Table

ROWS = "rows"  # any row at all offends: a new NOT NULL column without a default
NOT_NULL = "not-null"  # a row whose column is NULL
UNIQUE = "unique"  # rows sharing a key (and, for a primary key, rows with a NULL key part)
FIT = "fit"  # a value the new type cannot hold
FOREIGN_KEY = "foreign-key"  # a row whose key has no referenced row
CHECK = "check"  # a row for which the condition is false

LENGTH, RANGE, PRECISION = "length", "range", "precision"  # how a narrowing is measured
CAST = "cast"  # a conversion through the value's text form: what the new type's input rejects


@dataclass(frozen=True)
class DataCheck:
    """What a step needs of the live rows of ``schema.table``, and how to name an offending row."""

    kind: str
    schema: str
    table: str
    target: str  # what the step makes, as the plan names it ("column shop.t.email", "index shop.t_key")
    columns: tuple[str, ...] = ()  # plain column names: the NULL column, unique or foreign key columns
    expressions: tuple[str, ...] = ()  # catalog SQL: unique index key expressions, a check's condition
    predicate: str | None = None  # catalog SQL: a partial unique index's WHERE
    nulls_distinct: bool = True  # False for NULLS NOT DISTINCT (and a primary key, where NULL offends)
    primary: bool = False  # a primary key: a NULL key part offends too
    ref_schema: str = ""  # the referenced table of a foreign key
    ref_table: str = ""
    ref_columns: tuple[str, ...] = ()
    match_full: bool = False  # MATCH FULL: a key with some NULL parts offends
    measure: str = ""  # FIT: LENGTH, RANGE, PRECISION or CAST
    type: str = ""  # FIT CAST: the new type, as format_type writes it (a built-in type: unqualified)
    limits: tuple[int, ...] = ()  # FIT: (max length,) | (low, high) | (precision, scale)
    round_first: bool = False  # FIT RANGE from a type with fractions: the cast rounds before it checks
    key_columns: tuple[str, ...] = ()  # the live primary key, to name one offending row (else its ctid)


def key_columns(table: Table | None) -> tuple[str, ...]:
    """The columns of a table's primary key, as plain names; () without one."""
    pk = next((c for c in (table.constraints if table else ()) if c.kind == "p"), None)
    cols = _paren_list(pk.definition, "PRIMARY KEY") if pk else None
    return tuple(cols or ())


def for_new_column(table: Table, col: Column, target: str) -> DataCheck | None:
    """A new NOT NULL column without a default holds NULL in every existing row."""
    if not col.not_null or col.default is not None or col.identity or col.generated is not None:
        return None
    return DataCheck(ROWS, table.schema, table.name, target, key_columns=key_columns(table))


def for_not_null(table: Table, col: Column, target: str) -> DataCheck:
    return DataCheck(NOT_NULL, table.schema, table.name, target, columns=(col.name,), key_columns=key_columns(table))


def for_constraint(table: Table, con: Constraint, target: str) -> DataCheck | None:
    """Primary key, unique, foreign key and check constraints; None for a kind not read (exclusion)."""
    base = DataCheck("", table.schema, table.name, target, key_columns=key_columns(table))
    text = con.definition.removesuffix(" NOT VALID")
    if con.kind in "pu":
        head = "PRIMARY KEY" if con.kind == "p" else "UNIQUE"
        distinct = "NULLS NOT DISTINCT" not in text.split("(", 1)[0]
        cols = _paren_list(text, head)
        if cols is None:
            return None
        return _with(base, kind=UNIQUE, columns=tuple(cols), primary=con.kind == "p",
                     nulls_distinct=distinct and con.kind != "p")
    if con.kind == "f":
        return _foreign_key(base, text)
    if con.kind == "c" and text.startswith("CHECK "):
        return _with(base, kind=CHECK, expressions=(text.removeprefix("CHECK ").removesuffix(" NO INHERIT"),))
    return None


def for_index(table: Table, idx: Index, target: str) -> DataCheck | None:
    """A unique index: its keys (columns or expressions), its WHERE, NULLS NOT DISTINCT."""
    if not idx.definition.startswith("CREATE UNIQUE INDEX "):
        return None
    m = re.search(r" USING \w+ \(", idx.definition)
    if m is None:
        return None
    inner, rest = _balanced(idx.definition, m.end() - 1)
    if inner is None:
        return None
    columns, expressions = [], []
    for element in split_top(inner):
        term = _leading_term(element)
        if _is_identifier(term):
            columns.append(unquote(term))
        else:
            expressions.append(term)
    where = re.search(r" WHERE (.*)$", rest, re.S)
    return DataCheck(UNIQUE, table.schema, table.name, target, columns=tuple(columns),
                     expressions=tuple(expressions), predicate=where.group(1) if where else None,
                     nulls_distinct="NULLS NOT DISTINCT" not in rest.split(" WHERE ", 1)[0],
                     key_columns=key_columns(table))


_INTEGER_BOUNDS = {"smallint": (-32768, 32767), "integer": (-2147483648, 2147483647),
                   "bigint": (-9223372036854775808, 9223372036854775807)}
_FRACTIONS = {"numeric", "real", "double precision"}
_CHARACTERS = {"character varying", "character"}
_TYPE = re.compile(r"^(?P<base>[^()\[\]]+?)(?:\((?P<args>[\d,]+)\))?$")


def for_retype(table: Table, old: Column, new: Column, target: str, through_text: bool = False) -> DataCheck | None:
    """A type change whose values may not fit: a shorter string, a smaller integer, fewer digits, or
    (``through_text``: the planned USING is the value's text form cast to the new type) a value the new
    type's input rejects ('abc' to integer, a malformed uuid, date or array).

    The last only for a built-in new type: one the plan makes or changes (an enum gaining a label)
    would be judged by its live definition. Other conversions are left to the conversion itself,
    which fails in its transaction."""
    base = DataCheck(FIT, table.schema, table.name, target, columns=(new.name,), key_columns=key_columns(table))
    a, b = _TYPE.match(old.type), _TYPE.match(new.type)
    args = [int(x) for x in b["args"].split(",")] if b and b["args"] else []
    if a is None or b is None:
        pass  # an array, or a type with words after its modifier ("timestamp(3) with time zone")
    elif b["base"] in _CHARACTERS and args:
        return _with(base, measure=LENGTH, limits=(args[0],))
    elif b["base"] in _INTEGER_BOUNDS and (a["base"] in _INTEGER_BOUNDS or a["base"] in _FRACTIONS):
        low, high = _INTEGER_BOUNDS[b["base"]]
        old_low, old_high = _INTEGER_BOUNDS.get(a["base"], (low - 1, high + 1))
        if (old_low, old_high) == (low, high) or (low <= old_low and old_high <= high):
            return None
        return _with(base, measure=RANGE, limits=(low, high), round_first=a["base"] in _FRACTIONS)
    elif b["base"] == "numeric" and args and (a["base"] in _INTEGER_BOUNDS or a["base"] in _FRACTIONS):
        return _with(base, measure=PRECISION, limits=(args[0], args[1] if len(args) > 1 else 0))
    if through_text and "." not in _QUOTED.sub("", new.type):
        return _with(base, measure=CAST, type=new.type)
    return None


# A double-quoted identifier: taken out before looking for the dot of a schema-qualified type name.
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def describe(check: DataCheck) -> str:
    """What an offending row is, in words, for the event and the plan."""
    if check.kind == FIT:
        return f"value(s) do not fit the new type ({_fit_words(check)})"
    return {
        ROWS: "row(s) would hold NULL in the new NOT NULL column (it has no default)",
        NOT_NULL: "row(s) hold NULL",
        UNIQUE: "row(s) share a key with another row" + (" or have a NULL key part" if check.primary else ""),
        FOREIGN_KEY: f"row(s) reference a missing row of {check.ref_schema}.{check.ref_table}",
        CHECK: "row(s) violate the check",
    }.get(check.kind, "row(s) offend")


def _fit_words(check: DataCheck) -> str:
    if check.measure == LENGTH:
        return f"longer than {check.limits[0]} characters"
    if check.measure == RANGE:
        return f"outside {check.limits[0]}..{check.limits[1]}"
    if check.measure == CAST:
        return f"not valid input for {check.type}"
    return f"{check.limits[0] - check.limits[1]} digit(s) before the point at most"


# ---------------------------------------------------------------------------------------------
# Reading the deparsers' text


def _with(base: DataCheck, **fields: object) -> DataCheck:
    return replace(base, **fields)  # type: ignore[arg-type]


def _foreign_key(base: DataCheck, text: str) -> DataCheck | None:
    m = re.match(r"FOREIGN KEY \((?P<cols>[^)]*)\) REFERENCES (?P<ref>.+?)\((?P<refcols>[^)]*)\)(?P<rest>.*)$",
                 text, re.S)
    if m is None:
        return None
    ref = split_top(m["ref"], ".")
    if len(ref) != 2:
        return None
    return _with(base, kind=FOREIGN_KEY, columns=tuple(unquote(c) for c in split_top(m["cols"])),
                 ref_schema=unquote(ref[0]), ref_table=unquote(ref[1]),
                 ref_columns=tuple(unquote(c) for c in split_top(m["refcols"])),
                 match_full=" MATCH FULL" in m["rest"])


def _paren_list(text: str, head: str) -> list[str] | None:
    """The plain names in ``HEAD [NULLS NOT DISTINCT] (a, "B c")``."""
    if not text.startswith(head):
        return None
    inner, _ = _balanced(text, text.index("("))
    return [unquote(c) for c in split_top(inner)] if inner is not None else None


def _balanced(text: str, start: int) -> tuple[str | None, str]:
    """The text inside the parenthesis opening at ``start``, and what follows its closing one."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], text[i + 1:]
    return None, ""


def split_top(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside parentheses and quotes, each part stripped."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


_IDENT = r'(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)'


def _is_identifier(term: str) -> bool:
    return re.fullmatch(_IDENT, term) is not None


def _leading_term(element: str) -> str:
    """An index key without its collation, operator class and ordering: a column, ``f(...)`` or ``(...)``."""
    if element.startswith("("):
        inner, _ = _balanced(element, 0)
        return f"({inner})" if inner is not None else element
    m = re.match(_IDENT + r"(?:\." + _IDENT + r")*", element)
    if m is None:
        return element
    if element[m.end():m.end() + 1] == "(":
        inner, _ = _balanced(element, m.end())
        return element[:m.end()] + f"({inner})"
    return m.group(0)


def unquote(ident: str) -> str:
    """A deparsed identifier as its plain name: quotes removed, doubled quotes undone."""
    ident = ident.strip()
    if ident.startswith('"') and ident.endswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident
