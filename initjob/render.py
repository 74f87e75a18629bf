"""An auto-sync plan as text: what ``plan`` prints, what ``diff`` writes, what a refusal shows (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the diff engine is not imported on the no-op path, which renders nothing
    from initjob.schema.diff import Plan


def render_plan(plan: Plan) -> str:
    """The plan as runnable SQL, each step headed by its class and reason."""
    lines = [f"-- REFUSED: {line}" for line in plan.refused]
    for step in plan.steps:
        mark = {"destructive": "!! DESTRUCTIVE", "locking": "!  LOCKING"}.get(step.kind, "   safe")
        if step.kind == "safe" and "may-fail" in step.hazards:  # a step that holds only if the data allows it
            mark = "!  MAY FAIL"
        tx = "" if step.transactional else " (outside the transaction)"
        hazards = f" [{', '.join(step.hazards)}]" if step.hazards else ""
        lines.append(f"-- {mark}: {step.object} — {step.reason}{tx}{hazards}")
        lines.append(step.sql.rstrip().rstrip(";") + ";")
        lines.append("")
    return "\n".join(lines)
