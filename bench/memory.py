"""Memory per concurrent episode as deployed: PSS of a whole Celery worker process tree. Prints JSON.

For each shape and each N of ``--counts``, a real Celery worker is started and N long episodes are played
in it at once. The PSS (``/proc/<pid>/smaps_rollup``) of every process of the worker's tree (Python,
Playwright driver, Chromium and its renderers, zygotes and utilities) is summed, three samples a second
apart, and the median is divided by N: once early, when all N are stepping, and once late, when each has
taken ``--late-steps`` steps (25: near the end of an episode of the default 30-step budget), since pages grow
as an episode goes on.

A worker's memory is a fixed part (Python and Celery, the Playwright driver, the Chromium browser process)
and a part per episode (its renderer, its context in the browser process). So beside the PSS per episode at
each N, the summary fits total = fixed + marginal × N by least squares over the counts, for each shape and
phase: PSS per episode, fixed / N + marginal, tends to the marginal part as N grows (its floor, which no
worker reaches), and ``episodes_to_target`` is the smallest N at which it is within the target. PSS splits
each shared page (Chromium's code, for one) among every process that maps it, other Chromiums on the
machine included, so a busy machine shows less.

- ``shared`` (as deployed now): one process, Celery's threads pool with ``GAUNTLET_EPISODES_PER_WORKER=N``,
  one Chromium, a browser context per episode.
- ``prefork`` (the baseline, as deployed before): ``--pool prefork --concurrency N``, a child per episode,
  each with its own runner host (Chromium, driver, sandbox server).

The episodes are the smoke suite's scenarios played by the built-in random agent with stopping off and a
step budget far above what a measurement takes, so none ends while it is measured. Concurrency is checked,
not assumed: sampling starts only when the database shows N episodes of the run running with at least two
steps each, and a sample counts only if N are still running afterwards, each with more steps than before.
Each (shape, N) has a queue and a run of its own, and its worker is killed (whole process group) after.

Target: ≤ 120 MiB per concurrent episode (DESIGN.md), reached with enough episodes per worker if at all.
Needs PostgreSQL or SQLite through DATABASE_URL (the bench migrates it and loads the built-ins; use a
database of its own) and ``redis-server`` on the PATH (a private one is started on a free port).

    DATABASE_URL=postgres://.../gauntlet_bench .venv/bin/python bench/memory.py [--counts 1 4 8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
STEP_BUDGET = 1000
TARGET_MIB = 120
PHASES = ("early", "late")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass  # gone meanwhile
    return 0


def process_kind(pid: int) -> str:
    from tests.processes import command_line

    argv = command_line(pid)
    text = " ".join(argv)
    if "--type=" in text:
        return "chromium " + text.split("--type=", 1)[1].split()[0]
    name = Path(argv[0]).name if argv else "?"
    return {"chromium": "chromium browser", "node": "playwright driver"}.get(name, name)


def tree_pss(pid: int) -> tuple[int, dict[str, float]]:
    """PSS in bytes of ``pid`` and every process below it, and MiB by kind of process ("python x2": …)."""
    from tests.processes import descendants

    by_kind: dict[str, list[int]] = {}
    for p in [pid, *descendants(pid)]:
        by_kind.setdefault(process_kind(p), []).append(pss_bytes(p))
    total = sum(sum(v) for v in by_kind.values())
    return total, {f"{kind} x{len(v)}": round(sum(v) / MiB, 1) for kind, v in sorted(by_kind.items())}


def restless_version():
    """A built-in random agent that never stops of its own accord."""
    from agents.models import Agent, AgentVersion, Team

    team, _ = Team.objects.get_or_create(name="bench-memory")
    agent, _ = Agent.objects.get_or_create(team=team, name="restless", defaults={"kind": Agent.KIND_BUILTIN})
    version = agent.versions.first()
    if version is None:
        version = AgentVersion.objects.create(
            agent=agent, number=1, config={"name": "random", "stop_probability": 0}, verify_status=AgentVersion.VERIFIED
        )
    return team, version


def start_worker(shape: str, n: int, env: dict, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "benchmark_site", "worker", "--loglevel", "WARNING"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if shape == "prefork":
        # "processes" is Celery's other name for prefork: "--pool prefork" is taken for no option at all and
        # replaced by the configured threads pool. Each child plays one episode at a time, so its runner
        # host keeps no warm context beside it.
        argv += ["--pool", "processes", "--concurrency", str(n)]
        env = {**env, "GAUNTLET_EPISODES_PER_WORKER": "1"}
    else:
        env = {**env, "GAUNTLET_EPISODES_PER_WORKER": str(n)}
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stepping(run_id: int) -> dict[int, int]:
    """Steps so far of each running episode of the run."""
    from runs.models import Episode

    return dict(Episode.objects.filter(run_id=run_id, status=Episode.RUNNING).values_list("pk", "steps"))


def sample(run_id: int, n: int, min_steps: int, worker: subprocess.Popen, log: Path, deadline: float) -> dict:
    """Once the run's N episodes are running together with ``min_steps`` steps each at least: the median of
    three PSS samples of the worker's tree, each taken while all N stayed in flight."""
    while True:
        steps = stepping(run_id)
        if len(steps) == n and min(steps.values()) >= min_steps:
            break
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"N={n}: {len(steps)} of {n} episodes at {min_steps} steps\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    samples, breakdown = [], {}
    while len(samples) < 3:
        before = stepping(run_id)
        pss, breakdown = tree_pss(worker.pid)
        time.sleep(1.0)
        after = stepping(run_id)
        # All N still in flight, and each took a step meanwhile or is in the middle of one.
        if len(after) == n and set(after) == set(before) and all(after[pk] >= before[pk] for pk in after):
            samples.append(pss)
        if time.monotonic() > deadline:
            raise SystemExit(f"N={n}: the episodes did not stay in flight together")
    total = statistics.median(samples)
    return {
        "min_steps": min_steps,
        "steps_taken_while_measured": sum(after[pk] - steps[pk] for pk in after),
        "pss_mib_by_process": breakdown,
        "pss_total_mib": round(total / MiB, 1),
        "pss_per_episode_mib": round(total / n / MiB, 1),
    }


def measure(shape: str, n: int, env: dict, workdir: Path, late_steps: int) -> dict:
    from runs import services
    from runs.models import Suite
    from runs.tasks import run_episode

    queue = f"bench-memory-{uuid.uuid4().hex[:8]}"
    env = {**env, "GAUNTLET_QUEUE": queue}
    team, version = restless_version()
    suite = Suite.objects.get(name="smoke", team=None)
    trials = -(-n // suite.scenarios.count())
    run = services.queue_run(
        agent_version=version, suite=suite, team=team, trials=trials, max_steps=STEP_BUDGET, enqueue=False
    )
    log = workdir / f"worker-{shape}-{n}.log"
    worker = start_worker(shape, n, env, log)
    try:
        for episode_id in run.episodes.values_list("pk", flat=True)[:n]:
            run_episode.apply_async((episode_id,), queue=queue)
        deadline = time.monotonic() + 600
        early = sample(run.pk, n, 2, worker, log, deadline)
        late = sample(run.pk, n, late_steps, worker, log, deadline)
        return {"shape": shape, "episodes": n, "early": early, "late": late}
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()


def fit(points: list[tuple[int, float]]) -> dict:
    """Least squares of total MiB = fixed + marginal × N over ``points`` (N, total MiB); what per episode
    tends to (the marginal part) and the smallest N whose PSS per episode is within the target."""
    ns, totals = [n for n, _ in points], [t for _, t in points]
    mean_n, mean_t = statistics.fmean(ns), statistics.fmean(totals)
    marginal = sum((n - mean_n) * (t - mean_t) for n, t in points) / sum((n - mean_n) ** 2 for n in ns)
    fixed = mean_t - marginal * mean_n
    to_target = math.ceil(fixed / (TARGET_MIB - marginal)) if marginal < TARGET_MIB else None
    return {
        "fixed_mib": round(fixed, 1),
        "marginal_mib_per_extra_episode": round(marginal, 1),
        "episodes_to_target": to_target,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--shapes", nargs="+", default=["prefork", "shared"], choices=["prefork", "shared"])
    parser.add_argument("--late-steps", type=int, default=25, help="steps each episode has taken at the late sample")
    args = parser.parse_args()

    redis_port = free_port()
    redis = start_redis(redis_port)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    os.environ.setdefault("GAUNTLET_PREFIX", f"bench-memory-{os.getpid()}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from runs.services import load_builtins

        call_command("migrate", verbosity=0)
        load_builtins()
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.counts:
                for shape in args.shapes:
                    results.append(measure(shape, n, env, Path(tmp), args.late_steps))
                    print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait()

    by = {(r["shape"], r["episodes"]): r for r in results}
    summary = []
    for phase in PHASES:
        for n in args.counts:
            shared, prefork = by.get(("shared", n)), by.get(("prefork", n))
            row = {"phase": phase, "episodes": n}
            if shared:
                row["shared_mib_per_episode"] = shared[phase]["pss_per_episode_mib"]
            if prefork:
                row["prefork_mib_per_episode"] = prefork[phase]["pss_per_episode_mib"]
            if shared and prefork:
                row["ratio_shared_to_prefork"] = round(
                    shared[phase]["pss_total_mib"] / prefork[phase]["pss_total_mib"], 3
                )
            summary.append(row)
        for shape in args.shapes:
            points = sorted((n, r[phase]["pss_total_mib"]) for (s, n), r in by.items() if s == shape)
            if len(points) > 1:
                summary.append({"phase": phase, "shape": shape, **fit(points)})
    print(json.dumps({"target_mib_per_episode": TARGET_MIB, "runs": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
