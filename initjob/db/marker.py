"""The backup marker: a durable record of the state before the first change of a run.

A marker row (time, mode, release, plan, fingerprint, WAL LSN), a named restore point where the
role may create one, and an optional ``pg_dump``.  ``check_pg_dump`` runs before any change, so a
missing or too old pg_dump stops the job while the database is still untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from initjob import logs
from initjob.config import ApplySettings, BackupSettings
from initjob.errors import BackupFailed, ToolMissing


@dataclass(frozen=True)
class Marker:
    taken_at: str
    lsn: str | None
    restore_point: str | None
    dump_path: str | None


def check_pg_dump(server_version: int) -> str:
    """Path of a pg_dump able to dump this server (pg_dump refuses a newer server major)."""
    path = shutil.which("pg_dump")
    if path is None:
        raise ToolMissing("INITJOB_BACKUP_DIR is set but pg_dump is not installed",
                          "use the image built with WITH_PG_DUMP=true, or unset INITJOB_BACKUP_DIR")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    major = int(m.group(1)) if m else 0
    server_major = server_version // 10000
    if major < server_major:
        raise ToolMissing(f"pg_dump {major} cannot dump a PostgreSQL {server_major} server",
                          f"install pg_dump {server_major} or newer, or unset INITJOB_BACKUP_DIR")
    return path


def before_change(conn: psycopg.Connection[Any], backup: BackupSettings, writer: ApplySettings, dsn: str,
                  fingerprint: str | None, mode: str, planned: list[str]) -> Marker:
    """The marker of SPEC step 6, with the run's settings; pg_dump is checked before anything else."""
    pg_dump = check_pg_dump(conn.info.server_version) if backup.backup_dir else None
    return take(conn, writer.history_schema, mode=mode, release=backup.release, by=writer.applied_by,
                fingerprint=fingerprint, planned=planned, backup_dir=backup.backup_dir, pg_dump=pg_dump, dsn=dsn)


def take(conn: psycopg.Connection[Any], schema: str, *, mode: str, release: str | None, by: str,
         fingerprint: str | None, planned: list[str], backup_dir: Path | None, pg_dump: str | None,
         dsn: str) -> Marker:
    """Record the marker row first (it must exist even if the dump fails), then restore point and dump."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    lsn = _current_lsn(conn)
    restore_point = _restore_point(conn, f"initjob-{stamp}")
    dump_path = None
    if backup_dir is not None and pg_dump is not None:
        dump_path = _dump(pg_dump, dsn, backup_dir, f"initjob-{conn.info.dbname}-{stamp}.dump")
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {}.markers (taken_by, mode, release, lsn, restore_point, dump_path, fingerprint_before,"
            " planned) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING taken_at"
        ).format(sql.Identifier(schema)),
        (by, mode, release, lsn, restore_point, dump_path, fingerprint, json.dumps(planned)),
    ).fetchone()
    marker = Marker(row[0].isoformat() if row else stamp, lsn, restore_point, dump_path)
    logs.event("marker.taken", lsn=lsn, restore_point=restore_point, dump_path=dump_path, planned=len(planned))
    return marker


def _current_lsn(conn: psycopg.Connection[Any]) -> str | None:
    try:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        return row[0] if row else None
    except psycopg.Error as exc:
        logs.warning("marker.no_lsn", reason=logs.redact(str(exc).splitlines()[0]))
        return None


def _restore_point(conn: psycopg.Connection[Any], name: str) -> str | None:
    try:
        conn.execute("SELECT pg_create_restore_point(%s)", (name,))
        return name
    except psycopg.errors.InsufficientPrivilege:
        logs.warning("marker.no_restore_point", reason="the role may not call pg_create_restore_point",
                     hint="grant EXECUTE ON FUNCTION pg_create_restore_point(text) to the role, or ignore")
    except psycopg.Error as exc:
        logs.warning("marker.no_restore_point", reason=logs.redact(str(exc).splitlines()[0]))
    return None


def _dump(pg_dump: str, dsn: str, backup_dir: Path, filename: str) -> str:
    """pg_dump in custom format; the password goes through the environment, never argv."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / filename
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None} if dsn else {}
    env = dict(os.environ)
    if "password" in params:
        env["PGPASSWORD"] = params.pop("password")
    args = [pg_dump, "--format=custom", "--no-password", f"--file={target}"]
    if params:
        args.append(f"--dbname={make_conninfo('', **params)}")
    start = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump failed before any change: {logs.redact(done.stderr.strip())[:300]}",
                          "nothing was applied; the next run tries again — check space and permissions of "
                           "INITJOB_BACKUP_DIR and the role's read access, or unset INITJOB_BACKUP_DIR")
    logs.event("marker.dumped", path=str(target), bytes=target.stat().st_size,
               duration_ms=int((time.monotonic() - start) * 1000))
    return str(target)
