"""Full backtrack time: World rollback + browser re-open + feasibility check, in real episodes. Prints JSON.

An agent explores each built-in site's task (follows links and buttons, fills fields, seeded) and every
few steps answers ``backtrack`` to a random checkpoint it may go back to; ``--concurrency`` episodes play
at once on the runner host. The runner's own ``backtrack`` trace events give the World part (``world_ms``)
and the whole (``total_ms``); every successful backtrack's World digest is checked against its
checkpoint's. Target: full backtrack p95 ≤ 400 ms with 4 concurrent episodes (World restore p95 ≤ 10 ms;
bench/world_reset.py measures restores in isolation too).

The baseline, measured in the same run at the same concurrency: raw Playwright re-opening a site page
(``goto`` + aria snapshot) in a context of its own, the browser part a backtrack cannot do without.

    .venv/bin/python bench/backtrack.py [--episodes 12] [--steps 24] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.browser import VIEWPORT  # noqa: E402
from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.scenarios import build_scenario  # noqa: E402
from sandbox.server import SANDBOX_DOMAIN, WORLD_COOKIE  # noqa: E402

EXPLORER = """
import random

class Agent:
    def __init__(self):
        self.rng = random.Random(SEED)

    def act(self, request):
        checkpoints = request["checkpoints"]
        if checkpoints and request["step"] % 3 == 0:
            return "backtrack(%r)" % self.rng.choice(checkpoints)["id"]
        elements = [e for e in request["observation"]["elements"] if e["role"] in ("link", "button", "textbox")]
        if not elements:
            return "go_back()"
        e = self.rng.choice(elements)
        if e["role"] == "textbox":
            return "fill(%r, %r)" % (e["ref"], self.rng.choice(["1", "Jordan", "hello"]))
        return "click(%r)" % e["ref"]
"""
TASKS = ["shop.purchase", "mail.reply_to_message", "bank.pay_payee", "forum.reply_thread"]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def episode(i: int, steps: int) -> list[dict]:
    """The backtrack events of one exploring episode."""
    spec = EpisodeSpec(
        episode_id=i,
        run_id=0,
        scenario_key="bench",
        task=TASKS[i % len(TASKS)],
        overlays=[],
        params={},
        seed=i,
        trial=0,
        agent=AgentSpec(kind="python", source=EXPLORER.replace("SEED", str(i))),
        max_steps=steps,
        screenshots=True,
        backtracking=True,
    )
    events = []
    get_host().run_episode(
        spec, lambda kind, p: events.append(p) if kind == "trace" and p["type"] == "backtrack" else None
    )
    return events


def reopen_baseline(concurrency: int, count: int) -> list[float]:
    """ms of raw Playwright re-opening a site page (goto + aria snapshot), ``concurrency`` contexts at once."""

    async def reopen(browser, sandbox, task: str) -> list[float]:
        instance = build_scenario(key="bench", task=task, seed=1)
        sandbox.add_world(instance.world)
        context = await browser.new_context(viewport=VIEWPORT)
        times = []
        try:
            await context.add_cookies(
                [{"name": WORLD_COOKIE, "value": instance.world.token, "domain": "." + SANDBOX_DOMAIN, "path": "/"}]
            )
            page = await context.new_page()
            for _ in range(count):
                started = time.perf_counter()
                await page.goto(instance.start_url, wait_until="domcontentloaded")
                await page.aria_snapshot(mode="ai")
                times.append((time.perf_counter() - started) * 1000)
        finally:
            await context.close()
            sandbox.remove_world(instance.world)
        return times

    async def play(browser, sandbox):
        runs = await asyncio.gather(*(reopen(browser, sandbox, TASKS[i % len(TASKS)]) for i in range(concurrency)))
        return [ms for run in runs for ms in run]

    return get_host().call(play)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    reopen_baseline(1, 2)  # warm-up: browser launch, page caches
    with ThreadPoolExecutor(args.concurrency) as pool:
        events = [e for played in pool.map(lambda i: episode(i, args.steps), range(args.episodes)) for e in played]
    baseline = reopen_baseline(args.concurrency, max(2, args.steps // 3))
    restored = [e for e in events if not e["error"].startswith("irreversible_barrier")]
    ok = [e for e in restored if e["ok"]]
    mismatched = [e for e in restored if e["world_digest"] != e["checkpoint_digest"]]
    report = {
        "backtracks": len(events),
        "ok": len(ok),
        "infeasible": sum(1 for e in restored if not e["ok"]),
        "refused_irreversible": len(events) - len(restored),
        "world_digest_mismatches": len(mismatched),
        "world_ms_p50": pct([e["world_ms"] for e in restored], 0.5),
        "world_ms_p95": pct([e["world_ms"] for e in restored], 0.95),
        "total_ms_p50": pct([e["total_ms"] for e in restored], 0.5),
        "total_ms_p95": pct([e["total_ms"] for e in restored], 0.95),
        "total_ms_max": max((e["total_ms"] for e in restored), default=None),
        "concurrency": args.concurrency,
        "baseline_reopen_ms_p50": pct(baseline, 0.5),
        "baseline_reopen_ms_p95": pct(baseline, 0.95),
        "ratio_p95_to_baseline_p95": round(pct([e["total_ms"] for e in restored], 0.95) / pct(baseline, 0.95), 3)
        if restored
        else None,
        "target_total_ms_p95": 400,
    }
    print(json.dumps(report, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
