"""How the `llm` agent fares against a real small model: Gemma 3 270M on llama-cpp-python's server, on smoke.

Installs and serves the model as the `realmodel` tests do (tests/realmodel/server.py: a cache of its own outside
the project's virtualenv, built from source the first time), puts the recording proxy of those tests in front
of it (tests/realmodel/proxy.py: every call with the server's own token count) and plays each scenario of the
suite through the runner host, as a worker would, one episode at a time.

Prints one JSON object:

- ``agent_latency_ms``: p50/p95 of the agent's time per step (the model's answer, retries included);
- ``prompt_tokens``: per call by the server's count, and per step as the run recorded it (median, max);
- ``tokens``: input/output tokens the run recorded next to what the server counted;
- ``replies``: calls the server answered, steps whose action the grammar accepts, and their share;
- ``episodes``: each scenario's outcome (success, steps, end reason, agent error).

    .venv/bin/python bench/llm_agent.py [--max-steps 8] [--step-timeout 30] [--config '{"parse_retries": 3}']
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.actions import ActionError, parse_action  # noqa: E402
from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402
from sandbox.suites import builtin_suites  # noqa: E402
from tests.realmodel import server  # noqa: E402
from tests.realmodel.proxy import RecordingProxy  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


def parses(action: str) -> bool:
    try:
        parse_action(action)
    except ActionError:
        return False
    return True


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object of llm agent settings")
    return value


def play(scenario, agent: AgentSpec, trial: int, max_steps: int, step_timeout_s: float) -> tuple[list, object]:
    spec = EpisodeSpec(
        episode_id=0,
        run_id=0,
        scenario_key=scenario.key,
        task=scenario.task,
        overlays=scenario.overlays,
        params=scenario.params,
        seed=trial,
        trial=trial,
        agent=agent,
        max_steps=max_steps,
        step_timeout_s=step_timeout_s,
        screenshots=False,
        policies=scenario.policies,
    )
    steps = []
    outcome = get_host().run_episode(spec, lambda kind, payload: steps.append(payload) if kind == "step" else None)
    return steps, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", default="smoke")
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    # The version's per-step timeout (timeout_s), which the driver and the runner both keep; 30 s is the default,
    # which a 270M model on two busy cores often exceeds.
    parser.add_argument("--step-timeout", type=float, default=30.0)
    parser.add_argument("--config", type=json_object, default={}, help="more llm agent settings (JSON object)")
    args = parser.parse_args()
    suite = next(s for s in builtin_suites() if s.name == args.suite)
    root = server.install()
    steps, outcomes = [], []
    with (
        tempfile.TemporaryDirectory() as logs,
        server.serving(root, Path(logs) / "server.log") as base_url,
        RecordingProxy(base_url) as proxy,
    ):
        config = {
            "name": "llm",
            "base_url": proxy.base_url,
            "model": server.MODEL_ALIAS,
            "max_tokens": args.max_tokens,
            "observation": ["axtree"],
            "context_window": server.CONTEXT_TOKENS,
            "timeout_s": args.step_timeout,
            **args.config,
        }
        agent = AgentSpec(kind="builtin", config=config)
        for trial in range(args.trials):
            for scenario in suite.scenarios:
                played, outcome = play(scenario, agent, trial, args.max_steps, args.step_timeout)
                steps += played
                outcomes.append((scenario.key, trial, outcome))
        proxy.settle()
        calls = list(proxy.completions)
        server_in, server_out = proxy.tokens()

    answered = [c for c in calls if c.reply is not None]
    valid = [s for s in steps if parses(s.action)]
    step_prompt = [int((s.usage or {}).get("input_tokens") or 0) for s in steps]
    call_prompt = [int((c.usage or {}).get("prompt_tokens") or 0) for c in calls]
    report = {
        "model": server.MODEL_ALIAS,
        "server": f"llama-cpp-python {server.LLAMA_CPP_PYTHON}, n_ctx {server.CONTEXT_TOKENS}",
        "suite": args.suite,
        "trials": args.trials,
        "max_steps": args.max_steps,
        "step_timeout_s": args.step_timeout,
        "config": {k: v for k, v in config.items() if k not in ("base_url", "name")},
        "steps": len(steps),
        "agent_latency_ms": {
            "p50": pct([s.agent_latency_ms for s in steps], 0.5),
            "p95": pct([s.agent_latency_ms for s in steps], 0.95),
        },
        "prompt_tokens": {
            "per_call_median": statistics.median(call_prompt) if call_prompt else 0,
            "per_call_max": max(call_prompt, default=0),
            "per_step_recorded_median": statistics.median(step_prompt) if step_prompt else 0,
            "per_step_recorded_max": max(step_prompt, default=0),
        },
        "tokens": {
            "recorded_input": sum(o.input_tokens for _, _, o in outcomes),
            "recorded_output": sum(o.output_tokens for _, _, o in outcomes),
            "server_input": server_in,
            "server_output": server_out,
        },
        "replies": {
            "calls": len(calls),
            "answered": len(answered),
            "http_errors": sum(1 for c in calls if c.status != 200),
            "steps_with_valid_action": len(valid),
            "parsed_share": round(len(valid) / len(answered), 3) if answered else 0.0,
        },
        "episodes": [
            {
                "scenario": key,
                "trial": trial,
                "success": o.success,
                "steps": o.steps,
                "end_reason": o.end_reason,
                "agent_error": o.agent_error,
                "agent_error_detail": o.agent_error_detail[:200],
            }
            for key, trial, o in outcomes
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
