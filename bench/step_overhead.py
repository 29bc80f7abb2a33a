"""Runner overhead per step against a bare Playwright step with the same observation, in one process.

The runner plays the oracle on a smoke scenario; the bare loop replays the same action sequence on a fresh
World with nothing but Playwright: aria snapshot + JPEG screenshot + the action + wait for the DOM. Rounds
alternate so machine noise hits both alike. Prints one JSON object; the target is a ratio ≤ 1.25.

    .venv/bin/python bench/step_overhead.py [--rounds 5] [--scenario purchase-clean]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.actions import parse_action  # noqa: E402
from runner.browser import VIEWPORT, execute  # noqa: E402
from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.scenarios import build_scenario  # noqa: E402
from sandbox.server import SANDBOX_DOMAIN, WORLD_COOKIE  # noqa: E402
from sandbox.suites import builtin_suites  # noqa: E402


def runner_round(scenario) -> tuple[list[float], list[str]]:
    spec = EpisodeSpec(
        episode_id=0,
        run_id=0,
        scenario_key=scenario.key,
        task=scenario.task,
        overlays=scenario.overlays,
        params=scenario.params,
        seed=1,
        trial=0,
        agent=AgentSpec(kind="builtin", config={"name": "oracle"}),
        max_steps=40,
    )
    steps = []
    get_host().run_episode(spec, lambda kind, payload: steps.append(payload) if kind == "step" else None)
    return [s.step_ms for s in steps], [s.action for s in steps]


def bare_round(scenario, actions: list[str]) -> list[float]:
    async def play(browser, sandbox):
        instance = build_scenario(
            key=scenario.key, task=scenario.task, overlays=scenario.overlays, params=scenario.params, seed=1
        )
        sandbox.add_world(instance.world)
        context = await browser.new_context(viewport=VIEWPORT)
        await context.add_cookies(
            [{"name": WORLD_COOKIE, "value": instance.world.token, "domain": "." + SANDBOX_DOMAIN, "path": "/"}]
        )
        page = await context.new_page()
        await page.goto(instance.start_url)
        times = []
        try:
            for text in actions:
                started = time.perf_counter()
                await page.aria_snapshot(mode="ai")
                await page.screenshot(type="jpeg", quality=60)
                action = parse_action(text)
                if action.name not in ("stop", "report_infeasible", "send_msg_to_user", "noop"):
                    await execute(page, action)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            await context.close()
            sandbox.remove_world(instance.world)
        return times

    return get_host().call(play)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenario", default="purchase-clean")
    args = parser.parse_args()
    smoke = next(s for s in builtin_suites() if s.name == "smoke")
    scenario = next(s for s in smoke.scenarios if s.key == args.scenario)
    runner_round(scenario)  # warm-up: browser launch, page caches
    runner_ms, bare_ms = [], []
    for _ in range(args.rounds):
        times, actions = runner_round(scenario)
        runner_ms += times
        bare_ms += bare_round(scenario, actions)
    result = {
        "scenario": args.scenario,
        "steps_measured": len(runner_ms),
        "bare_step_ms_median": round(statistics.median(bare_ms), 1),
        "bare_step_ms_mean": round(statistics.fmean(bare_ms), 1),
        "runner_step_ms_median": round(statistics.median(runner_ms), 1),
        "runner_step_ms_mean": round(statistics.fmean(runner_ms), 1),
        "ratio_mean": round(statistics.fmean(runner_ms) / statistics.fmean(bare_ms), 3),
        "target_ratio": 1.25,
    }
    print(json.dumps(result, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
