"""`verify` and the no-op `run` on one large generated tree, against the Python floor, alternating.

    .venv/bin/python bench/bench_verify.py [--tables 5000] [--files 100] [--reps 7] [--major 15]

A shorter companion of the growth curves (bench/curves.py) for the one point that needs a quiet
machine most: the curves build each large tree many times (fresh applies, plan shadows), this builds
it once with ``initjob run`` and then times, in rotating order, the floor (``python -c "import
psycopg; psycopg.connect(URL).execute('select 1')"``), ``initjob verify`` and the no-op ``initjob
run``. Prints median, min and max of each, their ratio to the floor, and the load average.
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
sys.path.insert(0, str(ROOT / "bench"))

import gentree  # noqa: E402
from harness import FLOOR  # noqa: E402  (bench/, this script's directory, is on sys.path)

from devtools.pgserver import available_bindirs, running_server, server_major  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    took = time.monotonic() - start
    if done.returncode:
        raise SystemExit(f"{argv[-1]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--major", type=int, default=15)
    opts = parser.parse_args(argv)
    bindir = {server_major(b): b for b in available_bindirs()}[opts.major]
    # As bench/run.py: a fresh apply of thousands of tables is one transaction, one lock per object.
    with running_server(bindir, conf={"max_locks_per_transaction": "1024"}) as srv, \
            tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(srv.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("bench_verify")))
        url = srv.url("bench_verify")
        tree = gentree.write_tree(Path(tmp) / "sql", opts.tables, opts.files)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))},
               "DATABASE_URL": url, "INITJOB_SQL_DIR": str(Path(tmp) / "sql"), "INITJOB_LOG_FORMAT": "json"}
        build = timed([sys.executable, "-m", "initjob", "run"], env)
        commands = {"floor": [sys.executable, "-c", FLOOR, url],
                    "verify": [sys.executable, "-m", "initjob", "verify"],
                    "no-op run": [sys.executable, "-m", "initjob", "run"]}
        samples: dict[str, list[float]] = {name: [] for name in commands}
        load = [os.getloadavg()[0]]
        for rep in range(opts.reps):
            names = list(commands)
            for name in names[rep % len(names):] + names[: rep % len(names)]:  # the order rotates
                samples[name].append(timed(commands[name], env))
        load.append(os.getloadavg()[0])
    floor = statistics.median(samples["floor"])
    print(f"pg{srv.major}: {opts.tables} tables in {opts.files} files ({tree.bytes / 1e6:.1f} MB), built by "
          f"initjob run in {build:.1f} s; {opts.reps} rounds, load {load[0]:.1f} -> {load[1]:.1f}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"  {name:10} median {med:.3f} s  (min {min(values):.3f}, max {max(values):.3f})  "
              f"{med / floor:.2f}x the floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
