"""A/B of planning alone between two source trees of initjob: the CPU time of ``plan_sync`` on the same
two schemas, which the load of a shared machine hardly moves (the wall time of a whole run does).

    .venv/bin/python bench/plan_ab.py OLD_TREE [NEW_TREE] [--tables 1000] [--changes 50] [--reps 9] [--rounds 5]
                                      [--read]

A tree is a directory holding an ``initjob/`` package (``git archive REV initjob | tar -x -C DIR``);
with one tree given, this checkout is the second. The schemas are those of ``bench/bench_plan.py``
(its 1,000 tables, and the same with its 50 changes), built once on one throwaway server: the live one
by ``initjob run`` of this checkout, the desired one by running the changed SQL. Then, rounds of: each
tree in a process of its own (the order rotating) reads both snapshots with its own catalog code and
plans ``--reps`` times; the first plan warms up and is left out. Prints, per tree, the median CPU time
of one plan over every sample, min and max, and the number of steps (the same on both, or the trees
plan differently and the times compare different work).

``--read`` times the other half instead: ``catalog.read_snapshot`` of the live schema, wall time (most of
it is the server's), each tree reading ``--reps`` times in its own session after one read to warm it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_plan import changes, initjob_run, uri  # noqa: E402
from bench_snapshot import schema_sql  # noqa: E402

from devtools.pgserver import running_server  # noqa: E402

# Run in each tree's own process (its initjob first on the path): both snapshots read, then plans timed.
_PLAN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import psycopg
from initjob.schema import catalog
from initjob.schema.diff import plan_sync
snaps = []
for url in sys.argv[2:4]:
    with psycopg.connect(url, autocommit=True) as conn:
        snaps.append(catalog.read_snapshot(conn, ["bench"]))
times, steps = [], 0
for _ in range(int(sys.argv[4]) + 1):
    start = time.process_time()
    steps = len(plan_sync(*snaps).steps)
    times.append(time.process_time() - start)
print(json.dumps({"seconds": times[1:], "count": steps, "from": catalog.__file__}))
"""

# The same for --read: the live snapshot read, wall time, in one session.
_READ = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import psycopg
from initjob.schema import catalog
times, rows = [], 0
with psycopg.connect(sys.argv[2], autocommit=True) as conn:
    for _ in range(int(sys.argv[4]) + 1):
        start = time.perf_counter()
        rows = len(catalog.read_snapshot(conn, ["bench"]).tables)
        times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times[1:], "count": rows, "from": catalog.__file__}))
"""


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path)
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--read", action="store_true", help="time read_snapshot of the live schema, not plan_sync")
    args = ap.parse_args(argv)
    trees = [t.resolve() for t in args.trees] if len(args.trees) > 1 else [args.trees[0].resolve(), ROOT]
    base = schema_sql(args.tables)
    changed = base + "\n" + "\n".join(changes(args.tables, args.changes))
    load_before = os.getloadavg()[0]
    # A fresh apply is one transaction: 5,000 tables take more locks than the default table holds.
    conf = {"max_locks_per_transaction": "1024"} if args.read else None
    with running_server(conf=conf) as srv, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(srv.url(), autocommit=True) as admin:
            for db in ("plan_live", "plan_desired"):
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        schema_dir = Path(tmp) / "sql" / "schema"
        schema_dir.mkdir(parents=True)
        (schema_dir / "schema.sql").write_text(base)
        initjob_run(uri(srv, "plan_live"), Path(tmp) / "sql")
        with psycopg.connect(srv.url("plan_desired"), autocommit=True) as conn:
            conn.execute(changed.encode())
        urls = [uri(srv, "plan_live"), uri(srv, "plan_desired")]
        samples: dict[Path, list[float]] = {t: [] for t in trees}
        steps: dict[Path, int] = {}
        for r in range(args.rounds):
            for tree in trees[r % len(trees):] + trees[:r % len(trees)]:
                done = subprocess.run([sys.executable, "-c", _READ if args.read else _PLAN, str(tree), *urls,
                                       str(args.reps)],
                                      capture_output=True, text=True, check=True, cwd=tmp)
                got = json.loads(done.stdout.strip().splitlines()[-1])
                if not got["from"].startswith(str(tree)):
                    raise SystemExit(f"{tree}: imported initjob from {got['from']}")
                samples[tree] += got["seconds"]  # CPU of a plan, or wall of a read
                steps[tree] = got["count"]
    what = ("read_snapshot of the live schema: wall time of one read" if args.read else
            f"plan_sync with {args.changes} changes: CPU time of one plan")
    print(f"{what}, {args.tables} tables, {args.rounds} rounds x {args.reps}, "
          f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    first = statistics.median(samples[trees[0]])
    for tree in trees:
        ss = samples[tree]
        med = statistics.median(ss)
        print(f"  {tree!s:40s} median {med * 1000:7.1f} ms  min {min(ss) * 1000:7.1f}  max {max(ss) * 1000:7.1f}"
              f"  x{med / first:.2f}  {steps[tree]} {'tables' if args.read else 'steps'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
