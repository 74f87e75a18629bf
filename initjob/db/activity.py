"""What other sessions can see of a deploy, and what a deploy can see of other sessions.

Read from PostgreSQL's own views, never from a table of ours: a progress view, the sessions that
block ours (``pg_blocking_pids``), and the advisory lock holder with its ``application_name``.
Nothing here writes, so ``initjob status`` stays read-only and a killed pod leaves nothing stale:
everything it told the world vanishes with its session.  How our own sessions are named, which is
what makes them recognisable here, is ``appname``.

Query text read from ``pg_stat_activity`` goes through ``mask_literals`` before it is logged: a
simple-protocol statement carries its values inline (``WHERE email = 'a@b.c'``), and a log line
must never hold a value an application sent.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from initjob.db.appname import split_application_name

Connection = psycopg.Connection[Any]
QUERY_CHARS = 100
_STRING = re.compile(r"(?:[EeBbXxNnUu]&?)?'(?:[^']|'')*'")
_DOLLAR = re.compile(r"\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$.*?\$(?P=tag)?\$", re.S)
_NUMBER = re.compile(r"(?<![\w$.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


# ------------------------------------------------------------------ query text


def mask_literals(query: str | None, limit: int = QUERY_CHARS) -> str | None:
    """The first ``limit`` characters of ``query`` with its string and number literals as ``?``."""
    if query is None:
        return None
    text = _DOLLAR.sub("$?$", query)
    text = _STRING.sub("'?'", text)
    text = _NUMBER.sub("?", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ------------------------------------------------------------------ progress views


@dataclass(frozen=True)
class Progress:
    """One reading of a backend's progress view: what it does, how far, in which unit."""

    command: str
    phase: str
    relation: str | None
    done: int | None
    total: int | None
    unit: str

    @property
    def percent(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return round(100.0 * self.done / self.total, 1)


_CREATE_INDEX = """
SELECT command, phase, nullif(relid, 0)::regclass::text,
       CASE WHEN phase LIKE 'waiting%%' THEN lockers_done
            WHEN tuples_total > 0 AND phase NOT LIKE '%%scanning%%' THEN tuples_done ELSE blocks_done END,
       CASE WHEN phase LIKE 'waiting%%' THEN lockers_total
            WHEN tuples_total > 0 AND phase NOT LIKE '%%scanning%%' THEN tuples_total ELSE blocks_total END,
       CASE WHEN phase LIKE 'waiting%%' THEN 'sessions'
            WHEN tuples_total > 0 AND phase NOT LIKE '%%scanning%%' THEN 'tuples' ELSE 'blocks' END
FROM pg_stat_progress_create_index WHERE pid = %(pid)s"""


def _counted(view: str, phase: str, done: str, total: str, unit: str, fallback: str) -> str:
    """A view counting ``done`` of ``total`` ``unit``, or ``fallback`` tuples while it has no total."""
    return f"""
SELECT command, {phase}, nullif(relid, 0)::regclass::text,
       CASE WHEN {total} > 0 THEN {done} ELSE {fallback} END, nullif({total}, 0),
       CASE WHEN {total} > 0 THEN '{unit}' ELSE 'tuples' END
FROM {view} WHERE pid = %(pid)s"""  # noqa: S608 -- constants of this module, no input


_CLUSTER = _counted("pg_stat_progress_cluster", "phase", "heap_blks_scanned", "heap_blks_total", "blocks",
                    "heap_tuples_scanned")
_COPY = _counted("pg_stat_progress_copy", "type", "bytes_processed", "bytes_total", "bytes", "tuples_processed")


def read_progress(conn: Connection, pid: int) -> Progress | None:
    """What backend ``pid`` reports in a progress view, or None (a statement that has none)."""
    views = [_CREATE_INDEX, _CLUSTER] + ([_COPY] if conn.info.server_version >= 140000 else [])
    row = conn.execute("\nUNION ALL".join(views), {"pid": pid}).fetchone()
    if row is None:
        return None
    return Progress(row[0], row[1], row[2], _int(row[3]), _int(row[4]), row[5])


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------ who is in the way


@dataclass(frozen=True)
class Blocker:
    """A session holding a lock ours waits for, as far as ``pg_stat_activity`` shows it."""

    pid: int
    application_name: str | None
    user: str | None
    client: str | None
    backend_type: str | None
    state: str | None
    in_transaction_s: float | None
    in_state_s: float | None
    query: str | None
    advice: str

    def as_fields(self) -> dict[str, Any]:
        return asdict(self)


def read_wait(conn: Connection, pid: int) -> tuple[str | None, str | None]:
    """What backend ``pid`` waits on now, as (wait_event_type, wait_event); cheap: no lock manager."""
    row = conn.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def read_blockers(conn: Connection, pid: int) -> list[Blocker]:
    """The sessions ``pg_blocking_pids`` names for backend ``pid``, oldest transaction first."""
    rows = conn.execute(
        """
        SELECT b.pid, b.application_name, b.usename, host(b.client_addr), b.backend_type, b.state,
               extract(epoch FROM now() - b.xact_start), extract(epoch FROM now() - b.state_change), b.query
        FROM pg_stat_activity b
        WHERE b.pid = ANY (pg_blocking_pids(%s))
        ORDER BY b.xact_start NULLS LAST, b.pid
        """,
        (pid,),
    ).fetchall()
    return [Blocker(r[0], r[1], r[2], r[3], r[4], r[5], _seconds(r[6]), _seconds(r[7]), mask_literals(r[8]),
                    advice(r[0], r[4], r[5], r[1])) for r in rows]


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def advice(pid: int, backend_type: str | None, state: str | None, app: str | None) -> str:
    """What an operator can do about one blocker (docs/troubleshooting.md#who-is-in-the-way)."""
    if backend_type == "autovacuum worker":
        return "autovacuum: it gives way to DDL by itself unless it prevents wraparound; let it finish"
    if state is None:
        return (f"a session of another role (its details need pg_read_all_stats); "
                f"ask its owner, or pg_terminate_backend({pid})")
    if state.startswith("idle in transaction"):
        return (f"an application transaction left open: pg_terminate_backend({pid}); then fix the code "
                "that does not commit, and set idle_in_transaction_session_timeout")
    if app and app.startswith("initjob/"):
        return "another initjob run (another history schema?): let it finish"
    if state == "active":
        return (f"a long query: let it finish, or cancel it with pg_cancel_backend({pid}); "
                "a statement_timeout for that role keeps it from happening again")
    return f"holds a session-level lock while {state}: ask its owner, or pg_terminate_backend({pid})"


# ------------------------------------------------------------------ a deploy, seen from outside


def deploy_in_progress(conn: Connection, key: int) -> dict[str, Any] | None:
    """The session doing a deploy's work (it holds ``work_key(key)``; the lock ``key`` itself is held by
    an idle session of its own): who, since when, which file, how far."""
    from initjob.db.lock import work_key  # status only: the lock module stays off the no-op path

    row = _advisory_holder(conn, work_key(key)) or _advisory_holder(conn, key)
    return None if row is None else _from_row(conn, row)


def _advisory_holder(conn: Connection, key: int) -> Any:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return conn.execute(
        """
        SELECT a.pid, a.application_name, a.usename, host(a.client_addr), a.backend_start, a.state,
               a.query_start, a.wait_event_type, a.query
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = %s AND l.objid = %s
        """,
        ((unsigned >> 32) & 0xFFFFFFFF, unsigned & 0xFFFFFFFF),
    ).fetchone()


def _from_row(conn: Connection, row: Any) -> dict[str, Any]:
    pid = row[0]
    _, file = split_application_name(row[1])
    progress = read_progress(conn, pid)
    return {
        "pid": pid, "application_name": row[1], "user": row[2], "client": row[3],
        "since": row[4].isoformat() if row[4] else None, "file": file, "state": row[5],
        "statement_since": row[6].isoformat() if row[6] else None,
        "waiting_for_lock": row[7] == "Lock",
        "query": mask_literals(row[8]),
        "progress": None if progress is None else {**asdict(progress), "percent": progress.percent},
        "blockers": [b.as_fields() for b in read_blockers(conn, pid)] if row[7] == "Lock" else [],
    }


def deploy_lines(deploy: dict[str, Any] | None) -> list[str]:
    """``initjob status``'s text for ``deploy_in_progress``: empty when no deploy holds the lock."""
    if deploy is None:
        return []
    lines = [f"deploy in progress: pid {deploy['pid']} ({deploy['application_name'] or '-'}, "
             f"{deploy['user']}@{deploy['client'] or 'local'}) holds the lock; connected at {deploy['since']}",
             f"  file:     {deploy['file'] or '-'} (statement since {deploy['statement_since'] or '-'})"]
    p = deploy["progress"]
    if p:
        amount = f"{p['done']}/{p['total']} {p['unit']}" if p["total"] else f"{p['done']} {p['unit']}"
        lines.append(f"  progress: {p['command']}: {p['phase']} {amount}"
                     + (f" ({p['percent']:g}%)" if p["percent"] is not None else ""))
    for b in deploy["blockers"]:
        lines.append(f"  blocked by pid {b['pid']} ({b['application_name'] or '-'}, {b['user']}, "
                     f"{b['state']} for {b['in_state_s']}s): {b['advice']}")
    return lines
