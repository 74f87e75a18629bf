"""A/B of a fresh run between source trees of initjob, beside its references, alternating.

    .venv/bin/python bench/fresh_ab.py OLD_TREE [NEW_TREE] [--migrations 100,500] [--tables 10,100] [--reps 7]

Issue 24's two fresh-run goals, measured where a change to the apply path shows first:

- N small migrations (bench/harness.py's workload) on a fresh database: each tree's ``initjob run``
  against dbmate (``--migration-lock``, as bench/run.py runs it). Goal: <= 1.0x dbmate.
- a fresh auto-sync apply of a generated tree (bench/gentree.py, one file) on an empty database:
  each tree against the Python floor (``python -c "import psycopg; psycopg.connect(URL).execute('select 1')"``)
  and ``psql -1 -f`` of the same file. Goal: <= 1.2x (floor + psql), the sum of the two medians.

A tree is a directory holding an ``initjob/`` package (``git archive REV initjob | tar -x -C DIR``);
with one tree given, this checkout is the second. Each tree is compiled first (``compileall``), as the
image ships it. One throwaway server; every sample gets a new database (created and checkpointed
untimed); each round runs every series once, the order rotating. Prints medians, min and max, each
ratio, the median client CPU (user + sys of the process: it hardly moves with the load, which the wall
times do), and the load average before and after each workload.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gentree  # noqa: E402  (bench/, this script's directory, is on sys.path)
from harness import FLOOR, small_migrations  # noqa: E402

from devtools import pgserver  # noqa: E402


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


# The client CPU (user + sys) of the last sample: unlike the wall time it hardly moves with the load, and
# under load it is what competes with the server for the cores.
_LAST_CPU = [0.0]


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _LAST_CPU[0] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} exited {done.returncode}: {done.stderr.decode()[-1500:]}")
    return elapsed


class Server:
    def __init__(self, server: pgserver.PgServer) -> None:
        self.server = server

    def fresh(self, name: str) -> str:
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute("CHECKPOINT")
        return self.server.url(name)


CPU: dict[str, list[float]] = {}  # each series' client CPU per sample, beside its wall times


def rounds(reps: int, series: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    names = list(series)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out[name].append(series[name]())
            CPU.setdefault(name, []).append(_LAST_CPU[0])
    return out


def show(title: str, runs: dict[str, list[float]], ref: float, ref_name: str, goal: float,
         load_before: float) -> None:
    print(f"\n{title}  (load {load_before:.2f} -> {os.getloadavg()[0]:.2f})")
    for label, samples in runs.items():
        med = statistics.median(samples)
        cpu = statistics.median(CPU.pop(label, [0.0]))
        print(f"  {label:>44}  median {med * 1000:8.1f} ms  min {min(samples) * 1000:8.1f}  "
              f"max {max(samples) * 1000:8.1f}  x {ref_name} {med / ref:.2f}  client cpu {cpu * 1000:6.1f} ms")
    print(f"  goal: initjob <= {goal}x {ref_name} ({ref * 1000:.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path)
    ap.add_argument("--migrations", type=sizes, default=[100, 500])
    ap.add_argument("--tables", type=sizes, default=[10, 100])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    trees = [t.resolve() for t in args.trees] if len(args.trees) > 1 else [args.trees[0].resolve(), ROOT]
    for tree in trees:
        compileall.compile_dir(tree / "initjob", quiet=1)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "PYTHONDONTWRITEBYTECODE"))}
    dbmate = shutil.which("dbmate", path=str(Path(sys.executable).parent)) or shutil.which("dbmate")
    psql = shutil.which("psql") or "/usr/bin/psql"
    print(f"fresh runs, {args.reps} alternating rounds; trees: " + ", ".join(str(t) for t in trees))
    with pgserver.running_server(conf={"max_locks_per_transaction": "1024"}) as pg, \
            tempfile.TemporaryDirectory() as tmp:
        server, work = Server(pg), Path(tmp)

        def initjob(tree: Path, sql_dir: Path, migrations: bool, db: str) -> Callable[[], float]:
            def one() -> float:
                env = {**base, "PYTHONPATH": str(tree), "DATABASE_URL": server.fresh(db),
                       "USE_MIGRATIONS": "true" if migrations else "false", "INITJOB_SQL_DIR": str(sql_dir),
                       "INITJOB_LOG_FORMAT": "json", "HOSTNAME": "bench"}
                # Run from the tree: `python -m` puts the working directory first on sys.path, before PYTHONPATH.
                return timed([sys.executable, "-m", "initjob", "run"], env, cwd=tree)
            return one

        for n in args.migrations:
            sql_dir, mate = work / f"ij{n}", work / f"dm{n}"
            (sql_dir / "migrations").mkdir(parents=True)
            mate.mkdir()
            for m in small_migrations(n):
                (sql_dir / "migrations" / f"{m.version:05d}_{m.name}.up.sql").write_text(m.up + "\n")
                (mate / f"{m.version:05d}_{m.name}.sql").write_text(
                    f"-- migrate:up\n{m.up}\n\n-- migrate:down\n{m.down}\n")
            series = {f"initjob {t.name}": initjob(t, sql_dir, True, f"m{n}_{i}") for i, t in enumerate(trees)}
            if dbmate:
                def mate_one(n: int = n, mate: Path = mate) -> float:
                    url = server.fresh(f"m{n}_dbmate").replace("postgresql://", "postgres://") + "?sslmode=disable"
                    return timed([dbmate, "--url", url, "--migrations-dir", str(mate), "--no-dump-schema",
                                  "--migration-lock", "up"], base)
                series["dbmate"] = mate_one
            load = os.getloadavg()[0]
            runs = rounds(args.reps, series)
            ref = statistics.median(runs["dbmate"]) if "dbmate" in runs else 1.0
            show(f"{n} small migrations on a fresh database", runs, ref, "dbmate", 1.0, load)

        for n in args.tables:
            tree_dir = work / f"tree{n}"
            gentree.write_tree(tree_dir, n, 1)
            files = sorted((tree_dir / "schema").iterdir())
            series = {f"initjob {t.name}": initjob(t, tree_dir, False, f"t{n}_{i}") for i, t in enumerate(trees)}

            def floor_one(n: int = n) -> float:
                return timed([sys.executable, "-c", FLOOR, server.fresh(f"t{n}_floor")], base)

            def psql_one(n: int = n, files: list[Path] = files) -> float:
                argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", server.fresh(f"t{n}_psql")]
                return timed(argv + [a for f in files for a in ("-f", str(f))], base)

            series |= {"python floor": floor_one, "psql -1 -f": psql_one}
            load = os.getloadavg()[0]
            runs = rounds(args.reps, series)
            ref = statistics.median(runs["python floor"]) + statistics.median(runs["psql -1 -f"])
            show(f"fresh auto-sync apply, {n} tables in 1 file", runs, ref, "(floor + psql)", 1.2, load)


if __name__ == "__main__":
    main()
