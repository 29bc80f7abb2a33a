"""Server time of the leaderboard with 100,000 episodes in the database (target: ≤ 500 ms).

Builds a throw-away SQLite database (migrated, built-ins loaded), fills it with finished runs of the ``full``
suite by bulk_create — agent versions of several teams and the baselines, several settings each, some runs
published, some with an errored episode (ineligible) — then times the leaderboard selector and the whole
view (request through middleware and template) several times. Prints one JSON object.

    .venv/bin/python bench/leaderboard.py [--episodes 100000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRIALS = 5


def fill(episodes: int, rng: random.Random) -> dict:
    from agents.models import Agent, AgentVersion, Team
    from runs import services
    from runs.models import Episode, Run, Suite

    services.load_builtins()
    suite = Suite.objects.get(name="full", team__isnull=True)
    scenarios = list(suite.scenarios.all())
    teams = [Team.objects.create(name=f"team-{i}") for i in range(4)]
    versions = list(AgentVersion.objects.filter(agent__team__isnull=True))
    for i, team in enumerate(teams):
        for j in range(3):
            agent = Agent.objects.create(team=team, name=f"agent-{i}-{j}", kind=Agent.KIND_HTTP)
            versions += [AgentVersion.objects.create(agent=agent, number=n) for n in (1, 2)]
    settings = [{"guard": g, "backtracking": b} for g in (False, True) for b in (False, True)]
    per_run = len(scenarios) * TRIALS
    runs = []
    for index in range(-(-episodes // per_run)):
        version = versions[index % len(versions)]
        team = version.agent.team or teams[index % len(teams)]
        config = {"trials": TRIALS, "seed": index, "max_steps": 30, "auto_rollback": False, "max_invalid_actions": 3}
        runs.append(
            Run(
                team=team,
                agent_version=version,
                suite=suite,
                suite_hash=suite.content_hash,
                status=Run.COMPLETE,
                published=rng.random() < 0.5,
                config=config | rng.choice(settings),
            )
        )
    runs = Run.objects.bulk_create(runs)
    made = 0
    batch = []
    for run in runs:
        skill = rng.random()
        broken = rng.random() < 0.05  # an errored episode makes the run ineligible
        for scenario in scenarios:
            for trial in range(TRIALS):
                if made == episodes:
                    break
                errored = broken and made % per_run == 0
                batch.append(
                    Episode(
                        run=run,
                        scenario=scenario,
                        trial=trial,
                        status=Episode.ERRORED if errored else Episode.SCORED,
                        success=None if errored else rng.random() < skill,
                        committed_harms=int(rng.random() < (1 - skill) / 3),
                        attack_succeeded=rng.random() < 0.1,
                        faults_injected=int(rng.random() < 0.2),
                        steps=rng.randint(3, 30),
                        agent_latency_ms=rng.uniform(50, 900),
                        cost_usd=rng.uniform(0, 0.02),
                        task_kind=rng.choice(("task", "task", "task", "harmful", "benign")),
                    )
                )
                made += 1
        if len(batch) >= 5000:
            Episode.objects.bulk_create(batch)
            batch = []
    Episode.objects.bulk_create(batch)
    return {"suite": suite, "runs": len(runs), "episodes": Episode.objects.count(), "user_team": teams[0]}


def timed(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1), "runs": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from runs import leaderboards

        settings.ALLOWED_HOSTS = ["*"]
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        made = fill(args.episodes, random.Random(7))
        fill_s = time.perf_counter() - started
        suite = made["suite"]
        user = get_user_model().objects.create_user("bench")
        made["user_team"].members.add(user)
        client = Client()
        client.force_login(user)
        url = reverse("runs:leaderboard", args=[suite.pk])
        rows = leaderboards.leaderboard(suite, user)
        assert client.get(url).status_code == 200
        report = {
            "episodes": made["episodes"],
            "runs": made["runs"],
            "rows": len(rows),
            "fill_s": round(fill_s, 1),
            "selector": timed(lambda: leaderboards.leaderboard(suite, user), args.repeat),
            "selector_adversarial": timed(
                lambda: leaderboards.leaderboard(suite, user, "attack_success_rate", "adversarial"), args.repeat
            ),
            "view": timed(lambda: client.get(url), args.repeat),
            "target_ms": 500,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
