"""Write real projects' SQL, read from their mirrored repositories, as initjob ``sql/`` trees.

    python bench/realworld/extract.py OUT_DIR     # one OUT_DIR/<item>/sql tree per corpus item

The mirrors are bare git directories (``/work/.mirror/<owner>+<name>/repo``, or ``$INITJOB_MIRROR``);
nothing of their SQL is kept in this repository: the trees go to the directory given.  Each item is
converted only as far as its own runner would read it (goose sections, a template variable, Prisma
directories, Synapse's full schema then deltas); everything left out is said in the item's notes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from psycopg import sql

MIRROR = Path(os.environ.get("INITJOB_MIRROR", "/work/.mirror"))
REPOS = {
    "hatchet": "hatchet-dev/hatchet",
    "supabase-auth": "supabase/auth",
    "umami": "umami-software/umami",
    "listmonk": "knadh/listmonk",
    "chinook": "lerocha/chinook-database",
    "synapse": "element-hq/synapse",
}
NO_TRANSACTION = "-- initjob:no-transaction\n"


@dataclass
class Evolution:
    """One change to a declarative tree: files rewritten (path → text), then synced and compared."""

    what: str
    files: dict[str, str]


@dataclass
class Item:
    """One corpus item: where its tree is, which mode, SQL the platform runs first, and what was left out."""

    name: str
    repo: str
    commit: str
    mode: str  # "migrations" or "schema"
    sql_dir: str
    setup: str = ""
    notes: list[str] = field(default_factory=list)
    evolutions: list[Evolution] = field(default_factory=list)


class Mirror:
    """Read-only access to one mirrored repository at its HEAD."""

    def __init__(self, repo: str) -> None:
        self.git_dir = MIRROR / repo.replace("/", "+") / "repo"
        self.commit = self._git("rev-parse", "HEAD").strip()

    def _git(self, *args: str) -> str:
        out = subprocess.run(["git", "--git-dir", str(self.git_dir), *args], capture_output=True, check=True)
        return out.stdout.decode("utf-8")

    def paths(self, under: str) -> list[str]:
        return sorted(self._git("ls-tree", "-r", "--name-only", "HEAD", "--", under).splitlines())

    def read(self, path: str) -> str:
        return self._git("show", f"HEAD:{path}")


def missing() -> list[str]:
    """The repositories not mirrored on this machine."""
    return [repo for repo in REPOS.values() if not (MIRROR / repo.replace("/", "+") / "repo").is_dir()]


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name).strip("_-") or "migration"


# ---------------------------------------------------------------- migration chains

_GOOSE = re.compile(r"^--\s*\+goose\s+(?P<what>.+?)\s*$", re.I | re.M)


def goose_sections(text: str) -> tuple[str, str | None, bool]:
    """(up, down or None, no transaction) of a goose file; annotation lines stay in as comments."""
    up_at = down_at = None
    no_tx = False
    for m in _GOOSE.finditer(text):
        what = m.group("what").upper()
        if what == "UP" and up_at is None:
            up_at = m.start()
        elif what == "DOWN" and down_at is None:
            down_at = m.start()
        elif what == "NO TRANSACTION":
            no_tx = True
    if up_at is None:
        raise ValueError("no '-- +goose Up' annotation")
    up = text[up_at:down_at] if down_at is not None and down_at > up_at else text[up_at:]
    down = text[down_at:] if down_at is not None and down_at > up_at else None
    return up, down, no_tx


# The first Go migration that creates tables (v1_dags_olap_new, ...) later SQL files need: the
# SQL-only chain cannot go past it.
HATCHET_GO_TABLES = "20260424190713_v1_0_99.go"


def hatchet(out: Path) -> Item:
    m = Mirror(REPOS["hatchet"])
    root = out / "hatchet" / "sql"
    item = Item("hatchet", REPOS["hatchet"], m.commit, "migrations", str(root))
    where = "cmd/hatchet-migrate/migrate/migrations/"
    skipped_go, left_out = 0, 0
    for path in m.paths(where):
        base = path.rsplit("/", 1)[1]
        if base >= HATCHET_GO_TABLES:
            left_out += base.endswith(".sql")
            continue
        if base.endswith(".go"):
            skipped_go += 1
            continue
        if not base.endswith(".sql"):
            continue
        version, _, name = base[: -len(".sql")].partition("_")
        up, down, no_tx = goose_sections(m.read(path))
        head = NO_TRANSACTION if no_tx else ""
        stem = f"migrations/{version}_{_safe_name(name)}"
        _write(root, f"{stem}.up.sql", head + up)
        if down is not None:
            _write(root, f"{stem}.down.sql", head + down)
    item.notes.append(f"goose Up/Down sections split into .up.sql/.down.sql; NO TRANSACTION → {NO_TRANSACTION.strip()}")
    item.notes.append(f"{skipped_go} Go migrations before {HATCHET_GO_TABLES} (indexes on partitions, a backfill) "
                      f"skipped; the chain stops at that Go migration, which creates tables the next SQL file "
                      f"alters ({left_out} later SQL migrations left out)")
    return item


_NAMESPACE = re.compile(r'\{\{\s*index\s+\.Options\s+"Namespace"\s*\}\}')
# What synapse.storage.engines.postgres writes in place of its placeholder before running a file.
_SYNAPSE_PLACEHOLDER = ("$%AUTO_INCREMENT_PRIMARY_KEY%$", "BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY")


def supabase_auth(out: Path) -> Item:
    m = Mirror(REPOS["supabase-auth"])
    root = out / "supabase-auth" / "sql"
    item = Item("supabase-auth", REPOS["supabase-auth"], m.commit, "migrations", str(root),
                setup="CREATE SCHEMA IF NOT EXISTS auth;")
    for path in m.paths("migrations/"):
        if path.endswith(".up.sql"):
            text = _NAMESPACE.sub("auth", m.read(path))
            version, _, name = path.rsplit("/", 1)[1].removesuffix(".up.sql").partition("_")
            _write(root, f"migrations/{version}_{_safe_name(name)}.up.sql", text)
    item.notes.append('template {{ index .Options "Namespace" }} rendered as auth; the platform creates '
                      "schema auth before the chain (setup), as Supabase does; one name's '.postgres' became "
                      "'_postgres' (initjob names have no dots); upstream has no down files")
    return item


def umami(out: Path) -> Item:
    m = Mirror(REPOS["umami"])
    root = out / "umami" / "sql"
    item = Item("umami", REPOS["umami"], m.commit, "migrations", str(root))
    for path in m.paths("prisma/migrations/"):
        if path.endswith("/migration.sql"):
            version, _, name = path.split("/")[-2].partition("_")
            _write(root, f"migrations/{version}_{_safe_name(name)}.up.sql", m.read(path))
    item.notes.append("Prisma directories <n>_<name>/migration.sql (PostgreSQL); Prisma writes no down files")
    return item


def synapse(out: Path) -> Item:
    m = Mirror(REPOS["synapse"])
    root = out / "synapse" / "sql"
    item = Item("synapse", REPOS["synapse"], m.commit, "migrations", str(root))
    base = "synapse/storage/schema/"
    fulls = sorted({p.split("/")[5] for p in m.paths(base) if "/full_schemas/" in p}, key=int)
    full = fulls[-1]
    # As synapse.storage.prepare_database does it: schema_version.sql, then the full schemas of the
    # newest full version in path order, then each later version's deltas sorted by file name.
    chain = [(f"{full}000", "schema_version", base + "common/schema_version.sql")]
    for n, part in enumerate(("common", "main", "state"), start=1):
        chain.append((f"{full}{n:03d}", f"full_{part}", f"{base}{part}/full_schemas/{full}/full.sql.postgres"))
    skipped: dict[str, int] = {"py": 0, "sqlite": 0}
    deltas: dict[int, list[tuple[str, str]]] = {}
    for path in m.paths(base):
        parts = path[len(base):].split("/")
        if len(parts) != 4 or parts[1] != "delta" or not parts[2].isdigit() or int(parts[2]) <= int(full):
            continue
        fname = parts[3]
        if fname.endswith(".py"):
            skipped["py"] += 1
        elif fname.endswith(".sql.sqlite"):
            skipped["sqlite"] += 1
        elif fname.endswith((".sql", ".sql.postgres")):
            deltas.setdefault(int(parts[2]), []).append((fname, path))
    for version in sorted(deltas):
        for seq, (fname, path) in enumerate(sorted(deltas[version]), start=1):
            stem = fname.removesuffix(".postgres").removesuffix(".sql")
            chain.append((f"{version}{seq:03d}", _safe_name(stem), path))
    for stamp, name, path in chain:
        _write(root, f"migrations/{stamp}_{name}.up.sql", m.read(path).replace(*_SYNAPSE_PLACEHOLDER))
    item.notes.append(f"full schema v{full} (common, main, state) then the PostgreSQL deltas of v{int(full) + 1}+ "
                      f"({len(chain) - 4} .sql/.sql.postgres files); {skipped['py']} Python deltas and "
                      f"{skipped['sqlite']} SQLite deltas skipped; its placeholder {_SYNAPSE_PLACEHOLDER[0]} "
                      "rendered as Synapse's PostgreSQL engine does; upstream has no down files")
    return item


# ---------------------------------------------------------------- declarative trees

def add_column(text: str, table: str, column: str) -> str:
    """``text`` with ``column`` appended to the column list of ``CREATE TABLE table (...)``."""
    m = re.search(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{re.escape(table)}\s*\(", text, re.I)
    if m is None:
        raise ValueError(f"no CREATE TABLE {table}")
    depth, i = 1, m.end()
    while depth:
        c = text[i]
        if c == "'":
            i = text.index("'", i + 1)
        depth += {"(": 1, ")": -1}.get(c, 0)
        i += 1
    close = i - 1
    return text[:close].rstrip() + f",\n    {column}\n" + text[close:]


_EXTRA = """\
CREATE TABLE realworld_child (
    id bigint PRIMARY KEY,
    parent_id {key_type} NOT NULL REFERENCES {table} ({key}) ON DELETE CASCADE
);
CREATE INDEX realworld_child_parent_idx ON realworld_child (parent_id);
CREATE VIEW realworld_view AS SELECT {shown} FROM {table};
CREATE FUNCTION realworld_next(i integer) RETURNS integer LANGUAGE sql IMMUTABLE AS {body};
"""


def evolutions(path: str, text: str, table: str, key: str, key_type: str, shown: str) -> list[Evolution]:
    """A column, a table with a foreign key, an index, a view and a function; then the view and function changed."""
    def extra(columns: list[str], body: str) -> str:
        return sql.SQL(_EXTRA).format(
            key_type=sql.SQL(key_type), table=sql.Identifier(table), key=sql.Identifier(key),
            shown=sql.SQL(", ").join(map(sql.Identifier, columns)), body=sql.Literal(body)).as_string(None)

    grown = add_column(text, table, "realworld_note text")
    return [
        Evolution("add a column, a table with a foreign key, an index, a view, a function",
                  {path: grown, "schema/zz_realworld.sql": extra([key], "SELECT i + 1")}),
        Evolution("change the view (one more column) and the function body",
                  {path: grown, "schema/zz_realworld.sql": extra([key, shown], "SELECT i + 2")}),
    ]


def listmonk(out: Path) -> Item:
    m = Mirror(REPOS["listmonk"])
    root = out / "listmonk" / "sql"
    text = m.read("schema.sql")
    _write(root, "schema/schema.sql", text)
    item = Item("listmonk", REPOS["listmonk"], m.commit, "schema", str(root))
    item.evolutions = evolutions("schema/schema.sql", text, "subscribers", "id", "integer", "email")
    item.notes.append("schema.sql as is (declarative)")
    return item


def chinook(out: Path) -> Item:
    m = Mirror(REPOS["chinook"])
    root = out / "chinook" / "sql"
    text = m.read("ChinookDatabase/DataSources/Chinook_PostgreSql.sql")
    # The script makes and enters its own database; initjob is given the database instead.
    cut = re.search(r"^\\c chinook;?\s*$", text, re.M)
    if cut is None:
        raise ValueError("Chinook_PostgreSql.sql: no '\\c chinook' line")
    body = "\n" * text.count("\n", 0, cut.end()) + text[cut.end():]  # line numbers as upstream
    _write(root, "schema/chinook.sql", body)
    item = Item("chinook", REPOS["chinook"], m.commit, "schema", str(root))
    item.evolutions = evolutions("schema/chinook.sql", body, "artist", "artist_id", "integer", "name")
    item.notes.append("Chinook_PostgreSql.sql (tables and data) without its DROP/CREATE DATABASE and \\c lines "
                      "(blank lines in their place)")
    return item


EXTRACTORS = {"hatchet": hatchet, "supabase-auth": supabase_auth, "umami": umami, "listmonk": listmonk,
              "chinook": chinook, "synapse": synapse}


def extract(out: Path, only: list[str] | None = None) -> list[Item]:
    return [fn(out) for name, fn in EXTRACTORS.items() if not only or name in only]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if missing():
        print("not mirrored: " + ", ".join(missing()), file=sys.stderr)
        return 2
    items = extract(Path(argv[1]), argv[2:] or None)
    print(json.dumps([{k: v for k, v in asdict(i).items() if k != "evolutions"} for i in items], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
