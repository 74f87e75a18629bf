"""Start Debian's real PgBouncer on 127.0.0.1 in front of a test server, in a chosen pool mode.

PgBouncer refuses to run as root, so when the tests run as root it runs as the same unprivileged
user as the throwaway PostgreSQL servers.  Its auth file holds the test password in plain text,
which lets PgBouncer answer SCRAM to clients and log in to the server with SCRAM itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from devtools import pgserver

BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


@contextlib.contextmanager
def running_pgbouncer(server_port: int, pool_mode: str) -> Iterator[int]:
    """A PgBouncer in ``pool_mode`` forwarding every database to 127.0.0.1:``server_port``; yields its port."""
    assert BINARY is not None, "pgbouncer is not installed (.ci/packages.txt lists it)"
    workdir = Path(tempfile.mkdtemp(prefix="initjob-pgbouncer-"))
    workdir.chmod(0o755)
    port = pgserver.free_port()
    (workdir / "userlist.txt").write_text(f'"{pgserver.SUPERUSER}" "{pgserver.PASSWORD}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={server_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = scram-sha-256\n"
        f"auth_file = {workdir / 'userlist.txt'}\n"
        f"pool_mode = {pool_mode}\n"
        "default_pool_size = 40\n"
        "max_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
        f"pidfile = {workdir / 'pgbouncer.pid'}\n"
        "admin_users = postgres\n"
    )
    user = pgserver.unprivileged_user()
    kwargs: dict[str, object] = {}
    if user is not None:
        for path in workdir.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        os.chown(workdir, user.pw_uid, user.pw_gid)
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    proc = subprocess.Popen([BINARY, str(workdir / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd="/", **kwargs)  # type: ignore[call-overload]
    try:
        _wait_listening(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}: {err}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening within 15 s")
