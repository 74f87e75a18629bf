"""A/B of the no-op run between two source trees of initjob, with the floor, alternating.

    .venv/bin/python bench/noop_ab.py OLD_TREE [NEW_TREE] [--applied 500] [--reps 15]

Each tree is a directory holding an ``initjob/`` package (``git archive REV initjob | tar -x -C DIR``
makes one). One throwaway server, one database per tree, each brought to N applied migrations by its
own tree; then rounds of: floor (``python -c "import psycopg; psycopg.connect(URL).execute('select 1')"``),
old no-op, new no-op, in rotating order. Prints medians, min and max, and each tree's ratio to the floor.
Used for refactors that must not make the no-op slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import FLOOR  # noqa: E402  (bench/, this script's directory, is on sys.path)

from devtools import pgserver  # noqa: E402


def chain(root: Path, n: int) -> Path:
    mig = root / "migrations"
    mig.mkdir(parents=True)
    for i in range(1, n + 1):
        (mig / f"{i:04d}_t{i}.up.sql").write_text(f"CREATE TABLE t{i} (id int PRIMARY KEY, v text);\n")
    return root


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path)
    ap.add_argument("--applied", type=int, default=500)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    trees = [t.resolve() for t in args.trees] if len(args.trees) > 1 else [args.trees[0].resolve(), ROOT]
    with pgserver.running_server() as server, tempfile.TemporaryDirectory() as tmp:
        sql_dir = chain(Path(tmp) / "sql", args.applied)
        urls, envs = {}, {}
        for index, tree in enumerate(trees):
            name = f"ab{index}"
            with psycopg.connect(server.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            urls[tree] = server.url(name)
            envs[tree] = {**os.environ, "PYTHONPATH": str(tree), "DATABASE_URL": urls[tree], "USE_MIGRATIONS": "true",
                          "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_FORMAT": "json"}
            timed([sys.executable, "-m", "initjob", "run"], envs[tree], cwd=tree)
        runs: dict[str, list[float]] = {"floor": [], **{str(t): [] for t in trees}}
        # Each tree runs from its own directory: `python -m` puts the working directory first on sys.path,
        # before PYTHONPATH, so run from elsewhere both series would import the same initjob.
        jobs = [("floor", [sys.executable, "-c", FLOOR, urls[trees[0]]], dict(os.environ), ROOT)]
        jobs += [(str(t), [sys.executable, "-m", "initjob", "run"], envs[t], t) for t in trees]
        for rep in range(args.reps):
            for label, cmd, env, cwd in jobs[rep % len(jobs):] + jobs[:rep % len(jobs)]:
                runs[label].append(timed(cmd, env, cwd))
    floor = statistics.median(runs["floor"])
    print(f"no-op run, {args.applied} applied, {args.reps} alternating rounds, load {os.getloadavg()[0]:.1f}")
    for label, samples in runs.items():
        med = statistics.median(samples)
        print(f"{label:>40}  median {med * 1000:7.1f} ms  min {min(samples) * 1000:7.1f}  "
              f"max {max(samples) * 1000:7.1f}  x floor {med / floor:.2f}")


if __name__ == "__main__":
    main()
