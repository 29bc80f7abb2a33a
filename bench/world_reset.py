"""World checkpoint restore and episode reset times for the built-in worlds. Prints one JSON object.

- restore: on a fresh built-in World, take a checkpoint, apply 1–40 writes that change real rows of the
  sites' tables (as a step or a few would), restore, and check the digest equals the checkpoint's.
  Target: p95 ≤ 10 ms.
- reset: a fresh World for a scenario plus a fresh fenced browser context with its cookies and a page
  (DESIGN.md's "fresh World + context"; target p95 ≤ 400 ms, WebArena-style resets take minutes); reported
  also with the first page of the task loaded, which is what an agent waits for before its first
  observation. "cold" makes the context on the spot, as episodes did before the runner host pre-warmed one;
  "warm" takes the host's pre-warmed context, as episodes do now; the two alternate in one run.

    .venv/bin/python bench/world_reset.py [--restores 300] [--resets 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.browser import new_context  # noqa: E402
from runner.host import get_host  # noqa: E402
from sandbox.scenarios import TASKS, build_scenario  # noqa: E402
from sandbox.server import AGENT_COOKIE, SANDBOX_DOMAIN, WORLD_COOKIE  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)


def measure_restores(count: int, rng: random.Random) -> dict:
    tasks = sorted(TASKS)
    times, mismatches, writes = [], 0, []
    for i in range(count):
        world = build_scenario(key="bench", task=tasks[i % len(tasks)], seed=i).world
        checkpoint, digest = world.position, world.digest()
        n = rng.randint(1, 40)
        for _ in range(n):
            table = rng.choice([t for t in sorted(world.snapshot()) if world.rows(t)])
            key = rng.choice(sorted(world.rows(table)))
            row = copy.deepcopy(world.get(table, key))
            value = {**row, "_bench": rng.random()} if isinstance(row, dict) else None
            world.write(site="bench", op="bench", table=table, key=key, value=value)
        started = time.perf_counter()
        world.restore(checkpoint)
        times.append((time.perf_counter() - started) * 1000)
        mismatches += world.digest() != digest
        writes.append(n)
    return {
        "restores": count,
        "writes_per_restore_mean": round(statistics.fmean(writes), 1),
        "restore_ms_p50": percentile(times, 0.5),
        "restore_ms_p95": percentile(times, 0.95),
        "digest_mismatches": mismatches,
        "restore_target_p95_ms": 10,
    }


def measure_resets(count: int) -> dict:
    """Resets as episodes did them before (a context made on the spot) and as they do now (the host's
    pre-warmed context), interleaved in one run so that the machine's load weighs on both alike."""
    tasks = sorted(t for t in TASKS if TASKS[t].kind != "harmful")
    host = get_host()

    async def reset(browser, sandbox, task, warm):
        started = time.perf_counter()
        instance = build_scenario(key="bench", task=task, seed=1)
        sandbox.add_world(instance.world)
        if warm:
            context, page = await host.open_context(browser)
        else:
            context = await new_context(browser)
            page = await context.new_page()
        await context.add_cookies(
            [
                {"name": n, "value": v, "domain": "." + SANDBOX_DOMAIN, "path": "/"}
                for n, v in ((WORLD_COOKIE, instance.world.token), (AGENT_COOKIE, "0"))
            ]
        )
        ready = (time.perf_counter() - started) * 1000
        await page.goto(instance.start_url, wait_until="domcontentloaded")
        loaded = (time.perf_counter() - started) * 1000
        await context.close()
        sandbox.remove_world(instance.world)
        return ready, loaded

    host.call(lambda b, s: reset(b, s, tasks[0], False))  # warm-up: browser launch
    figures = {False: ([], []), True: ([], [])}
    for i in range(count):
        task = tasks[i % len(tasks)]
        for warm in (False, True):
            # An episode's steps take far longer than making a context: give the pre-warm that time.
            time.sleep(0.3)
            r, first_page = host.call(lambda b, s, task=task, warm=warm: reset(b, s, task, warm))
            figures[warm][0].append(r)
            figures[warm][1].append(first_page)
    result = {"resets": count}
    for warm, name in ((False, "cold"), (True, "warm")):
        ready, loaded = figures[warm]
        result |= {
            f"{name}_reset_ms_p50": percentile(ready, 0.5),
            f"{name}_reset_ms_p95": percentile(ready, 0.95),
            f"{name}_reset_with_first_page_ms_p50": percentile(loaded, 0.5),
            f"{name}_reset_with_first_page_ms_p95": percentile(loaded, 0.95),
        }
    result["warm_to_cold_reset_p50"] = round(result["warm_reset_ms_p50"] / result["cold_reset_ms_p50"], 3)
    result["warm_to_cold_with_first_page_p50"] = round(
        result["warm_reset_with_first_page_ms_p50"] / result["cold_reset_with_first_page_ms_p50"], 3
    )
    result["reset_target_p95_ms"] = 400
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--restores", type=int, default=300)
    parser.add_argument("--resets", type=int, default=30)
    args = parser.parse_args()
    result = {**measure_restores(args.restores, random.Random(7)), **measure_resets(args.resets)}
    print(json.dumps(result, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
