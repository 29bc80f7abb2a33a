"""The database cut off mid-run: PostgreSQL connections terminated, or SQLite locked by another writer for a
while. Attempts that lost their connection are retried; every episode is still scored exactly once."""

import sqlite3
import time

import pytest
from django.db import connection

from runs.models import Episode
from tests.faults.conftest import audit, report, wait_for_runs, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.faults]

CUTS = 3


def cut_connections() -> int:
    """Terminate every other session of the test database (the workers' and beat's); how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def lock_sqlite(seconds: float) -> None:
    """Hold SQLite's write lock, as a stuck writer would: every other writer waits."""
    locker = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
    locker.execute("BEGIN IMMEDIATE")
    time.sleep(seconds)
    locker.rollback()
    locker.close()


def test_it_scores_every_episode_once_through_database_cuts(cluster):
    cluster.start_redis()
    for worker in [cluster.start_worker(wait=False) for _ in range(2)]:
        cluster.wait_ready(worker)
    cluster.start_beat()
    run_id = cluster.start_run(trials=3)
    wait_until(lambda: Episode.objects.filter(run=run_id, status=Episode.RUNNING).exists(), 60, "a first claim")
    terminated = 0
    for _ in range(CUTS):
        if connection.vendor == "postgresql":
            terminated += cut_connections()
            time.sleep(1.5)
        else:
            # Longer than a lease: the reaper hands the held episodes over once the lock is gone.
            lock_sqlite(4)
            time.sleep(1)
    last_cut = time.monotonic()
    wait_for_runs([run_id], 180, cluster)
    figures = audit([run_id])
    report(
        f"database cut ({connection.vendor})",
        {
            "cuts": CUTS,
            "sessions_terminated": terminated,
            **figures,
            "done_after_last_cut_s": time.monotonic() - last_cut,
        },
    )
    assert (figures["lost"], figures["duplicated"], figures["stuck"]) == (0, 0, 0)
