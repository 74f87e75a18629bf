"""The decision core over plain data: every outcome of ``decide`` from a table of facts, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from initjob import decide
from initjob.decide import (
    Adopt,
    ApplyFiles,
    Baseline,
    BaselineMatch,
    Comparison,
    Facts,
    Inspect,
    Migrate,
    Need,
    RecordState,
    Refuse,
    Repeat,
    Sync,
    UpToDate,
)
from initjob.errors import (
    ContractNotReady,
    DestructiveRefused,
    Drift,
    EmptyDesiredState,
    ExpandNotDone,
    ForeignHistoryBroken,
    ForeignHistoryMismatch,
    HistoryMismatch,
    ModeSwitchRefused,
    NoBaseline,
    NotConverged,
)
from initjob.schema.diff import Hazard, Plan, Step
from initjob.source import Migration, SqlFile
from initjob.state import Applied, DbState, ForeignHistory, ForeignVersion

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def mig(version: int, text: str = "SELECT 1;") -> Migration:
    return Migration(version, f"{version:04d}", f"m{version}", SqlFile(f"migrations/{version:04d}_m.up.sql", text,
                                                                     f"sum{version}{text}"), None, True)


def row(version: int, checksum: str | None = None, success: bool = True, done: int = 0) -> Applied:
    return Applied(version, f"{version:04d}", f"m{version}", "migration", checksum or f"sum{version}SELECT 1;", True,
                   success, done, NOW, "test", 1)


def state(mode: str | None, applied: tuple[Applied, ...] = (), fingerprint: str | None = "fp",
          files: dict[str, str] | None = None, tree: str | None = None) -> DbState:
    return DbState(layout=1 if mode else 0, mode=mode, fingerprint=fingerprint if mode else None,
                   schema_files=files or {}, applied=applied, tree_hash=tree)


def unparsed(mode: str, st: DbState, tree_hash: str = "h", **known: object) -> Facts:
    """Facts as a run has them before parsing anything: the tree's hash only."""
    return Facts(mode=mode, state=st, tree_hash=tree_hash).with_(**known)


SAFE_PLAN = Plan((Step("CREATE TABLE t ()", "public.t", "new table"),))
LOSSY_PLAN = Plan((Step("DROP TABLE t", "public.t", "drops rows", hazards=(Hazard.DATA_LOSS,)),))
FILES = {"schema/a.sql": "x"}


def migrations(st: DbState, files: tuple[Migration, ...] = (mig(1), mig(2)), **known: object) -> Facts:
    return Facts(mode="migrations", state=st, migrations=files).with_(**known)


def foreign(tool: str = "dbmate", *versions: int, up_to: int | None = None, broken: tuple[str, ...] = (),
            sums: dict[int, str] | None = None) -> ForeignHistory:
    return ForeignHistory(tool, "public.t", tuple(ForeignVersion(v, str(v), (sums or {}).get(v)) for v in versions),
                          up_to, broken)


CONTRACT = "-- initjob:contract\nALTER TABLE t DROP COLUMN c;"


def expanded(st: DbState, tree: str = "h") -> DbState:
    """The state after an expand of ``tree`` whose contract half waits."""
    return replace(st, expanded=tree)


def other_tool(st: DbState, found: ForeignHistory | None, tool: str = "dbmate", **known: object) -> Facts:
    return migrations(st, tool=tool, foreign=found, **known)


def repeatable(path: str, text: str = "x") -> SqlFile:
    return SqlFile(path, text, f"sum:{text}")


REPEATABLES = (repeatable("repeatable/a.sql"), repeatable("repeatable/b.sql", "new"))


def autosync(st: DbState, **known: object) -> Facts:
    return Facts(mode="auto-sync", state=st, schema_files=FILES).with_(**known)


CASES: list[tuple[str, Facts, type, object]] = [
    # migrations mode
    ("fresh database: apply all", migrations(state(None), foreign=ForeignHistory("initjob")), Migrate, (1, 2)),
    ("one pending after drift check", migrations(state("migrations", (row(1),)), drift=()), Migrate, (2,)),
    ("drift not read yet: ask for it", migrations(state("migrations", (row(1),))), Inspect, Need.DRIFT),
    ("drift blocks new work", migrations(state("migrations", (row(1),)), drift=("table t added",)), Refuse, Drift),
    ("all applied, no drift", migrations(state("migrations", (row(1), row(2))), drift=()), decide.UpToDate, None),
    ("all applied, drift", migrations(state("migrations", (row(1), row(2))), drift=("x",)), Refuse, Drift),
    ("changed checksum", migrations(state("migrations", (row(1, "other"),)), drift=()), Refuse, HistoryMismatch),
    ("applied file gone", migrations(state("migrations", (row(1), row(3))), drift=()), Refuse, HistoryMismatch),
    ("file older than applied", migrations(state("migrations", (row(2, "sum2SELECT 1;"),)), drift=()),
     Refuse, HistoryMismatch),
    ("half-done file resumes without drift check", migrations(state("migrations", (row(1), row(2, success=False,
                                                                                           done=1)))),
     Migrate, (2,)),
    ("transition with no migration at all", migrations(state("auto-sync"), files=(),
                                                            baseline=BaselineMatch(None)), Refuse, NoBaseline),
    ("transition: ask for the baseline", migrations(state("auto-sync")), Inspect, Need.BASELINE),
    ("transition: baseline at 1", migrations(state("auto-sync"), baseline=BaselineMatch(1)), Baseline, 1),
    ("transition: no prefix matches", migrations(state("auto-sync"), baseline=BaselineMatch(None, "0001", ("x",))),
     Refuse, NoBaseline),
    ("baselined by hand, files all recorded: record the mode",
     migrations(state("auto-sync", (row(1), row(2))), drift=()), RecordState, "migrations"),
    # auto-sync mode
    ("files and catalog as recorded", autosync(state("auto-sync", files=FILES), drift=()), UpToDate, None),
    ("files as recorded: ask for drift", autosync(state("auto-sync", files=FILES)), Inspect, Need.DRIFT),
    ("drift with unchanged files: compare with the record",
     autosync(state("auto-sync", files=FILES), drift=("x",)), Inspect, Need.COMPARISON),
    ("drift put back", autosync(state("auto-sync", files=FILES), drift=("x",),
                                comparison=Comparison(SAFE_PLAN, ("x",), True)), Sync, False),
    ("never seen: ask whether empty", autosync(state(None)), Inspect, Need.LIVE_EMPTY),
    ("never seen and empty: apply the files", autosync(state(None), live_empty=True), ApplyFiles, None),
    ("never seen with objects: adopt by comparing", autosync(state(None), live_empty=False),
     Inspect, Need.COMPARISON),
    ("adoption plan", autosync(state(None), live_empty=False, comparison=Comparison(SAFE_PLAN, ("t",))), Sync, True),
    ("files changed: compare", autosync(state("auto-sync", files={"schema/a.sql": "old"})), Inspect,
     Need.COMPARISON),
    ("files changed, same schema: record", autosync(state("auto-sync"), comparison=Comparison(Plan())),
     RecordState, "auto-sync"),
    ("differences but no plan: never up to date", autosync(state("auto-sync"),
                                                           comparison=Comparison(Plan(), ("NOT NULL on t.a",))),
     Refuse, NotConverged),
    ("data loss refused", autosync(state("auto-sync"), comparison=Comparison(LOSSY_PLAN, ("t",))), Refuse,
     DestructiveRefused),
    ("data loss allowed", autosync(state("auto-sync"), allow_destructive=True,
                                   comparison=Comparison(LOSSY_PLAN, ("t",))), Sync, False),
    ("empty files refused even with data loss allowed", autosync(
        state("auto-sync"), allow_destructive=True, comparison=Comparison(LOSSY_PLAN, ("t",), undeclared_empty=True)),
     Refuse, EmptyDesiredState),
    ("empty on purpose (-- initjob:empty)", autosync(state("auto-sync"), allow_destructive=True,
                                                     comparison=Comparison(LOSSY_PLAN, ("t",))), Sync, False),
    ("mode switch refused", autosync(state("migrations", (row(1),))), Refuse, ModeSwitchRefused),
    # the no-op fast path: the tree's hash as a complete run recorded it, nothing parsed
    ("tree as recorded: ask for drift", unparsed("migrations", state("migrations", (row(1),), tree="h:1")),
     Inspect, Need.DRIFT),
    ("tree as recorded, no drift", unparsed("migrations", state("migrations", (row(1),), tree="h:1"), drift=()),
     UpToDate, None),
    ("tree as recorded, drift: parse to judge", unparsed("migrations", state("migrations", (row(1),), tree="h:1"),
                                                         drift=("x",)), Inspect, Need.TREE),
    ("tree changed: parse", unparsed("migrations", state("migrations", (row(1),), tree="h:1"), "other"),
     Inspect, Need.TREE),
    ("history row removed by hand: parse", unparsed("migrations", state("migrations", (row(1),), tree="h:2"),
                                                    drift=()), Inspect, Need.TREE),
    ("recorded by the other mode: parse", unparsed("auto-sync", state("migrations", (row(1),), tree="h:1")),
     Inspect, Need.TREE),
    ("auto-sync tree as recorded", unparsed("auto-sync", state("auto-sync", tree="h:0"), drift=()), UpToDate, None),
    ("never recorded a tree (older layout): parse", unparsed("auto-sync", state("auto-sync")), Inspect, Need.TREE),
    ("mode switch forced", autosync(state("migrations", (row(1),)), force_mode_switch=True), Inspect,
     Need.COMPARISON),
    # another tool's history (INITJOB_MIGRATIONS_FORMAT)
    ("other tool, no history of ours: ask for theirs", other_tool(state(None), None), Inspect, Need.FOREIGN),
    ("other tool without a table: apply all", other_tool(state(None), ForeignHistory("dbmate")), Migrate, (1, 2)),
    ("other tool applied 1: adopt it", other_tool(state(None), foreign("dbmate", 1)), Adopt, (1,)),
    ("golang-migrate at 2: adopt all up to it", other_tool(state(None), foreign("golang-migrate", 2, up_to=2),
                                                           "golang-migrate"), Adopt, (1, 2)),
    ("flyway baseline below every file: apply all", other_tool(state(None), foreign("flyway", up_to=0), "flyway"),
     Migrate, (1, 2)),
    ("broken row: refused", other_tool(state(None), foreign("flyway", 1, broken=("V2 failed",)), "flyway"),
     Refuse, ForeignHistoryBroken),
    ("their version without a file", other_tool(state(None), foreign("dbmate", 1, 7)), Refuse, ForeignHistoryMismatch),
    ("their checksum differs", other_tool(state(None), foreign("flyway", 1, sums={1: "12"}), "flyway",
                                          tool_checksums={1: "34"}), Refuse, ForeignHistoryMismatch),
    ("their checksum matches", other_tool(state(None), foreign("flyway", 1, sums={1: "12"}), "flyway",
                                          tool_checksums={1: "12"}), Adopt, (1,)),
    ("taken over, nothing pending: their table is not read again",
     other_tool(state("migrations", (row(1), row(2))), None, drift=()), decide.UpToDate, None),
    ("taken over, files pending: their table is read (the tool may have applied some since)",
     other_tool(state("migrations", (row(1),)), None, drift=()), Inspect, Need.FOREIGN),
    ("the tool applied a pending file since: adopted, not run again",
     other_tool(state("migrations", (row(1),)), foreign("dbmate", 1, 2), drift=()), Adopt, (2,)),
    ("their table holds nothing new: the pending file runs",
     other_tool(state("migrations", (row(1),)), foreign("dbmate", 1), drift=()), Migrate, (2,)),
    ("golang-migrate's one row at a version initjob applied: nothing new",
     other_tool(state("migrations", (row(1),)), foreign("golang-migrate", 1, up_to=1), "golang-migrate",
                drift=()), Migrate, (2,)),
    ("initjob's layout, never recorded: look for golang-migrate's table", migrations(state(None)), Inspect,
     Need.FOREIGN),
    ("initjob's layout over golang-migrate's history: refused", migrations(state(None), foreign=foreign(
        "golang-migrate", 2, up_to=2)), Refuse, ForeignHistoryMismatch),
    ("initjob's layout, recorded by auto-sync: no other table read",
     migrations(state("auto-sync"), baseline=BaselineMatch(1)), Baseline, 1),
    # repeatable files: after the schema is up to date, by their own hash
    ("repeatables as recorded", unparsed("migrations", replace(state("migrations", (row(1),), tree="h:1"),
                                                               repeatable_hash="r"), repeatable_hash="r", drift=()),
     UpToDate, None),
    ("repeatables changed: ask", unparsed("migrations", state("migrations", (row(1),), tree="h:1"),
                                          repeatable_hash="r", drift=()), Inspect, Need.REPEATABLES),
    ("repeatables: only the changed one", unparsed("migrations", state("migrations", (row(1),), tree="h:1"),
                                                   repeatable_hash="r", drift=(), repeatables=REPEATABLES,
                                                   repeatables_applied={"repeatable/a.sql": "sum:x",
                                                                        "repeatable/b.sql": "sum:old"}),
     Repeat, ("repeatable/b.sql",)),
    ("repeatable removed: record the hash", unparsed("auto-sync", replace(state("auto-sync", tree="h:0"),
                                                                           repeatable_hash="r"), drift=(),
                                                     repeatables=(), repeatables_applied={"repeatable/a.sql": "s"}),
     Repeat, ()),
    ("repeatables wait for pending migrations", migrations(state("migrations", (row(1),)), drift=(),
                                                           repeatable_hash="r"), Migrate, (2,)),
    # INITJOB_PHASE (docs/zero-downtime.md)
    ("expand: contract migrations wait, later regular ones run",
     migrations(state("migrations", (row(1),)), files=(mig(1), mig(2, CONTRACT), mig(3)), drift=(), phase="expand"),
     Migrate, (3,)),
    ("expand: only contract migrations pending: record that expand is done",
     migrations(state("migrations", (row(1),)), files=(mig(1), mig(2, CONTRACT)), drift=(), phase="expand"),
     RecordState, "migrations"),
    ("expand already done for this tree",
     migrations(expanded(state("migrations", (row(1),))), files=(mig(1), mig(2, CONTRACT)), drift=(),
                phase="expand", tree_hash="h"), UpToDate, None),
    ("contract migration older than an applied one is not out of order",
     migrations(expanded(state("migrations", (row(1), row(3)))), files=(mig(1), mig(2, CONTRACT), mig(3)), drift=(),
                phase="contract", tree_hash="h", nulls={}), Migrate, (2,)),
    ("contract migrations: NULLs not counted yet",
     migrations(expanded(state("migrations", (row(1),))), files=(mig(1), mig(2, CONTRACT)), drift=(),
                phase="contract", tree_hash="h"), Inspect, Need.NULLS),
    ("contract migrations: rows still NULL",
     migrations(expanded(state("migrations", (row(1),))), files=(mig(1), mig(2, CONTRACT)), drift=(),
                phase="contract", tree_hash="h", nulls={"public.t.c": 4}), Refuse, ContractNotReady),
    ("contract before expand: refused",
     migrations(state("migrations", (row(1),)), files=(mig(1), mig(2, CONTRACT)), drift=(), phase="contract",
                tree_hash="h"), Refuse, ExpandNotDone),
    ("contract after the expand of other files: refused",
     migrations(expanded(state("migrations", (row(1),)), "other"), files=(mig(1), mig(2, CONTRACT)), drift=(),
                phase="contract", tree_hash="h"), Refuse, ExpandNotDone),
    ("all: everything in version order", migrations(state("migrations", (row(1),)),
                                                    files=(mig(1), mig(2, CONTRACT), mig(3)), drift=()),
     Migrate, (2, 3)),
    ("after expand the record is not the desired state: contract parses",
     unparsed("auto-sync", expanded(state("auto-sync", tree="h:0")), drift=(), phase="contract"), Inspect, Need.TREE),
    ("after expand the record is not the desired state: all compares",
     autosync(expanded(state("auto-sync", files=FILES)), drift=()), Inspect, Need.COMPARISON),
    ("after expand, expand again: as recorded", unparsed("auto-sync", expanded(state("auto-sync", tree="h:0")),
                                                         drift=(), phase="expand"), UpToDate, None),
    ("contract: nulls not read yet", autosync(expanded(state("auto-sync")), tree_hash="h", phase="contract",
                                              comparison=Comparison(SAFE_PLAN, ("t",))), Inspect, Need.NULLS),
    ("contract: rows still NULL", autosync(expanded(state("auto-sync")), tree_hash="h", phase="contract",
                                           comparison=Comparison(SAFE_PLAN, ("t",)), nulls={"public.t.a": 2}),
     Refuse, ContractNotReady),
    ("contract: backfilled", autosync(expanded(state("auto-sync")), tree_hash="h", phase="contract",
                                      comparison=Comparison(SAFE_PLAN, ("t",)), nulls={"public.t.a": 0}), Sync, False),
    ("contract before expand (auto-sync)", autosync(state("auto-sync"), tree_hash="h", phase="contract",
                                                    comparison=Comparison(SAFE_PLAN, ("t",))), Refuse, ExpandNotDone),
    ("contract, data loss still needs consent", autosync(expanded(state("auto-sync")), tree_hash="h", phase="contract",
                                                         comparison=Comparison(LOSSY_PLAN, ("t",))),
     Refuse, DestructiveRefused),
    ("expand: nothing to apply, steps deferred: record expand", autosync(state("auto-sync"), tree_hash="h",
     phase="expand", comparison=Comparison(Plan(), deferred=LOSSY_PLAN.steps)), RecordState, "auto-sync"),
    ("expand: done for this tree", autosync(expanded(state("auto-sync")), tree_hash="h", phase="expand",
                                            comparison=Comparison(Plan(), deferred=LOSSY_PLAN.steps)), UpToDate, None),
]


@pytest.mark.parametrize(("facts", "kind", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(facts: Facts, kind: type, detail: object) -> None:
    """Each row of facts leads to exactly one decision, with its detail."""
    decision = decide.decide(facts)
    assert isinstance(decision, kind), decision
    if isinstance(decision, Migrate):
        assert tuple(m.version for m in decision.plan.work) == detail
    elif isinstance(decision, Inspect):
        assert decision.need is detail
    elif isinstance(decision, Refuse):
        assert type(decision.error) is detail
    elif isinstance(decision, Baseline):
        assert decision.version == detail and all(m.version <= decision.version for m in decision.migrations)
    elif isinstance(decision, Sync):
        assert decision.adopting is detail
    elif isinstance(decision, RecordState):
        assert decision.mode == detail
    elif isinstance(decision, Adopt):
        assert tuple(m.version for m in decision.migrations) == detail
    elif isinstance(decision, Repeat):
        assert tuple(f.path for f in decision.files) == detail


def test_up_to_date_is_one_definition() -> None:
    """Supplying every fact a decision asked for always ends in a decision, never a loop."""
    for _, facts, _, _ in CASES:
        seen: set[Need] = set()
        decision = decide.decide(facts)
        while isinstance(decision, Inspect):
            assert decision.need not in seen, "the decider asked twice for the same fact"
            seen.add(decision.need)
            facts = facts.with_(**{Need.DRIFT: {"drift": ()}, Need.LIVE_EMPTY: {"live_empty": True},
                                   Need.COMPARISON: {"comparison": Comparison(Plan())},
                                   Need.BASELINE: {"baseline": BaselineMatch(None)},
                                   Need.TREE: {"migrations": (), "schema_files": {}},
                                   Need.FOREIGN: {"foreign": ForeignHistory("dbmate")},
                                   Need.REPEATABLES: {"repeatables": (), "repeatables_applied": {}},
                                   Need.NULLS: {"nulls": {}}}[decision.need])
            decision = decide.decide(facts)
