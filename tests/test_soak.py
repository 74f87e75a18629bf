"""The randomized fault soak, short: one trial per fault (the long one is ``./dev soak``).

Each trial runs 3 concurrent runners over a 60-migration chain on a primary/standby pair, injects
its fault at a random moment, runs ``initjob run`` until exit 0 (at most 3 times) and checks every
invariant (see ``devtools/soak.py``).  ``INITJOB_SOAK_SEED`` picks the seed; a failure names the
command that replays it.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
import pytest
from conftest import Server
from helpers_figures import record

from devtools import pgserver, soak
from initjob.config import load_config
from initjob.errors import Interrupted
from initjob.report import Report
from initjob.session import with_connection

SEED = int(os.environ.get("INITJOB_SOAK_SEED") or "1")


@pytest.fixture(scope="module")
def prepared() -> Iterator[soak.Soak]:
    """The pair, the generated chain and its clean build's schema, shared by the trials."""
    if not pgserver.available_bindirs():
        pytest.skip("no PostgreSQL server binaries")
    with pgserver.running_pair() as pair, tempfile.TemporaryDirectory(prefix="initjob-soak-chain-") as work:
        yield soak.prepare(pair, Path(work), SEED)


def test_generated_chain_has_what_the_soak_needs() -> None:
    """About 60 files, three no-transaction files with a concurrent index build, one slow file."""
    files = soak.generate_chain(SEED)
    assert len(files) == soak.CHAIN_LENGTH
    no_tx = [t for t in files.values() if t.startswith("-- initjob:no-transaction")]
    assert len(no_tx) == 3 and all("CREATE INDEX CONCURRENTLY" in t for t in no_tx)
    assert sum("pg_sleep" in t for t in files.values()) == 1
    assert soak.generate_chain(SEED) == files, "the chain must depend on the seed alone"


@pytest.mark.parametrize("fault", soak.FAULTS)
def test_one_random_fault_and_the_invariants_hold(prepared: soak.Soak, fault: str) -> None:
    """3 runners, the fault at a random moment, then runs until exit 0: every invariant holds."""
    index = soak.FAULTS.index(fault)
    trial = soak.run_trial(prepared, index, fault)
    record("soak.short", fault=fault, seed=SEED, at_s=trial.at_s, detail=trial.detail,
           runner_codes=trial.runner_codes, runs_to_converge=trial.runs_to_converge, took_s=trial.took_s)
    assert trial.passed, (f"{trial.problems}; replay: ./dev soak --seed {SEED} --only {index} --faults {fault}")


def test_signal_during_a_pipelined_read_stays_a_signal(server: Server, dbname: str) -> None:
    """Found by the soak (seed 2027, trial 66): SIGTERM while a catalog read waited in pipeline mode
    became psycopg's 'cannot exit pipeline mode while busy' and exit 1; it must stay the signal (143)."""
    cfg = load_config(["run"], {"DATABASE_URL": server.url(dbname), "INITJOB_WAIT_TIMEOUT": "5"})

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.SIGTERM)

    def work(conn: psycopg.Connection[Any]) -> Report:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with conn.pipeline():
            conn.execute("SELECT pg_sleep(2)")
        raise AssertionError("the signal never arrived")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        with pytest.raises(Interrupted) as caught:
            with_connection(cfg.connection, work)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert caught.value.exit_code == 143
