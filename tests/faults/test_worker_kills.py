"""SIGKILL at random points of what a worker process runs its episodes on, its Chromium and its Playwright
driver, and of whole worker processes: every episode is scored exactly once, and each episode a kill
interrupted runs again within seconds."""

import os
import random
import socket
import statistics
import time

import pytest

from runs.models import Episode, Run
from tests.faults.conftest import audit, report, wait_for_runs, wait_until
from tests.processes import chromium_browsers, playwright_drivers

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.faults]

KILLS = 20


def held_episodes(pid: int) -> list[tuple[int, int]]:
    """(episode id, attempt) of each episode the worker process ``pid`` is running."""
    rows = Episode.objects.filter(status=Episode.RUNNING, worker=f"{socket.gethostname()}:{pid}")
    return [tuple(row) for row in rows.values_list("pk", "attempts")]


def test_it_scores_every_episode_once_through_random_kills(cluster):
    seed = int(os.environ.get("GAUNTLET_FAULT_SEED") or time.time())
    rng = random.Random(seed)
    cluster.start_redis()
    for worker in [cluster.start_worker(wait=False) for _ in range(2)]:
        cluster.wait_ready(worker)
    cluster.start_beat()
    run_id = cluster.start_run(trials=4)
    wait_until(lambda: Episode.objects.filter(run=run_id, status=Episode.RUNNING).exists(), 60, "a first claim")

    interrupted: dict[tuple[int, int], float] = {}  # (episode, attempt) -> when its process was killed
    recoveries: list[float] = []

    def note_recoveries():
        for (pk, attempt), killed_at in list(interrupted.items()):
            episode = Episode.objects.get(pk=pk)
            if episode.attempts > attempt or episode.status == Episode.SCORED:
                recoveries.append(time.monotonic() - killed_at)
                del interrupted[(pk, attempt)]

    main_kills = driver_kills = browser_kills = 0
    while cluster.kills < KILLS:
        deadline = time.monotonic() + rng.uniform(0.3, 2.0)
        while time.monotonic() < deadline:
            note_recoveries()
            time.sleep(0.05)
        ready = [(w, chromium_browsers(w.pid)) for w in cluster.workers if w.poll() is None]
        ready = [(w, browsers) for w, browsers in ready if browsers and held_episodes(w.pid)]
        if not ready:
            if Run.objects.get(pk=run_id).is_final:
                break
            continue
        worker, browsers = rng.choice(ready)
        # Every episode of the process runs in its one browser: any of these kills interrupts them all.
        held = held_episodes(worker.pid)
        choice = rng.random()
        if choice < 0.3 and len(ready) > 1:
            # The main process, with its threads and its browser; a new worker takes its place.
            main_kills += cluster.kill(worker.pid)
            worker.wait()
            cluster.start_worker(wait=False)
        elif choice < 0.5:
            # The Playwright driver: the browser goes with it, the next episode starts both again.
            driver_kills += sum(cluster.kill(pid) for pid in playwright_drivers(worker.pid))
        else:
            browser_kills += cluster.kill(browsers[0])
        for h in held:
            interrupted.setdefault(h, time.monotonic())
        if Run.objects.get(pk=run_id).is_final:
            break
    last_kill = time.monotonic()
    wait_until(lambda: note_recoveries() or not interrupted, 120, "every interrupted episode to run again")
    wait_for_runs([run_id], 180, cluster)
    figures = audit([run_id])
    report(
        "worker kills",
        {
            "seed": seed,
            "kills": cluster.kills,
            "main_kills": main_kills,
            "driver_kills": driver_kills,
            "browser_kills": browser_kills,
            **figures,
            "rerun_median_s": statistics.median(recoveries) if recoveries else 0.0,
            "rerun_max_s": max(recoveries, default=0.0),
            "done_after_last_kill_s": time.monotonic() - last_kill,
        },
    )
    assert cluster.kills >= KILLS
    assert (figures["lost"], figures["duplicated"], figures["stuck"]) == (0, 0, 0)
