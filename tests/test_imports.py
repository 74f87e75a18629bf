"""The package's import graph: no cycle between initjob's modules, lazy imports inside functions included."""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from pathlib import Path

from conftest import base_env, write_migrations

PACKAGE = Path(__file__).resolve().parent.parent / "initjob"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], own: str) -> set[str]:
    """Every initjob module this file imports, at any depth of the file (functions too), TYPE_CHECKING aside."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("initjob"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found - {own}


def graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py")]
    modules = {module_name(p) for p in files}
    # A package's __init__ is imported with its submodules: it must not be what closes a cycle.
    packages = {"initjob", "initjob.db", "initjob.schema", "initjob.layouts"}
    return {module_name(p): imports_of(p, modules, module_name(p)) - packages for p in files}


def depth(g: dict[str, set[str]]) -> int:
    memo: dict[str, int] = {}
    for node in graphlib.TopologicalSorter(g).static_order():
        memo[node] = 1 + max((memo[d] for d in g.get(node, ())), default=0)
    return max(memo.values())


def test_no_import_cycle() -> None:
    """A topological order of the modules exists: imports point one way (cli → job → steps → leaves)."""
    g = graph()
    try:
        order = list(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert "initjob.cli" in order and depth(g) >= 3


def test_the_decider_is_pure() -> None:
    """decide imports no database edge, no driver: it decides over plain data."""
    g = graph()
    seen, todo = set(), ["initjob.decide"]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(g.get(node, ()))
    assert not {m for m in seen if m.startswith("initjob.db")}, seen
    text = (PACKAGE / "decide.py").read_text()
    assert "import psycopg" not in text


def test_a_cycle_would_be_caught(tmp_path: Path) -> None:
    """The check itself can fail: two modules importing each other inside functions form a cycle."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from initjob import b\n")
    b.write_text("def g():\n    import initjob.a\n")
    modules = {"initjob.a", "initjob.b"}
    g = {"initjob.a": imports_of(a, modules, "initjob.a"), "initjob.b": imports_of(b, modules, "initjob.b")}
    try:
        list(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("a cycle went unnoticed")


# Loaded on first use only: none is needed to find a database up to date (issue 15: import time).
OFF_THE_NO_OP_PATH = {"initjob.db.activity", "initjob.db.lock", "initjob.db.pooler", "initjob.plan",
                      "initjob.render", "initjob.source", "initjob.layouts.reading", "initjob.sync",
                      "initjob.schema.catalog", "initjob.db.marker"}


def test_the_no_op_path_leaves_the_rest_unimported() -> None:
    """What `initjob run` imports before it knows there is work (cli and job, as the entry point loads them)."""
    code = "import sys, initjob.cli, initjob.job; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)}).stdout.split()
    assert "initjob.record" in out and not OFF_THE_NO_OP_PATH & set(out), sorted(OFF_THE_NO_OP_PATH & set(out))


# bench/ and devtools/: scripts, not a package. A script imports its siblings by bare name (its own
# directory is on sys.path) and devtools' modules through the package.
SCRIPT_DIRS = ("bench", "bench/realworld", "devtools")


def script_imports(path: Path, root: Path) -> set[str]:
    """The bench and devtools modules ``path`` imports, as ``dir/stem``; type-only imports count too:
    two scripts that name each other's types still have to be read together."""
    here = path.parent.relative_to(root).as_posix()
    siblings = {p.stem for p in path.parent.glob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
            if node.module == "devtools":  # from devtools import pgserver
                names += [f"devtools.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("devtools.") and (root / "devtools" / f"{name.split('.')[1]}.py").exists():
                found.add(f"devtools/{name.split('.')[1]}")
            elif name in siblings:
                found.add(f"{here}/{name}")
    return found - {f"{here}/{path.stem}"}


def script_graph(root: Path) -> dict[str, set[str]]:
    files = [p for d in SCRIPT_DIRS for p in sorted((root / d).glob("*.py"))]
    return {f"{p.parent.relative_to(root).as_posix()}/{p.stem}": script_imports(p, root) for p in files}


def test_no_import_cycle_in_bench_and_devtools() -> None:
    """bench/ and devtools/ import one way too (run.py imports curves.py, never the reverse)."""
    g = script_graph(PACKAGE.parent)
    try:
        list(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert "bench/curves" in g["bench/run"] and "bench/harness" in g["bench/curves"], g["bench/run"]


def test_a_cycle_between_scripts_would_be_caught(tmp_path: Path) -> None:
    """The scripts' check can fail: a type-only import back to the importer closes a circle."""
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("import curves\n")
    (tmp_path / "bench" / "curves.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from run import Bench\n")
    g = {name: deps for name, deps in script_graph(tmp_path).items() if name.startswith("bench/")}
    assert g == {"bench/run": {"bench/curves"}, "bench/curves": {"bench/run"}}
    try:
        list(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("a cycle went unnoticed")


def test_migrations_mode_leaves_auto_sync_unimported() -> None:
    """Applying migrations loads neither auto-sync's edges nor its planner (tens of ms of a fresh run)."""
    code = "import sys, initjob.cli, initjob.job, initjob.migrate; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)}).stdout.split()
    assert not {"initjob.sync", "initjob.schema.diff", "initjob.db.shadow"} & set(out)


# A real run that keeps, on exit, the names of the modules it loaded (``python -m initjob`` otherwise).
_RUN_AND_LIST = ("import atexit, runpy, sys\n"
                 "listing = sys.argv.pop(1)\n"
                 "atexit.register(lambda: open(listing, 'w').write(' '.join(sorted(sys.modules))))\n"
                 "runpy.run_module('initjob', run_name='__main__', alter_sys=True)\n")


def _loaded_by_run(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[int, set[str]]:
    listing = tmp_path / f"{name}.modules"
    done = subprocess.run([sys.executable, "-c", _RUN_AND_LIST, str(listing), "run"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=PACKAGE.parent)
    return done.returncode, set(listing.read_text().split())


def test_a_migrations_mode_run_never_loads_sync(tmp_path: Path, db_url: str) -> None:
    """Applying migrations, a repeatable file and then a second migration (lint hook on), then the no-op:
    none loads ``sync``; the schema lists they record come from ``schema.scope``."""
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE t (id bigint PRIMARY KEY);\n"})
    (sql_dir / "repeatable").mkdir()
    (sql_dir / "repeatable" / "v.sql").write_text("CREATE OR REPLACE VIEW v AS SELECT id FROM t;\n")
    env = base_env(DATABASE_URL=db_url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir))
    first = _loaded_by_run(tmp_path, "first", env)
    (sql_dir / "migrations" / "0002_u.up.sql").write_text("ALTER TABLE t ADD COLUMN u text;\n")
    second = _loaded_by_run(tmp_path, "second", env)
    noop = _loaded_by_run(tmp_path, "noop", env)
    assert [first[0], second[0], noop[0]] == [0, 0, 0]
    assert "initjob.migrate" in first[1] and "initjob.repeat" in first[1] and "initjob.lint" in second[1]
    assert "initjob.schema.scope" in first[1]
    assert not any("initjob.sync" in loaded for _, loaded in (first, second, noop))


def test_a_fresh_auto_sync_run_loads_no_planner(tmp_path: Path, db_url: str) -> None:
    """An empty database gets the files as written: neither the planner nor the shadow database's edges are
    loaded; the next run, which compares, loads them."""
    sql_dir = tmp_path / "sql"
    (sql_dir / "schema").mkdir(parents=True)
    (sql_dir / "schema" / "t.sql").write_text("CREATE TABLE t (id bigint PRIMARY KEY);\n")
    env = base_env(DATABASE_URL=db_url, INITJOB_SQL_DIR=str(sql_dir))
    code, loaded = _loaded_by_run(tmp_path, "fresh", env)
    assert code == 0 and "initjob.fresh" in loaded
    assert not {"initjob.sync", "initjob.schema.diff", "initjob.schema.renames", "initjob.db.shadow"} & loaded
    (sql_dir / "schema" / "t.sql").write_text("CREATE TABLE t (id bigint PRIMARY KEY, u text);\n")
    code, loaded = _loaded_by_run(tmp_path, "change", env)
    assert code == 0 and {"initjob.sync", "initjob.schema.diff"} <= loaded


# The commands sit above the decision loop (they settle through facts); the steps it sequences sit below.
COMMAND_LEVEL = {"initjob.cli", "initjob.job", "initjob.commands", "initjob.lint"}
STEPS = {"initjob.migrate", "initjob.sync", "initjob.fresh", "initjob.repeat", "initjob.transition", "initjob.facts"}


def reachable(g: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(g.get(node, ()))
    return seen - {start}


def test_the_steps_import_no_command() -> None:
    """The apply steps never reach up to a command (migrate once imported lint lazily): job calls the lint hook."""
    g = graph()
    assert set(g) >= STEPS, STEPS - set(g)
    above = {step: sorted(reachable(g, step) & COMMAND_LEVEL) for step in STEPS}
    assert not any(above.values()), above
