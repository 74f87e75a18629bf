"""argv + environ → Config → command → exit code: the only place an exception becomes an exit code."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from initjob import logs
from initjob.config import COMMAND_TABLE, Config, command_of, load_config, unknown_variables
from initjob.errors import TROUBLESHOOTING, InitJobError, Interrupted

if TYPE_CHECKING:
    from initjob.report import Report


def _command(name: str) -> Callable[[Config], Any]:
    """Import only the module of the command asked for: `run` on every pod start loads no other command."""
    from importlib import import_module

    module, attr = COMMAND_TABLE[name].function.split(":")
    return getattr(import_module(f".{module}", __package__), attr)  # type: ignore[no-any-return]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Raised into whatever runs now, so the statement in flight is cancelled and rolled back.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.monotonic()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    args = list(sys.argv[1:] if argv is None else argv)
    cfg: Config | None = None
    command = command_of(args)  # a configuration error of `new` is logged as `new`, not `run`
    report: Report | None = None
    committed: list[str] = []  # steps or files a failed run committed before it failed: the run says how many
    try:
        try:
            cfg = load_config(args, os.environ)
        finally:
            logs.setup(cfg.log.format if cfg else "json" if not sys.stderr.isatty() else "text",
                       cfg.log.level if cfg else "INFO")
        command = cfg.command
        for name, meant in unknown_variables(os.environ):
            logs.warning("config.unknown_variable", variable=name, meant=meant,
                         hint=f"initjob reads {meant}, not {name}: rename it" if meant
                         else "initjob has no such setting (docs/configuration.md): remove or rename it")
        logs.debug("run.config", config=repr(cfg), dsn=cfg.connection.safe_dsn)
        report = _command(command)(cfg)
        code = 0
    except InitJobError as exc:
        code = exc.exit_code
        committed = list(exc.committed or ())
        _failed(cfg, command, exc.kind, exc.one_line(), code, exc.event_fields())
    except Interrupted as exc:
        code = exc.exit_code
        _failed(cfg, command, "interrupted", f"stopped by signal {signal.Signals(exc.signum).name}; "
                "the running statement was cancelled and rolled back", code, {})
    except Exception as exc:  # a bug: say so loudly, with the traceback
        code = 1
        logs.event("run.crashed", logging.ERROR, exc_info=True, command=command,
                   reason=logs.redact(f"{exc.__class__.__name__}: {exc}"))
        _termination(cfg, f"bug: {exc.__class__.__name__}: {exc} (exit 1)")
    if report is not None and report.output:
        sys.stdout.write(report.output.rstrip("\n") + "\n")
        sys.stdout.flush()
    logs.event("run.finished", command=command, exit_code=code,
               duration_ms=int((time.monotonic() - start) * 1000),
               applied=len(report.applied) if report else len(committed),
               baselined=len(report.baselined) if report else 0)
    return code


def entry() -> NoReturn:
    """The ``initjob`` command: ``main``, then out without the interpreter's teardown.

    Freeing every module and object at exit cost 36 ms of wall time and 57 ms of CPU on the run path
    (bench/README.md, "fast exit"), an eighth of a no-op pod start, for nothing: the connections are
    closed and the log flushed by then, and every thread left is a daemon watching a closed connection.
    The exit functions still run (logging's flush among them, and any a wrapper registered).
    """
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _failed(cfg: Config | None, command: str, kind: str, reason: str, code: int, fields: dict[str, Any]) -> None:
    guide = f"{TROUBLESHOOTING}#exit-{code}"
    logs.event("run.failed", logging.ERROR, command=command, kind=kind, exit_code=code, reason=reason,
               guide=guide, **{k: v for k, v in fields.items() if k not in ("reason", "kind", "guide")})
    _termination(cfg, f"{reason} (exit {code}; see {guide})")


def _termination(cfg: Config | None, message: str) -> None:
    """Kubernetes shows /dev/termination-log in the pod status: the one line an operator sees first."""
    # A configuration error has no Config: the path setting, if given, still applies.
    path = cfg.log.termination_log if cfg else Path(os.environ.get("INITJOB_TERMINATION_LOG") or "/dev/termination-log")
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(logs.redact(message)[:4000] + "\n")
