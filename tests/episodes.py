"""Playing episodes with the real runner from tests: one at a time or several at once on the runner host."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from runner.host import get_host
from runner.types import AgentSpec, EpisodeOutcome, EpisodeSpec
from sandbox.suites import builtin_suites
from tests.fakes.agent_server import AgentServer

SMOKE = {s.key: s for s in next(s for s in builtin_suites() if s.name == "smoke").scenarios}


def spec(
    agent: str | AgentSpec,
    task: str,
    overlays: list[str] | None = None,
    *,
    params: dict | None = None,
    seed: int = 3,
    max_steps: int = 40,
    screenshots: bool = False,
    step_timeout_s: float = 30.0,
    **settings,
) -> EpisodeSpec:
    """An episode of ``task``; ``agent`` is a built-in agent's name or any AgentSpec."""
    return EpisodeSpec(
        episode_id=0,
        run_id=0,
        scenario_key=f"{task}:{'+'.join(overlays or ['clean'])}",
        task=task,
        overlays=overlays or [],
        params=params or {},
        seed=seed,
        trial=0,
        agent=agent if isinstance(agent, AgentSpec) else AgentSpec(kind="builtin", config={"name": agent}),
        max_steps=max_steps,
        screenshots=screenshots,
        step_timeout_s=step_timeout_s,
        **settings,  # backtracking, guard, auto_rollback, policies
    )


def smoke(agent: str | AgentSpec, key: str = "purchase-clean", *, seed: int = 7, **options) -> EpisodeSpec:
    """An episode of the smoke suite's scenario ``key``; ``options`` as for :func:`spec`."""
    scenario = SMOKE[key]
    return spec(agent, scenario.task, scenario.overlays, params=scenario.params, seed=seed, **options)


def play(episode: EpisodeSpec) -> tuple[EpisodeOutcome, list[tuple[str, object]]]:
    events: list[tuple[str, object]] = []
    outcome = get_host().run_episode(episode, lambda kind, payload: events.append((kind, payload)))
    return outcome, events


def play_many(episodes: list[EpisodeSpec], concurrency: int = 3) -> list[EpisodeOutcome]:
    """Play episodes concurrently (each in its own browser context on the shared host); outcomes in order."""
    with ThreadPoolExecutor(concurrency) as pool:
        return [outcome for outcome, _ in pool.map(play, episodes)]


def faults(events) -> list[str]:
    return [p["name"] for k, p in events if k == "trace" and p["type"] == "fault"]


def play_script(actions: list[str], **config) -> list[dict]:
    """Play ``actions`` one per step with a scripted HTTP agent (tests.fakes.agent_server) on the shop's purchase
    task, its version's ``config`` added; the observation that followed each one."""
    return play_script_outcome(actions, **config)[1]


def play_script_outcome(actions: list[str], **config) -> tuple[EpisodeOutcome, list[dict]]:
    """:func:`play_script`'s outcome too."""
    queue = list(actions)

    def behaviour(request, headers):
        return 200, json.dumps({"action": queue.pop(0) if queue else "stop()"}).encode()

    with AgentServer(behaviour) as agent:
        agent_spec = AgentSpec(kind="http", config={"url": agent.url, **config}, secret="gsk_script")
        outcome, _ = play(spec(agent_spec, "shop.purchase", max_steps=len(actions) + 1))
    assert outcome.agent_error == "", outcome.agent_error_detail
    return outcome, [request["observation"] for request, _, _ in agent.requests[1:]]
