"""An auto-sync plan as text: what ``plan`` prints, what ``diff`` writes, what a refusal shows (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from initjob.names import comment_text

if TYPE_CHECKING:  # the diff engine is not imported on the no-op path, which renders nothing
    from initjob.schema.diff import Plan


def render_plan(plan: Plan) -> str:
    """The plan as runnable SQL, each step headed by its class and reason."""
    lines = [f"-- REFUSED: {comment_text(line)}" for line in plan.refused]
    for step in plan.steps:
        mark = {"destructive": "!! DESTRUCTIVE", "locking": "!  LOCKING"}.get(step.kind, "   safe")
        if step.kind == "safe" and "may-fail" in step.hazards:  # a step that holds only if the data allows it
            mark = "!  MAY FAIL"
        tx = "" if step.transactional else " (outside the transaction)"
        hazards = f" [{', '.join(step.hazards)}]" if step.hazards else ""
        # Names reach this comment line: escaped, or a line break in one would start a statement.
        lines.append(f"-- {mark}: {comment_text(f'{step.object} — {step.reason}')}{tx}{hazards}")
        lines.append(step.sql.rstrip().rstrip(";") + ";")
        lines.append("")
    return "\n".join(lines)
