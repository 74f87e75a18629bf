"""Growth curves (issue 15 item 5): how initjob's cost grows with the schema and the history, against
the floor and its peers, side by side in one run.

    ./dev bench --only curves            the full curves (sizes below)
    ./dev bench --smoke                  a tiny version of each curve, so this code cannot rot

Four curves (five tables: the migrations curve has the apply and the no-op), every point measured
in alternating rounds (the order rotating) on one server:

- ``tree_noop``: no-op ``initjob run`` (auto-sync) on generated trees (bench/gentree.py) in one file
  and in 100 files, against the Python floor ``python -c "import psycopg; psycopg.connect(URL)
  .execute('select 1')"``;
- ``tree_apply``: fresh auto-sync apply of the same trees against ``psql -1 -f`` of the same files;
- ``migrations``: N small migrations on a fresh database against dbmate, and the no-op with N
  applied against dbmate and the floor;
- ``verify_plan``: ``initjob verify`` and ``initjob plan`` on the large trees, with the floor.

Each point keeps every sample (median, min, max) and ``os.getloadavg()`` before and after it: on
a shared machine the load says how far to trust the seconds.  Results land in results.json under
"curves", as markdown tables (``markdown``) and as a log-log plot of time against size (``plot``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import fresh_parts
import gentree
from harness import FLOOR, Runner, Sample, small_migrations

from initjob.schema.token import floor_query

Command = tuple[list[str], dict[str, str]]  # argv and the environment added to the bench's

FULL = {"trees": [10, 100, 1000, 5000], "files": [1, 100], "migrations": [10, 100, 500, 2000],
        "verify_plan": [1000, 5000]}
SMOKE = {"trees": [3, 10], "files": [1, 4], "migrations": [3, 10], "verify_plan": [10]}
# Above these sizes a point gets half the rounds (at least 2): one round of the 1,000-table fresh apply
# runs four whole applies of a 0.8 MB tree, and a plan builds the tree in a shadow database every time.
BIG_TREE, BIG_HISTORY = 100, 500

# Each curve's title and x axis; the reference series of a point is chosen where it is measured.
CURVES = {
    "tree_noop": ("No-op `initjob run` (auto-sync) on a generated tree vs the Python floor", "tables"),
    "tree_apply": ("Fresh apply of a generated tree: auto-sync on an empty database vs `psql -1 -f`", "tables"),
    "migrations": ("N small migrations on a fresh database: initjob vs dbmate", "migrations"),
    "migrations_noop": ("No-op `initjob run` (migrations mode) with N applied vs dbmate and the floor", "migrations"),
    "verify_plan": ("`initjob verify` and `initjob plan` (auto-sync) on the large trees", "tables"),
}


# Issue 24's goals, printed beside each point: curve -> (limit, sizes it applies to, the reference series
# whose medians a series is held against, summed). A fresh apply is held against the floor plus psql on
# the same files: the Python process that any Python tool starts, and the SQL itself.
GOALS: dict[str, tuple[float, tuple[int, ...] | None, Callable[[str], tuple[str, ...]]]] = {
    "tree_noop": (1.2, None, lambda _name: ("python floor",)),
    "tree_apply": (1.2, (10, 100), lambda name: ("python floor", name.replace("initjob", "psql"))),
    "migrations": (1.0, (100, 500, 2000), lambda _name: ("dbmate",)),
}

# Series measured only to bound a goal, in the same rounds as the point they bound (kept out of the goals).
ROWS_ONCE = "python floor, rows once"  # the floor that also reads every row the catalog token digests, once
ONE_MIGRATION = "initjob, 1 migration"  # initjob's whole fixed cost on a fresh database, and one file
OWED = "owed parts"  # what a fresh run owes a promise, timed in-process (bench/fresh_parts.py)


def _bound_noop(_name: str, series: dict[str, dict[str, Any]]) -> tuple[float, str] | None:
    """What no no-op can go below: a Python process that connects and reads, once and counting only, the
    rows that prove no DDL happened (the catalog token's rows; a fresh backend, as at every pod start)."""
    if ROWS_ONCE not in series:
        return None
    return series[ROWS_ONCE]["median_s"] / series["python floor"]["median_s"], f"({ROWS_ONCE}) / (python floor)"


def _bound_migrations(_name: str, series: dict[str, dict[str, Any]]) -> tuple[float, str] | None:
    """What initjob cannot go below while keeping its promises: the floor, its work per file alone (N
    migrations less one, with one migration: the fixed costs cancel), and the parts a fresh run owes a
    promise (the lock's session, initjob's tables, the marker, the state recorded after one migration:
    with the per-file difference, the state after N), each done by initjob's own functions in a warm
    process; against dbmate. Without ``OWED`` (a run of an older bench), the floor and the files alone."""
    if not {ONE_MIGRATION, "python floor", "initjob", "dbmate"} <= series.keys():
        return None
    per_files = series["initjob"]["median_s"] - series[ONE_MIGRATION]["median_s"]
    owed = series[OWED]["median_s"] if OWED in series else 0.0
    return ((series["python floor"]["median_s"] + per_files + owed) / series["dbmate"]["median_s"],
            f"(python floor + initjob - {ONE_MIGRATION}{' + ' + OWED if OWED in series else ''}) / dbmate")


def _bound_apply(name: str, series: dict[str, dict[str, Any]]) -> tuple[float, str] | None:
    """What a fresh apply cannot go below while keeping its promises: the floor and psql, plus the parts
    a run owes them (the lock's session, initjob's tables, the marker, the recorded state), each done
    by initjob's own functions in a warm process, so no import and no decision is counted."""
    psql = name.replace("initjob", "psql")
    if not {OWED, "python floor", psql} <= series.keys():
        return None
    base = series["python floor"]["median_s"] + series[psql]["median_s"]
    return (base + series[OWED]["median_s"]) / base, f"(python floor + {psql} + {OWED}) / (python floor + {psql})"


BOUNDS: dict[str, Callable[[str, dict[str, dict[str, Any]]], tuple[float, str] | None]] = {
    "tree_noop": _bound_noop, "migrations": _bound_migrations, "tree_apply": _bound_apply}


def goals(curve: str, size: int, series: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each initjob series' ratio to its goal's reference at this point, whether the goal is met, and
    for a miss the measured bound beside it: the same ratio for a run with nothing initjob adds, which
    when above the limit says that no change to initjob can meet the goal at this point."""
    if curve not in GOALS or (GOALS[curve][1] is not None and size not in GOALS[curve][1]):
        return []
    limit, _sizes, against = GOALS[curve]
    out = []
    for name, s in series.items():
        refs = against(name)
        if not name.startswith("initjob") or name == ONE_MIGRATION or not all(r in series for r in refs):
            continue
        ratio = s["median_s"] / sum(series[r]["median_s"] for r in refs)
        g: dict[str, Any] = {"series": name, "against": " + ".join(refs), "ratio": round(ratio, 3),
                             "limit": limit, "met": ratio <= limit}
        bound = BOUNDS[curve](name, series) if curve in BOUNDS and ratio > limit else None
        if bound is not None:
            # A bound above the measurement it bounds is noise (what it times is part of what initjob does).
            g |= {"bound": round(bound[0], 3), "bound_of": bound[1], "bounded": limit < bound[0] <= ratio,
                  "noise": bound[0] > ratio}
        out.append(g)
    return out


def bound_text(g: dict[str, Any]) -> str:
    """A miss's bound, said: bounded (no run without initjob's own work meets the goal) or not."""
    if "bound" not in g:
        return ""
    verdict = ("bounded: no change to initjob meets it here" if g["bounded"] else
               "inconclusive: the bound is above the measurement (noise)" if g.get("noise") else "not bounded")
    return f"; bound {g['bound_of']} = x{g['bound']:.2f}, {verdict}"


def goal_text(g: dict[str, Any]) -> str:
    verdict = "met" if g["met"] else "MISSED"
    return f"{g['series']} x{g['ratio']:.2f} of ({g['against']}), goal <= {g['limit']}: {verdict}" + bound_text(g)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def psql_path() -> str | None:
    return shutil.which("psql") or ("/usr/bin/psql" if Path("/usr/bin/psql").exists() else None)


def db_name(*parts: object) -> str:
    return "_".join(str(p) for p in parts).replace("-", "_").replace(" ", "_").replace(",", "")


class Curves:
    """The curves, measured through a running bench (``run.Bench``: its server, tools and round-robin)."""

    def __init__(self, bench: Runner, sizes: dict[str, list[int]], reps: int) -> None:
        self.bench = bench
        self.sizes = sizes
        self.reps = reps
        self.root = bench.work / "curves"
        self.data: dict[str, Any] = bench.results.setdefault("curves", {})
        self.data["sizes"] = sizes
        self.data["trees"] = {}

    # ------------------------------------------------------------------ plumbing

    def floor(self, db: str) -> Command:
        return [self.bench.py, "-c", FLOOR, self.bench.url(db)], {}

    def rows_once(self, db: str) -> Command:
        """The floor, its one query reading every row the catalog token digests, counting only."""
        query = floor_query().as_string(None)
        code = "import psycopg, sys; psycopg.connect(sys.argv[1]).execute(sys.argv[2], {'schemas': [sys.argv[3]]})"
        return [self.bench.py, "-c", code, self.bench.url(db), query, gentree.SCHEMA], {}

    def initjob(self, command: str, sql_dir: Path, db: str) -> Command:
        """An initjob command in auto-sync mode (the trees are sql/schema/ layouts)."""
        return [*self.bench.initjob_argv, command], {
            "DATABASE_URL": self.bench.url(db), "USE_MIGRATIONS": "false",
            "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_FORMAT": "json"}

    def timed(self, cmd: Command) -> Sample:
        return self.bench.run_cmd(*cmd)

    def point(self, curve: str, size: int, names: list[str], one: Callable[[str, int], Sample | None], reps: int,
              ref: str) -> None:
        """One point of a curve: ``reps`` alternating rounds over ``names``, with the load around them."""
        before = load()
        started = time.monotonic()
        samples = self.bench.rounds(reps, names, one)
        after = load()
        series = {}
        for name, ss in samples.items():
            secs = sorted(s.seconds for s in ss)
            series[name] = {"median_s": round(statistics.median(secs), 4), "min_s": round(secs[0], 4),
                            "max_s": round(secs[-1], 4), "samples_s": [round(s.seconds, 4) for s in ss]}
        base = series.get(ref, {}).get("median_s")
        for s in series.values():
            s["x_ref"] = round(s["median_s"] / base, 3) if base else None
        c = self.data.setdefault(curve, {"title": CURVES[curve][0], "x": CURVES[curve][1], "ref": ref, "points": []})
        met = goals(curve, size, series)
        c["points"].append({"size": size, "reps": reps, "load_before": before, "load_after": after,
                            "wall_s": round(time.monotonic() - started, 1), "series": series, "goals": met})
        log(f"curve {curve} @ {size}: " + ", ".join(f"{n} {s['median_s']:.3f}s" for n, s in series.items())
            + f" (load {before[0]} -> {after[0]})" + "".join(f"\n    {goal_text(g)}" for g in met))
        self.bench.save()

    def reps_for(self, size: int, big: int) -> int:
        return self.reps if size <= big else max(2, self.reps // 2)

    # ------------------------------------------------------------------ trees

    def tree_dir(self, n: int, files: int) -> Path:
        d = self.root / f"tree{n}_f{files}"
        if not d.exists():
            st = gentree.write_tree(d, n, files)
            self.data["trees"][f"{n}/{files}"] = asdict(st)
        return d

    def layouts(self, n: int) -> dict[str, Path]:
        """The n-table tree in each file layout, keyed by a label ("1 file", "100 files").

        The label is the count asked for, so that a layout is one series across sizes; a small tree
        has fewer files (10 tables are 31 statements, so 31 files): the trees table says how many.
        """
        return {f"{f} file{'s' if f != 1 else ''}": self.tree_dir(n, f) for f in self.sizes["files"]}

    def tree_noop_and_inspect(self, n: int) -> None:
        """Databases brought to the n-table tree by `initjob run` (untimed), then the no-op, verify and plan."""
        b = self.bench
        layouts = self.layouts(n)
        dbs = {label: db_name("c_tree", n, label) for label in layouts}
        for label, d in layouts.items():
            b.create_db(dbs[label])
            self.timed(self.initjob("run", d, dbs[label]))
        first = next(iter(dbs.values()))
        cmds = {f"initjob, {label}": self.initjob("run", d, dbs[label]) for label, d in layouts.items()}
        cmds["python floor"] = self.floor(first)
        cmds[ROWS_ONCE] = self.rows_once(first)
        # The no-op is cheap at every size: all rounds; verify and plan (a shadow build) fewer when big.
        self.point("tree_noop", n, list(cmds), lambda name, _r: self.timed(cmds[name]), self.reps, "python floor")
        reps = self.reps_for(n, BIG_TREE)
        if n in self.sizes["verify_plan"]:
            inspect = {f"{command}, {label}": self.initjob(command, d, dbs[label])
                       for command in ("verify", "plan") for label, d in layouts.items()}
            inspect["python floor"] = self.floor(first)
            self.point("verify_plan", n, list(inspect), lambda name, _r: self.timed(inspect[name]), reps,
                       "python floor")
        for db in dbs.values():
            b.drop_db(db)

    def tree_apply(self, n: int) -> None:
        """A fresh database every round (created and checkpointed untimed): initjob run vs psql -1 -f."""
        b = self.bench
        layouts = self.layouts(n)
        psql = psql_path()
        # name -> (kind, tree): the command needs the round's database, so it is built in `one`.
        runs = {f"initjob, {label}": ("initjob", d) for label, d in layouts.items()}
        runs["python floor"] = ("floor", next(iter(layouts.values())))  # the goal is floor + psql
        runs[OWED] = ("parts", next(iter(layouts.values())))  # the bound of a miss (BOUNDS)
        if psql:
            runs |= {f"psql, {label}": ("psql", d) for label, d in layouts.items()}
        else:
            b.note("psql not found: the fresh-apply curve has no psql series")

        def one(name: str, r: int) -> Sample:
            kind, d = runs[name]
            db = db_name("c_apply", n, r, name)
            b.create_db(db)
            try:
                if kind == "initjob":
                    return self.timed(self.initjob("run", d, db))
                if kind == "floor":
                    return self.timed(self.floor(db))
                if kind == "parts":
                    text = "\n".join(f.read_text() for f in sorted((d / "schema").iterdir()))
                    return Sample(sum(fresh_parts.one_run(b.url(db), text).values()))
                # -1 with several -f: one BEGIN before the first file, one COMMIT after the last.
                argv = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", b.url(db)]
                for f in sorted((d / "schema").iterdir()):
                    argv += ["-f", str(f)]
                return self.timed((argv, {}))
            finally:
                b.drop_db(db)

        ref = next((k for k in runs if k.startswith("psql")), next(iter(runs)))
        self.point("tree_apply", n, list(runs), one, self.reps_for(n, BIG_TREE), ref)

    # ------------------------------------------------------------------ migrations

    def migrations(self, n: int) -> None:
        """N migrations on a fresh database (initjob vs dbmate), then the no-op at N (vs dbmate and the floor)."""
        b = self.bench
        names = [t for t in ("initjob", "dbmate") if t in b.tools]
        migs = small_migrations(n)
        dirs = {t: b.layout(b.tools[t], f"small{n}", migs) for t in names}
        reps = self.reps_for(n, BIG_HISTORY)

        # The bound of a miss (BOUNDS): the floor, initjob with one migration, and the parts a fresh run owes
        # (with that one migration's SQL), each on a fresh database.
        bounds = [ONE_MIGRATION, "python floor", OWED] if "dbmate" in names else []
        one = small_migrations(1)
        one_dir = b.layout(b.tools["initjob"], "small1", one)

        def apply_one(name: str, r: int) -> Sample:
            db = db_name("c_migs", n, r, name)
            b.create_db(db)
            try:
                if name == "python floor":
                    return self.timed(self.floor(db))
                if name == OWED:
                    return Sample(sum(fresh_parts.one_run(b.url(db), one[0].up, mode="migrations").values()))
                return b.run_tool(b.tools["initjob"], one_dir, db) if name == ONE_MIGRATION \
                    else b.run_tool(b.tools[name], dirs[name], db)
            finally:
                b.drop_db(db)

        self.point("migrations", n, [*names, *bounds], apply_one, reps, names[-1])
        dbs = {t: db_name("c_noop", n, t) for t in names}
        for t in names:
            b.create_db(dbs[t])
            b.run_tool(b.tools[t], dirs[t], dbs[t])
        floor = self.floor(dbs["initjob"])

        def noop_one(name: str, _r: int) -> Sample:
            return self.timed(floor) if name == "python floor" else b.run_tool(b.tools[name], dirs[name], dbs[name])

        self.point("migrations_noop", n, [*names, "python floor"], noop_one, self.reps, "python floor")
        for db in dbs.values():
            b.drop_db(db)

    def run(self) -> None:
        """The migrations curve, then the trees size by size (no-op, verify and plan, fresh apply).

        Cheapest first, and every point is saved as it is measured: a run cut short (a timeout on a
        loaded machine) still has every curve up to some size, the 5,000-table points last.
        """
        self.data["load_start"] = load()
        before = load()
        for n in self.sizes["migrations"]:
            self.migrations(n)
        self.data.setdefault("curve_load", {})["migrations"] = {"before": before, "after": load()}
        before = load()
        for n in self.sizes["trees"]:
            self.tree_noop_and_inspect(n)
            if n <= max(self.sizes.get("apply_max", [n])):
                self.tree_apply(n)
        self.data["curve_load"]["trees"] = {"before": before, "after": load()}
        self.data["load_end"] = load()
        self.bench.save()


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Reports


def markdown(curves: dict[str, Any]) -> str:
    """A table per curve: for each size, every series' median [min-max] and its ratio to the reference."""
    lines: list[str] = []
    trees = curves.get("trees") or {}
    if trees:
        lines += ["#### Generated trees (bench/gentree.py)", "",
                  "| tables | files | bytes | FKs | views | functions | triggers | statements |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for st in trees.values():
            lines.append(f"| {st['tables']} | {st['files']} | {st['bytes']:,} | {st['foreign_keys']} | {st['views']} |"
                         f" {st['functions']} | {st['triggers']} | {st['statements']} |")
        lines.append("")
    for key in ("tree_noop", "tree_apply", "migrations", "migrations_noop", "verify_plan"):
        c = curves.get(key)
        if not c or not c["points"]:
            continue
        names: list[str] = []
        for p in c["points"]:
            names += [n for n in p["series"] if n not in names]
        lines += [f"#### {c['title']}", "",
                  f"Median seconds [min-max] over the rounds; `x` = median / median of **{c['ref']}** at the same"
                  " size, same rounds.", "",
                  f"| {c['x']} | rounds | load before/after | " + " | ".join(names) + " | goal (issue 24) |",
                  "|---:|---:|---|" + "---:|" * len(names) + "---|"]
        for p in c["points"]:
            cells = []
            for n in names:
                s = p["series"].get(n)
                cells.append("-" if s is None else f"{s['median_s']:.3f} [{s['min_s']:.3f}-{s['max_s']:.3f}]"
                             + (f" x{s['x_ref']:.2f}" if s.get("x_ref") is not None and n != c["ref"] else ""))
            met = "; ".join(f"{g['series'].removeprefix('initjob, ')} x{g['ratio']:.2f} of {g['against']} "
                            f"{'<=' if g['met'] else '>'} {g['limit']} **{'met' if g['met'] else 'missed'}**"
                            + bound_text(g) for g in p.get("goals") or [])
            lines.append(f"| {p['size']:,} | {p['reps']} | {p['load_before'][0]} / {p['load_after'][0]} | "
                         + " | ".join(cells) + f" | {met or '-'} |")
        lines.append("")
    return "\n".join(lines)


def plot(curves: dict[str, Any], png: Path, subtitle: str) -> bool:
    """Time against size, log-log, one panel per curve; the bars span min to max, the marker is the median."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    keys = [k for k in ("tree_noop", "tree_apply", "migrations", "migrations_noop", "verify_plan")
            if curves.get(k, {}).get("points")]
    if not keys:
        return False
    cols = 2
    rows = (len(keys) + 1) // 2
    fig, axes = plt.subplots(rows, cols, figsize=(11, 4.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        c = curves[key]
        names: list[str] = []
        for p in c["points"]:
            names += [n for n in p["series"] if n not in names]
        for name in names:
            pts = [(p["size"], p["series"][name]) for p in c["points"] if name in p["series"]]
            xs = [x for x, _ in pts]
            med = [s["median_s"] for _, s in pts]
            err = [[s["median_s"] - s["min_s"] for _, s in pts], [s["max_s"] - s["median_s"] for _, s in pts]]
            style = "--" if "floor" in name or name.startswith(("psql", "dbmate")) else "-"
            ax.errorbar(xs, med, yerr=err, marker="o", markersize=4, linestyle=style, capsize=3, label=name)
        for p in c["points"]:  # the goal's ratio beside each point it applies to, red where missed
            for g in p.get("goals") or []:
                ax.annotate(f"x{g['ratio']:.2f}", (p["size"], p["series"][g["series"]]["median_s"]), fontsize=6,
                            xytext=(4, 4), textcoords="offset points", color="green" if g["met"] else "red")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Plain numbers on the log axes (0.5, 2, 5000), not 2x10^0: the seconds are read off the plot.
        # Ticks at 1, 2, 5 per decade so a curve within one decade still has labels; x at the sizes.
        plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.set_xticks(sorted({p["size"] for p in c["points"]}))
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(c["x"])
        ax.set_ylabel("seconds (median, min-max)")
        ax.set_title(c["title"].replace("`", ""), fontsize=8, loc="left", wrap=True)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(f"initjob growth curves: {subtitle}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True
