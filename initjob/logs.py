"""Event logging on stderr: one JSON object per line, or short text lines for people.

Every line passes through ``redact`` so that no password reaches a log, whatever put it there
(a libpq error message, a traceback, a DSN in an exception's arguments).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

LOGGER = logging.getLogger("initjob")

_SECRETS: set[str] = set()
# URL userinfo passwords and key=value passwords, whatever their source.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?=@)")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def register_secret(secret: str | None) -> None:
    """Remember a secret so it is scrubbed from every line, however it got there."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Hide passwords in URLs, in key=value conninfo strings, and every registered secret."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    text = _KV_PASSWORD.sub(r"\g<head>***", text)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class _JsonFormatter(logging.Formatter):
    """Formats ``event(...)`` records as one flat JSON object.

    python-json-logger's encoder serialises the values (datetimes, paths, decimals); the record is
    built here rather than from LogRecord attributes so that fields such as ``name`` or ``module``
    cannot collide with the logging module's own.
    """

    def __init__(self) -> None:
        super().__init__()
        # The standard encoder with python-json-logger's conversions as its fallback: the same output,
        # without importing python-json-logger (and uuid, platform, ...) on runs that log plain values.
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        # Redact the values, then encode: a pattern run over the encoded line could eat its closing
        # quote and brace (``password=\S+``), and a secret with a quote in it is escaped once encoded.
        line = self._encoder.encode(_redact_values(data))
        for secret in _SECRETS:  # a secret inside a value the encoder converted (a path, an object)
            line = line.replace(json.dumps(secret, ensure_ascii=False)[1:-1], "***")
        return line


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_values(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    """python-json-logger's conversion of a value JSON has no type for (datetimes, enums, bytes, ...)."""
    from pythonjsonlogger.json import JsonEncoder

    return JsonEncoder().default(value)


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


_COLOURS = {"debug": "\033[2m", "info": "", "warning": "\033[33m", "error": "\033[31m", "critical": "\033[31m"}


class _TextFormatter(logging.Formatter):
    """``12:00:01 info    [3/8] 0003_add_users_locale … 41 ms`` for a terminal: short lines, coloured by level."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {level:<7} {_text_message(record.getMessage(), getattr(record, 'fields', {}))}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if self._colour and _COLOURS.get(level):
            line = f"{_COLOURS[level]}{line}\033[0m"
        return redact(line)


# The events people read most, as one short sentence each; any other is ``name key=value ...``.
_TEXT = {
    "migration.applied": "[{progress}] {version}_{name} … {duration_ms} ms",
    "migration.rolled_back": "rolled back {version}_{name} … {duration_ms} ms",
    "schema.file_applied": "applied {file}",
    "run.nothing_to_do": "up to date ({mode}): nothing to do",
    "verify.ok": "up to date ({mode})",
    "marker.taken": "backup marker: lsn {lsn}, restore point {restore_point}",
    "lint.finding": "{file}:{line}: {severity} [{rule}] {message} fix: {fix}",
    "run.failed": "{reason} (exit {exit_code}; see {guide})",
    "run.finished": "{command}: exit {exit_code} in {duration_ms} ms",
}


def _text_message(name: str, fields: dict[str, Any]) -> str:
    template = _TEXT.get(name)
    if template is not None:
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError):
            pass  # an event without the usual fields: say everything
    return " ".join([name, *(f"{k}={_text_value(v)}" for k, v in fields.items())])


def _text_value(value: Any) -> str:
    # Lists of records (the sessions blocking a statement) read as records, not as Python reprs.
    if isinstance(value, (list, tuple)) and value:
        return "[" + ", ".join(_text_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={_text_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def setup(fmt: str = "json", level: str = "INFO") -> None:
    """Send the ``initjob`` logger to stderr in the chosen format; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(_TextFormatter(colour=sys.stderr.isatty()))
    else:
        handler.setFormatter(_JsonFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False


def event(name: str, /, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log one event: ``name`` is the ``event`` field, ``fields`` the rest of the object."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, name, extra={"fields": fields}, exc_info=exc_info)


def warning(name: str, /, **fields: Any) -> None:
    event(name, logging.WARNING, **fields)


def debug(name: str, /, **fields: Any) -> None:
    event(name, logging.DEBUG, **fields)


def live(text: str | None) -> bool:
    """Text logs on a terminal: show ``text`` as one line updated in place (None clears it).

    False anywhere else (JSON, a pipe, a file), where the caller logs an event instead: a line
    redrawn with carriage returns is noise in a collected log.
    """
    handler = LOGGER.handlers[0] if LOGGER.handlers else None
    if not (isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, _TextFormatter)
            and handler.stream.isatty()):
        return False
    handler.stream.write("\r\033[K" + ("" if text is None else redact(text)[:160]))
    handler.stream.flush()
    return True
