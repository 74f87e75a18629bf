"""One place decides what a run does: a pure function of plain data, no I/O.

``decide(facts)`` returns one value of a small closed set: up to date; apply these migrations;
record a baseline (the transition); apply the schema files to an empty database; sync with this
plan; record the state only; or refuse, with the condition as a typed error.  When it needs a fact
that costs a query or a shadow database, it asks for it (``Inspect``) and the caller reads it and
asks again, so the cheap no-op path reads nothing it does not need.

``run``, ``verify``, ``status``, ``plan`` and ``lint`` all decide here: "up to date" is defined once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING

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
    NotUpToDate,
    Unmanaged,
)
from initjob.record import record
from initjob.state import DbState, ForeignHistory

if TYPE_CHECKING:  # types only: the planner, the SQL reader and the diff engine stay off the no-op path
    from initjob.plan import MigrationPlan
    from initjob.schema.catalog import Snapshot
    from initjob.schema.diff import Plan, Step
    from initjob.schema.renames import Rename
    from initjob.source import Migration, SqlFile

MIGRATIONS = "migrations"
AUTO_SYNC = "auto-sync"
# INITJOB_PHASE (docs/zero-downtime.md): expand before the rollout, contract after it, all both at once.
ALL, EXPAND, CONTRACT = "all", "expand", "contract"


class Need(Enum):
    """A fact the decider asks for before it can decide."""

    DRIFT = "drift"            # the live schema against the recorded one (catalog token first, snapshot if it moved)
    LIVE_EMPTY = "live_empty"  # whether the database holds any object of its own
    COMPARISON = "comparison"  # the live schema against the desired state, and the plan between them
    BASELINE = "baseline"      # the newest migration prefix equal to the live schema
    TREE = "tree"              # the files parsed (decoded, split, checked): not while the tree hash is as recorded
    FOREIGN = "foreign"        # another tool's history table (INITJOB_MIGRATIONS_FORMAT), before initjob has one
    REPEATABLES = "repeatables"  # the repeatable files parsed, and the checksums they were last applied with
    NULLS = "nulls"  # contract: rows holding NULL in each column its plan makes NOT NULL


@record
class Comparison:
    """The live schema against the desired state: what differs, and the plan that would fix it."""

    plan: Plan
    differences: tuple[str, ...] = ()
    desired_from_record: bool = False  # files unchanged: the desired state is the recorded snapshot
    desired: Snapshot | None = None    # carried to the apply step, which compares the result with it
    schemas: tuple[str, ...] = ()      # the schemas of the desired state
    live_schemas: tuple[str, ...] = ()  # those plus the ones the database was managing
    live: Snapshot | None = None       # what the plan starts from: rehearsed on a copy before it runs
    # expand (INITJOB_PHASE): ``plan`` is the expand half and ``desired`` its target; these wait for contract.
    deferred: tuple[Step, ...] = ()
    final: Snapshot | None = None      # expand: the whole desired state, which the deferred steps reach
    renames: tuple[Rename, ...] = ()   # declared in sql/schema/ (-- initjob:renamed from=...)
    undeclared_empty: bool = False     # the files hold no statement and do not say that is meant


@record
class BaselineMatch:
    """The transition's search: the newest matching version, or the closest miss."""

    version: int | None
    closest: str = "none"
    differences: tuple[str, ...] = ()


@record
class Facts:
    """Everything a decision depends on; ``None`` means "not read yet"."""

    mode: str
    state: DbState
    tree_hash: str = ""
    migrations: tuple[Migration, ...] | None = None
    schema_files: Mapping[str, str] | None = None
    allow_destructive: bool = False
    force_mode_switch: bool = False
    drift: tuple[str, ...] | None = None
    live_empty: bool | None = None
    comparison: Comparison | None = None
    baseline: BaselineMatch | None = None
    tool: str = "initjob"  # the layout of sql/migrations/, and so whose history table may be taken over
    tool_checksums: Mapping[int, str] | None = None  # version → checksum as that tool computes it (with TREE)
    foreign: ForeignHistory | None = None
    repeatable_hash: str = ""  # of today's repeatable files; "" when there are none
    repeatables: tuple[SqlFile, ...] | None = None
    repeatables_applied: Mapping[str, str] | None = None  # path → checksum last applied
    phase: str = ALL
    nulls: Mapping[str, int] | None = None  # contract: column → rows holding NULL (with NULLS)

    def with_(self, **known: object) -> Facts:
        return replace(self, **known)  # type: ignore[arg-type]


@record
class Inspect:
    need: Need


@record
class UpToDate:
    mode: str
    deferred: tuple[str, ...] = ()  # expand: what waits for contract


@record
class Migrate:
    plan: MigrationPlan
    deferred: tuple[str, ...] = ()  # expand: the contract migrations left pending


@record
class Baseline:
    """Auto-sync → migrations: record ``migrations`` as applied without running them, then decide again."""

    version: int
    migrations: tuple[Migration, ...]


@record
class Adopt:
    """Another tool's history taken over: record ``migrations`` as applied (kind ``adopted``), then decide again."""

    tool: str
    table: str
    migrations: tuple[Migration, ...]


@record
class Repeat:
    """The schema is up to date; these repeatable files changed (or are new): apply each, then record
    their combined hash (also when ``files`` is empty: a file was removed)."""

    mode: str
    files: tuple[SqlFile, ...]


@record
class ApplyFiles:
    """An empty database gets the schema files as written, in one transaction."""


@record
class Sync:
    comparison: Comparison
    adopting: bool  # the first sync of a database that already holds objects
    deferred: tuple[str, ...] = ()  # expand: the steps that wait for contract


@record
class RecordState:
    """Nothing to apply, but the recorded mode and schema must be written (a mode's first run, or
    changed files that build the schema the database already has: ``comparison`` says so)."""

    mode: str
    comparison: Comparison | None = None
    deferred: tuple[str, ...] = ()  # expand: what waits for contract (the state records expand's target)


@record
class Refuse:
    error: NotUpToDate
    # The comparison a sync refusal was judged from: `plan` prints its plan instead of building the
    # shadow database a second time.
    comparison: Comparison | None = None


Decision = Inspect | UpToDate | Migrate | Baseline | Adopt | ApplyFiles | Sync | RecordState | Repeat | Refuse
WORK = (Migrate, Baseline, Adopt, ApplyFiles, Sync, RecordState, Repeat)


def decide(facts: Facts) -> Decision:
    """What to do with this database, or which fact is needed first: the schema first, then the
    repeatable files, which run after the migrations or the sync."""
    decision = _schema(facts)
    if isinstance(decision, UpToDate):
        return _repeatables(facts, decision)
    return decision


def _repeatables(facts: Facts, done: UpToDate) -> Decision:
    """Their own hash as recorded: nothing to do without parsing; else the files whose checksum changed."""
    if (facts.state.repeatable_hash or "") == facts.repeatable_hash:
        return done
    if facts.repeatables is None or facts.repeatables_applied is None:
        return Inspect(Need.REPEATABLES)
    applied = facts.repeatables_applied
    return Repeat(done.mode, tuple(f for f in facts.repeatables if applied.get(f.path) != f.checksum))


def _schema(facts: Facts) -> Decision:
    if _tree_as_recorded(facts):
        # The no-op of every pod start: the tree a complete run recorded, the catalog as it left it.
        if facts.drift is None:
            return Inspect(Need.DRIFT)
        if not facts.drift:
            return UpToDate(facts.mode)
    if (facts.migrations if facts.mode == MIGRATIONS else facts.schema_files) is None:
        return Inspect(Need.TREE)
    if facts.mode == MIGRATIONS:
        return _migrations(facts)
    return _autosync(facts)


def _tree_as_recorded(facts: Facts) -> bool:
    """The files are byte for byte those of the last complete run in this mode, and the history as it left it."""
    state = facts.state
    return (bool(facts.tree_hash) and state.mode == facts.mode and state.fingerprint is not None
            and state.tree_hash == f"{facts.tree_hash}:{len(state.applied)}"
            and all(a.success for a in state.applied) and _record_serves_phase(facts))


def _record_serves_phase(facts: Facts) -> bool:
    """After ``expand`` the record is expand's target, not the desired state: up to date for the
    expand of that same tree only; any other run compares with the files again."""
    expanded = facts.state.expanded
    return not expanded or (facts.phase == EXPAND and expanded == facts.tree_hash)


def _expanded_for_tree(facts: Facts) -> bool:
    return facts.state.expanded is not None and facts.state.expanded == facts.tree_hash


def _contract_guard(facts: Facts, decision: Decision, pending: list[str]) -> Decision:
    """``contract`` changes nothing until ``expand`` completed for these files: the guard of the
    old release, which may still be serving while its schema is taken away."""
    if facts.phase != CONTRACT or not isinstance(decision, Sync | Migrate) or _expanded_for_tree(facts):
        return decision
    return Refuse(ExpandNotDone(
        "INITJOB_PHASE=contract, but expand has not completed for these files: "
        + "; ".join(pending[:10]),
        "run INITJOB_PHASE=expand with this release first (the pre-deploy job), then contract after the rollout",
        pending=pending))


def _migrations(facts: Facts) -> Decision:
    state = facts.state
    assert facts.migrations is not None
    from initjob.plan import plan_migrations  # off the no-op path: only a changed tree is planned

    plan = plan_migrations(list(facts.migrations), state.applied)
    if plan.problems:
        return Refuse(HistoryMismatch(
            "migration history and files disagree: " + "; ".join(plan.problems),
            "restore the original files (history is append-only), or see docs/troubleshooting.md#exit-3",
            problems=list(plan.problems)))
    # Another tool's history: taken over when the layout is that tool's; in initjob's own layout, a
    # database initjob has never recorded is checked for golang-migrate's table (the same file names).
    # With a history of its own, another tool's table is read only when files are pending: the tool may
    # have applied some of them since (going back to the tool and forth again).
    if (facts.tool != "initjob" and (not state.applied or plan.pending)) or (not state.applied
                                                                            and state.mode is None):
        if facts.foreign is None:
            return Inspect(Need.FOREIGN)
        if facts.tool == "initjob" and not facts.foreign.empty:
            return Refuse(ForeignHistoryMismatch(
                f"the database holds golang-migrate's history ({facts.foreign.table}) and no initjob history: "
                "run as initjob's own layout, every file would run again from the first",
                "set INITJOB_MIGRATIONS_FORMAT=golang-migrate to take that history over (docs/switching.md)"))
        adopt = _adopt(facts, facts.foreign) if facts.tool != "initjob" else None
        if adopt is not None:
            return adopt
    if state.mode == AUTO_SYNC and not state.applied:
        return _transition(facts)
    # Drift blocks new work; a half-done file may have left an invalid index behind, which is its own work.
    if state.mode == MIGRATIONS and state.fingerprint is not None and plan.resume is None:
        if facts.drift is None:
            return Inspect(Need.DRIFT)
        if facts.drift:
            return Refuse(_drift(facts.drift))
    deferred: tuple[str, ...] = ()
    if facts.phase == EXPAND:
        plan, deferred = _regular_only(plan)
    if plan.is_empty:
        if deferred and not _expanded_for_tree(facts):
            return RecordState(MIGRATIONS, deferred=deferred)  # then marked expanded, for the guard
        return UpToDate(MIGRATIONS, deferred) if state.mode == MIGRATIONS else RecordState(MIGRATIONS,
                                                                                             deferred=deferred)
    decision = _contract_guard(facts, Migrate(plan, deferred), [m.label for m in plan.work])
    if facts.phase == CONTRACT and isinstance(decision, Migrate) and any(m.contract for m in plan.work):
        return _data_ready(facts, decision)
    return decision


def _regular_only(plan: MigrationPlan) -> tuple[MigrationPlan, tuple[str, ...]]:
    """expand: the pending regular migrations; the contract ones wait (and do not block later ones)."""
    deferred = tuple(m.label for m in plan.work if m.contract)
    if not deferred:
        return plan, ()
    resume = plan.resume if plan.resume is not None and not plan.resume.contract else None
    return replace(plan, pending=tuple(m for m in plan.pending if not m.contract), resume=resume,
                   resume_from=plan.resume_from if resume else 0), deferred


def _transition(facts: Facts) -> Decision:
    match = facts.baseline
    if match is None:
        return Inspect(Need.BASELINE)
    if match.version is None:
        return Refuse(NoBaseline(
            f"no migration prefix matches the live schema; closest is {match.closest}: "
            + "; ".join(match.differences[:10]),
            "make the migrations end at the live schema, or record them by hand with "
            "`initjob baseline --version V` after checking",
            closest=match.closest, differences=list(match.differences)))
    return Baseline(match.version, tuple(m for m in facts.migrations or () if m.version <= match.version))


def _adopt(facts: Facts, foreign: ForeignHistory) -> Decision | None:
    """The versions another tool applied, checked against the files; None when it applied none."""
    if foreign.broken:
        return Refuse(ForeignHistoryBroken(
            "; ".join(foreign.broken),
            f"initjob takes over {foreign.tool}'s history only once it is clean; see docs/switching.md",
            problems=list(foreign.broken)))
    files = {m.version: m for m in facts.migrations or ()}
    sums = facts.tool_checksums or {}
    problems = []
    for v in foreign.versions:
        m = files.get(v.version)
        if m is None:
            problems.append(f"{foreign.table} holds {v.version_text} as applied, but sql/migrations/ has no file "
                            "for it")
        elif v.checksum is not None and v.version in sums and sums[v.version] != v.checksum:
            problems.append(f"{m.up.path} was changed after {foreign.tool} applied it (checksum "
                            f"{v.checksum} recorded, {sums[v.version]} now)")
    if problems:
        return Refuse(ForeignHistoryMismatch(
            f"{foreign.tool}'s history and the files disagree: " + "; ".join(problems),
            "restore the files as they were applied (docs/switching.md)", problems=problems))
    held = {v.version for v in foreign.versions}
    known = {a.version for a in facts.state.applied}
    adopted = tuple(m for m in facts.migrations or () if m.version not in known
                    and (m.version in held or (foreign.up_to is not None and m.version <= foreign.up_to)))
    return Adopt(foreign.tool, foreign.table or "", adopted) if adopted else None


def _autosync(facts: Facts) -> Decision:
    state = facts.state
    if state.mode == MIGRATIONS and state.applied and not facts.force_mode_switch:
        return Refuse(ModeSwitchRefused(
            f"this database is managed by migrations ({len(state.applied)} applied); auto-sync would bypass "
            "the history",
            "set USE_MIGRATIONS=true, or INITJOB_FORCE_MODE_SWITCH=true to hand it back to auto-sync"))
    files_unchanged = (state.mode == AUTO_SYNC and state.fingerprint is not None
                       and dict(state.schema_files) == dict(facts.schema_files or {}))
    if files_unchanged and _record_serves_phase(facts):
        # The cheap check of every pod start: files as recorded, catalog as recorded.
        if facts.drift is None:
            return Inspect(Need.DRIFT)
        if not facts.drift:
            return UpToDate(AUTO_SYNC)
    elif state.mode is None:
        if facts.live_empty is None:
            return Inspect(Need.LIVE_EMPTY)
        if facts.live_empty:
            return ApplyFiles()
    comparison = facts.comparison
    if comparison is None:
        return Inspect(Need.COMPARISON)
    decision = _judge(comparison, facts, adopting=state.mode is None)
    if facts.phase == CONTRACT and isinstance(decision, Sync):
        decision = _contract_guard(facts, decision, [f"{s.object}: {s.reason}" for s in comparison.plan.steps])
        if isinstance(decision, Sync) and comparison.plan.steps:
            return _data_ready(facts, decision)
    return decision


def _data_ready(facts: Facts, decision: Sync | Migrate) -> Decision:
    """contract's data-dependent steps wait for the backfill: a SET NOT NULL over rows that hold NULL."""
    if facts.nulls is None:
        return Inspect(Need.NULLS)
    waiting = {column: rows for column, rows in facts.nulls.items() if rows}
    if not waiting:
        return decision
    return Refuse(ContractNotReady(
        "contract would make columns NOT NULL that still hold NULL: "
        + "; ".join(f"{column}: {rows} row(s)" for column, rows in sorted(waiting.items())),
        "backfill these rows (the new release writes them; old rows need an UPDATE), then run contract again",
        nulls=dict(sorted(waiting.items()))))


def _judge(comparison: Comparison, facts: Facts, adopting: bool) -> Decision:
    """Up to date only when nothing differs on the full model; a plan that cannot close the gap is refused."""
    from initjob.render import render_plan  # off the no-op path: a comparison is made only for work

    plan = comparison.plan
    if plan.refused:
        return Refuse(Unmanaged(
            "the sync needs changes auto-sync does not manage: " + "; ".join(plan.refused[:10]),
            "make these changes in a migration or by hand (docs/modes.md lists the kinds)",
            plan=render_plan(plan), refused=list(plan.refused)), comparison)
    if comparison.undeclared_empty and plan.steps:
        # Before the destructive opt-in: many leave it set, and a mount that came up empty is no decision.
        return Refuse(EmptyDesiredState(
            f"sql/schema/ holds no statement, and making the database match would take {len(plan.steps)} "
            "step(s), dropping what it holds",
            "check that the SQL files were mounted; to empty the database on purpose, start a schema file with "
            "the line `-- initjob:empty` (docs/modes.md)",
            plan=render_plan(plan)), comparison)
    deferred = tuple(f"{s.object}: {s.reason}" for s in comparison.deferred)
    if not comparison.differences and plan.is_empty:
        # Equal, but the recorded files or mode are not yet this run's: record them (and, in expand, that
        # the contract half waits).
        if comparison.desired_from_record or (deferred and _expanded_for_tree(facts)):
            return UpToDate(AUTO_SYNC, deferred)
        return RecordState(AUTO_SYNC, comparison, deferred)
    if plan.is_empty:
        return Refuse(NotConverged(
            "the schema differs from the desired state and initjob has no plan for it: "
            + "; ".join(comparison.differences[:10]),
            "report this as a bug with `initjob plan`; change the database by hand to match sql/schema/",
            drift=list(comparison.differences)), comparison)
    if plan.destructive and not facts.allow_destructive:
        return Refuse(DestructiveRefused(
            f"the sync would lose data ({len(plan.destructive)} destructive step(s)): "
            + "; ".join(s.object + ": " + s.reason for s in plan.destructive[:10]),
            "review `initjob plan`; set INITJOB_ALLOW_DESTRUCTIVE=true to apply it anyway",
            plan=render_plan(plan)), comparison)
    return Sync(comparison, adopting, deferred)


def _drift(lines: tuple[str, ...]) -> Drift:
    return Drift("the live schema drifted from what initjob recorded: " + "; ".join(lines[:10]),
                 "undo the hand-made change, or capture it in a migration (see docs/troubleshooting.md#exit-3)",
                 drift=list(lines))


def describe(decision: Decision) -> list[str]:
    """What a decision would do, one line per item: for ``verify`` and ``status``."""
    if isinstance(decision, Migrate):
        return [m.label for m in decision.plan.work]
    if isinstance(decision, Baseline):
        return [f"transition: baseline at {decision.version}"]
    if isinstance(decision, Adopt):
        return [f"take over {len(decision.migrations)} version(s) from {decision.tool} ({decision.table})"]
    if isinstance(decision, Repeat):
        return [f"repeatable {f.path}" for f in decision.files]
    if isinstance(decision, ApplyFiles):
        return ["apply sql/schema/ to an empty database"]
    if isinstance(decision, Sync):
        return list(decision.comparison.differences) or [s.object for s in decision.comparison.plan.steps]
    if isinstance(decision, RecordState):
        return [f"record the state of a {decision.mode} database"]
    if isinstance(decision, Inspect) and decision.need is Need.BASELINE:
        return ["transition: managed by auto-sync, the first `initjob run` with USE_MIGRATIONS=true baselines it"]
    return []
