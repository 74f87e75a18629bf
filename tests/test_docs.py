"""The docs cannot drift from the program: their shell examples run here, against a real PostgreSQL.

Every fenced block whose info string starts with ``sh`` (or ``bash``, ``shell``) in ``docs/*.md`` is
run, page by page, in order, in one fresh database and a scratch copy of the example ``sql/`` tree,
with ``DATABASE_URL`` set, as a reader would type it. Exported variables and the working directory
carry over from one block to the next. The info string says more:

* ```` ```sh exit=3 ```` — the block is expected to exit 3 (its last command fails on purpose);
* ```` ```sh no-run ```` — cannot run here (kubectl, a real archive): checked as shell syntax, reported
  as skipped;
* a block inside an HTML comment (``<!-- … -->``) is hidden set-up: run, not shown to readers.

The other checks: a troubleshooting section for every exit code, links and anchors that resolve,
the configuration reference and the lint rule table equal to the code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import EXAMPLE_SQL, ROOT, Server, assert_no_secret, base_env

from initjob import config, errors, lint

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
SHELLS = {"sh", "bash", "shell"}
BLOCK_TIMEOUT = 240
# Pages whose shell blocks are not marked yet; each entry says what is missing. Remove it once fixed.
PENDING_MARKS = {
    "deployment.md": "its docker, kubectl and compose blocks need ```sh no-run (the page has another author)",
}
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    options: tuple[str, ...]
    body: str
    hidden: bool

    @property
    def is_shell(self) -> bool:
        return self.lang in SHELLS

    @property
    def runs(self) -> bool:
        return self.is_shell and "no-run" not in self.options

    @property
    def expected_exit(self) -> int:
        codes = [int(o.split("=", 1)[1]) for o in self.options if o.startswith("exit=")]
        return codes[0] if codes else 0

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    hidden = [(m.start(), m.end()) for m in _COMMENT.finditer(text)]
    out = []
    for m in _FENCE.finditer(text):
        info = m["info"].split()
        out.append(Block(page.name, text.count("\n", 0, m.start()) + 1, info[0] if info else "", tuple(info[1:]),
                         m["body"], any(a <= m.start() < b for a, b in hidden)))
    return out


def shell_blocks(runs: bool) -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.is_shell and b.runs is runs]


# ------------------------------------------------------------------ running the examples

_PRELUDE = """set -euo pipefail
source "$DOCTEST_STATE"
cd "$(cat "$DOCTEST_CWD")"
trap 'export -p | grep -vE "^declare -x (OLDPWD|PWD|SHLVL|_)=" > "$DOCTEST_STATE"; pwd > "$DOCTEST_CWD"' EXIT
"""


def _databases(server: Server) -> set[str]:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


@pytest.fixture
def reader(server: Server, db_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A reader's shell: the example sql/ in the working directory, DATABASE_URL set, initjob on PATH."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(EXAMPLE_SQL, work / "sql")
    (tmp_path / "state").write_text("")
    (tmp_path / "cwd").write_text(str(work))
    path = [str(Path(sys.executable).parent)]
    if server.handle is not None:
        path.append(str(server.handle.bindir))  # psql, pg_dump and pg_restore of the server's own major
    before = _databases(server)
    env = base_env(DATABASE_URL=db_url, PATH=os.pathsep.join([*path, os.environ.get("PATH", "")]),
                   HOME=str(tmp_path), DOCTEST_STATE=str(tmp_path / "state"), DOCTEST_CWD=str(tmp_path / "cwd"),
                   GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="docs", GIT_AUTHOR_EMAIL="docs@example.invalid",
                   GIT_COMMITTER_NAME="docs", GIT_COMMITTER_EMAIL="docs@example.invalid")
    env.pop("INITJOB_LOG_FORMAT")  # as for a reader: JSON into a pipe, text on a terminal
    # The example tree as a fresh clone would have it, so `git checkout -- FILE` works as in a real repository.
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the example sql/"]):
        subprocess.run(["git", *git], cwd=work, env=env, check=True, capture_output=True)
    yield env
    for name in _databases(server) - before:  # databases an example made (a restore target, say)
        server.drop_db(name)


@pytest.mark.parametrize("page", [p.name for p in PAGES if any(b.runs for b in blocks(p))])
def test_examples_run(page: str, reader: dict[str, str]) -> None:
    """Each page's shell examples, in order, exit as the page says they do."""
    if page in PENDING_MARKS:
        pytest.skip(f"{page}: {PENDING_MARKS[page]}")
    for block in blocks(DOCS / page):
        if not block.runs:
            continue
        if re.search(r"\bjq\b", block.body) and not shutil.which("jq"):
            pytest.skip(f"{block.where} needs jq")
        done = subprocess.run(["bash", "-c", _PRELUDE + block.body], env=reader, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT, check=False)
        assert_no_secret(done.stdout, done.stderr)
        assert done.returncode == block.expected_exit, (
            f"{block.where}: exit {done.returncode}, the page says {block.expected_exit} "
            f"(mark a block that cannot run here ```sh no-run)\n--- block\n{block.body}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-5000:]}")


@pytest.mark.parametrize("block", shell_blocks(runs=False), ids=lambda b: b.where)
def test_no_run_examples_are_valid_shell(block: Block) -> None:
    """Examples that cannot run here are at least valid shell, and are reported as skipped, not forgotten."""
    done = subprocess.run(["bash", "-n"], input=block.body, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{block.where}: {done.stderr}"
    pytest.skip(f"{block.where}: marked no-run")


def test_pending_marks_are_not_stale() -> None:
    """A page listed in PENDING_MARKS still has unmarked shell blocks; otherwise drop it from the list."""
    for page in PENDING_MARKS:
        path = DOCS / page
        assert not path.exists() or any(b.runs for b in blocks(path)), f"{page} is fixed: remove it from PENDING_MARKS"


def test_every_page_is_reached() -> None:
    """Every docs page is linked from docs/README.md, so a newcomer finds it."""
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES if p.name != "README.md" and f"({p.name}" not in index]
    assert not missing, f"docs/README.md does not link {missing}"


# ------------------------------------------------------------------ the troubleshooting guide


def test_troubleshooting_has_a_section_per_exit_code() -> None:
    """The failure log line links docs/troubleshooting.md#exit-N: every N must land on its section."""
    codes = {0, 130, 143} | {cls.exit_code for cls in _subclasses(errors.InitJobError)}
    anchors = _anchors(DOCS / "troubleshooting.md")
    assert {f"exit-{c}" for c in codes} <= anchors, sorted({f"exit-{c}" for c in codes} - anchors)
    assert errors.TROUBLESHOOTING == "docs/troubleshooting.md"


def test_troubleshooting_names_the_fixes() -> None:
    """The usual fixes are spelt out as commands."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    for command in ("initjob baseline --version", "initjob rollback --steps", "INITJOB_ALLOW_DESTRUCTIVE=true",
                    "last_marker", "pg_restore", "recovery_target_name", "initjob status", "initjob plan",
                    "initjob verify", "initjob lint"):
        assert command in text, command


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


# ------------------------------------------------------------------ links and anchors


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text_outside = _FENCE.sub("", text)
    found = set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', text_outside))
    found |= {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text_outside, re.M)}
    return found


def _link_sources() -> list[Path]:
    return [*PAGES, *(p for p in [ROOT / "README.md"] if p.exists())]


@pytest.mark.parametrize("page", [p.relative_to(ROOT).as_posix() for p in _link_sources()])
def test_links_resolve(page: str) -> None:
    """Relative links point at files that exist, and at anchors those files have."""
    path = ROOT / page
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_guide_links_in_the_code_resolve() -> None:
    """Hints in the code name docs/…md#anchor: each must exist."""
    broken = []
    for source in sorted((ROOT / "initjob").glob("*.py")):
        for file_part, anchor in re.findall(r"(docs/[\w.-]+\.md)(?:#([\w-]+))?", source.read_text()):
            dest = ROOT / file_part
            if not dest.exists() or (anchor and anchor not in _anchors(dest)):
                broken.append(f"{source.name}: {file_part}#{anchor}")
    assert not broken, broken


# ------------------------------------------------------------------ references that must equal the code


def _table_rows(page: Path, first_header: str) -> list[list[str]]:
    """Rows of the Markdown table whose first header cell is ``first_header``, cells without backticks."""
    rows: list[list[str]] = []
    inside = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            cells = [c.replace("`", "").strip() for c in line.strip().strip("|").split("|")]
            if not inside and cells[0].lower() == first_header:
                inside = True
                continue
            if inside and not set(cells[0]) <= set("-: "):
                rows.append(cells)
        elif inside:
            break
    return rows


def test_configuration_reference_equals_config() -> None:
    """docs/configuration.md lists every variable of config._SETTINGS, with its flag and its default."""
    rows = {r[0]: r for r in _table_rows(DOCS / "configuration.md", "variable")}
    expected = {env: (dest, default) for dest, env, default, _ in config._SETTINGS}
    assert set(rows) == set(expected), f"missing {set(expected) - set(rows)}, unknown {set(rows) - set(expected)}"
    for env, (dest, default) in expected.items():
        flag = "--" + dest.replace("_", "-")
        assert rows[env][1].startswith(flag), f"{env}: flag {rows[env][1]!r}, expected {flag}"
        shown, want = rows[env][2], default if default is not None else "—"
        assert shown == want or shown.startswith(f"{want} "), f"{env}: default {shown!r}, config says {default!r}"


def test_configuration_reference_lists_every_flag() -> None:
    """Every option of every command appears in docs/configuration.md."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    parser = config.build_parser()
    missing = []
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in getattr(action, "choices", {}).items():
            assert f"`{name}`" in text or f"initjob {name}" in text, f"command {name} not in configuration.md"
            for option in sub._actions:
                missing += [f"{name} {o}" for o in option.option_strings if o not in ("-h", "--help")
                            and f"`{o}" not in text]
    assert not missing, missing


def test_lint_rule_table_equals_the_rule_set() -> None:
    """docs/lint.md lists each rule with the level the code gives it, and each dropped rule."""
    kept = {r[0]: r[1] for r in _table_rows(DOCS / "lint.md", "rule")}
    expected = {name: rule.level for name, rule in {**lint.RULES, **lint.OWN_RULES}.items()}
    assert kept == expected
    dropped = {r[0] for r in _table_rows(DOCS / "lint.md", "dropped rule")}
    assert dropped == set(lint.DROPPED)


# ------------------------------------------------------------------ the architecture page


def _module_rows(page: str) -> set[str]:
    """The modules named in the first column of the page's "One line per module" table."""
    table = page.split("## One line per module", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([^`]+)`", row.split(" | ", 1)[0])}


def test_architecture_names_every_module() -> None:
    """Every file under initjob/ has its row in docs/architecture.md's module table, and every row a file."""
    package = ROOT / "initjob"
    modules = {p.relative_to(package).with_suffix("").as_posix() for p in package.rglob("*.py")} - {"__init__"}
    named = _module_rows((DOCS / "architecture.md").read_text(encoding="utf-8"))
    assert not modules - named, f"docs/architecture.md has no row for {sorted(modules - named)}"
    assert not named - modules, f"docs/architecture.md names modules that do not exist: {sorted(named - modules)}"
