"""Server time of a run's page, state and episode pages as the run grows: 1k, 5k and 20k episodes (target:
≤ 300 ms at 20k, and little growth).

Builds a throw-away PostgreSQL database (migrated, built-ins loaded) and fills it by bulk inserts: one run per
size on the ``full`` suite, most episodes scored (successes, harms, attacks, faults with recoveries), some
running, queued, errored and unmeasured, each finished or running episode with its steps; plus finished runs
of other teams' agents holding about 200,000 more steps, so the step feed has to find its run's steps among
them. Then times, in this process through Django's test client (middleware, view, template; no network),
the median of several requests to: the run page, ``state.json``, ``episodes.json`` (first and last page, a
status and a scenario filter), ``state.json?since=SEQ`` (when the endpoint answers it), ``scorecard.json``
(which the page's script reads; its first request is the cold one), and a small page as a probe of the
machine's speed in the same run. The run's live state is computed afresh for each timed request (requests at
one live event share it; ``run_page_shared_state`` times such a request). Prints one JSON object: per size
and endpoint the median, the first (cold) request and the ratio to the probe; and per endpoint the growth
1k → 20k.

Runs on older code too (before run counters, the run index on steps and episodes.json): what it cannot
measure there it reports as null.

    .venv/bin/python bench/run_page_scale.py [--sizes 1000,5000,20000] [--other-steps 200000] [--repeat 7]
        [--database-url postgres://postgres@127.0.0.1:5432/gauntlet_bench_run_page]

The database named by ``--database-url`` is dropped and created again: name one of your own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEPS_PER_EPISODE = 6
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gauntlet_bench_run_page"


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.get_fields())


def episode(run, scenario, trial: int, rng: random.Random, status: str):
    from runs.models import Episode

    scored = status == Episode.SCORED
    faults = int(scored and rng.random() < 0.3)
    success = rng.random() < 0.6 if scored else None
    recoveries = []
    if faults:
        steps = rng.randint(1, 5) if success else None
        recoveries = [
            {
                "fault": "checkout_503",
                "step": 2,
                "recovered_at": 2 + steps if steps else None,
                "steps_to_recover": steps,
                "seconds_to_recover": round(rng.uniform(0.2, 6), 3) if steps else None,
            }
        ]
    return Episode(
        run=run,
        scenario=scenario,
        trial=trial,
        status=status,
        attempts=0 if status == Episode.QUEUED else 1,
        success=success,
        progress=rng.random() if scored else None,
        committed_harms=int(scored and rng.random() < 0.1),
        contained_harms=int(scored and rng.random() < 0.05),
        attack_exposed=scored and rng.random() < 0.3,
        attack_succeeded=scored and rng.random() < 0.1,
        faults_injected=faults,
        faults_recovered=int(faults and bool(success)),
        steps=STEPS_PER_EPISODE if status in (Episode.SCORED, Episode.RUNNING) else 0,
        backtracks=rng.randint(0, 1) if scored else 0,
        agent_error="agent_unreachable" if status == Episode.UNMEASURED else "",
        infra_error="browser crashed" if status == Episode.ERRORED else "",
        agent_latency_ms=rng.uniform(50, 900) if scored else None,
        wall_time_s=rng.uniform(2, 30) if scored else None,
        outcome={"recoveries": recoveries, "input_tokens": 1000, "output_tokens": 40} if scored else {},
    )


def make_run(suite, version, team, episodes: int, rng: random.Random, *, finished: bool):
    """A run of ``episodes`` episodes (trials over the suite's scenarios) with its steps, by bulk inserts."""
    from runs.models import Episode, Run, Step

    scenarios = list(suite.scenarios.all())
    trials = -(-episodes // len(scenarios))
    run = Run.objects.create(
        team=team,
        agent_version=version,
        suite=suite,
        suite_hash=suite.content_hash,
        status=Run.COMPLETE if finished else Run.RUNNING,
        config={"trials": trials, "seed": 0, "max_steps": 30, "backtracking": False, "guard": False},
        event_seq=episodes * (STEPS_PER_EPISODE + 2),
    )
    statuses = [Episode.SCORED] * 90 + [Episode.ERRORED] * 2 + [Episode.UNMEASURED] * 1
    if not finished:
        statuses += [Episode.RUNNING] * 2 + [Episode.QUEUED] * 5
    rows = []
    for scenario in scenarios:
        for trial in range(trials):
            if len(rows) < episodes:
                rows.append(episode(run, scenario, trial, rng, rng.choice(statuses)))
    made = Episode.objects.bulk_create(rows, batch_size=5000)
    with_run = has_field(Step, "run")
    steps = []
    for e in made:
        for index in range(1, e.steps + 1):
            step = Step(episode_id=e.pk, index=index, action=f"click('e{index}')", url="http://shop.gauntlet.test/")
            if with_run:
                step.run_id = run.pk
            steps.append(step)
        if len(steps) >= 20000:
            Step.objects.bulk_create(steps)
            steps = []
    Step.objects.bulk_create(steps)
    try:
        from runs.models import RunCounters
    except ImportError:  # older code: no counters to keep
        pass
    else:
        RunCounters.recount(run)  # what the services keep up to date episode by episode
    return run


def timed(fn, repeat: int) -> dict:
    """The first call (cold caches) and the median of ``repeat`` more, in ms; None if a call does not answer 200."""
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        response = fn()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            return None
    return {
        "median_ms": round(statistics.median(times[1:]), 1),
        "first_ms": round(times[0], 1),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--other-steps", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="leave the database behind")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from agents.models import Agent, AgentVersion, Team
    from runs import services
    from runs.models import Step, Suite

    try:
        settings.ALLOWED_HOSTS = ["*"]
        call_command("migrate", verbosity=0)
        services.load_builtins()
        rng = random.Random(11)
        started = time.perf_counter()
        suite = Suite.objects.get(name="full", team__isnull=True)
        team = Team.objects.create(name="bench")
        agent = Agent.objects.create(team=team, name="bench-agent", kind=Agent.KIND_HTTP)
        version = AgentVersion.objects.create(agent=agent, number=1)
        others = Team.objects.create(name="others")
        other_agent = Agent.objects.create(team=others, name="other-agent", kind=Agent.KIND_HTTP)
        other_version = AgentVersion.objects.create(agent=other_agent, number=1)
        other_episodes = args.other_steps // STEPS_PER_EPISODE
        while other_episodes > 0:
            make_run(suite, other_version, others, min(other_episodes, 5000), rng, finished=True)
            other_episodes -= 5000
        runs = {size: make_run(suite, version, team, size, rng, finished=False) for size in sizes}
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        fill_s = time.perf_counter() - started
        user = get_user_model().objects.create_user("bench")
        team.members.add(user)
        client = Client()
        client.force_login(user)
        scenario = suite.scenarios.order_by("order")[1].key
        try:
            reverse("runs:episodes", args=[1])
            has_episodes_json = True
        except NoReverseMatch:
            has_episodes_json = False

        from runs import selectors

        def unshared(fn):
            """``fn`` with the live state computed afresh: requests at one live event share it (selectors.
            shared_run_state), which would make every request after the first a cache hit."""

            def call():
                getattr(selectors, "_state_cache", {}).clear()
                return fn()

            return call

        def requests(run) -> dict:
            state_url = reverse("runs:state", args=[run.pk])
            out = {
                "run_page": unshared(lambda: client.get(reverse("runs:detail", args=[run.pk]))),
                # Another viewer's request at the same live event: the state is the first one's.
                "run_page_shared_state": lambda: client.get(reverse("runs:detail", args=[run.pk])),
                "state": unshared(lambda: client.get(state_url)),
                "state_since": unshared(lambda: client.get(state_url, {"since": run.event_seq - 5})),
                # Not the page's: read by its script, recomputed once per finished episode (see first_ms).
                "scorecard_json": lambda: client.get(reverse("runs:scorecard", args=[run.pk])),
                # Now that scorecard.json has cached it, the page renders the scorecard itself.
                "run_page_scorecard_cached": unshared(lambda: client.get(reverse("runs:detail", args=[run.pk]))),
            }
            if has_episodes_json:
                url = reverse("runs:episodes", args=[run.pk])
                last = -(-run.episodes.count() // 50)
                out["episodes_first_page"] = lambda: client.get(url)
                out["episodes_last_page"] = lambda: client.get(url, {"page": last})
                out["episodes_failed"] = lambda: client.get(url, {"status": "failed", "page": 2})
                out["episodes_scenario"] = lambda: client.get(url, {"scenario": scenario})
            return out

        probe_url = reverse("runs:suites")
        report = {
            "database": connection.vendor,
            "sizes": sizes,
            "steps": Step.objects.count(),
            "fill_s": round(fill_s, 1),
            "repeat": args.repeat,
            "target_ms_at_20k": 300,
            "by_size": {},
        }
        for size, run in runs.items():
            probe = timed(lambda: client.get(probe_url), args.repeat)
            figures = {"probe": probe}
            for name, fn in requests(run).items():
                figure = timed(fn, args.repeat)
                if figure is not None:
                    figure["x_probe"] = round(figure["median_ms"] / probe["median_ms"], 2)
                figures[name] = figure
            report["by_size"][str(size)] = figures
        first, last = str(sizes[0]), str(sizes[-1])
        report[f"growth_{first}_to_{last}"] = {
            name: round(figure["median_ms"] / report["by_size"][first][name]["median_ms"], 2)
            for name, figure in report["by_size"][last].items()
            if figure and report["by_size"][first].get(name)
        }
        print(json.dumps(report, indent=2))
    finally:
        connection.close()
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
