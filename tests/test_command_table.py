"""The one command table: the parser, the CLI's dispatch and the read-only/writing split all read it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import pytest

from initjob.config import COMMAND_TABLE, COMMANDS, WRITERS, build_parser, load_config
from initjob.errors import ConfigError

SPEC_COMMANDS = ("run", "verify", "status", "plan", "rollback", "baseline", "new", "diff", "lint")


def test_the_table_holds_spec_commands_and_the_writers() -> None:
    """SPEC's commands, in its order; only run, rollback and baseline write to the target database."""
    assert COMMANDS == SPEC_COMMANDS
    assert {"run", "rollback", "baseline"} == WRITERS
    parser = build_parser()
    assert parser._subparsers is not None
    assert tuple(parser._subparsers._group_actions[0].choices) == SPEC_COMMANDS  # type: ignore[union-attr]


@pytest.mark.parametrize("name", SPEC_COMMANDS)
def test_each_command_names_a_function_that_exists(name: str) -> None:
    """The dispatch string ("module:function") resolves, as the CLI resolves it on first use."""
    module, attr = COMMAND_TABLE[name].function.split(":")
    function: Callable[..., Any] = getattr(import_module(f"initjob.{module}"), attr)
    assert callable(function)


@pytest.mark.parametrize(("argv", "want"), [
    (["run"], {"command": "run"}),
    ([], {"command": "run"}),
    (["verify", "--against-schema"], {"command": "verify", "against_schema": True}),
    (["status", "--json"], {"command": "status", "json": True}),
    (["plan", "--json"], {"command": "plan", "json": True}),
    (["rollback", "--steps", "2"], {"command": "rollback", "steps": 2}),
    (["rollback", "--to", "0003"], {"command": "rollback", "to_version": "0003"}),
    (["baseline", "--version", "7"], {"command": "baseline", "version": "7"}),
    (["new", "add_users"], {"command": "new", "name": "add_users"}),
    (["diff", "add_users"], {"command": "diff", "name": "add_users"}),
    (["lint", "--all", "--fail-on", "warning", "a.sql"],
     {"command": "lint", "lint_all": True, "fail_on": "warning", "lint_paths": ("a.sql",)}),
])
def test_arguments_from_the_table_reach_the_config(argv: list[str], want: dict[str, Any]) -> None:
    cfg = load_config(argv, {})
    got = {"command": cfg.command, **{k: getattr(cfg.args, k) for k in want if k != "command"}}
    assert got == want
    assert cfg.connection.writes == (cfg.command in WRITERS)


@pytest.mark.parametrize("argv", [["rollback"], ["rollback", "--steps", "1", "--to", "2"], ["baseline"], ["new"]])
def test_required_and_exclusive_arguments_are_usage_errors(argv: list[str]) -> None:
    """rollback takes exactly one of --steps and --to; baseline its --version; new its NAME."""
    with pytest.raises(ConfigError):
        load_config(argv, {})
