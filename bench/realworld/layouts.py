"""Real projects' chains in other tools' layouts (diesel, sqlx, sqitch), read as they ship, through the real
`initjob` command.

    python bench/realworld/layouts.py [--only NAME ...]

For each mirrored repository (the session tool `fetch`, under /work/.mirror/; nothing of it is kept here)
its migrations folder is copied out as it is, and on a throwaway PostgreSQL:

- ``initjob run`` applies the chain on a fresh database, and ``pg_dump --schema-only`` equals what psql
  makes of the same scripts in the tool's order (each in a transaction, as the tool runs them);
- a second run is a no-op, and ``initjob verify`` exits 0;
- ``initjob rollback`` runs every down the layout has, newest first, and the database ends as empty as
  a fresh one (the tool's own table aside);
- the takeover: a database psql built, with the tool's history table written as the tool documents it
  (by this script, not by initjob), is adopted whole by ``initjob run``: nothing applied, verify 0.

Prints one JSON line per item and check; exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from run import Pg, clients_for, initjob, same  # noqa: E402

from devtools import pgserver  # noqa: E402
from initjob import layouts  # noqa: E402
from initjob.layouts import reading  # noqa: E402

MIRROR = Path(os.environ.get("INITJOB_MIRROR", "/work/.mirror"))


@dataclass
class Item:
    name: str
    repo: str
    folder: str  # the tool's migrations folder in the repository ("" for its top)
    tool: str
    rev: str = "HEAD"  # a release whose chain runs on the servers here


ITEMS = [
    # Lemmy's main branch needs PostgreSQL 16 (a subquery without an alias) and the embedded 18 has no
    # pgcrypto: its 0.19 line runs on 15.
    Item("lemmy", "LemmyNet/lemmy", "migrations", "diesel", "0.19.20"),
    Item("atuin-server", "atuinsh/atuin", "crates/atuin-server-postgres/migrations", "sqlx"),
    Item("sqitch-intro", "sqitchers/sqitch-intro", "", "sqitch"),
]
# The tool's own table, left out of the dump comparison (psql's build has none).
EXCLUDE = {"diesel": ["-T", "__diesel_schema_migrations"], "sqlx": ["-T", "_sqlx_migrations"],
           "sqitch": ["-N", "sqitch"]}


def copy_out(item: Item, sql_dir: Path) -> str:
    """The folder as it is at the item's revision, under sql_dir/migrations; the commit."""
    git_dir = MIRROR / item.repo.replace("/", "+") / "repo"
    commit = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", item.rev], capture_output=True,
                            text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit, *([item.folder] if item.folder
                                                                                    else [])],
                             capture_output=True, check=True).stdout
    target = sql_dir / "unpacked"
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    shutil.move(str(target / item.folder) if item.folder else str(target), str(sql_dir / "migrations"))
    shutil.rmtree(target, ignore_errors=True)
    return commit


def psql_build(item: Item, root: Path) -> str:
    """The scripts in the tool's order, as the tool runs them."""
    chain = reading.read_chain(root.parent, layouts.get(item.tool), "initjob")
    lines = []
    for m in chain.migrations:
        path = root / m.up.path.removeprefix("migrations/")
        if item.tool == "sqitch":  # its scripts hold their own BEGIN/COMMIT; the verify script follows
            verify = root / "verify" / path.name
            lines += [f"\\i {path}"] + ([f"\\i {verify}"] if verify.is_file() else [])
        else:
            lines += ["BEGIN;", f"\\i {path}", "COMMIT;"] if m.transactional else [f"\\i {path}"]
    return "\n".join(lines) + "\n"


def tool_history(item: Item, root: Path) -> Callable[[psycopg.Connection[object]], None]:
    """The tool's history table for the whole chain, as the tool's documentation says it writes it."""
    chain = reading.read_chain(root.parent, layouts.get(item.tool), "initjob")

    def write(conn: psycopg.Connection[object]) -> None:
        if item.tool == "diesel":
            conn.execute("CREATE TABLE __diesel_schema_migrations (version varchar(50) PRIMARY KEY NOT NULL, "
                         "run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)")
            for m in chain.migrations:
                conn.execute("INSERT INTO __diesel_schema_migrations (version) VALUES (%s)", (m.version_text,))
        elif item.tool == "sqlx":
            conn.execute("CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL, "
                         "installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, "
                         "checksum bytea NOT NULL, execution_time bigint NOT NULL)")
            for m in chain.migrations:
                raw = (root / m.up.path.removeprefix("migrations/")).read_bytes()
                conn.execute("INSERT INTO _sqlx_migrations VALUES (%s, %s, now(), true, %s, 1)",
                             (m.version, m.name.replace("_", " "), hashlib.sha384(raw).digest()))
        else:
            project = next(line.split("=", 1)[1].strip() for line in (root / "sqitch.plan").read_text().splitlines()
                           if line.startswith("%project"))
            conn.execute("CREATE SCHEMA sqitch")
            conn.execute("CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text, "
                         "change text NOT NULL, project text NOT NULL, note text NOT NULL DEFAULT '', "
                         "committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), committer_name text NOT NULL, "
                         "committer_email text NOT NULL, planned_at timestamptz NOT NULL, planner_name text NOT NULL,"
                         " planner_email text NOT NULL)")
            for m in chain.migrations:
                conn.execute("INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email,"
                             " planned_at, planner_name, planner_email) VALUES (md5(%s), %s, %s, 'x', 'x', now(), 'x',"
                             " 'x')", (m.version_text, m.name, project))
    return write


def check(pg: Pg, item: Item, work: Path) -> dict[str, object]:
    sql_dir = work / "sql"
    commit = copy_out(item, sql_dir)
    root = sql_dir / "migrations"
    chain = reading.read_chain(sql_dir, layouts.get(item.tool), "initjob")
    downs = sum(1 for m in chain.migrations if m.down is not None and m.down.text.strip())
    out: dict[str, object] = {"item": item.name, "repo": item.repo, "commit": commit[:12], "tool": item.tool,
                              "major": pg.server.major, "migrations": len(chain.migrations), "downs": downs}
    dump = lambda db: [line for line in subprocess.run(  # noqa: E731
        [str(pg.clients / "pg_dump"), "--schema-only", "--exclude-schema=initjob", *EXCLUDE[item.tool], pg.uri(db)],
        capture_output=True, text=True, check=True).stdout.splitlines()
        if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))]
    a, b, empty = pg.create_db(), pg.create_db(), pg.create_db()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": pg.uri(a), "INITJOB_SQL_DIR": str(sql_dir), "INITJOB_LOG_FORMAT": "json",
            "USE_MIGRATIONS": "true", "INITJOB_MIGRATIONS_FORMAT": item.tool, "INITJOB_WAIT_TIMEOUT": "30"}
    first = initjob(env, "run")
    out["apply"] = "exit 0" if first.code == 0 else f"exit {first.code}: {first.failure()}"
    out["initjob s"] = round(first.seconds, 1)
    ok, err, seconds = pg.psql(b, psql_build(item, root))
    out["psql s"] = round(seconds, 1)
    out["= psql"] = same(dump(a), dump(b)) if ok else f"psql failed: {err}"
    again = initjob(env, "run")
    out["no-op"] = "yes" if again.code == 0 and any(e.get("event") == "run.nothing_to_do" for e in again.events) \
        else f"exit {again.code}: {again.failure()}"
    out["verify"] = f"exit {initjob(env, 'verify').code}"
    if downs:
        back = initjob(env, "rollback", "--steps", str(len(chain.migrations)))
        out["rollback"] = (f"exit 0, {same(dump(a), dump(empty))} empty" if back.code == 0
                           else f"exit {back.code}: {back.failure()}")
        failed = back.failed_file()
        if back.code == 5 and failed:  # the same down by psql, on the same state: broken upstream if it fails too
            undone = sum(1 for e in back.events if e.get("event") == "migration.rolled_back")
            ok, err, _ = pg.psql(a, f"BEGIN;\n\\i {root / failed.removeprefix('migrations/')}\nCOMMIT;\n")
            out["rollback"] = (f"{undone} of {downs} downs, then {failed} fails under psql too (broken upstream: "
                               f"{err.splitlines()[0] if err else '?'})" if not ok else out["rollback"])
    c = pg.create_db()
    ok, err, _ = pg.psql(c, psql_build(item, root))
    with psycopg.connect(pg.uri(c), autocommit=True) as conn:
        tool_history(item, root)(conn)
    taken = initjob(env | {"DATABASE_URL": pg.uri(c)}, "run")
    adopted = [e for e in taken.events if e.get("event") == "history.adopted"]
    out["takeover"] = (f"adopted {adopted[0]['adopted'] if adopted else 0}, applied "
                       f"{next((e.get('applied') for e in taken.events if e.get('event') == 'run.finished'), '?')}, "
                       f"verify exit {initjob(env | {'DATABASE_URL': pg.uri(c)}, 'verify').code}"
                       if taken.code == 0 else f"exit {taken.code}: {taken.failure()}")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--majors", default="", help="comma-separated majors (default: every available one)")
    args = parser.parse_args(argv)
    items = [i for i in ITEMS if args.only is None or i.name in args.only]
    absent = [i.repo for i in items if not (MIRROR / i.repo.replace("/", "+") / "repo").is_dir()]
    if absent:
        print("layouts: mirrors missing: " + ", ".join(absent) + " (the session tool `fetch` puts them under "
              "/work/.mirror/, or set INITJOB_MIRROR)", file=sys.stderr)
        return 2
    bindirs = pgserver.available_bindirs()
    if args.majors:
        bindirs = [d for d in bindirs if pgserver.server_major(d) in {int(m) for m in args.majors.split(",")}]
    failed = False
    for bindir in bindirs:
        with pgserver.running_server(bindir, conf={"max_locks_per_transaction": "1024"}) as server:
            pg = Pg(server, clients_for(bindir))
            for item in items:
                work = Path(tempfile.mkdtemp(prefix=f"layouts-{item.name}-"))
                try:
                    row = check(pg, item, work)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                failed |= row["apply"] != "exit 0" or row["= psql"] != "yes" or row["no-op"] != "yes"
                print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
