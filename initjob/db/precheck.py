"""Count the live rows a plan step would fail on, before anything is touched (the data prechecks).

Each step's ``DataCheck`` (``schema.checks``) becomes one read-only query: how many rows offend, and
the key of one of them (its primary key, else its ``ctid``) — never another value of the row, which
could be a secret.  ``run`` refuses a plan the data does not allow (exit 3, nothing touched);
``plan`` shows the same counts beside the steps.

Cost: each check reads its table once (a unique key sorts it), under ``TIMEOUT_S``; a check that
times out, or cannot be read before the plan runs (a column or table the plan itself creates), is
skipped and logged, and the step's own transaction still stops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.errors import DataDoesNotFit
from initjob.schema import checks
from initjob.schema.checks import DataCheck

if TYPE_CHECKING:
    from initjob.schema.diff import Plan, Step

Connection = psycopg.Connection[Any]

# A check on a huge table is a full read: this bounds it (statement_timeout), then the check is skipped.
TIMEOUT_S = 300


@dataclass(frozen=True)
class Finding:
    """What one check found: the offending rows and one of their keys (None when there are none)."""

    check: DataCheck
    rows: int
    example: str | None

    def line(self) -> str:
        text = f"{self.check.target}: {self.rows} {checks.describe(self.check)}"
        return text + (f", e.g. {self.example}" if self.example else "")


def survey(conn: Connection, steps: Iterable[Step]) -> dict[DataCheck, Finding]:
    """Every distinct check of the steps counted; a check that could not be counted is left out."""
    found: dict[DataCheck, Finding] = {}
    for step in steps:
        check = step.precheck
        if check is not None and check not in found:
            finding = count(conn, check)
            if finding is not None:
                found[check] = finding
    return found


def require_fit(conn: Connection, plan: Plan) -> None:
    """Refuse the plan (exit 3) when a step's data check finds rows in the way; nothing is touched."""
    started = time.monotonic()
    found = survey(conn, plan.steps)
    bad = [f for f in found.values() if f.rows]
    if not found:
        return
    logs.event("sync.prechecked", checks=len(found), offending=len(bad),
               duration_ms=round((time.monotonic() - started) * 1000))
    if bad:
        raise DataDoesNotFit(
            "the live data does not allow the plan, so nothing was applied: " + "; ".join(f.line() for f in bad[:10]),
            "fix those rows (or change sql/schema/), then run again; `initjob plan` shows each step's count",
            offending=[{"object": f.check.target, "check": f.check.kind, "rows": f.rows, "example": f.example}
                       for f in bad])


def annotate(plan: Plan, found: dict[DataCheck, Finding]) -> Plan:
    """The plan with each checked step's reason saying what the live data holds (for ``plan``)."""
    def note(step: Step) -> Step:
        finding = found.get(step.precheck) if step.precheck is not None else None
        if finding is None:
            return step
        said = f"{finding.rows} {checks.describe(finding.check)}" + (f", e.g. {finding.example}"
                                                                      if finding.example else "")
        return replace(step, reason=step.reason + "; live data: " + (said + ": this step would fail"
                                                                       if finding.rows else "no row in the way"))

    return replace(plan, steps=tuple(note(s) for s in plan.steps))


def count(conn: Connection, check: DataCheck) -> Finding | None:
    """One check's offending rows and one example key; None (logged) when it cannot be read now."""
    if check.measure == checks.CAST and conn.info.server_version < 160000:
        # Only trying the conversion would tell, and an error says nothing of how many rows or which.
        logs.event("sync.precheck_skipped", object=check.target,
                   reason="PostgreSQL before 16 has no pg_input_is_valid: the conversion decides in its transaction")
        return None
    query = _query(check)
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            # Names in catalog text are qualified; row_security off makes a policy hiding rows an error,
            # not a count that is too low.
            conn.execute("SELECT pg_catalog.set_config('search_path', '', true), "
                         "pg_catalog.set_config('row_security', 'off', true), "
                         "pg_catalog.set_config('statement_timeout', %s, true)", (f"{TIMEOUT_S}s",))
            row = conn.execute(query).fetchone()
    except psycopg.errors.QueryCanceled:
        logs.warning("sync.precheck_skipped", object=check.target, reason=f"took longer than {TIMEOUT_S} s")
        return None
    except (psycopg.ProgrammingError, psycopg.DataError, psycopg.errors.FeatureNotSupported) as exc:
        # A column or table the plan creates first, a policy in the way: the step's transaction still decides.
        logs.event("sync.precheck_skipped", object=check.target,
                   reason=logs.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return None
    if row is None:
        return Finding(check, 0, None)
    keys = check.key_columns or ("ctid",)
    return Finding(check, int(row[0]), f"({', '.join(keys)})={row[1]}")


# ---------------------------------------------------------------------------------------------
# The queries: every name an Identifier, every number a Literal; expressions are the catalog's text.

_ROW = sql.Identifier("initjob_row")


def _query(check: DataCheck) -> sql.Composed:
    table = sql.SQL("{}.{} AS {}").format(sql.Identifier(check.schema), sql.Identifier(check.table), _ROW)
    key = _key(check)
    if check.kind == checks.UNIQUE:
        return _unique_query(check, table, key)
    return sql.SQL("SELECT count(*) OVER (), {} FROM {} WHERE {} LIMIT 1").format(key, table, _offending(check))


def _key(check: DataCheck) -> sql.Composable:
    if not check.key_columns:
        return sql.SQL("{}.ctid::text").format(_ROW)
    return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(_cols(check.key_columns)))


def _cols(names: Iterable[str]) -> list[sql.Composable]:
    return [sql.SQL("{}.{}").format(_ROW, sql.Identifier(n)) for n in names]


def _all(parts: Sequence[sql.Composable], joiner: str = " AND ") -> sql.Composable:
    return sql.SQL(joiner).join(parts) if parts else sql.SQL("true")


def _offending(check: DataCheck) -> sql.Composable:
    if check.kind == checks.ROWS:
        return sql.SQL("true")
    if check.kind == checks.NOT_NULL:
        return sql.SQL("{} IS NULL").format(_cols(check.columns)[0])
    if check.kind == checks.CHECK:
        return sql.SQL("NOT ({})").format(sql.SQL(check.expressions[0]))
    if check.kind == checks.FIT:
        return _unfit(check)
    if check.kind == checks.FOREIGN_KEY:
        return _orphan(check)
    raise ValueError(f"unknown data check {check.kind!r}")


def _unfit(check: DataCheck) -> sql.Composable:
    col = _cols(check.columns)[0]
    if check.measure == checks.LENGTH:
        # Trailing spaces are cut without an error (as PostgreSQL stores into varchar(n) and char(n)).
        return sql.SQL("char_length(rtrim({}::text, ' ')) > {}").format(col, sql.Literal(check.limits[0]))
    if check.measure == checks.RANGE:
        value = sql.SQL("round({}::numeric)").format(col) if check.round_first else col
        return sql.SQL("{} NOT BETWEEN {} AND {}").format(value, sql.Literal(check.limits[0]),
                                                          sql.Literal(check.limits[1]))
    if check.measure == checks.CAST:
        # What the planned USING does (the text form, cast), asked without raising: a NULL stays NULL.
        return sql.SQL("NOT pg_catalog.pg_input_is_valid({}::text, {})").format(col, sql.Literal(check.type))
    precision, scale = check.limits
    bound = Decimal(10) ** (precision - scale)
    return sql.SQL("{col}::numeric <> 'NaN' AND abs(round({col}::numeric, {scale})) >= {bound}").format(
        col=col, scale=sql.Literal(scale), bound=sql.Literal(bound))


def _orphan(check: DataCheck) -> sql.Composable:
    cols = _cols(check.columns)
    ref = sql.Identifier("initjob_ref")
    match = sql.SQL(" AND ").join(sql.SQL("{}.{} = {}").format(ref, sql.Identifier(r), c)
                                  for r, c in zip(check.ref_columns, cols, strict=True))
    missing = sql.SQL("NOT EXISTS (SELECT FROM {}.{} AS {} WHERE {})").format(
        sql.Identifier(check.ref_schema), sql.Identifier(check.ref_table), ref, match)
    if not check.match_full:  # MATCH SIMPLE: a key with a NULL part is not checked
        return sql.SQL("{} AND {}").format(_all([sql.SQL("{} IS NOT NULL").format(c) for c in cols]), missing)
    some_null = _all([sql.SQL("{} IS NULL").format(c) for c in cols], " OR ")
    all_null = _all([sql.SQL("{} IS NULL").format(c) for c in cols])
    return sql.SQL("NOT ({}) AND (({}) OR {})").format(all_null, some_null, missing)


def _unique_query(check: DataCheck, table: sql.Composable, key: sql.Composable) -> sql.Composed:
    """Rows in a group of two or more with the same key (NULLs apart unless NULLS NOT DISTINCT); for a
    primary key, rows with a NULL key part too."""
    keys = _cols(check.columns) + [sql.SQL(e) for e in check.expressions]
    any_null = _all([sql.SQL("{} IS NULL").format(k) for k in keys], " OR ")
    where = [sql.SQL("({})").format(sql.SQL(check.predicate))] if check.predicate else []
    if check.nulls_distinct:
        where.append(sql.SQL("NOT ({})").format(any_null))
    return sql.SQL(
        "SELECT count(*) OVER (), initjob_key FROM (SELECT {key} AS initjob_key, ({any_null}) AS initjob_null, "
        "count(*) OVER (PARTITION BY {keys}) AS initjob_n FROM {table} WHERE {where}) AS initjob_keys "
        "WHERE initjob_n > 1{primary} LIMIT 1").format(
        key=key, any_null=any_null, keys=sql.SQL(", ").join(keys), table=table, where=_all(where),
        primary=sql.SQL(" OR initjob_null") if check.primary else sql.SQL(""))
