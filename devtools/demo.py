"""The demo: a throwaway PostgreSQL, the example sql/, and the real initjob command.

Runs auto-sync on one database and migrations on another, each twice (the second run is the
no-op every pod start pays), then shows status.  Extra arguments run one initjob command instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import pgserver  # noqa: E402


def initjob(url: str, *args: str, migrations: bool = False) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "INITJOB_", "DATABASE_URL"))}
    env.update(DATABASE_URL=url, INITJOB_SQL_DIR=str(ROOT / "sql"), USE_MIGRATIONS=str(migrations).lower(),
               INITJOB_LOG_FORMAT=os.environ.get("INITJOB_LOG_FORMAT", "text"))
    shown = " ".join(["USE_MIGRATIONS=" + str(migrations).lower(), "initjob", *args])
    print(f"\n$ {shown}", flush=True)
    code = subprocess.call([sys.executable, "-m", "initjob", *args], env=env)
    print(f"(exit {code})", flush=True)
    return code


def main(argv: list[str]) -> int:
    with pgserver.running_server() as server:
        print(f"demo: PostgreSQL {server.major} on 127.0.0.1:{server.port} (stopped and deleted on exit)")
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE app_autosync")
            conn.execute("CREATE DATABASE app_migrations")
        sync_url, mig_url = server.url("app_autosync"), server.url("app_migrations")
        if argv:
            return initjob(sync_url, *argv, migrations=os.environ.get("USE_MIGRATIONS", "") == "true")
        codes = [
            initjob(sync_url, "run"),
            initjob(sync_url, "run"),
            initjob(sync_url, "verify"),
            initjob(mig_url, "run", migrations=True),
            initjob(mig_url, "run", migrations=True),
            initjob(mig_url, "status", migrations=True),
            # The transition: the auto-synced database moves to migrations and is baselined.
            initjob(sync_url, "run", migrations=True),
            initjob(sync_url, "verify", "--against-schema", migrations=True),
        ]
        print(f"\ndemo: exit codes {codes}")
        return max(codes)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
