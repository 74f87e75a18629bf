"""Figures measured by the reliability tests, for RELIABILITY.md.

Each figure is printed as one ``FIGURE {json}`` line (shown with ``pytest -s`` or ``-rP``) and, when
``INITJOB_FIGURES`` names a file, appended to it as a JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import psycopg


def record(row: str, **figures: Any) -> None:
    line = json.dumps({"row": row, **figures}, default=str, sort_keys=True)
    print(f"FIGURE {line}")
    path = os.environ.get("INITJOB_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def kill_all(procs: list[subprocess.Popen[str]]) -> None:
    """Kill what is still running and collect it: a failed test leaves no runner behind."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def initjob_backends(url: str, dbname: str, like: str | None = None) -> list[tuple[Any, ...]]:
    """(pid, state, query, wait_event_type, backend_xmin, xact_start) of initjob's sessions on ``dbname``."""
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute(
            "SELECT pid, state, query, wait_event_type, backend_xmin::text, xact_start FROM pg_stat_activity"
            " WHERE datname = %s AND application_name LIKE 'initjob/%%' AND (%s::text IS NULL OR query LIKE %s)",
            (dbname, like, like)).fetchall()
