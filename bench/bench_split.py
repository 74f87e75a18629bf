"""How fast initjob splits SQL: MB per second over a tree of about 10 MB.

    python bench/bench_split.py [SQL_DIR ...]

With directories, every ``*.sql`` below them (the real-world trees that bench/realworld/extract.py
writes, say); without, a generated tree in the shapes real files have: pg_dump-style DDL, plpgsql
functions in dollar quotes, ``BEGIN ATOMIC`` bodies, rules with several actions, INSERTs with
quoted strings, comments.  Prints one JSON line: bytes, files, statements, the best of five runs
in CPU seconds (``time.process_time``: on a shared machine, wall time mostly measures the neighbours)
and in wall seconds, and MB per CPU second.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from initjob import sqltext  # noqa: E402

TARGET_BYTES = 10 * 1024 * 1024
_SHAPES = [
    "--\n-- Name: t{i}; Type: TABLE; Schema: public\n--\n\nCREATE TABLE public.t{i} (\n    id bigint NOT NULL,\n"
    "    name text DEFAULT 'n;{i}'::text,\n    \"Mixed;Case\" integer,\n    created timestamp with time zone "
    "DEFAULT now()\n);\n\nALTER TABLE ONLY public.t{i}\n    ADD CONSTRAINT t{i}_pkey PRIMARY KEY (id);\n\n",
    "CREATE FUNCTION public.f{i}(a integer) RETURNS integer\n    LANGUAGE plpgsql\n    AS $fn$\nBEGIN\n"
    "    IF a > 0 THEN RETURN a; END IF; -- a comment; with a semicolon\n    RETURN -a;\nEND;\n$fn$;\n\n",
    "CREATE FUNCTION public.g{i}(a integer) RETURNS integer LANGUAGE sql\nBEGIN ATOMIC\n"
    " SELECT CASE WHEN a > 0 THEN a ELSE 0 END;\nEND;\n\n",
    "CREATE RULE r{i} AS ON INSERT TO public.t{i} DO ALSO (NOTIFY t{i}; UPDATE public.t{i} SET id = id);\n\n",
    "INSERT INTO public.t{i} (id, name) VALUES ({i}, 'it''s; {i}'), ({i} + 1, E'esc\\'; {i}'), "
    "({i} + 2, U&'d\\0061t;a');\n/* a block /* nested; */ comment */\n",
]


def generated() -> list[str]:
    """About 10 MB in 100 files."""
    block = "".join(shape.format(i=i) for i in range(200) for shape in _SHAPES)
    per_file = TARGET_BYTES // 100
    return [(block * (per_file // len(block) + 1))[:per_file].rsplit(";", 1)[0] + ";\n" for _ in range(100)]


def read_tree(dirs: list[str]) -> list[str]:
    return [p.read_text() for d in dirs for p in sorted(Path(d).rglob("*.sql"))]


def main(argv: list[str]) -> int:
    texts = read_tree(argv) if argv else generated()
    size = sum(len(t.encode()) for t in texts)
    cpu = wall = float("inf")
    statements = 0
    for _ in range(5):
        start, start_wall = time.process_time(), time.perf_counter()
        statements = sum(len(sqltext.split_statements(t)) for t in texts)
        cpu, wall = min(cpu, time.process_time() - start), min(wall, time.perf_counter() - start_wall)
    print(json.dumps({"bytes": size, "files": len(texts), "statements": statements, "cpu_seconds": round(cpu, 3),
                      "wall_seconds": round(wall, 3), "mb_per_cpu_s": round(size / 1024 / 1024 / cpu, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
