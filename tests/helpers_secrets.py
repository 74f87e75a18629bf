"""A pytest plugin: fail any passing test whose captured output holds the test password.

conftest's ``initjob()`` and ``finish()`` already check what the real command printed; this catches
the rest, suite-wide: whatever a test or in-process initjob code printed or logged (stdout, stderr,
log capture), and the termination messages it had initjob write under its ``tmp_path``.  A failing
test is left as it is: pytest's own failure report shows fixture values, the suite's admin URL among
them.  Registered by ``pytest_plugins`` in test_secrets.py (collected in every normal run); conftest
may list it too.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.pgserver import PASSWORD


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.passed or report.when == "setup":
        return  # setup's output is part of the call report's sections
    leaked = [name for name, text in report.sections
              if PASSWORD in text and (report.when == "call" or name.endswith("teardown"))]
    if report.when == "call":
        leaked += [str(path) for path in _termination_messages(item) if PASSWORD in path.read_text(errors="replace")]
    if leaked:
        report.outcome = "failed"
        report.longrepr = f"the test password appeared in captured output: {', '.join(leaked)}"


def _termination_messages(item: pytest.Item) -> Iterator[Path]:
    """Termination messages a test had initjob write under its tmp_path (INITJOB_TERMINATION_LOG)."""
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if isinstance(tmp, Path) and tmp.is_dir():
        yield from (p for p in tmp.rglob("*termination*") if p.is_file())
