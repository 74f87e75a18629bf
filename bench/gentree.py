"""Generated auto-sync trees of any size, for the growth curves (bench/curves.py) and for tests.

    python bench/gentree.py --tables 1000 --files 100 OUT_DIR   writes OUT_DIR/schema/NNN_part.sql

A tree of n tables is the same statements whatever the number of files: the files are contiguous
slices of one list in dependency order, so "1 file" and "100 files" describe the same catalog.
Each table has an identity primary key, an index and foreign keys to earlier tables; for every
``BLOCK`` tables there are views, functions and triggers in fixed proportion (see ``statements``),
so the share of each object kind is the same at 10 tables as at 5,000.  Every constraint, index and
trigger is named, as sql/README.md asks of auto-sync trees.  Plain PostgreSQL 15+ SQL (tested on 15
and 18): no psql meta-commands, no transaction control, nothing version-specific.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

SCHEMA = "gen"
# Per BLOCK tables: VIEWS_PER_BLOCK views, one trigger function and one SQL function, and a trigger on
# TRIGGERS_PER_BLOCK of the tables.  A realistic mix: the example sql/ has 30 tables, 3 views and
# 2 trigger functions; real schemas have many more views than that (issue 15's 392 KB schema: 281).
BLOCK = 10
VIEWS_PER_BLOCK = 3
TRIGGERS_PER_BLOCK = 5


@dataclass(frozen=True)
class TreeStats:
    """What a generated tree holds, for reports."""

    tables: int
    indexes: int
    foreign_keys: int
    views: int
    functions: int
    triggers: int
    statements: int
    files: int
    bytes: int


def _t(i: int) -> str:
    return f"{SCHEMA}.t{i:05d}"


def _table(i: int) -> list[str]:
    """Table i: a key, four columns, foreign keys to the previous table and to one further back, an index."""
    name = f"t{i:05d}"
    cols = [
        "    id bigint GENERATED ALWAYS AS IDENTITY",
        "    code text NOT NULL",
        "    amount numeric(12, 2) NOT NULL DEFAULT 0",
        "    status text NOT NULL DEFAULT 'new'",
        "    updated_at timestamptz NOT NULL DEFAULT now()",
    ]
    cons = [f"    CONSTRAINT {name}_pkey PRIMARY KEY (id)",
            f"    CONSTRAINT {name}_amount_check CHECK (amount >= 0)"]
    # Two foreign keys per table once there are earlier tables: a chain (i-1) and a jump (i/2), so the
    # dependency graph is neither a list nor a star.
    for label, target in (("parent", i - 1), ("owner", i // 2)):
        if 0 <= target < i and not (label == "owner" and target == i - 1):
            cols.append(f"    {label}_id bigint")
            cons.append(f"    CONSTRAINT {name}_{label}_fkey FOREIGN KEY ({label}_id) REFERENCES {_t(target)} (id)"
                        " ON DELETE SET NULL")
    body = ",\n".join(cols + cons)
    return [f"CREATE TABLE {_t(i)} (\n{body}\n);",
            f"CREATE INDEX {name}_status_idx ON {_t(i)} (status, updated_at);"]


def _block_extras(block: int, tables: range) -> list[str]:
    """The views, functions and triggers of one block of tables (all of which exist by then)."""
    first, b = tables[0], f"b{block:04d}"
    out = [
        f"CREATE FUNCTION {SCHEMA}.{b}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND;\n$$;",
        f"CREATE FUNCTION {SCHEMA}.{b}_total(p_status text) RETURNS numeric LANGUAGE sql STABLE AS $$\n"  # noqa: S608
        f"    SELECT coalesce(sum(amount), 0) FROM {_t(first)} WHERE status = p_status\n$$;",
    ]
    for k in range(min(VIEWS_PER_BLOCK, len(tables))):
        i = tables[k]
        # A join to the parent table where there is one, so views depend on two tables.
        source = f"{_t(i)} t LEFT JOIN {_t(i - 1)} p ON p.id = t.parent_id" if i > 0 else f"{_t(i)} t"
        pcode = "p.code AS parent_code" if i > 0 else "NULL::text AS parent_code"
        # S608 is silenced below: every name is made from integers, nothing comes from input.
        out.append(f"CREATE VIEW {SCHEMA}.{b}_v{k} AS\n    SELECT t.id, t.code, t.amount, {pcode}\n"  # noqa: S608
                   f"    FROM {source}\n    WHERE t.status <> 'deleted';")
    for i in tables[:TRIGGERS_PER_BLOCK]:
        out.append(f"CREATE TRIGGER t{i:05d}_touch BEFORE UPDATE ON {_t(i)}\n"
                   f"    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.{b}_touch();")
    return out


def statements(n_tables: int) -> list[str]:
    """Every statement of an n-table tree, in an order PostgreSQL accepts from an empty database."""
    out = [f"CREATE SCHEMA {SCHEMA};"]
    for block, start in enumerate(range(0, n_tables, BLOCK)):
        tables = range(start, min(start + BLOCK, n_tables))
        for i in tables:
            out += _table(i)
        out += _block_extras(block, tables)
    return out


def files(n_tables: int, n_files: int) -> dict[str, str]:
    """The tree as {file name: text}: contiguous slices of ``statements``, as even as possible.

    Fewer files than asked when there are fewer statements (10 tables are 26 statements).
    Names sort in apply order, as auto-sync applies sql/schema/ in lexical order.
    """
    stmts = statements(n_tables)
    count = max(1, min(n_files, len(stmts)))
    per, extra = divmod(len(stmts), count)
    out, pos = {}, 0
    width = max(3, len(str(count)))
    for f in range(count):
        take = per + (1 if f < extra else 0)
        out[f"{f:0{width}d}_part.sql"] = "\n\n".join(stmts[pos:pos + take]) + "\n"
        pos += take
    return out


def write_tree(sql_dir: Path, n_tables: int, n_files: int) -> TreeStats:
    """Write the tree under ``sql_dir/schema`` (the auto-sync layout initjob reads) and describe it."""
    schema = sql_dir / "schema"
    schema.mkdir(parents=True, exist_ok=True)
    tree = files(n_tables, n_files)
    for name, text in tree.items():
        (schema / name).write_text(text)
    return stats(n_tables, tree)


def stats(n_tables: int, tree: dict[str, str]) -> TreeStats:
    text = "".join(tree.values())
    blocks = [range(s, min(s + BLOCK, n_tables)) for s in range(0, n_tables, BLOCK)]
    return TreeStats(
        tables=n_tables, indexes=n_tables,
        foreign_keys=text.count(" FOREIGN KEY "),
        views=sum(min(VIEWS_PER_BLOCK, len(b)) for b in blocks),
        functions=2 * len(blocks),
        triggers=sum(min(TRIGGERS_PER_BLOCK, len(b)) for b in blocks),
        statements=len(statements(n_tables)), files=len(tree), bytes=len(text.encode()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, required=True)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("out", type=Path, help="the SQL directory (INITJOB_SQL_DIR); schema/ is written inside")
    args = parser.parse_args(argv)
    print(write_tree(args.out, args.tables, args.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
