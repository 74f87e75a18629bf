"""How a deploy names its sessions: ``application_name`` = ``initjob/<host>/<release>[ <file>]``.

Every connection a run opens carries that name, so that another session (``initjob status``, an
operator's ``pg_stat_activity``) can tell which pod and release holds the lock and which file runs.
Kept apart from ``activity``, which reads other sessions: a no-op run names its connection but
never reads anyone's activity, and does not import that module.
"""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APP_NAME_BYTES = 63  # NAMEDATALEN - 1: the server truncates longer names silently


def application_name(host: str, release: str | None, file: str | None = None) -> str:
    """``initjob/<host>/<release>[ <file>]`` in at most 63 bytes; the file label is kept whole first."""
    base = "/".join(["initjob", host] + ([release] if release else []))
    base = re.sub(r"\s+", "-", base)
    suffix = f" {_clip(file, 40)}" if file else ""
    return _clip(base, APP_NAME_BYTES - len(suffix.encode())) + suffix


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, never cutting a character in two."""
    return text.encode()[:max(limit, 0)].decode(errors="ignore")


def split_application_name(name: str | None) -> tuple[str | None, str | None]:
    """(base, file) from a name made by ``application_name``; (None, None) for anything else."""
    if not name or not name.startswith("initjob/"):
        return None, None
    base, _, file = name.partition(" ")
    return base, file or None


def with_application_name(dsn: str, host: str, release: str | None) -> str:
    """``dsn`` naming its sessions after this deploy, unless the user named them already."""
    try:
        params = dict(conninfo_to_dict(dsn)) if dsn else {}
    except psycopg.ProgrammingError:
        return dsn  # malformed: connecting reports it, as exit 2
    if params.get("application_name"):
        return dsn
    params["application_name"] = application_name(host, release)
    return make_conninfo("", **params)
