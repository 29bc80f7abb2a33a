"""How long a small run waits behind a big one, and what a run's first episodes cover: fair dispatch against
first come, first served, in the same process. Prints one JSON object.

Each round, for each mode (``fifo``: ``GAUNTLET_FAIR_DISPATCH=0``, every episode sent at once in suite order,
as before; ``fair``: runs/dispatch.py), a real Celery worker is started (``--capacity`` episodes at once in
one Chromium), team "big" queues a run of the oracle on the smoke suite (``--big-trials`` trials of its three
scenarios, at most ``--max-steps`` steps each: 2, short episodes, by default), and once the worker is warm and
busy with it (twice ``--capacity`` of its episodes ended), at a random point of the slots' cycle (seeded by
``--seed``), team "small" queues one trial of the same suite. Measured, from the database's timestamps:

- ``small_wait_s``: from the small run's creation to its first episode's start (its claim), and the same in
  units of the mean duration of the episodes the small run waited behind, those running when it was created
  (``small_wait_episodes``, the issue's "within one episode's time" is ≤ 1): what it costs the small team in
  wall time and independently of the machine's speed;
- ``small_sent_after_s``, ``first_slot_freed_after_s``, ``claimed_after_freed_s``: where that wait went (the
  small run's message sent, the first of the big run's episodes to end after its creation, and the claim);
- ``big_started_meanwhile``: episodes of the big run that started in that time;
- ``first_scenarios``: distinct scenarios among the big run's first ``--first`` episodes to start (out of 3),
  and, without playing, the scenarios and conditions among the first 20 episodes of the ``full`` suite at 3
  trials in each mode's order (``planned_coverage``).

The ratio ``fifo / fair`` of the wait, in episodes, is the figure to read: the machine's load moves seconds,
much less a count of episodes. Makes a fresh PostgreSQL database of its own, ``gauntlet_fairness_bench`` on
``DATABASE_URL``'s server (bench/live_setup.py), and needs ``redis-server`` on the PATH (a private one on a
free port).

A fixed cost (a free slot's worker fetching its next message, the run's own creation) weighs more next to
very short episodes; ``--max-steps`` makes them longer.

    .venv/bin/python bench/fairness.py [--rounds 1] [--big-trials 10] [--max-steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import live_setup  # noqa: E402

from bench.memory import free_port, start_redis  # noqa: E402

MODES = ("fifo", "fair")


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "benchmark_site", "worker", "--loglevel", "WARNING"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(predicate, timeout: float, worker: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def queue(team_name: str, trials: int, max_steps: int):
    from agents.models import Agent, Team
    from runs import services
    from runs.models import Suite

    team, _ = Team.objects.get_or_create(name=f"bench-fairness-{team_name}")
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle", team=None).latest_version(),
        suite=Suite.objects.get(name="smoke", team=None),
        team=team,
        trials=trials,
        max_steps=max_steps,
    )


def measure(mode: str, args, env: dict, workdir: Path, rng: random.Random) -> dict:
    from celery import current_app
    from django.conf import settings

    from runs.models import Episode, Run

    settings.GAUNTLET_FAIR_DISPATCH = mode == "fair"
    env = {
        **env,
        "GAUNTLET_FAIR_DISPATCH": "1" if mode == "fair" else "0",
        "GAUNTLET_EPISODES_PER_WORKER": str(args.capacity),
    }
    current_app.control.purge()
    log = workdir / f"worker-{mode}.log"
    worker = start_worker(env, log)
    runs = []
    try:
        big = queue("big", args.big_trials, args.max_steps)
        runs.append(big)
        started = Episode.objects.filter(started__isnull=False)
        # Warm and busy: the worker's first episodes (a cold browser, both slots starting at once) are over.
        done = Episode.objects.filter(run=big, finished__isnull=False)
        wait_for(lambda: done.count() >= args.capacity * 2, 120, worker, log, f"{mode}: the big run")
        warm = statistics.fmean((e.finished - e.started).total_seconds() for e in done)
        # At a random point of the slots' cycle, as a team would come.
        time.sleep(rng.uniform(0, warm))
        small = queue("small", 1, args.max_steps)
        runs.append(small)
        wait_for(lambda: started.filter(run=small).exists(), 600, worker, log, f"{mode}: the small run to start")
        small.refresh_from_db()
        first_episode = started.filter(run=small).order_by("started").first()
        first = first_episode.started
        # Where the wait went: the small run's message sent, the first slot freed (an episode of the big run
        # finished) after the small run was created, and the claim after that.
        freed = (
            Episode.objects.filter(run=big, finished__gte=small.created, finished__lte=first)
            .order_by("finished")
            .values_list("finished", flat=True)
            .first()
        )
        meanwhile = started.filter(run=big, started__gte=small.created, started__lt=first).count()
        # The mean duration of episodes started once the worker was warm and busy (after the small run was
        # queued), the same in both modes: the first episodes of a fresh worker are slower.
        # The episodes the small run waited behind: those running when it was created. Once they have ended, the
        # mean of their durations is the unit of the wait.
        behind = Episode.objects.filter(run=big, started__lt=small.created).exclude(finished__lt=small.created)
        wait_for(
            lambda: not behind.filter(finished__isnull=True).exists(), 300, worker, log, f"{mode}: episodes to end"
        )
        mean = statistics.fmean((e.finished - e.started).total_seconds() for e in behind)
        wait_s = (first - small.created).total_seconds()
        firsts = started.filter(run=big).order_by("started")[: args.first]
        return {
            "mode": mode,
            "small_wait_s": round(wait_s, 2),
            "episode_mean_s": round(mean, 2),
            "small_wait_episodes": round(wait_s / mean, 2),
            "big_started_meanwhile": meanwhile,
            "small_sent_after_s": round((first_episode.enqueued_at - small.created).total_seconds(), 2)
            if first_episode.enqueued_at
            else None,
            "first_slot_freed_after_s": round((freed - small.created).total_seconds(), 2) if freed else None,
            "claimed_after_freed_s": round((first - freed).total_seconds(), 2) if freed else None,
            "first_scenarios": len({e.scenario_id for e in firsts}),
        }
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()
        current_app.control.purge()
        Run.objects.filter(pk__in=[r.pk for r in runs]).delete()


def planned_coverage(first: int) -> dict:
    """Distinct scenarios among the first ``first`` episodes of the full suite at 3 trials, in each order."""
    from runs.dispatch import dispatch_orders
    from runs.models import Suite

    scenarios = list(Suite.objects.get(name="full", team=None).scenarios.order_by("order"))
    trials = 3
    fifo = [position for position in range(len(scenarios)) for _ in range(trials)][:first]
    orders = dispatch_orders(len(scenarios), trials, seed=0)
    fair = [position for (position, _), _ in sorted(orders.items(), key=lambda item: item[1])][:first]
    conditions = {
        mode: len({scenarios[p].condition for p in positions}) for mode, positions in (("fifo", fifo), ("fair", fair))
    }
    return {
        "suite": "full",
        "scenarios": len(scenarios),
        "first": first,
        "fifo_scenarios": len(set(fifo)),
        "fair_scenarios": len(set(fair)),
        "fifo_conditions": conditions["fifo"],
        "fair_conditions": conditions["fair"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--big-trials", type=int, default=10, help="trials of the big run (3 scenarios each)")
    parser.add_argument("--capacity", type=int, default=2, help="episodes the worker plays at once")
    parser.add_argument("--max-steps", type=int, default=2, help="the episodes' step budget (their length)")
    parser.add_argument("--seed", type=int, default=0, help="seeds when, in the slots' cycle, the small run comes")
    parser.add_argument("--first", type=int, default=6, help="how many first episodes the coverage counts")
    args = parser.parse_args()

    redis_port = free_port()
    redis = start_redis(redis_port)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    try:
        live_setup.setup_django("gauntlet_fairness_bench")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        results = []
        rng = random.Random(args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for mode in MODES:
                    results.append(measure(mode, args, env, Path(tmp), rng))
                    print(json.dumps(results[-1]), file=sys.stderr)
        coverage = planned_coverage(20)
    finally:
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait()

    summary = {}
    for mode in MODES:
        rows = [r for r in results if r["mode"] == mode]
        summary[mode] = {
            key: round(statistics.median(r[key] for r in rows), 2)
            for key in ("small_wait_s", "small_wait_episodes", "episode_mean_s", "big_started_meanwhile")
        }
        summary[mode]["first_scenarios"] = min(r["first_scenarios"] for r in rows)
    fair_wait = max(summary["fair"]["small_wait_episodes"], 0.01)
    summary["ratio_fifo_to_fair_wait_episodes"] = round(summary["fifo"]["small_wait_episodes"] / fair_wait, 1)
    print(
        json.dumps(
            {
                "capacity": args.capacity,
                "big_run_episodes": args.big_trials * 3,
                "max_steps": args.max_steps,
                "target_small_wait_episodes": 1.0,
                "summary": summary,
                "planned_coverage": coverage,
                "rounds": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
