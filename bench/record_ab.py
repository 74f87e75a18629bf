"""What ``@record`` buys on the no-op path: its classes built by ``@record`` and by ``@dataclass(frozen=True)``.

    .venv/bin/python bench/record_ab.py [--rounds 200]

Imports what a no-op ``initjob run`` imports, then rebuilds each value class found there (same
annotations, defaults and factories) with either decorator, alternating, and prints the CPU time
(``time.process_time``, far less sensitive to a loaded machine than wall time) of building them all:
medians, minimum, per class.  The difference is what plain frozen dataclasses would add to every pod
start's imports, since these classes are needed before the no-op ends and no lazy import can skip them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NO_OP_PATH = ("initjob.cli", "initjob.job", "initjob.facts", "initjob.db.history", "initjob.schema.token",
              "initjob.session")


def no_op_classes() -> list[tuple[str, dict[str, Any]]]:
    """(name, namespace) of each dataclass-like class defined by a module the no-op imports."""
    from importlib import import_module

    for module in NO_OP_PATH:
        import_module(module)
    found = []
    for name, module_obj in sorted(sys.modules.items()):
        if not name.startswith("initjob"):
            continue
        for value in vars(module_obj).values():
            if isinstance(value, type) and value.__module__ == name and dataclasses.is_dataclass(value):
                ns: dict[str, Any] = {"__annotations__": dict(value.__annotations__), "__module__": name,
                                      "__qualname__": value.__qualname__}
                for f in dataclasses.fields(value):
                    if f.default is not dataclasses.MISSING:
                        ns[f.name] = f.default
                    elif f.default_factory is not dataclasses.MISSING:
                        ns[f.name] = dataclasses.field(default_factory=f.default_factory)
                found.append((value.__name__, ns))
    return found


def build_all(classes: list[tuple[str, dict[str, Any]]], decorate: Callable[[type], type]) -> float:
    start = time.process_time()
    for name, ns in classes:
        decorate(type(name, (), dict(ns)))
    return (time.process_time() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    from initjob.record import record

    classes = no_op_classes()
    deco: dict[str, Callable[[type], type]] = {"@record": record,
                                               "@dataclass(frozen=True)": dataclasses.dataclass(frozen=True)}
    runs: dict[str, list[float]] = {label: [] for label in deco}
    for i in range(args.rounds):
        for label in (list(deco) if i % 2 else list(deco)[::-1]):
            runs[label].append(build_all(classes, deco[label]))
    modules = Counter(ns["__module__"] for _, ns in classes)
    print(f"{len(classes)} classes on the no-op path ({', '.join(f'{m} {n}' for m, n in sorted(modules.items()))}); "
          f"{args.rounds} alternating rounds, load {os.getloadavg()[0]:.1f}")
    for label, samples in runs.items():
        med = statistics.median(samples)
        print(f"{label:>24}  median {med:6.2f} ms CPU  min {min(samples):6.2f}  "
              f"per class {med / len(classes) * 1000:4.0f} us")


if __name__ == "__main__":
    main()
