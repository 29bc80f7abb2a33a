"""Size and cost of an episode's trace per step, on the smoke suite. Prints one JSON object.

Plays each smoke scenario with a built-in agent on the runner host and encodes every trace event as the
worker does (one JSON line each). Reports per step: the trace's bytes, the bytes of the distinct blobs the
episode referenced (content too large to inline, stored once per run), the time to encode the lines, and the
runner's own step time (which includes hashing the observation's content).

    .venv/bin/python bench/trace_size.py [--agent oracle] [--observation axtree,screenshot] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.host import get_host  # noqa: E402
from runner.types import TRACE_VERSION, AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.suites import builtin_suites  # noqa: E402


def play(scenario, agent: str, observation: list[str], backtracking: bool) -> dict:
    spec = EpisodeSpec(
        episode_id=0,
        run_id=0,
        scenario_key=scenario.key,
        task=scenario.task,
        overlays=scenario.overlays,
        params=scenario.params,
        seed=1,
        trial=0,
        agent=AgentSpec(kind="builtin", config={"name": agent, "observation": observation}),
        max_steps=40,
        backtracking=backtracking,
    )
    events: list[tuple[str, object]] = []
    get_host().run_episode(spec, lambda kind, payload: events.append((kind, payload)))
    started = time.perf_counter()
    lines = [json.dumps(p, default=str, ensure_ascii=False) for k, p in events if k == "trace"]
    encode_ms = (time.perf_counter() - started) * 1000
    blobs = {p["sha256"]: len(p["data"]) for k, p in events if k == "blob"}
    steps = [p for k, p in events if k == "step"]
    return {
        "steps": len(steps),
        "trace_bytes": sum(len(line.encode()) + 1 for line in lines),
        "blob_bytes": sum(blobs.values()),
        "blobs": len(blobs),
        "encode_ms": encode_ms,
        "step_ms": [s.step_ms for s in steps],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="oracle")
    parser.add_argument("--observation", default="axtree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backtracking", action="store_true")
    args = parser.parse_args()
    observation = args.observation.split(",")
    smoke = next(s for s in builtin_suites() if s.name == "smoke")
    play(smoke.scenarios[0], args.agent, observation, args.backtracking)  # warm-up: browser launch, caches
    per_scenario, step_ms = {}, []
    totals = {"steps": 0, "trace_bytes": 0, "blob_bytes": 0, "encode_ms": 0.0}
    for _ in range(args.rounds):
        for scenario in smoke.scenarios:
            played = play(scenario, args.agent, observation, args.backtracking)
            step_ms += played.pop("step_ms")
            for key in totals:
                totals[key] += played[key]
            per_scenario[scenario.key] = {
                "steps": played["steps"],
                "trace_bytes_per_step": round(played["trace_bytes"] / played["steps"]),
                "blob_bytes_per_step": round(played["blob_bytes"] / played["steps"]),
                "blobs": played["blobs"],
            }
    steps = totals["steps"]
    result = {
        "trace_version": TRACE_VERSION,
        "agent": args.agent,
        "observation": observation,
        "backtracking": args.backtracking,
        "episodes": args.rounds * len(smoke.scenarios),
        "steps": steps,
        "trace_bytes_per_step": round(totals["trace_bytes"] / steps),
        "blob_bytes_per_step": round(totals["blob_bytes"] / steps),
        "encode_us_per_step": round(totals["encode_ms"] * 1000 / steps, 1),
        "runner_step_ms_mean": round(statistics.fmean(step_ms), 1),
        "runner_step_ms_median": round(statistics.median(step_ms), 1),
        "per_scenario": per_scenario,
    }
    print(json.dumps(result, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
