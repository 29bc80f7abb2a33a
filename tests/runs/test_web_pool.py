"""The web server keeps its PostgreSQL connections in a pool (settings: GAUNTLET_DB_POOL, on in
benchmark_site.asgi), and replaces a pooled connection the server dropped instead of failing a request."""

import time
import urllib.request

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pool is PostgreSQL's (SQLite connections are a file open)"
)


def other_sessions() -> set[int]:
    """The server process ids of the test database's other sessions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def terminate(pids: set[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM unnest(%s::int[]) AS pid", [sorted(pids)])
        return cursor.fetchone()[0]


def get(url: str, session: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a loopback test server
        return response.status, response.read().decode()


def test_the_web_server_reuses_pooled_connections_and_replaces_cut_ones(asgi_server, smoke_run, team_user):
    client = Client()
    client.force_login(team_user[1])
    session = client.cookies["sessionid"].value
    page = f"{asgi_server}/runs/{smoke_run.pk}/"

    before = other_sessions()  # this process's own, left by earlier tests' threads
    for _ in range(3):
        assert get(page, session)[0] == 200
    # Between requests the web server's connection stays open, in the pool (without one, each request closes
    # its own, just after its response: give that time to show).
    time.sleep(1)
    pooled = other_sessions() - before
    assert pooled

    assert terminate(pooled) == len(pooled)
    status, body = get(page, session)
    assert status == 200 and f"Run #{smoke_run.pk}" in body
    assert get(f"{asgi_server}/runs/{smoke_run.pk}/state.json", session)[0] == 200
