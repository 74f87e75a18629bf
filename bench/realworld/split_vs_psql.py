"""Does initjob split every corpus file where psql does?  Asks the server what psql sent.

    python bench/realworld/split_vs_psql.py [--only NAME ...]

A throwaway PostgreSQL logs every statement it receives (``log_statement = all``, JSON log); psql
runs each file between two marker queries; the statements logged between the markers are psql's
split, compared with ``sqltext.split_statements`` on the text initjob would send.  Errors do not
matter (a statement that fails is logged too), so the files run in one scratch database per item.
A piece holding only comments is an empty query to the server and no statement to initjob: the
counts ignore such pieces.  Prints one line per file that differs, then the totals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import extract
import psycopg
from psycopg import sql
from run import clients_for

from devtools import pgserver
from initjob import source, sqltext

_LOG = {"logging_collector": "on", "log_destination": "'jsonlog'", "log_statement": "'all'",
        "log_min_error_statement": "error", "log_directory": "'log'", "log_min_messages": "error"}


def logged_statements(logdir: Path, marker: str) -> list[str]:
    """Statements in the server's JSON log, each once, once the second marker is in; then the log is emptied.

    The log collector writes a moment after the server ran a statement: wait for the closing marker.
    """
    for _ in range(200):
        found = _read_log(logdir)
        if sum(q.startswith(marker) for q in found) >= 2:
            break
        time.sleep(0.05)
    for path in logdir.glob("*.json"):
        path.write_text("")  # the collector appends, so it goes on writing from the start
    return found


def _read_log(logdir: Path) -> list[str]:
    """Every statement logged (a failing one is logged again with its error: counted once)."""
    out: list[str] = []
    for path in sorted(logdir.glob("*.json")):
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the last line, half written
            message = str(entry.get("message", ""))
            if message.startswith("statement: "):
                out.append(message[len("statement: "):])
            elif entry.get("error_severity") == "ERROR" and entry.get("statement") and (
                    not out or out[-1] != entry["statement"]):
                out.append(str(entry["statement"]))  # refused before it could be logged: a syntax error
    return out


def _shape(query: str) -> str:
    return " ".join(query.rstrip().rstrip(";").split())


def psql_split(server: pgserver.PgServer, psql: Path, db: str, text: str) -> list[str]:
    """The statements psql sends for ``text``, from the server's log."""
    marker = "SELECT 'split-vs-psql marker'"
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(f"{marker};\n{text}\n;\n{marker};\n")
        f.flush()
        subprocess.run([str(psql), "-X", "-q", "-d", server.url(db), "-f", f.name], capture_output=True,
                       check=False)
    logged = logged_statements(server.datadir / "log", marker)
    starts = [i for i, q in enumerate(logged) if q.startswith(marker)]
    inside = logged[starts[0] + 1:starts[1]] if len(starts) >= 2 else []
    # psql sends a trailing comment-only piece as a query; the server runs nothing for it.
    return [q for q in inside if sqltext.split_statements(q)]


def compare(server: pgserver.PgServer, psql: Path, item: extract.Item) -> tuple[int, int, int]:
    """(files, statements, files that differ) for one item."""
    db = f"split_{item.name.replace('-', '_')}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    root = Path(item.sql_dir)
    files = sorted(root.rglob("*.up.sql")) or sorted(root.rglob("*.sql"))
    statements = differ = 0
    for path in files:
        text = sqltext.without_dump_directives(source.normalise(path.read_bytes()))
        ours = [_shape(s.text) for s in sqltext.split_statements(text)]
        theirs = [_shape(q) for q in psql_split(server, psql, db, text)]
        statements += len(ours)
        if len(ours) != len(theirs):
            differ += 1
            first = next(((a, b) for a, b in zip(ours, theirs, strict=False) if a != b), ("", ""))
            print(f"{item.name}: {path.name}: initjob {len(ours)} statements, psql {len(theirs)}; first "
                  f"difference: {first[0][:100]!r} / {first[1][:100]!r}")
    return len(files), statements, differ


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    if extract.missing():
        print("split_vs_psql: mirrors missing: " + ", ".join(extract.missing()), file=sys.stderr)
        return 2
    bindir = pgserver.available_bindirs()[0]
    totals = [0, 0, 0]
    with tempfile.TemporaryDirectory(prefix="split-vs-psql-") as out, \
            pgserver.running_server(bindir, conf=_LOG) as server:
        for item in extract.extract(Path(out), args.only):
            for i, n in enumerate(compare(server, clients_for(bindir) / "psql", item)):
                totals[i] += n
    print(json.dumps({"files": totals[0], "statements": totals[1], "files_that_differ": totals[2]}))
    return 0 if totals[2] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
