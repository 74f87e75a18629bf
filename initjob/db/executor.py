"""The one executor: every writer (migrations, sync plans, baseline, rollback, the job's own
bookkeeping) runs its SQL here — in one transaction with its history rows, or statement by statement
outside one — with ``lock_timeout``, the DDL-lock retry policy, cancellation on signals, and error
translation (file, line, SQLSTATE, message).

A transactional migration is sent as one simple-query message (BEGIN, lock timeout, the file,
its history row, COMMIT): one round trip per file, and the file and its row commit or vanish together.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from initjob import logs, sqltext
from initjob.config import ApplySettings
from initjob.db import history, progress, standby
from initjob.db.wait import cancel_and_close
from initjob.errors import ConnectionLost, DdlLockTimeout, Interrupted, SqlFailed, SqlPrivilegeMissing
from initjob.retry import Attempt, Policy
from initjob.source import Migration, SqlFile
from initjob.state import Applied

Connection = psycopg.Connection[Any]
_LOST_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"}


def is_connection_lost(conn: Connection, exc: psycopg.Error) -> bool:
    return conn.broken or conn.closed or exc.sqlstate in _LOST_SQLSTATES or (
        isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None)


@contextmanager
def guarded(conn: Connection, label: str, text: str, offset: int = 0,
            replay: list[str] | None = None, announced: bool = False) -> Iterator[None]:
    """Translate what the server says about ``text`` into initjob errors; cancel on a signal.

    ``replay`` (what ran before ``text`` in the same transaction) lets an error without a position
    be pinned to its statement by replaying in a transaction that is rolled back. ``announced``: the
    message names its file in application_name itself (``progress.announcement``).
    """
    try:
        with progress.watch(conn, label, announce=bool(text) and not announced):  # signs of life from a long statement
            yield
    except Interrupted:
        cancel_and_close(conn)
        raise
    except psycopg.Error as exc:
        if is_connection_lost(conn, exc) or standby.is_read_only_error(exc):  # reconnect, then check again
            raise ConnectionLost(f"connection lost while running {label}: {_first_line(exc)}",
                                 "the job reconnects and resumes from the history", file=label) from None
        _rollback(conn)
        if announced:  # the rollback undid the file's name too: status must still see it while a retry waits
            progress.announce(conn, label)
        failure = sql_failed(exc, label, text, offset)
        if failure.line is None and replay is not None:
            line = _locate(conn, replay, text)
            if line is not None:
                failure = sql_failed(exc, label, text, offset, line=line)
        raise failure from None


def _locate(conn: Connection, replay: list[str], text: str) -> int | None:
    """The line of the first statement of ``text`` that fails after ``replay``; nothing is kept."""
    statements = sqltext.split_statements(text)
    if len(statements) < 2:
        return None
    try:
        conn.execute("BEGIN")
        for earlier in replay:
            conn.execute(earlier.encode())
        for stmt in statements:
            try:
                conn.execute(_pad(text, stmt).encode())
            except psycopg.Error:
                return stmt.line
        return None
    except psycopg.Error:
        return None
    finally:
        if not conn.closed and not conn.broken:
            _rollback(conn)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return logs.redact(lines[0] if lines else exc.__class__.__name__)


def _rollback(conn: Connection) -> None:
    if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def sql_failed(exc: psycopg.Error, label: str, text: str, offset: int = 0, line: int | None = None) -> SqlFailed:
    """An exit-5 error naming the file, the line from PostgreSQL's error position, and its message."""
    position = exc.diag.statement_position
    if line is None and position and int(position) > offset:
        line = sqltext.line_of(text, int(position) - offset)
    if line is None and text:
        # No position (a missing relation, say): a lone statement's own line is still exact.
        statements = sqltext.split_statements(text)
        line = statements[0].line if len(statements) == 1 else None
    where = f"{label}:{line}" if line else label
    condition = DdlLockTimeout if exc.sqlstate == "55P03" else SqlFailed
    hint = "fix the file; its transaction was rolled back and nothing of it was applied"
    if exc.sqlstate == "42501":  # the grant is what is missing, not a fix of the file
        condition = SqlPrivilegeMissing
        hint = ("grant initjob's role the privilege named (PostgreSQL 15+ gives no CREATE on schema public to "
                "non-owners: GRANT CREATE ON SCHEMA public TO the role); its transaction was rolled back and "
                "nothing of it was applied (docs/deployment.md#privileges)")
    detail = exc.diag.message_detail
    return condition(
        f"{where}: {_first_line(exc)}" + (f" ({logs.redact(detail.splitlines()[0])})" if detail else ""),
        hint,
        file=label, line=line, sqlstate=exc.sqlstate, detail=exc.diag.message_detail,
        pg_hint=exc.diag.message_hint,
    )


# What a file may SET for the rest of the session (pg_dump writes most of these: search_path through
# set_config, lock_timeout = 0, statement_timeout = 0, check_function_bodies = false, ...): reset
# before each file, so that it starts where psql would start it and none of it leaks into the next
# file (a dumped lock_timeout = 0 turned off the DDL lock timeout of every file after it).
# client_encoding is left alone: the driver follows it.
FILE_RESET = ("RESET search_path; RESET lock_timeout; RESET statement_timeout; "
              "RESET idle_in_transaction_session_timeout; RESET check_function_bodies; RESET client_min_messages; "
              "RESET row_security; RESET default_tablespace; RESET default_table_access_method; RESET xmloption; "
              "RESET standard_conforming_strings")


def _lock_timeout_sql(seconds: float, local: bool = True) -> str:
    ms = max(int(seconds * 1000), 1)
    return f"SET {'LOCAL ' if local else ''}lock_timeout = {ms}"


LOCK_HINT = ("another session holds a lock on a table this file alters (`blockers` names it, with what to do); "
             "see docs/troubleshooting.md#who-is-in-the-way")


def _gave_up_on_lock(exc: BaseException) -> bool:
    return isinstance(exc, DdlLockTimeout)


# A DDL statement that gave up on a table lock (55P03) rolled back whole: wait, then run it again.
DDL_LOCK_RETRY = Policy("ddl-lock", on=_gave_up_on_lock, initial=0.5, maximum=8.0, jitter=0.2, attempts=5)


def with_lock_retries(label: str, action: Callable[[], None], policy: Policy = DDL_LOCK_RETRY) -> None:
    """Run ``action`` under the DDL-lock retry policy, saying before each retry what it waited for."""

    def tell(attempt: Attempt) -> None:
        blockers = progress.take_blockers(label)  # seen by progress.watch while the statement waited
        logs.warning("migration.lock_timeout", file=label, attempt=attempt.number, next_delay_s=attempt.next_delay,
                     blockers=blockers, hint=LOCK_HINT)

    try:
        policy.call(action, before_sleep=tell)
    except DdlLockTimeout as exc:  # every retry spent: name who was in the way
        raise exc.with_blockers(LOCK_HINT, progress.take_blockers(label)) from None


def transaction(conn: Connection, label: str, statements: Sequence[sql.Composable | str],
                lock_timeout: float | None = None) -> None:
    """BEGIN; statements; COMMIT as one message: the job's bookkeeping, baselines, recorded state."""
    parts = ["BEGIN"] + ([_lock_timeout_sql(lock_timeout)] if lock_timeout else [])
    parts += [s if isinstance(s, str) else s.as_string(conn) for s in statements] + ["COMMIT"]
    with guarded(conn, label, ""):
        conn.execute(";\n".join(parts).encode())


def commit_with(conn: Connection, label: str, statements: Sequence[sql.Composable]) -> None:
    """The open transaction's last statements and its COMMIT, as one message."""
    with guarded(conn, label, ""):
        conn.execute(";\n".join([s.as_string(conn) for s in statements] + ["COMMIT"]).encode())


def run_transactional(conn: Connection, label: str, body: str, ddl_lock_timeout: float,
                      trailer: list[sql.Composed], commit: bool = True) -> None:
    """BEGIN; lock timeout; body; trailer statements; COMMIT — as one message, one round trip.

    The session's defaults are restored first (``FILE_RESET``): a pg_dump-written file sets search_path
    to '' for the rest of the session, and the next file must not inherit that.
    """
    # The file's name in application_name goes in the same message: a SET of its own was a round trip per file.
    head = (f"BEGIN;\n{FILE_RESET};\n{progress.announcement(conn, label)}"
            f"{_lock_timeout_sql(ddl_lock_timeout)};\n")
    tail = "".join(";\n" + s.as_string(conn) for s in trailer)
    text = head + body + "\n" + tail + (";\nCOMMIT;" if commit else ";")
    with guarded(conn, label, body, offset=len(head), replay=[_lock_timeout_sql(ddl_lock_timeout)], announced=True):
        conn.execute(text.encode())


def apply_migration(conn: Connection, settings: ApplySettings, m: Migration,
                    finish: Callable[[], list[sql.Composed]] | None = None, resume_from: int = 0) -> int:
    """Apply one migration with its history row; ``finish`` adds statements to its last transaction."""
    start = time.monotonic()
    schema, by, ddl_lock_timeout = settings.history_schema, settings.applied_by, settings.ddl_lock_timeout
    if m.transactional:
        row = history.history_insert(schema, m.version, m.version_text, m.name, "migration", m.up.checksum,
                                     True, True, by)
        _file_with_row(conn, m.up, ddl_lock_timeout, row, finish)
    else:
        _apply_statements(conn, schema, m, ddl_lock_timeout, by, resume_from, finish)
    return int((time.monotonic() - start) * 1000)


def apply_repeatable(conn: Connection, settings: ApplySettings, f: SqlFile,
                     finish: Callable[[], list[sql.Composed]] | None = None) -> int:
    """One repeatable file in its own transaction with its row; ``finish`` adds statements to it."""
    start = time.monotonic()
    row = history.repeatable_upsert(settings.history_schema, f.path, f.checksum, settings.applied_by)
    _file_with_row(conn, f, settings.ddl_lock_timeout, row, finish)
    return int((time.monotonic() - start) * 1000)


def _file_with_row(conn: Connection, f: SqlFile, ddl_lock_timeout: float, row: sql.Composed,
                   finish: Callable[[], list[sql.Composed]] | None) -> None:
    """A file and its history row in one transaction, retried when a table lock was not granted in time."""

    def attempt() -> None:
        if finish is None:
            run_transactional(conn, f.path, f.text, ddl_lock_timeout, [row])
        else:
            run_transactional(conn, f.path, f.text, ddl_lock_timeout, [row], commit=False)
            commit_with(conn, f.path, finish())

    with_lock_retries(f.path, attempt)


def _apply_statements(conn: Connection, schema: str, m: Migration, ddl_lock_timeout: float, by: str,
                      resume_from: int, finish: Callable[[], list[sql.Composed]] | None) -> None:
    """A no-transaction file, statement by statement, its progress recorded after each one.

    A history row with ``success = false`` exists from the start, so a crash is never mistaken for
    success; the next run resumes at the first statement not recorded as done.
    """
    s = sql.Identifier(schema)
    started = time.monotonic()
    statements = sqltext.split_statements(m.up.text)
    inserted = True
    if resume_from == 0:
        # A run killed before its first statement finished left a row with nothing done: resume it too.
        row = history.history_insert(schema, m.version, m.version_text, m.name, "migration", m.up.checksum,
                                     False, False, by, timed=False)
        with guarded(conn, m.up.path, ""):
            inserted = conn.execute(sql.SQL("{} ON CONFLICT (version) DO NOTHING").format(row)).rowcount == 1
    if not inserted or resume_from > 0:
        logs.warning("migration.resumed", version=m.version_text, name=m.name, from_statement=resume_from + 1,
                     statements=len(statements))
        with guarded(conn, m.up.path, ""):
            conn.execute(sql.SQL("UPDATE {}.history SET checksum = %s WHERE version = %s").format(s),
                         (m.up.checksum, m.version))
    progress = sql.SQL("UPDATE {}.history SET statements_done = {} WHERE version = {}")
    for index in range(resume_from, len(statements)):
        stmt = statements[index]
        done = progress.format(s, sql.Literal(index + 1), sql.Literal(m.version))
        label = m.up.path

        def attempt(stmt: sqltext.Statement = stmt, done: sql.Composed = done, label: str = label) -> None:
            if sqltext.needs_no_transaction(stmt):
                _run_outside_transaction(conn, label, stmt, ddl_lock_timeout, m.up.text)
                with guarded(conn, label, ""):
                    conn.execute(done)
            else:
                run_transactional(conn, label, _pad(m.up.text, stmt), ddl_lock_timeout, [done])

        with_lock_retries(label, attempt)
    final: list[sql.Composed] = [
        sql.SQL("UPDATE {}.history SET success = true, applied_at = now(), execution_ms = {} WHERE version = {}"
                ).format(s, sql.Literal(int((time.monotonic() - started) * 1000)), sql.Literal(m.version))]
    # ``finish`` reads the catalog: it must run inside the transaction that records the result.
    with guarded(conn, m.up.path, ""):
        conn.execute("BEGIN")
    commit_with(conn, m.up.path, final + (finish() if finish else []))


def _pad(text: str, stmt: sqltext.Statement) -> str:
    """The statement preceded by blank lines, so PostgreSQL's error position maps to the file's line."""
    return "\n" * (stmt.line - 1) + stmt.text


def _run_outside_transaction(conn: Connection, label: str, stmt: sqltext.Statement, ddl_lock_timeout: float,
                             full_text: str) -> None:
    target = sqltext.concurrent_index_target(stmt)
    if target is not None and _leftover_index(conn, label, *target):
        return
    with guarded(conn, label, _pad(full_text, stmt)):
        conn.execute(_lock_timeout_sql(ddl_lock_timeout, local=False))
        try:
            conn.execute(_pad(full_text, stmt).encode())
        finally:
            if not conn.closed and not conn.broken:
                conn.execute("RESET lock_timeout")


def _leftover_index(conn: Connection, label: str, name: str, table: str) -> bool:
    """After a crash mid ``CREATE INDEX CONCURRENTLY``: True if the index is done, drop it if left invalid."""
    row = _index_state(conn, label, name, table)
    if row is None:
        return False
    if row[0]:
        logs.event("migration.statement_already_done", file=label, index=row[1])
        return True
    logs.warning("migration.invalid_index_dropped", file=label, index=row[1],
                 reason="a previous run died while building it concurrently")
    with guarded(conn, label, ""):
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(row[1])))
    return False


def _drop_failed_index(conn: Connection, label: str, stmt: str, failure: SqlFailed) -> SqlFailed:
    """A ``CREATE INDEX CONCURRENTLY`` that failed (duplicates written since the precheck, say) leaves an
    invalid index behind: it is dropped, and the error says so instead of "nothing was applied"."""
    statements = sqltext.split_statements(stmt)
    target = sqltext.concurrent_index_target(statements[0]) if len(statements) == 1 else None
    row = _index_state(conn, label, *target) if target is not None and not conn.broken else None
    if row is None or row[0]:
        return failure
    with guarded(conn, label, ""):
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(row[1])))
    logs.warning("sync.invalid_index_dropped", step=label, index=row[1], reason="its concurrent build failed")
    return failure.with_dropped_index(row[1])


def _index_state(conn: Connection, label: str, name: str, table: str) -> tuple[bool, str] | None:
    """(valid?, qualified name) of the index ``name`` beside ``table`` as a statement wrote them; None if absent."""
    with guarded(conn, label, ""):
        row = conn.execute(
            """
            SELECT i.indisvalid, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass(
                CASE WHEN position('.' in %s) > 0
                     THEN split_part(%s, '.', 1) || '.' || %s ELSE %s END)
            """,
            (table, table, name, name),
        ).fetchone()
    return (bool(row[0]), str(row[1])) if row else None


def run_files_in_transaction(conn: Connection, files: list[SqlFile], ddl_lock_timeout: float,
                             finish: Callable[[], list[sql.Composed]]) -> None:
    """Auto-sync of a fresh database: every schema file in one transaction with the recorded state."""
    lock = _lock_timeout_sql(ddl_lock_timeout)
    for index, f in enumerate(files):
        # One message per file: the first opens the transaction, each resets what an earlier file SET (no SET
        # leaks in) and names its file; separate round trips for these cost 3 per file.
        head = ("BEGIN;\n" if index == 0 else "") + f"{FILE_RESET};\n{progress.announcement(conn, f.path)}{lock};\n"
        replay = [lock] + [earlier.text for earlier in files[:index]]
        with guarded(conn, f.path, f.text, offset=len(head), replay=replay, announced=True):
            conn.execute((head + f.text).encode())
        logs.event("schema.file_applied", file=f.path)
    commit_with(conn, "state", finish())


# A scratch database is built in pieces of this many statements, each committed in its own message:
# at the end of every statement that took more than 15 locks, PostgreSQL walks every lock its
# transaction holds (LockReassignCurrentOwner, 76 % of the backend's time in a perf profile), so one
# transaction of n statements costs n² (a 9.8 MB tree, 10,300 tables: 238 s in one, 92 s in pieces).
SCRATCH_PIECE = 500


def pieces(text: str, size: int = SCRATCH_PIECE) -> list[tuple[int, str]]:
    """``text`` cut after the semicolon that ends every ``size``-th statement, one split of the whole
    text: ``(lines before the piece, piece)``, pieces that join to ``text``."""
    statements = sqltext.split_statements(text)
    out: list[tuple[int, str]] = []
    cut = before = 0
    pos, line = 0, 1  # the start of line ``line``: moves forward only
    for i in range(size - 1, len(statements) - 1, size):
        last = statements[i]
        while line < last.line:
            pos = text.index("\n", pos) + 1
            line += 1
        # Its text from its own line on (leading comments are not part of it), then its semicolon.
        end = text.index(";", text.index(last.text, max(pos, cut)) + len(last.text)) + 1
        out.append((before, text[cut:end]))
        before += text.count("\n", cut, end)
        cut = end
    out.append((before, text[cut:]))
    return out


def run_in_pieces(conn: Connection, label: str, text: str) -> None:
    """A file on a scratch database (autocommit): piece by piece, each committed, errors on the file's lines."""
    for before, piece in pieces(text):
        try:
            with guarded(conn, label, piece, replay=[]):  # what came before is committed: nothing to replay
                conn.execute(piece.encode())
        except SqlFailed as exc:
            if exc.line is None or not before:
                raise
            # The piece's line, as the file's: a new error (errors are not changed once raised).
            raise exc.on_line(exc.line + before,
                              exc.reason.replace(f"{label}:{exc.line}:", f"{label}:{exc.line + before}:", 1)) from None


def run_down(conn: Connection, settings: ApplySettings, row: Applied, m: Migration,
             extra: Sequence[sql.Composed] = ()) -> None:
    """A down file and the removal of its history row (and ``extra``: the tool's), in one transaction."""
    assert m.down is not None
    down, schema = m.down, settings.history_schema
    trailer: list[sql.Composed] = [
        history.history_delete(schema, row.version),
        history.event_insert(schema, "rollback", settings.applied_by, row.version,
                             {"name": row.name, "file": down.path}),
        *extra,
    ]
    if down.text.lstrip().startswith("-- initjob:no-transaction"):
        for stmt in sqltext.split_statements(down.text):
            _run_outside_transaction(conn, down.path, stmt, settings.ddl_lock_timeout, down.text)
        transaction(conn, down.path, trailer)
        return
    with_lock_retries(down.path, lambda: run_transactional(conn, down.path, down.text, settings.ddl_lock_timeout,
                                                           trailer))


def run_batch(conn: Connection, batch: Sequence[tuple[str, str, bool]], ddl_lock_timeout: float) -> None:
    """One batch of a plan: its ``(object, sql, transactional)`` steps in one transaction when
    transactional, else statement by statement.  No retry: ``run_batches`` adds that."""
    if batch[0][2]:
        # A function body may call one created later in the plan: bodies are checked when called.
        head = "BEGIN;\n" + _lock_timeout_sql(ddl_lock_timeout) + ";\nSET LOCAL check_function_bodies = off;\n"
        parts = [stmt.rstrip().rstrip(";") for _, stmt, _ in batch]
        label = "plan step " + ", ".join(o for o, _, _ in batch)
        try:
            replay = [_lock_timeout_sql(ddl_lock_timeout), "SET LOCAL check_function_bodies = off"]
            with guarded(conn, label, ";\n".join(parts), offset=len(head), replay=replay):
                conn.execute((head + ";\n".join(parts) + ";\nCOMMIT").encode())
        except SqlFailed as exc:
            raise _named_step(exc, label, batch, parts) from None
        return
    for obj, stmt, _ in batch:  # a step that cannot share a transaction still waits for locks briefly
        try:
            with guarded(conn, f"plan step {obj}", stmt):
                conn.execute(_lock_timeout_sql(ddl_lock_timeout, local=False).encode())
                try:
                    conn.execute(stmt.encode())
                finally:
                    if not conn.closed and not conn.broken:
                        conn.execute("RESET lock_timeout")
        except SqlFailed as exc:
            failure = _drop_failed_index(conn, f"plan step {obj}", stmt, exc)
            raise _named_step(failure, f"plan step {obj}", [(obj, stmt, False)], [stmt]) from None


def _named_step(exc: SqlFailed, label: str, batch: Sequence[tuple[str, str, bool]], parts: list[str]) -> SqlFailed:
    """A failed plan step named by its object, not by a line of a file that does not exist."""
    line = exc.line
    where = f"{label}:{line}" if line else label
    message = exc.reason[len(where) + 2:] if exc.reason.startswith(where + ": ") else exc.reason
    index, first = 0, 1
    for i, part in enumerate(parts):  # the statement holding the error's line (parts joined by ";\n")
        if line is not None and line >= first:
            index = i
        first += part.count("\n") + 1
    obj = batch[index][0] if line is not None or len(batch) == 1 else None
    hint = exc.hint
    if type(exc) is SqlFailed:
        hint = ("the live data or objects do not fit this step: fix the data, or sql/schema/ (see `initjob plan`); "
                "its transaction was rolled back and nothing of it was applied")
    step = f"plan step {obj}" if obj else f"a plan step among {', '.join(o for o, _, _ in batch[:5])}"
    return exc.in_plan_step(f"{step}: {message}", hint, obj)


def run_batches(conn: Connection, batches: Sequence[Sequence[tuple[str, str, bool]]], ddl_lock_timeout: float,
                ) -> list[str]:
    """An auto-sync plan in its own order, each batch by ``run_batch`` under the DDL-lock retry policy.
    Returns the objects applied.

    On a failure the error names the steps that were committed by earlier batches (``committed``):
    a step that cannot share the transaction is never hidden behind "nothing was applied".
    """
    done: list[str] = []
    for batch in batches:
        try:
            with_lock_retries("plan", functools.partial(run_batch, conn, batch, ddl_lock_timeout))
        except SqlFailed as exc:
            failure = exc.with_committed(done)
            if done:
                # Steps that could not share the transaction stay applied: say exactly which.
                logs.warning("sync.partially_applied", applied=done, not_applied=sum(map(len, batches)) - len(done),
                             note="the next run compares again from what the database now holds")
                failure = failure.with_hint(f"{len(done)} earlier step(s) were committed and stay: "
                                            f"{', '.join(done[:10])}; the next run plans again from what the "
                                            "database holds")
            raise failure from exc.__cause__
        done.extend(obj for obj, _, _ in batch)
    return done
