"""Per-step cost of each agent kind next to a built-in agent, on the same browser work.

The oracle plays a smoke scenario once and its actions are recorded. Then every kind replays exactly those
actions, so the browser does the same work each time and only the way of asking the agent differs:

- builtin: the oracle itself, in-process;
- http: a loopback endpoint answering the recorded action (signed requests, JSON over HTTP);
- python: an uploaded-style file answering it from inside the bubblewrap sandbox (JSON lines);
- llm: the LLM adapter against a loopback fake OpenAI-compatible server replying with it.

Rounds alternate kinds so machine noise hits all alike. Prints one JSON object: per kind the step time and
the agent round trip (p50/p95, ms) and the step-time ratios (median, mean) to builtin. Step times on two
cores are noisy; the agent round trip is the figure that tells the kinds apart.

    .venv/bin/python bench/agent_overhead.py [--rounds 5] [--scenario purchase-clean]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.suites import builtin_suites  # noqa: E402
from tests.fakes.agent_server import AgentServer  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

PYTHON_REPLAY = """
ACTIONS = {actions!r}

class Agent:
    def act(self, request):
        return ACTIONS[min(request["step"], len(ACTIONS)) - 1]
"""


def episode_spec(scenario, agent: AgentSpec) -> EpisodeSpec:
    return EpisodeSpec(
        episode_id=0,
        run_id=0,
        scenario_key=scenario.key,
        task=scenario.task,
        overlays=scenario.overlays,
        params=scenario.params,
        seed=1,
        trial=0,
        agent=agent,
        max_steps=40,
        screenshots=True,
    )


def play(scenario, agent: AgentSpec) -> tuple[list[float], list[float], list[str], bool]:
    steps = []
    outcome = get_host().run_episode(
        episode_spec(scenario, agent), lambda kind, payload: steps.append(payload) if kind == "step" else None
    )
    return [s.step_ms for s in steps], [s.agent_latency_ms for s in steps], [s.action for s in steps], outcome.success


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenario", default="purchase-clean")
    args = parser.parse_args()
    smoke = next(s for s in builtin_suites() if s.name == "smoke")
    scenario = next(s for s in smoke.scenarios if s.key == args.scenario)

    oracle = AgentSpec(kind="builtin", config={"name": "oracle"})
    _, _, actions, success = play(scenario, oracle)
    assert success, "the oracle must solve the scenario to record a replay"

    def replay(request, _headers):
        return 200, json.dumps({"action": actions[min(request["step"], len(actions)) - 1]}).encode()

    endpoint = AgentServer(replay).__enter__()
    llm_turn = {"i": 0}

    def llm_reply(_request) -> str:
        action = actions[min(llm_turn["i"], len(actions) - 1)]
        llm_turn["i"] += 1
        return f"Next:\n```\n{action}\n```"

    fake = FakeOpenAI(llm_reply).start()
    kinds = {
        "builtin": oracle,
        "http": AgentSpec(kind="http", config={"url": endpoint.url}, secret="bench"),
        "python": AgentSpec(kind="python", source=PYTHON_REPLAY.format(actions=actions)),
        "llm": AgentSpec(kind="builtin", config={"name": "llm", "base_url": fake.base_url, "model": "fake-1"}),
    }
    step_ms: dict[str, list[float]] = {k: [] for k in kinds}
    agent_ms: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        for _ in range(args.rounds):
            for kind, agent in kinds.items():
                llm_turn["i"] = 0
                steps, latencies, replayed, success = play(scenario, agent)
                assert success and replayed == actions, f"{kind} did not replay the oracle's episode"
                step_ms[kind] += steps
                agent_ms[kind] += latencies
    finally:
        fake.stop()
        endpoint.__exit__(None, None, None)

    base = statistics.median(step_ms["builtin"])
    base_mean = statistics.fmean(step_ms["builtin"])
    report = {
        "scenario": args.scenario,
        "rounds": args.rounds,
        "steps_per_episode": len(actions),
        "kinds": {
            kind: {
                "step_ms_p50": pct(step_ms[kind], 0.5),
                "step_ms_p95": pct(step_ms[kind], 0.95),
                "step_ms_mean": round(statistics.fmean(step_ms[kind]), 2),
                "agent_ms_p50": pct(agent_ms[kind], 0.5),
                "agent_ms_p95": pct(agent_ms[kind], 0.95),
                "step_ratio_to_builtin": round(statistics.median(step_ms[kind]) / base, 3),
                "step_mean_ratio_to_builtin": round(statistics.fmean(step_ms[kind]) / base_mean, 3),
            }
            for kind in kinds
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
