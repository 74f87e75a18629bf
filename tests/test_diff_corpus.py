"""A deterministic sample of the auto-sync corpus, through the real ``initjob`` command, on every major.

The whole corpus (``tests/corpus_cases.py``, 600+ runs per major) is ``./dev corpus``: too slow for
every CI run on two cores. Every 16th case runs here, so each kind is touched over time as cases are
added, and the sample never changes between runs.
"""

from __future__ import annotations

import pytest
from conftest import Server
from corpus import run_case
from corpus_cases import Case, all_cases, base_cases

SAMPLE = all_cases()[::16]

# Known bug (issue 16 is open for it): on PostgreSQL 18 an attached or detached partition keeps the
# NOT NULL constraint name it was made with, so pg_dump prints a name psql's build does not have. The
# run converges and verify agrees; only the dump comparison differs. The case still runs: any other
# problem fails it, and the day it passes the test fails too, to have the name taken off this list.
PG18_PARTITION_NAMES = {"partition/attach", "partition/attach+rows", "partition/detach", "partition/detach+rows"}


def test_corpus_covers_every_kind_with_enough_cases() -> None:
    """The issue asks for at least 400 before/after cases, each kind created, dropped and changed."""
    cases = all_cases()
    assert len(cases) >= 400
    kinds = {c.name.split("/")[0] for c in base_cases()}
    assert {"schema", "table", "column", "constraint", "index", "partition", "inherit", "sequence", "view",
            "matview", "function", "procedure", "trigger", "policy", "enum", "domain", "composite", "range",
            "collation", "extension", "grant", "refused", "chain"} <= kinds
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"


@pytest.mark.both_majors
@pytest.mark.parametrize("case", SAMPLE, ids=[c.name for c in SAMPLE])
def test_corpus_sample(any_server: Server, case: Case) -> None:
    """run refuses or applies as the case says, verify agrees, a second run is a no-op, dumps match."""
    if any_server.handle is None:
        pytest.skip("needs a server this suite started (its pg_dump and psql)")
    problems = run_case(any_server.handle, case)
    if any_server.major >= 18 and case.name in PG18_PARTITION_NAMES:
        assert problems, f"{case.name} passes on PostgreSQL 18 now: take it off PG18_PARTITION_NAMES"
        assert all(p.startswith("dump differs") and "NOT NULL" in p for p in problems), "\n".join(problems)
        pytest.xfail("PostgreSQL 18 keeps a partition's own NOT NULL constraint name (known bug, issue 16)")
    assert not problems, "\n".join(problems)
