"""Scripted-agent throughput through the runner against raw Playwright doing the same steps, in one process.

At each concurrency (1, 2, 4 by default) the runner plays that many episodes at once on its host (a built-in
scripted baseline on a smoke scenario, screenshots on, so each step observes an aria snapshot and a JPEG),
and raw Playwright plays as many episodes at once on the same browser and sandbox server: a fresh World, a
context, the start page, then the runner's recorded actions, each step an aria snapshot + a JPEG screenshot +
the action. Both count whole episodes (World, context and start page included) in their wall time.
Rounds alternate runner and raw, so machine noise hits both alike. Prints one JSON object; the target is a
ratio of runner to raw steps/s ≥ 1.0 at every concurrency. It also prints this process's CPU time per step
(the runner's loop, the sandbox server, the agent; not Chromium or the Playwright driver), which a busy
machine disturbs far less than wall time.

    .venv/bin/python bench/throughput.py [--agent cautious] [--scenario purchase-clean] [--rounds 3]
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

from runner.actions import parse_action  # noqa: E402
from runner.browser import VIEWPORT, execute  # noqa: E402
from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.scenarios import build_scenario  # noqa: E402
from sandbox.server import SANDBOX_DOMAIN, WORLD_COOKIE  # noqa: E402
from sandbox.suites import builtin_suites  # noqa: E402

NOT_BROWSER_ACTIONS = ("stop", "report_infeasible", "send_msg_to_user", "noop", "backtrack")


def runner_episode(scenario, agent: str, episode_id: int) -> list[str]:
    """Play one episode through the runner; the actions it took."""
    spec = EpisodeSpec(
        episode_id=episode_id,
        run_id=0,
        scenario_key=scenario.key,
        task=scenario.task,
        overlays=scenario.overlays,
        params=scenario.params,
        seed=1,
        trial=0,
        agent=AgentSpec(kind="builtin", config={"name": agent}),
        max_steps=40,
        screenshots=True,
    )
    actions = []
    get_host().run_episode(spec, lambda kind, payload: actions.append(payload.action) if kind == "step" else None)
    return actions


def runner_round(scenario, agent: str, concurrency: int) -> tuple[int, float, float]:
    """(steps, seconds, process CPU seconds) of ``concurrency`` episodes played at once through the runner."""
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(concurrency) as pool:
        played = list(pool.map(lambda i: runner_episode(scenario, agent, i), range(concurrency)))
    return sum(len(actions) for actions in played), time.perf_counter() - started, time.process_time() - cpu


async def raw_episode(browser, sandbox, scenario, actions: list[str]) -> int:
    instance = build_scenario(
        key=scenario.key, task=scenario.task, overlays=scenario.overlays, params=scenario.params, seed=1
    )
    sandbox.add_world(instance.world)
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        await context.add_cookies(
            [{"name": WORLD_COOKIE, "value": instance.world.token, "domain": "." + SANDBOX_DOMAIN, "path": "/"}]
        )
        page = await context.new_page()
        await page.goto(instance.start_url, wait_until="domcontentloaded")
        for text in actions:
            await page.aria_snapshot(mode="ai")
            await page.screenshot(type="jpeg", quality=60)
            action = parse_action(text)
            if action.name not in NOT_BROWSER_ACTIONS:
                await execute(page, action)
    finally:
        await context.close()
        sandbox.remove_world(instance.world)
    return len(actions)


def raw_round(scenario, actions: list[str], concurrency: int) -> tuple[int, float, float]:
    """(steps, seconds, process CPU seconds) of ``concurrency`` raw Playwright episodes replaying ``actions``."""
    started, cpu = time.perf_counter(), time.process_time()

    async def play(browser, sandbox):
        episodes = (raw_episode(browser, sandbox, scenario, actions) for _ in range(concurrency))
        return sum(await asyncio.gather(*episodes))

    steps = get_host().call(play)
    return steps, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="cautious", help="a scripted built-in baseline: oracle, cautious, gullible")
    parser.add_argument("--scenario", default="purchase-clean", help="a scenario key of the smoke suite")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    smoke = next(s for s in builtin_suites() if s.name == "smoke")
    scenario = next(s for s in smoke.scenarios if s.key == args.scenario)
    actions = runner_episode(scenario, args.agent, 0)  # warm-up (browser launch, page caches) and the script
    raw_round(scenario, actions, 1)
    levels = []
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        runner, raw = [0, 0.0, 0.0], [0, 0.0, 0.0]  # steps, seconds, CPU seconds
        for _ in range(args.rounds):
            runner = [a + b for a, b in zip(runner, runner_round(scenario, args.agent, concurrency), strict=True)]
            raw = [a + b for a, b in zip(raw, raw_round(scenario, actions, concurrency), strict=True)]
        runner_rate, raw_rate = runner[0] / runner[1], raw[0] / raw[1]
        levels.append(
            {
                "concurrency": concurrency,
                "steps": runner[0],
                "runner_steps_per_s": round(runner_rate, 2),
                "raw_playwright_steps_per_s": round(raw_rate, 2),
                "ratio": round(runner_rate / raw_rate, 3),
                "runner_process_cpu_ms_per_step": round(runner[2] * 1000 / runner[0], 1),
                "raw_process_cpu_ms_per_step": round(raw[2] * 1000 / raw[0], 1),
            }
        )
    result = {
        "agent": args.agent,
        "scenario": args.scenario,
        "steps_per_episode": len(actions),
        "rounds": args.rounds,
        "levels": levels,
        "target_ratio": 1.0,
    }
    print(json.dumps(result, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
