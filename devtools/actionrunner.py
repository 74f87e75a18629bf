"""Run a composite GitHub Action's steps here, the way the runner does, for tests and CI checks.

What the runner does and this does too: ``${{ inputs.* }}``, ``${{ github.action_path }}`` and
``${{ steps.ID.outputs.* }}`` expressions; each ``run`` step as ``bash --noprofile --norc -eo
pipefail FILE``; ``GITHUB_OUTPUT``, ``GITHUB_PATH``, ``GITHUB_STEP_SUMMARY`` and ``RUNNER_TEMP``
files; the first failing step ends the action. What it does not: other expressions (an unknown one
is an error, so the action cannot quietly depend on one), ``uses:`` steps inside the action, ``if:``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{\s*(?P<expr>[^}]*?)\s*\}\}")


@dataclass
class StepRun:
    name: str
    code: int
    stdout: str
    stderr: str


@dataclass
class ActionRun:
    """What a run of the action left: each step's outcome, the outputs, the step summary."""

    code: int
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} (exit {s.code})\n{s.stdout}{s.stderr}" for s in self.steps)


def load(action_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    return doc


def inputs_with_defaults(action: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    unknown = set(given) - set(action["inputs"])
    if unknown:
        raise ValueError(f"inputs the action does not declare: {sorted(unknown)}")
    return {name: str(given.get(name, spec.get("default", ""))) for name, spec in action["inputs"].items()}


def expand(text: str, context: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m["expr"]
        if expr not in context:
            raise ValueError(f"an expression this runner does not know: {expr}")
        return context[expr]

    return _EXPR.sub(one, text)


def run(action_dir: Path, given: dict[str, str], workdir: Path, env: dict[str, str] | None = None,
        runner_temp: Path | None = None, skip: tuple[str, ...] = ()) -> ActionRun:
    """Run the action in ``action_dir`` with inputs ``given``, in ``workdir``; steps named in ``skip`` are not run."""
    action = load(action_dir)
    assert action["runs"]["using"] == "composite", "only composite actions"
    temp = runner_temp or Path(tempfile.mkdtemp(prefix="runner-temp-"))
    files = {k: temp / f"{k.lower()}.txt" for k in ("GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("")
    context = {f"inputs.{k}": v for k, v in inputs_with_defaults(action, given).items()}
    context["github.action_path"] = str(action_dir)
    base = {**os.environ, **(env or {}), "RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(action_dir),
            **{k: str(v) for k, v in files.items()}}
    result = ActionRun(0)
    for index, step in enumerate(action["runs"]["steps"]):
        name = expand(step.get("name", f"step {index}"), context)
        if "run" not in step or name in skip:
            continue
        assert step.get("shell") == "bash", f"{name}: composite run steps must name their shell"
        script = temp / f"step-{index}.sh"
        script.write_text(expand(step["run"], context))
        paths = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        step_env = {**base, **{k: expand(str(v), context) for k, v in step.get("env", {}).items()}}
        step_env["PATH"] = os.pathsep.join([*reversed(paths), base.get("PATH", "")])
        files["GITHUB_OUTPUT"].write_text("")
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workdir,
                              env=step_env, capture_output=True, text=True, check=False, timeout=600)
        result.steps.append(StepRun(name, done.returncode, done.stdout, done.stderr))
        for line in files["GITHUB_OUTPUT"].read_text().splitlines():
            key, _, value = line.partition("=")
            if step.get("id"):
                context[f"steps.{step['id']}.outputs.{key}"] = value
        if done.returncode != 0:
            result.code = done.returncode
            break
    for name, spec in action.get("outputs", {}).items():
        try:
            result.outputs[name] = expand(spec["value"], context)
        except ValueError:
            result.outputs[name] = ""  # the step that sets it did not run
    result.summary = files["GITHUB_STEP_SUMMARY"].read_text()
    return result
