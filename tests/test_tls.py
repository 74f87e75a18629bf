"""TLS for real: the test makes a CA and a server certificate with openssl, runs a server with
ssl=on that refuses plain connections, and shows that sslmode=verify-full succeeds with the CA and
fails fast (exit 4, not after the wait deadline) without it, with another CA, or under another name.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import initjob, write_migrations
from helpers_figures import record

from devtools import pgserver

OPENSSL = shutil.which("openssl")
HBA = ("local all all trust\n"
       "hostssl all all 127.0.0.1/32 scram-sha-256\n"
       "hostnossl all all 127.0.0.1/32 reject\n")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([str(OPENSSL), *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=d)


def make_server_cert(d: Path, ca: str) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf", cwd=d)


@dataclass
class TlsServer:
    server: pgserver.PgServer
    certs: Path

    def url(self, dbname: str = "postgres", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.server.url(dbname)}?{query}"


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsServer]:
    if OPENSSL is None:
        pytest.skip("openssl is not installed (.ci/packages.txt)")
    dirs = pgserver.available_bindirs()
    if not dirs:
        pytest.skip("no PostgreSQL server binaries")
    workdir = Path(tempfile.mkdtemp(prefix="initjob-tls-"))
    workdir.chmod(0o755)  # the server runs as its own user when the tests run as root
    certs = workdir / "certs"
    certs.mkdir(parents=True)
    certs.chmod(0o755)
    make_ca(certs, "ca")
    make_ca(certs, "other-ca")
    make_server_cert(certs, "ca")
    (certs / "server.key").chmod(0o600)
    srv = pgserver.init_server(dirs[0], workdir / "pg", hba=HBA, conf={
        "ssl": "on", "ssl_cert_file": f"'{certs / 'server.crt'}'", "ssl_key_file": f"'{certs / 'server.key'}'"})
    # The server runs as its own user and reads its key, which must not be readable by others.
    if srv.user is not None:
        for name in ("server.crt", "server.key"):
            shutil.chown(certs / name, srv.user.pw_uid, srv.user.pw_gid)
    srv.start()
    try:
        yield TlsServer(srv, certs)
    finally:
        srv.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def run(tls: TlsServer, tmp_path: Path, url: str) -> tuple[int, float, str]:
    sql_dir = write_migrations(tmp_path, {"0001_t.up.sql": "CREATE TABLE IF NOT EXISTS t (id int);\n"})
    start = time.monotonic()
    # HOME without ~/.postgresql: no default root certificate to fall back on.
    result = initjob("run", DATABASE_URL=url, USE_MIGRATIONS="true", INITJOB_SQL_DIR=str(sql_dir),
                     INITJOB_WAIT_TIMEOUT="20", HOME=str(tmp_path))
    took = time.monotonic() - start
    reason = result.failure["reason"] if result.code else ""
    return result.code, took, reason


def test_verify_full_with_the_ca_succeeds(tls: TlsServer, tmp_path: Path) -> None:
    """sslmode=verify-full with the CA that signed the server's certificate: exit 0."""
    code, took, reason = run(tls, tmp_path, tls.url(sslmode="verify-full", sslrootcert=str(tls.certs / "ca.crt")))
    assert code == 0, reason
    record("tls.verify_full_with_ca", exit_code=0, took_s=round(took, 2))


@pytest.mark.parametrize("case", ["no_ca", "other_ca", "wrong_name", "no_tls"])
def test_verify_full_fails_fast_without_the_right_ca(tls: TlsServer, tmp_path: Path, case: str) -> None:
    """Without the CA, with another CA, under a name the certificate does not hold, or without TLS:
    exit 4 at once (a certificate does not heal by waiting), saying why."""
    urls = {
        "no_ca": tls.url(sslmode="verify-full"),
        "other_ca": tls.url(sslmode="verify-full", sslrootcert=str(tls.certs / "other-ca.crt")),
        "wrong_name": tls.url(sslmode="verify-full", sslrootcert=str(tls.certs / "ca.crt"),
                              host="localhost", hostaddr="127.0.0.1"),
        "no_tls": tls.url(sslmode="disable"),
    }
    says = {"no_ca": "root certificate", "other_ca": "certificate verify failed", "wrong_name": "does not match",
            "no_tls": "no encryption"}
    code, took, reason = run(tls, tmp_path, urls[case])
    assert code == 4, reason
    assert says[case] in reason
    assert took < 10, f"took {took:.1f}s: the job waited for the deadline instead of failing fast"
    record(f"tls.verify_full_{case}", exit_code=4, took_s=round(took, 2))
