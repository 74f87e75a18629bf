"""The pure parts of ``initjob/db/standby.py``: counting hosts, asking for the writable one, reading
libpq's refusal, pinning a side connection.  The server-side behaviour is in ``test_failover.py``."""

from __future__ import annotations

import psycopg
import pytest
from conftest import Server
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from initjob.config import WRITERS
from initjob.db import standby
from initjob.errors import NotWritable


@pytest.mark.parametrize(("dsn", "hosts"), [
    ("postgresql://u:p@db:5432/app", 1),
    ("postgresql://u:p@db-a:5432,db-b:5432/app", 2),
    ("host=a,b,c port=1,2,3 dbname=app", 3),
    ("hostaddr=10.0.0.1,10.0.0.2 dbname=app", 2),
    ("postgresql:///app?host=/var/run/postgresql", 1),
])
def test_host_count(dsn: str, hosts: int) -> None:
    """Hosts as libpq counts them, in URL and key=value form."""
    assert standby.host_count(dsn) == hosts


@pytest.mark.parametrize(("dsn", "command", "want"), [
    ("postgresql://u:p@a:1,b:2/app", "run", "read-write"),
    ("postgresql://u:p@a:1,b:2/app", "rollback", "read-write"),
    ("postgresql://u:p@a:1,b:2/app", "verify", None),
    ("postgresql://u:p@a:1/app", "run", None),
    ("postgresql://u:p@a:1,b:2/app?target_session_attrs=primary", "run", "primary"),
    ("postgresql://u:p@a:1,b:2/app?target_session_attrs=any", "run", "any"),
])
def test_prefer_writable(dsn: str, command: str, want: str | None) -> None:
    """Writers ask for the writable host of several unless the URL says otherwise; readers never."""
    assert conninfo_to_dict(standby.prefer_writable(dsn, command in WRITERS)).get("target_session_attrs") == want


def test_refusal_names_every_read_only_host() -> None:
    """libpq's target_session_attrs refusal becomes NotWritable naming the hosts, waitable with two."""
    exc = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5001 failed: Connection refused\n'
        'connection to server at "127.0.0.1", port 5002 failed: session is read-only')
    with pytest.raises(NotWritable) as caught:
        standby.raise_if_refused(exc, "postgresql://u:p@127.0.0.1:5001,127.0.0.1:5002/app")
    assert "127.0.0.1:5002 (session is read-only)" in caught.value.reason
    assert "5001" not in caught.value.reason
    assert standby.worth_waiting(caught.value)
    assert caught.value.exit_code == 4


def test_refusal_by_one_host_is_not_worth_waiting() -> None:
    """One host: waiting would not make it writable."""
    exc = psycopg.OperationalError('connection to server at "db" (10.0.0.5), port 5432 failed: '
                                   "server is in hot standby mode")
    with pytest.raises(NotWritable) as caught:
        standby.raise_if_refused(exc, "postgresql://u:p@db:5432/app?target_session_attrs=primary")
    assert "db:5432" in caught.value.reason
    assert not standby.worth_waiting(caught.value)


def test_other_errors_pass_through() -> None:
    """A refused password is not a standby."""
    standby.raise_if_refused(psycopg.OperationalError("password authentication failed for user"), "host=a,b")


def test_side_connection_is_pinned_to_the_host_reached(server: Server, dbname: str) -> None:
    """The watchdog's side connection must ask the server we are on, not whichever host answers first."""
    params = conninfo_to_dict(server.url(dbname))
    multi = make_conninfo("", **{**params, "host": "127.0.0.1,127.0.0.1", "port": f"1,{params['port']}",
                                 "target_session_attrs": "any"})
    with psycopg.connect(multi, autocommit=True) as conn:
        pinned = conninfo_to_dict(standby.same_server(multi, conn))
    assert (pinned["host"], pinned["port"]) == ("127.0.0.1", str(params["port"]))
    assert "target_session_attrs" not in pinned
