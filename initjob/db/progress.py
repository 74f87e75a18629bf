"""Signs of life from a long statement: progress, heartbeats and the sessions in its way.

``watch(conn, label)`` wraps the execution of a statement. While it runs longer than a moment, a
daemon thread reads, on a second connection (the first one is busy with the statement),

* whether the statement waits for a lock, and then who holds it (``statement.blocked``, at once);
* every ``interval`` seconds, its progress view (``statement.progress``: phase, done/total,
  percent, elapsed, an estimate of the time left) or, for statements without one, a heartbeat
  (``statement.running``: elapsed, what it waits on).

Text logs on a terminal get one live line instead of the events. A statement that finishes in a
moment never opens the second connection. ``take_blockers`` hands the last blockers seen for a
file to the lock-timeout retry, whose own statement was cancelled and can no longer be asked.

Connections are registered by ``register`` where they are made; an unregistered one is not watched.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg import sql

from initjob import logs
from initjob.db import appname

if TYPE_CHECKING:
    from initjob.db import activity

Connection = psycopg.Connection[Any]
FIRST_LOOK_S = 0.25  # lock waits are looked for after this, then at doubling intervals up to MAX_LOOK_S
MAX_LOOK_S = 1.0
POLL_S = FIRST_LOOK_S / 2  # how often the watcher thread looks for a statement past its first look
SIDE_CONNECT_TIMEOUT_S = 5
JOIN_S = 1.0  # a reader stuck on a silent network is left behind (a daemon): the statement is what matters


class _Watched:
    """What ``watch`` needs to know about a registered connection.

    A plain class, not a dataclass: it is made on every run (the no-op path too), is never compared
    or shown, and ``file`` changes; a generated dataclass cost more import time than its uses.
    The default repr shows no field, so the conninfo (a password, maybe) stays out of logs.
    """

    __slots__ = ("app_base", "conninfo", "file", "interval")

    def __init__(self, conninfo: str, interval: float, app_base: str | None, file: str | None = None) -> None:
        self.conninfo = conninfo
        self.interval = interval
        self.app_base = app_base  # our application_name, None when the user chose one
        self.file = file


_REGISTRY: weakref.WeakKeyDictionary[Connection, _Watched] = weakref.WeakKeyDictionary()
_BLOCKERS: dict[str, list[dict[str, Any]]] = {}
_BLOCKERS_LOCK = threading.Lock()


def register(conn: Connection, conninfo: str, interval: float) -> None:
    """Watch statements run on ``conn``; ``conninfo`` opens the side connection, ``interval`` paces the events."""
    base, _ = appname.split_application_name(conn.info.parameter_status("application_name"))
    _REGISTRY[conn] = _Watched(conninfo, interval, base)


def take_blockers(label: str) -> list[dict[str, Any]]:
    """The blockers last seen while ``label`` waited for a lock (forgotten once taken)."""
    with _BLOCKERS_LOCK:
        return _BLOCKERS.pop(label, [])


@contextmanager
def watch(conn: Connection, label: str, announce: bool = True) -> Iterator[None]:
    """Report on the statement run inside this block; ``announce`` names ``label`` in application_name."""
    watched = _REGISTRY.get(conn)
    if watched is None:
        yield
        return
    if announce:
        _announce(conn, watched, label)
    job = _WATCHER.begin(watched, conn.info.backend_pid, label)
    try:
        yield
    finally:
        _WATCHER.end(job)


def announcement(conn: Connection, label: str) -> str:
    """``SET application_name = ...;`` naming ``label``, to send with the file's own statements (no round
    trip of its own), or "" for a connection that is not watched or named by the user."""
    watched = _REGISTRY.get(conn)
    if watched is None or watched.app_base is None:
        return ""
    # Inside the file's transaction the SET is undone with it: what the server shows is no longer known here.
    watched.file = None
    return sql.SQL("SET application_name = {};\n").format(sql.Literal(_name(watched, label))).as_string(conn)


def announce(conn: Connection, label: str) -> None:
    """Name ``label`` in application_name now, in a statement of its own."""
    watched = _REGISTRY.get(conn)
    if watched is not None:
        try:
            _announce(conn, watched, label)
        except psycopg.Error as exc:  # a courtesy: never what a run fails on, nor what hides its error
            logs.debug("statement.announce_failed", file=label, reason=logs.redact(str(exc).splitlines()[0]))


def _name(watched: _Watched, label: str) -> str:
    assert watched.app_base is not None
    host, _, release = watched.app_base.split("/", 1)[1].partition("/")
    return appname.application_name(host, release or None, PurePosixPath(label).name)


def _announce(conn: Connection, watched: _Watched, label: str) -> None:
    """Let ``initjob status`` elsewhere see which file runs: our application_name gets its name.

    application_name, not a row: it costs no write, is visible to every session at once (a row
    would wait for the migration's commit), and vanishes with the session, so a killed pod leaves
    nothing stale behind. A name the user chose in DATABASE_URL is left alone.
    """
    file = PurePosixPath(label).name
    if watched.app_base is None or watched.file == file:
        return
    conn.execute(sql.SQL("SET application_name = {}").format(sql.Literal(_name(watched, label))))
    watched.file = file


class _Job:
    """One watched statement: the watcher thread takes it up once it has run for a moment."""

    __slots__ = ("done", "label", "pid", "start", "state", "stop", "watched")

    def __init__(self, watched: _Watched, pid: int, label: str) -> None:
        self.watched, self.pid, self.label = watched, pid, label
        self.start = time.monotonic()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.state = "waiting"  # -> "ended" by the statement's side, or "reporting" by the watcher


class _Watcher:
    """One daemon thread for the whole run, reused by every statement, that polls for a statement run
    past its first look. The statement's side only sets and clears the current job: a thread started and
    joined per statement, or woken twice per statement, cost the main thread a scheduler round each
    (0.9 s of 2,000 small migrations under cProfile at load 17). A statement that ends within the first
    look never waits for this thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.job: _Job | None = None
        self.thread: threading.Thread | None = None

    def begin(self, watched: _Watched, pid: int, label: str) -> _Job:
        job = _Job(watched, pid, label)
        self.job = job  # seen at the watcher's next poll: one assignment, no lock, no wake-up
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self.loop, name="initjob-progress", daemon=True)
            self.thread.start()
        return job

    def end(self, job: _Job) -> None:
        job.stop.set()
        with self.lock:
            reporting = job.state == "reporting"
            job.state = "ended"
            if self.job is job:
                self.job = None
        if reporting:  # its events and blockers are in before the caller goes on
            job.done.wait(JOIN_S)

    def loop(self) -> None:
        while True:
            job = self.job
            time.sleep(POLL_S if job is None else min(POLL_S, job.watched.interval / 2))
            job = self.job
            if job is None or time.monotonic() - job.start < min(FIRST_LOOK_S, job.watched.interval):
                continue  # nothing runs, or not for long yet
            with self.lock:
                if job.state != "waiting":
                    continue
                job.state = "reporting"
            try:
                _guarded_loop(job.watched, job.pid, job.label, job.stop, job.start)
            finally:
                job.done.set()


_WATCHER = _Watcher()


def _guarded_loop(watched: _Watched, pid: int, label: str, stop: threading.Event, start: float) -> None:
    try:
        _Reporter(watched, pid, label, start).loop(stop)
    except Exception as exc:  # progress is a courtesy: it must never be what fails a run
        logs.debug("statement.watch_stopped", file=label, reason=logs.redact(f"{exc.__class__.__name__}: {exc}"))


class _Reporter:
    """The side connection's loop for one statement, and what it remembers between readings."""

    def __init__(self, watched: _Watched, pid: int, label: str, start: float) -> None:
        self.watched, self.pid, self.label = watched, pid, label
        self.start = start  # when the statement began, a first look before this reporter
        self.phase: tuple[str, float, int] | None = None  # (phase, when first seen, done then)
        self.blocked_by: frozenset[int] = frozenset()
        self.live = False

    def loop(self, stop: threading.Event) -> None:
        # The views are read only here, once a statement runs: `activity` stays off the no-op path,
        # which registers its connection but runs no statement under `watch`.
        from initjob.db import activity

        look = min(FIRST_LOOK_S, self.watched.interval)
        next_report = self.start + self.watched.interval
        side: Connection | None = None
        try:
            # The watcher waited the first look already: the first reading is taken at once.
            first = not stop.is_set()
            while first or not stop.wait(look):
                first = False
                look = min(look * 2, MAX_LOOK_S, self.watched.interval)
                if side is None:
                    side = psycopg.connect(self.watched.conninfo, autocommit=True, application_name="initjob-progress",
                                           connect_timeout=SIDE_CONNECT_TIMEOUT_S)
                wait_type, wait_event = activity.read_wait(side, self.pid)
                self.check_blockers(side, wait_type)
                if time.monotonic() >= next_report and not stop.is_set():
                    self.report(side, wait_type, wait_event)
                    next_report += self.watched.interval
        finally:
            if self.live:
                logs.live(None)
            if side is not None:
                side.close()

    def check_blockers(self, side: Connection, wait_type: str | None) -> None:
        """Name the sessions in our way, once per change of who they are."""
        from initjob.db import activity  # imported by `loop` already: off the no-op path

        blockers = activity.read_blockers(side, self.pid) if wait_type == "Lock" else []
        pids = frozenset(b.pid for b in blockers)
        if pids == self.blocked_by:
            return
        self.blocked_by = pids
        if not blockers:
            return
        fields = [b.as_fields() for b in blockers]
        with _BLOCKERS_LOCK:
            _BLOCKERS[self.label] = fields
        self.clear_live()
        logs.warning("statement.blocked", file=self.label, pid=self.pid, waited_s=self.elapsed(), blockers=fields,
                     guide="docs/troubleshooting.md#who-is-in-the-way")

    def report(self, side: Connection, wait_type: str | None, wait_event: str | None) -> None:
        from initjob.db import activity  # imported by `loop` already: off the no-op path

        progress = activity.read_progress(side, self.pid)
        if progress is None:
            fields: dict[str, Any] = {"file": self.label, "pid": self.pid, "elapsed_s": self.elapsed(),
                                      "waiting_on": f"{wait_type}:{wait_event}" if wait_type else None}
            name = "statement.running"
        else:
            fields = {"file": self.label, "pid": self.pid, "command": progress.command, "phase": progress.phase,
                      "relation": progress.relation, "done": progress.done, "total": progress.total,
                      "unit": progress.unit, "percent": progress.percent, "elapsed_s": self.elapsed(),
                      "eta_s": self.eta(progress)}
            name = "statement.progress"
        if logs.live(describe(name, fields)):
            self.live = True
        else:
            logs.event(name, **fields)

    def eta(self, progress: activity.Progress) -> float | None:
        """Seconds left in this phase at the rate seen since the phase began; None until there is a rate."""
        now, done = time.monotonic(), progress.done or 0
        if self.phase is None or self.phase[0] != progress.phase:
            self.phase = (progress.phase, now, done)
            return None
        _, since, done_then = self.phase
        if not progress.total or done <= done_then or now <= since:
            return None
        rate = (done - done_then) / (now - since)
        return round((progress.total - done) / rate, 1)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.start, 1)

    def clear_live(self) -> None:
        if self.live:
            logs.live(None)
            self.live = False


def describe(name: str, fields: dict[str, Any]) -> str:
    """The live line of a terminal: ``0005_x.up.sql  building index: scanning table  41.5%  …``."""
    file = PurePosixPath(str(fields["file"])).name
    if name == "statement.running":
        waiting = f", waiting on {fields['waiting_on']}" if fields.get("waiting_on") else ""
        return f"{file}  running for {fields['elapsed_s']:g}s{waiting}"
    amount = f"{fields['done']}/{fields['total']} {fields['unit']}" if fields["total"] else \
        f"{fields['done']} {fields['unit']}"
    percent = f"  {fields['percent']:g}%" if fields["percent"] is not None else ""
    eta = f", ~{fields['eta_s']:g}s left in this phase" if fields.get("eta_s") is not None else ""
    return f"{file}  {fields['command']}: {fields['phase']}  {amount}{percent}  ({fields['elapsed_s']:g}s{eta})"


# ---------------------------------------------------------------------------------------------
# Phases: signs of life from work that is not one watched statement (issue 20 item 7: a 10 MB tree
# was 194 s of no log line while the shadow was built, the snapshots read and compared, the state
# serialised). Innermost phase last; one heartbeat thread per outermost phase.

_PHASES: list[tuple[str, float]] = []


@contextmanager
def phase(conn: Connection, name: str) -> Iterator[None]:
    """While the block runs, ``phase.running`` (the innermost phase, its elapsed seconds) every
    interval of ``conn``'s registration; none for an unregistered connection.  Seconds in which a
    watched statement reports for itself (``statement.running``) are not told twice."""
    watched = _REGISTRY.get(conn)
    if watched is None:
        yield
        return
    entry = (name, time.monotonic())
    _PHASES.append(entry)
    stop, thread = threading.Event(), None
    if len(_PHASES) == 1:
        thread = threading.Thread(target=_beat, args=(watched.interval, stop), name="initjob-phase", daemon=True)
        thread.start()
    try:
        yield
    finally:
        _PHASES.remove(entry)
        if thread is not None:
            stop.set()
            thread.join(JOIN_S)


def _beat(interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        top = _PHASES[-1:]  # a copy: the phase may end between the look and the event
        job = _WATCHER.job
        if not top or (job is not None and job.state == "reporting"):
            continue
        name, start = top[0]
        logs.event("phase.running", phase=name, elapsed_s=round(time.monotonic() - start, 1))


P = ParamSpec("P")
R = TypeVar("R")


def phased(name: str) -> Callable[[Callable[Concatenate[Connection, P], R]], Callable[Concatenate[Connection, P], R]]:
    """``phase(conn, name)`` around a function whose first argument is the (registered) connection."""
    def wrap(fn: Callable[Concatenate[Connection, P], R]) -> Callable[Concatenate[Connection, P], R]:
        @functools.wraps(fn)
        def inner(conn: Connection, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with phase(conn, name):
                return fn(conn, *args, **kwargs)
        return inner
    return wrap
