"""initjob's own tables in INITJOB_HISTORY_SCHEMA: history, events, backup markers, state.

The tables are versioned by a list of steps (``_LAYOUT``) recorded in ``meta``, so a later release
can evolve them: a new step is appended, never an old one edited.  Reads never create anything.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import psycopg
from psycopg import sql

from initjob import logs
from initjob.errors import LayoutTooNew, PrivilegeMissing
from initjob.state import Applied, DbState, MarkerRow

_LAYOUT: tuple[str, ...] = (
    # 1: the first layout.
    """
    CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE {s}.history (
        version        numeric PRIMARY KEY,
        version_text   text NOT NULL,
        name           text NOT NULL,
        kind           text NOT NULL CHECK (kind IN ('migration', 'baseline')),
        checksum       text NOT NULL,
        transactional  boolean NOT NULL DEFAULT true,
        success        boolean NOT NULL,
        statements_done integer NOT NULL DEFAULT 0,
        applied_at     timestamptz NOT NULL DEFAULT now(),
        applied_by     text NOT NULL,
        execution_ms   integer
    );
    COMMENT ON TABLE {s}.history IS 'Migrations applied by initjob; a row per applied version';
    CREATE TABLE {s}.events (
        id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at        timestamptz NOT NULL DEFAULT now(),
        by        text NOT NULL,
        action    text NOT NULL,
        version   numeric,
        detail    jsonb NOT NULL DEFAULT '{{}}'
    );
    CREATE TABLE {s}.markers (
        id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        taken_at            timestamptz NOT NULL DEFAULT now(),
        taken_by            text NOT NULL,
        mode                text NOT NULL,
        release             text,
        lsn                 pg_lsn,
        restore_point       text,
        dump_path           text,
        fingerprint_before  text,
        planned             jsonb NOT NULL
    );
    CREATE TABLE {s}.state (
        id            integer PRIMARY KEY CHECK (id = 1),
        mode          text NOT NULL CHECK (mode IN ('auto-sync', 'migrations')),
        fingerprint   text,
        snapshot      jsonb,
        schema_files  jsonb,
        schemas       text[] NOT NULL DEFAULT '{{}}',
        catalog_token text,
        updated_at    timestamptz NOT NULL DEFAULT now(),
        updated_by    text NOT NULL
    );
    """,
    # 2: the hash of the SQL tree a complete run left the database at, with the history's row count
    # then, so the no-op of every pod start can skip parsing a tree that has not changed.
    """
    ALTER TABLE {s}.state ADD COLUMN tree_hash text;
    """,
    # 3: versions taken over from another tool's history (kind 'adopted', and which tool), and the
    # repeatable files: one row per file with the checksum last applied, and their combined hash
    # beside the tree's, so the no-op path notices a changed repeatable file without parsing.
    """
    ALTER TABLE {s}.history DROP CONSTRAINT history_kind_check;
    ALTER TABLE {s}.history ADD CONSTRAINT history_kind_check CHECK (kind IN ('migration', 'baseline', 'adopted'));
    ALTER TABLE {s}.history ADD COLUMN source_tool text;
    CREATE TABLE {s}.repeatable (
        path         text PRIMARY KEY,
        checksum     text NOT NULL,
        applied_at   timestamptz NOT NULL DEFAULT now(),
        applied_by   text NOT NULL,
        execution_ms integer
    );
    COMMENT ON TABLE {s}.repeatable IS 'Repeatable files applied by initjob; the checksum each was last applied with';
    ALTER TABLE {s}.state ADD COLUMN repeatable_hash text;
    """,
)
LAYOUT_VERSION = len(_LAYOUT)


def _q(text: str, schema: str) -> sql.Composed:
    return sql.SQL(text).format(s=sql.Identifier(schema))


def ensure(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create or upgrade the tables; call only while holding the migration lock."""
    try:
        _ensure(conn, schema)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise privilege_missing(conn, schema, exc) from None


def _ensure(conn: psycopg.Connection[Any], schema: str) -> None:
    current = _layout(conn, schema)
    if current > LAYOUT_VERSION:
        raise LayoutTooNew(
            f"initjob's tables in schema {schema!r} are at layout {current}, "
            f"newer than this initjob ({LAYOUT_VERSION})",
            "a newer initjob manages this database: run that release's image, not an older one",
        )
    if current == LAYOUT_VERSION:
        return
    # One message, one transaction: a round trip per step cost a fresh run ~20 ms (bench/fresh_ab.py).
    parts = [_q("CREATE SCHEMA IF NOT EXISTS {s}", schema)] + [_q(_LAYOUT[step], schema)
                                                              for step in range(current, LAYOUT_VERSION)]
    parts.append(sql.SQL("INSERT INTO {s}.meta VALUES ('layout', {v}) ON CONFLICT (key) DO UPDATE SET value = "
                         "EXCLUDED.value").format(s=sql.Identifier(schema), v=sql.Literal(str(LAYOUT_VERSION))))
    text = "BEGIN;\n" + ";\n".join(part.as_string(conn).strip().rstrip(";") for part in parts) + ";\nCOMMIT"
    try:
        conn.execute(text.encode())
    except psycopg.Error:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.execute("ROLLBACK")
        raise
    logs.event("history.layout", schema=schema, from_layout=current, to_layout=LAYOUT_VERSION)


def _layout(conn: psycopg.Connection[Any], schema: str) -> int:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".meta',)).fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute(_q("SELECT value FROM {s}.meta WHERE key = 'layout'", schema)).fetchone()
    return int(got[0]) if got else 0


def read_state(conn: psycopg.Connection[Any], schema: str) -> DbState:
    """Everything initjob recorded, in two round trips; an unknown database reads as ``DbState()``."""
    try:
        return _read_state(conn, schema)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise privilege_missing(conn, schema, exc) from None


def privilege_missing(conn: psycopg.Connection[Any], schema: str, exc: psycopg.Error) -> PrivilegeMissing:
    """The grant that fixes a refused access to initjob's own schema: none to create it (PostgreSQL
    15 gives a role that does not own the database only CONNECT), or a schema another role owns."""
    user, db = conn.info.user, conn.info.dbname
    owner = None
    if not conn.closed and not conn.broken:
        row = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        owner = row[0] if row else None
    first = logs.redact(str(exc).strip().splitlines()[0])
    if owner is None:
        return PrivilegeMissing(
            f"role {user} may not create initjob's schema {schema} in database {db} ({first})",
            f"GRANT CREATE ON DATABASE {db} TO {user}, or create it for the role: "
            f"CREATE SCHEMA {schema} AUTHORIZATION {user} (docs/deployment.md#privileges)",
            role=user, schema=schema)
    return PrivilegeMissing(
        f"initjob's schema {schema} belongs to role {owner}, and role {user} may not use it ({first})",
        f"run as {owner}, or hand it over: REASSIGN OWNED BY {owner} TO {user} (as a superuser or a member of "
        f"both), or ALTER SCHEMA {schema} OWNER TO {user} and the same for its tables "
        "(docs/deployment.md#privileges)",
        role=user, schema=schema, owner=owner)


def _read_state(conn: psycopg.Connection[Any], schema: str) -> DbState:
    """The first asks whether the meta table exists (reads never create anything, nor fail on a
    database initjob has not seen); the second reads the layout and every table, pipelined.
    """
    # Whether the tables exist, and which columns of later layouts they have: those are read by name,
    # never through the whole row (the state row holds the recorded snapshot, MBs of it).
    row = conn.execute(
        "SELECT to_regclass(%(meta)s) IS NOT NULL, array(SELECT attname::text FROM pg_attribute"
        " WHERE attrelid IN (to_regclass(%(state)s), to_regclass(%(history)s)) AND attnum > 0 AND NOT attisdropped"
        " AND attname IN ('tree_hash', 'repeatable_hash', 'source_tool'))",
        {"meta": f'"{schema}".meta', "state": f'"{schema}".state', "history": f'"{schema}".history'}).fetchone()
    if not row or not row[0]:
        return DbState()
    present = set(row[1] or ())

    def column(name: str) -> sql.Composable:
        return sql.Identifier(name) if name in present else sql.SQL("NULL::text")

    tree_hash, repeatable_hash = column("tree_hash"), column("repeatable_hash")
    try:
        with conn.pipeline():
            layout_cur = conn.execute(_q("SELECT value FROM {s}.meta WHERE key = 'layout'", schema))
            expanded_cur = conn.execute(_q("SELECT value FROM {s}.meta WHERE key = 'expanded'", schema))
            state_cur = conn.execute(
                sql.SQL("SELECT mode, fingerprint, schema_files, schemas, catalog_token, {h}, {r}"
                        " FROM {s}.state WHERE id = 1").format(h=tree_hash, r=repeatable_hash,
                                                               s=sql.Identifier(schema)))
            # version as text: a Flyway version mapped to an integer (layouts.flyway_key) exceeds bigint.
            # Ordered by the column (h.version): a bare "version" is the text output column, 0010 before 0002.
            hist_cur = conn.execute(sql.SQL(
                "SELECT version::text, version_text, name, kind, checksum, transactional, success, statements_done,"
                " applied_at, applied_by, execution_ms, {tool} FROM {s}.history h ORDER BY h.version"
            ).format(tool=column("source_tool"), s=sql.Identifier(schema)))
            marker_cur = conn.execute(_q(
                "SELECT taken_at, lsn::text, restore_point, dump_path FROM {s}.markers ORDER BY id DESC LIMIT 1",
                schema))
    except psycopg.errors.UndefinedTable:
        # A meta table without the others: only a meta without a layout row (never made by ensure).
        if _layout(conn, schema) == 0:
            return DbState()
        raise
    got = layout_cur.fetchone()
    layout = int(got[0]) if got else 0
    if layout == 0:
        return DbState()
    state = state_cur.fetchone()
    applied = tuple(Applied(int(row[0]), *row[1:]) for row in hist_cur.fetchall())
    marker = marker_cur.fetchone()
    expanded = expanded_cur.fetchone()
    return DbState(
        layout=layout,
        mode=state[0] if state else None,
        fingerprint=state[1] if state else None,
        schema_files=dict(state[2] or {}) if state else {},
        schemas=tuple(state[3] or ()) if state else (),
        catalog_token=state[4] if state else None,
        tree_hash=state[5] if state else None,
        repeatable_hash=state[6] if state else None,
        applied=applied,
        last_marker=MarkerRow(*marker) if marker else None,
        expanded=expanded[0] if expanded else None,
    )


def read_snapshot_json(conn: psycopg.Connection[Any], schema: str) -> str | None:
    """The snapshot recorded with the fingerprint, to say what drifted."""
    row = conn.execute(_q("SELECT snapshot::text FROM {s}.state WHERE id = 1", schema)).fetchone()
    return row[0] if row else None


def state_upsert(schema: str, mode: str, fingerprint: str, snapshot_json: str,
                 schema_files: dict[str, str] | None, by: str, schemas: list[str],
                 token: str | None = None, tree_hash: str | None = None) -> sql.Composed:
    """The statement that records the managed state; composed so it can join a file's transaction.

    ``tree_hash`` is given only by a run that left the database up to date with that tree; it is
    stored with the history's row count at commit, so a history row removed by hand is noticed.
    """
    tree = sql.SQL("NULL") if tree_hash is None else sql.SQL(
        "{h} || ':' || (SELECT count(*) FROM {s}.history)").format(h=sql.Literal(tree_hash), s=sql.Identifier(schema))
    # A complete record ends a pending contract half (INITJOB_PHASE): expand marks it again after this.
    return sql.SQL(
        "WITH ended AS (DELETE FROM {s}.meta WHERE key = 'expanded') "
        "INSERT INTO {s}.state (id, mode, fingerprint, snapshot, schema_files, schemas, catalog_token, tree_hash,"
        " updated_at, updated_by) VALUES (1, {mode}, {fp}, {snap}::jsonb, {files}::jsonb, {schemas}::text[], {token},"
        " {tree}, now(), {by}) "
        "ON CONFLICT (id) DO UPDATE SET mode = EXCLUDED.mode, fingerprint = EXCLUDED.fingerprint, "
        "snapshot = EXCLUDED.snapshot, schema_files = EXCLUDED.schema_files, schemas = EXCLUDED.schemas, "
        "catalog_token = EXCLUDED.catalog_token, tree_hash = EXCLUDED.tree_hash, "
        "updated_at = now(), "
        "updated_by = EXCLUDED.updated_by"
    ).format(
        s=sql.Identifier(schema), mode=sql.Literal(mode), fp=sql.Literal(fingerprint),
        snap=sql.Literal(snapshot_json),
        files=sql.Literal(json.dumps(schema_files, sort_keys=True) if schema_files is not None else None),
        by=sql.Literal(by), schemas=sql.Literal(list(schemas)), token=sql.Literal(token), tree=tree,
    )


def expanded_upsert(schema: str, tree_hash: str) -> sql.Composed:
    """``expand`` completed for this tree and its contract half waits: the guard ``contract`` checks."""
    return sql.SQL(
        "INSERT INTO {s}.meta (key, value) VALUES ('expanded', {h}) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    ).format(s=sql.Identifier(schema), h=sql.Literal(tree_hash))


def history_insert(schema: str, version: int, version_text: str, name: str, kind: str, checksum: str,
                   transactional: bool, success: bool, by: str, statements_done: int = 0,
                   timed: bool = True, source_tool: str | None = None) -> sql.Composed:
    """The history row of one migration; ``timed`` measures the file's time inside the server."""
    elapsed = sql.SQL(
        "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::integer" if timed else "NULL")
    values: list[sql.Composable] = [sql.Literal(v) for v in (version, version_text, name, kind, checksum,
                                                              transactional, success, statements_done, by)]
    values.append(elapsed)
    # source_tool only when given: a row written before ensure() upgraded the layout has no such column.
    if source_tool is not None:
        values.append(sql.Literal(source_tool))
    return sql.Composed([_insert_head(schema, source_tool is not None), sql.SQL(", ").join(values), sql.SQL(")")])


@functools.lru_cache(maxsize=8)
def _insert_head(schema: str, with_tool: bool) -> sql.Composed:
    """The row's INSERT up to its values, composed once per run: formatting this template for every
    migration cost ~0.2 ms a file (bench/fresh_ab.py, 2,000 migrations)."""
    tool = sql.SQL(", source_tool" if with_tool else "")
    return sql.SQL(
        "INSERT INTO {s}.history (version, version_text, name, kind, checksum, transactional, success, "
        "statements_done, applied_by, execution_ms{tool}) VALUES ("
    ).format(s=sql.Identifier(schema), tool=tool)


def event_insert(schema: str, action: str, by: str, version: int | None = None,
                 detail: dict[str, Any] | None = None) -> sql.Composed:
    return sql.SQL("INSERT INTO {s}.events (by, action, version, detail) VALUES ({by}, {a}, {v}, {d}::jsonb)").format(
        s=sql.Identifier(schema), by=sql.Literal(by), a=sql.Literal(action), v=sql.Literal(version),
        d=sql.Literal(json.dumps(detail or {}, sort_keys=True, default=str)),
    )


def history_delete(schema: str, version: int) -> sql.Composed:
    return sql.SQL("DELETE FROM {s}.history WHERE version = {v}").format(
        s=sql.Identifier(schema), v=sql.Literal(version))


def repeatable_upsert(schema: str, path: str, checksum: str, by: str) -> sql.Composed:
    """The row of one repeatable file, in the transaction that applies it; timed inside the server."""
    return sql.SQL(
        "INSERT INTO {s}.repeatable (path, checksum, applied_at, applied_by, execution_ms) VALUES ({p}, {c}, now(), "
        "{by}, (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::integer) "
        "ON CONFLICT (path) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = EXCLUDED.applied_at, "
        "applied_by = EXCLUDED.applied_by, execution_ms = EXCLUDED.execution_ms"
    ).format(s=sql.Identifier(schema), p=sql.Literal(path), c=sql.Literal(checksum), by=sql.Literal(by))


def read_repeatables(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    """Path → checksum each repeatable file was last applied with; empty before layout 3."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".repeatable',)).fetchone()
    if not row or not row[0]:
        return {}
    return dict(conn.execute(_q("SELECT path, checksum FROM {s}.repeatable", schema)).fetchall())


def state_refresh(schema: str, fingerprint: str, snapshot_json: str, token: str | None,
                  repeatable_hash: str) -> sql.Composed:
    """After the repeatable files: the schema they leave (so it is not taken for drift) and their hash."""
    return sql.SQL(
        "UPDATE {s}.state SET fingerprint = {fp}, snapshot = {snap}::jsonb, catalog_token = {token}, "
        "repeatable_hash = {rh}, updated_at = now() WHERE id = 1"
    ).format(s=sql.Identifier(schema), fp=sql.Literal(fingerprint), snap=sql.Literal(snapshot_json),
             token=sql.Literal(token), rh=sql.Literal(repeatable_hash))
