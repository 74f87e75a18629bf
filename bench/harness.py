"""What bench/run.py and bench/curves.py share: the workload's values, one timed sample, one tool,
and the part of the running bench that the curves use (``Runner``).

Its own module so that the two scripts do not import each other: run.py imports curves.py and this;
curves.py imports this only.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# The Python floor every goal is held against: a process that imports psycopg, connects to the URL
# given as its one argument and runs one query. (``python -c FLOOR URL``.)
FLOOR = "import psycopg, sys; psycopg.connect(sys.argv[1]).execute('select 1')"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


def small_migrations(n: int) -> list[Migration]:
    """n small migrations: create a table, add a column to it, index it, and again."""
    out = []
    for i in range(1, n + 1):
        k, step = divmod(i - 1, 3)
        t = f"t{k:05d}"
        if step == 0:
            up = (f"CREATE TABLE {t} (id bigint PRIMARY KEY, name text NOT NULL,"
                  f" created_at timestamptz NOT NULL DEFAULT now());")
            down, name = f"DROP TABLE {t};", f"create_{t}"
        elif step == 1:
            up, down, name = f"ALTER TABLE {t} ADD COLUMN note text;", f"ALTER TABLE {t} DROP COLUMN note;", \
                f"add_note_{t}"
        else:
            up, down, name = f"CREATE INDEX {t}_name_idx ON {t} (name);", f"DROP INDEX {t}_name_idx;", \
                f"index_{t}"
        out.append(Migration(i, name, up, down))
    return out


@dataclass
class Sample:
    seconds: float


class RunFailed(RuntimeError):
    pass


def run_timed(argv: list[str], env: dict[str, str], cwd: Path | None = None, check: bool = True) -> Sample:
    """Wall-clock time of one command, from fork to exit."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL)
        proc.wait()
        elapsed = time.perf_counter() - start
        if check and proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-1500:]
            raise RunFailed(f"{' '.join(argv[:3])}... exited {proc.returncode}: {tail}")
    return Sample(elapsed)


@dataclass
class Tool:
    """One migration tool: how to lay out a migration list for it, and how to run `up`."""

    name: str
    version: str = ""
    note: str = ""
    write: Callable[[Path, list[Migration]], None] = field(repr=False, default=lambda d, m: None)
    command: Callable[[Path, str], tuple[list[str], dict[str, str]]] = field(repr=False,
                                                                            default=lambda d, db: ([], {}))


class Runner(Protocol):
    """What ``curves.Curves`` needs of a running bench (``run.Bench``): its server, tools and rounds."""

    work: Path
    py: str
    initjob_argv: list[str]
    tools: dict[str, Tool]
    results: dict[str, Any]

    def url(self, db: str, scheme: str = ...) -> str: ...
    def create_db(self, name: str) -> None: ...
    def drop_db(self, name: str) -> None: ...
    def note(self, text: str) -> None: ...
    def save(self) -> None: ...
    def layout(self, tool: Tool, key: str, migrations: list[Migration]) -> Path: ...
    def run_cmd(self, argv: list[str], extra: dict[str, str]) -> Sample: ...
    def run_tool(self, tool: Tool, d: Path, db: str, check: bool = ...) -> Sample: ...
    def rounds(self, reps: int, names: list[str], one: Callable[[str, int], Sample | None]
               ) -> dict[str, list[Sample]]: ...
