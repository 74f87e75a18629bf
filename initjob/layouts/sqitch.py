"""sqitch: ``sqitch.plan`` names the changes in order, each with ``deploy/<change>.sql``,
``revert/<change>.sql`` and ``verify/<change>.sql``; a reworked change's earlier scripts are
``<change>@<tag>.sql``.  Its registry is the ``sqitch`` schema: ``sqitch.changes`` holds a row per
deployed change of each project.

A change's version is its place in the plan (1, 2, ...): sqitch orders by the plan, not by names.
The verify script runs after the deploy script, in its transaction, so a change that does not verify
is not applied (sqitch reverts it).  The scripts' own ``BEGIN;`` … ``COMMIT;`` (and the verify
script's ``ROLLBACK;``) are blanked out: initjob wraps each change itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from initjob.errors import ForeignHistoryMismatch
from initjob.layouts.base import Layout, Paths, Read, Row
from initjob.state import ForeignHistory, ForeignVersion

if TYPE_CHECKING:
    from initjob.source import Migration

PLAN = "sqitch.plan"
FOLDERS = ("deploy", "revert", "verify")
_CHANGE = (r"^(?P<op>[+-])?(?P<name>[^\s@#:\[\]%]+)(?:\s+\[(?P<deps>[^\]]*)\])?\s+"
           r"(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+(?P<planner>[^<]*)<(?P<email>[^>]*)>(?:\s*#\s?(?P<note>.*))?$")
_TAG = r"^@(?P<name>\S+)\s+(?P<at>\d{4}-\d\d-\d\dT\S+Z)\s"
_PROJECT = r"(?m)^%project\s*=\s*(?P<name>\S+)\s*$"
_HEAD = r"\A(?:\s|--[^\n]*\n)*(?P<stmt>(?:BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*;)"
_TAIL = r"(?P<stmt>(?:COMMIT|END|ROLLBACK)(?:\s+(?:WORK|TRANSACTION))?\s*;)(?:\s|--[^\n]*)*\Z"


def unwrap(text: str) -> str:
    """A script's own BEGIN; … COMMIT; (or ROLLBACK;, as verify scripts end) blanked out, lines kept."""
    head, tail = re.match(_HEAD, text, re.IGNORECASE), re.search(_TAIL, text, re.IGNORECASE)
    if head is None or tail is None or tail.start("stmt") <= head.end("stmt"):
        return text
    for span in (tail.span("stmt"), head.span("stmt")):
        text = text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]
    return text


def parse_plan(text: str, problems: list[str]) -> list[tuple[str, str]]:
    """The plan's changes in order, each with the suffix of its scripts (``@tag`` for a reworked one's
    earlier instances: the first tag after it whose deploy script exists is settled by the reader)."""
    entries: list[tuple[str, str]] = []  # ("change", name) or ("tag", name)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if line.startswith("@"):
            tag = re.match(_TAG, line + " ")
            if tag is None:
                problems.append(f"migrations/{PLAN}:{number}: a tag line sqitch would not read")
            else:
                entries.append(("tag", tag["name"]))
            continue
        m = re.match(_CHANGE, line)
        if m is None:
            problems.append(f"migrations/{PLAN}:{number}: a change line sqitch would not read")
        elif m["op"] == "-":
            problems.append(f"migrations/{PLAN}:{number}: a revert entry (-{m['name']}); initjob reads deploys only")
        else:
            entries.append(("change", m["name"]))
    return entries


def project_of(root: Path) -> str | None:
    try:
        found = re.search(_PROJECT, (root / PLAN).read_text("utf-8", "replace"))
    except OSError:
        return None
    return found["name"] if found else None


class Sqitch(Layout):
    name: ClassVar[str] = "sqitch"
    expected: ClassVar[str] = "sqitch.plan with deploy/, revert/ and verify/"
    table: ClassVar[str | None] = "sqitch.changes"
    keeps_table: ClassVar[bool] = False  # its registry (changes, events, tags, dependencies) is not written
    query: ClassVar[str] = "SELECT change, committed_at::text FROM {t} WHERE project = %s ORDER BY committed_at, change"

    def fits(self, root: Path, name: str, is_dir: bool) -> bool:
        return (name in FOLDERS and is_dir) or (not is_dir and (name == PLAN or name.endswith(".conf")))

    def claims(self, root: Path, name: str, is_dir: bool) -> bool:
        return name == PLAN and not is_dir

    def paths(self, root: Path) -> Paths:
        found: Paths = [(PLAN, str(root / PLAN))] if (root / PLAN).is_file() else []
        for folder in FOLDERS:
            for top, dirs, files in os.walk(root / folder):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                rel = os.path.relpath(top, root).replace(os.sep, "/")
                found += [(f"{rel}/{n}", os.path.join(top, n)) for n in files if n.endswith(".sql")]
        return sorted(found)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier("sqitch", "changes")

    def params(self, root: Path) -> tuple[str, ...]:
        return (project_of(root) or "",)  # the registry holds every project's changes

    def read(self, root: Path, problems: list[str]) -> Read:
        from initjob.layouts import reading  # the reader: off the no-op path
        from initjob.source import Migration

        loaded = reading.load(root / PLAN, f"migrations/{PLAN}", problems)
        if loaded is None:
            return []
        entries = parse_plan(loaded[0].text, problems)
        out: Read = []
        position = 0
        for index, (kind, change) in enumerate(entries):
            if kind != "change":
                continue
            position += 1
            suffix = self._suffix(root, entries, index, change)
            scripts = {}
            for folder in FOLDERS:
                path = root / folder / f"{change}{suffix}.sql"
                if path.is_file():
                    got = reading.load(path, f"migrations/{folder}/{change}{suffix}.sql", problems)
                    scripts[folder] = got[0] if got is not None else None
                elif folder == "deploy":
                    problems.append(f"migrations/{PLAN}: change {change} has no deploy/{change}{suffix}.sql")
            deploy = scripts.get("deploy")
            if deploy is None:
                continue
            text = unwrap(deploy.text)
            verify = scripts.get("verify")
            if verify is not None:  # after the deploy, in its transaction: a change that does not verify is undone
                text = text + "\n" + unwrap(verify.text)
            up = reading.sql_file(deploy.path, text)
            revert = scripts.get("revert")
            down = reading.sql_file(revert.path, unwrap(revert.text)) if revert is not None else None
            out.append((Migration(position, str(position), change, up, down,
                                  not reading.marked_no_transaction(deploy.text)), None))
        return out

    @staticmethod
    def _suffix(root: Path, entries: list[tuple[str, str]], index: int, change: str) -> str:
        """"" for a change's last instance; for an earlier one, ``@tag`` of the first tag after it whose
        deploy script exists (sqitch's rule for reworked changes)."""
        later = [i for i, (k, n) in enumerate(entries) if i > index and k == "change" and n == change]
        if not later:
            return ""
        tags = [n for k, n in entries[index + 1:later[0]] if k == "tag"]
        return next((f"@{t}" for t in tags if (root / "deploy" / f"{change}@{t}.sql").is_file()),
                    f"@{tags[0]}" if tags else "")

    def interpret_with(self, table: str, rows: Sequence[Row], migrations: Sequence[Migration]) -> ForeignHistory:
        """The deployed changes in the order sqitch committed them, matched to the plan in order."""
        applied: list[ForeignVersion] = []
        plan = list(migrations)
        for change, _ in rows:
            if len(applied) >= len(plan) or plan[len(applied)].name != change:
                expected = plan[len(applied)].name if len(applied) < len(plan) else "the end of the plan"
                raise ForeignHistoryMismatch(
                    f"{table} holds change {change!r} where sqitch.plan has {expected}",
                    "restore sqitch.plan as it was deployed (docs/switching.md)")
            m = plan[len(applied)]
            applied.append(ForeignVersion(m.version, m.version_text))
        return ForeignHistory(self.name, table, tuple(applied))


LAYOUT = Sqitch()
