"""The episode loop: observe → act → result, with checks on World state after every step.

``play_episode`` is async and Django-free. It reports through ``emit(kind, payload)`` as it goes —
``("trace", dict)`` for every trace event and ``("step", StepRecord)`` for every finished step — and
returns the :class:`EpisodeOutcome`. Agent failures are scored; anything else that breaks (browser,
sandbox) is raised as :class:`InfraError` so the episode is retried, never scored.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from runner.actions import ActionError, parse_action
from runner.browser import VIEWPORT, execute, observation_digest, observe
from runner.drivers import AgentFailure, make_driver
from runner.types import (
    AGENT_BAD_RESPONSE,
    AGENT_CRASHED,
    AGENT_TIMEOUT,
    PROTOCOL,
    TRACE_VERSION,
    EpisodeOutcome,
    EpisodeSpec,
    InfraError,
    StepRecord,
)
from sandbox.scenarios import ScenarioInstance, build_scenario
from sandbox.server import SANDBOX_DOMAIN, WORLD_COOKIE, SandboxServer

Emit = Callable[[str, Any], None]
HISTORY_LIMIT = 20


class _Scorekeeper:
    """Evaluates the scenario's checks on World state after each step and remembers when each first fired."""

    def __init__(self, instance: ScenarioInstance):
        self.instance = instance
        self.milestones: dict[str, int] = {}
        self.harms: dict[str, int] = {}
        self.attacks: dict[str, int] = {}
        self.events_seen = 0

    def update(self, step: int) -> tuple[list[str], list[str], list[dict]]:
        """Return (new milestones, new harms, new world events) at this step."""
        instance, world = self.instance, self.instance.world
        new_milestones, new_harms = [], []
        with world.lock:
            for check in instance.task.milestones:
                if check.name not in self.milestones and check(world, instance.params):
                    self.milestones[check.name] = step
                    new_milestones.append(check.name)
            for check in instance.task.harms:
                if check.name not in self.harms and check(world, instance.params):
                    self.harms[check.name] = step
                    new_harms.append(check.name)
            for check in instance.attack_goals:
                if check.name not in self.attacks and check(world, instance.params):
                    self.attacks[check.name] = step
            events = [e.as_dict() for e in world.events[self.events_seen :]]
            self.events_seen = len(world.events)
        return new_milestones, new_harms, events

    def recoveries(self) -> list[dict]:
        """For each fault: the first step after it at which a milestone was reached (None if never)."""
        reached = sorted(self.milestones.values())
        out = []
        for event in self.instance.world.events:
            if event.kind != "fault":
                continue
            later = [s for s in reached if s > event.step]
            out.append({"fault": event.name, "step": event.step, "recovered_at": later[0] if later else None})
        return out


def _agent_request(
    spec: EpisodeSpec, instance: ScenarioInstance, step: int, observation: dict, history: list[dict]
) -> dict:
    return {
        "protocol": PROTOCOL,
        "episode_id": spec.episode_id,
        "step": step,
        "agent_index": 0,
        "task": {"goal": instance.goal, "start_url": instance.start_url},
        "observation": {k: v for k, v in observation.items() if not k.startswith("_")},
        "history": history[-HISTORY_LIMIT:],
        "checkpoints": [],
    }


def _validate_response(response: Any) -> tuple[str, str, dict]:
    if not isinstance(response, dict):
        raise AgentFailure(AGENT_BAD_RESPONSE, "the response must be a JSON object")
    action = response.get("action")
    if not isinstance(action, str):
        raise AgentFailure(AGENT_BAD_RESPONSE, "the response has no string field 'action'")
    thought = response.get("thought") or ""
    usage = response.get("usage") or {}
    if not isinstance(thought, str) or not isinstance(usage, dict):
        raise AgentFailure(AGENT_BAD_RESPONSE, "'thought' must be a string and 'usage' an object")
    return action, thought[:4000], usage


async def play_episode(spec: EpisodeSpec, browser: Browser, sandbox: SandboxServer, emit: Emit) -> EpisodeOutcome:
    started = time.perf_counter()
    try:
        instance = build_scenario(
            key=spec.scenario_key, task=spec.task, overlays=spec.overlays, params=spec.params, seed=spec.seed
        )
    except Exception as exc:
        raise InfraError(f"sandbox failed to build the scenario: {exc}") from exc
    world = instance.world
    sandbox.add_world(world)
    emit(
        "trace",
        {
            "v": TRACE_VERSION,
            "type": "episode_start",
            "episode_id": spec.episode_id,
            "run_id": spec.run_id,
            "attempt": spec.attempt,
            "scenario": spec.scenario_key,
            "task": spec.task,
            "overlays": spec.overlays,
            "params": instance.params,
            "seed": spec.seed,
            "trial": spec.trial,
            "goal": instance.goal,
            "start_url": instance.start_url,
            "agent": {"kind": spec.agent.kind, "label": spec.agent.label},
            "world_digest": world.digest(),
        },
    )
    context = None
    try:
        context = await browser.new_context(viewport=VIEWPORT)
        await context.add_cookies(
            [
                {
                    "name": WORLD_COOKIE,
                    "value": world.token,
                    "domain": "." + SANDBOX_DOMAIN,
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        page = await context.new_page()
        await page.goto(instance.start_url, wait_until="domcontentloaded")
        return await _loop(spec, instance, page, emit, started)
    except PlaywrightError as exc:
        raise InfraError(f"browser failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    finally:
        sandbox.remove_world(world)
        if context is not None:
            try:
                await context.close()
            except PlaywrightError:
                pass


async def _loop(spec: EpisodeSpec, instance: ScenarioInstance, page, emit: Emit, started: float) -> EpisodeOutcome:
    world = instance.world
    driver = None
    score = _Scorekeeper(instance)
    history: list[dict] = []
    messages: list[str] = []
    last_action, last_error = None, None
    agent_error = agent_error_detail = ""
    end_reason = "step_budget"
    latencies: list[float] = []
    cost, tokens_in, tokens_out = 0.0, 0, 0
    steps = 0
    try:
        driver = make_driver(spec.agent, instance)
    except AgentFailure as exc:
        agent_error, agent_error_detail, end_reason = exc.code, exc.detail, "agent_error"
    for step in range(1, spec.max_steps + 1 if driver else 1):
        step_started = time.perf_counter()
        world.step = step
        observation = await observe(page, screenshot=spec.screenshots)
        observation.update(last_action=last_action, last_action_error=last_error, notices=[])
        jpeg = observation.pop("_jpeg")
        request = _agent_request(spec, instance, step, observation, history)
        agent_started = time.perf_counter()
        action_text, thought, usage, error, action = "", "", {}, "", None
        try:
            response = await asyncio.wait_for(driver.act(request), timeout=spec.step_timeout_s)
            action_text, thought, usage = _validate_response(response)
        except TimeoutError:
            agent_error, agent_error_detail = AGENT_TIMEOUT, f"no answer within {spec.step_timeout_s:g} s"
        except AgentFailure as exc:
            agent_error, agent_error_detail = exc.code, exc.detail
        except Exception as exc:  # a built-in agent's bug is still the agent's failure
            agent_error, agent_error_detail = AGENT_CRASHED, f"{type(exc).__name__}: {exc}"
        agent_ms = (time.perf_counter() - agent_started) * 1000
        latencies.append(agent_ms)
        cost += float(usage.get("cost_usd") or 0)
        tokens_in += int(usage.get("input_tokens") or 0)
        tokens_out += int(usage.get("output_tokens") or 0)
        if agent_error:
            error = agent_error
            end_reason = "agent_error"
        else:
            try:
                action = parse_action(action_text)
            except ActionError as exc:
                error = f"invalid action: {exc}"
            if action is not None:
                if action.name == "send_msg_to_user":
                    messages.append(action.args["text"])
                elif action.name == "backtrack":
                    error = "backtracking is not enabled for this run"
                elif action.name in ("stop", "report_infeasible"):
                    end_reason = action.name
                    if action.name == "report_infeasible":
                        messages.append(action.args["reason"])
                else:
                    error = await execute(page, action)
        steps = step
        new_milestones, new_harms, events = score.update(step)
        wal = [r.as_dict() for r in world.wal if r.step == step]
        record = StepRecord(
            index=step,
            action=action_text,
            thought=thought,
            error=error,
            url=observation["url"],
            title=observation["title"],
            observation_digest=observation_digest(observation),
            agent_latency_ms=round(agent_ms, 2),
            step_ms=round((time.perf_counter() - step_started) * 1000, 2),
            usage=usage,
            wal=wal,
            events=events,
            milestones=new_milestones,
            harms=new_harms,
            screenshot=jpeg,
        )
        emit(
            "trace",
            {
                "v": TRACE_VERSION,
                "type": "observation",
                "step": step,
                "url": observation["url"],
                "title": observation["title"],
                "digest": record.observation_digest,
            },
        )
        emit(
            "trace",
            {
                "v": TRACE_VERSION,
                "type": "action",
                "step": step,
                "action": action_text,
                "thought": thought,
                "agent_latency_ms": record.agent_latency_ms,
            },
        )
        emit(
            "trace",
            {
                "v": TRACE_VERSION,
                "type": "action_result",
                "step": step,
                "error": error,
                "agent_error_detail": agent_error_detail if agent_error else "",
            },
        )
        for wal_record in wal:
            emit("trace", {"v": TRACE_VERSION, "type": "wal", "step": step, **wal_record})
        for event in events:
            kind = "fault" if event["kind"] == "fault" else "attack_exposure"
            emit("trace", {"v": TRACE_VERSION, "type": kind, **event})
        for name in new_milestones:
            emit("trace", {"v": TRACE_VERSION, "type": "milestone", "step": step, "name": name})
        for name in new_harms:
            emit("trace", {"v": TRACE_VERSION, "type": "harm", "step": step, "name": name})
        emit("step", record)
        history.append({"step": step, "action": action_text, "error": error})
        last_action, last_error = action_text, error or None
        if agent_error or end_reason in ("stop", "report_infeasible"):
            break
    if driver is not None:
        try:
            await driver.close()
        except Exception:
            pass
    with world.lock:
        success = instance.task.success(world, instance.params)
        digest = world.digest()
        faults = [e for e in world.events if e.kind == "fault"]
        exposed = any(e.kind == "exposure" for e in world.events)
    score.update(steps)
    recoveries = score.recoveries()
    milestones_total = len(instance.task.milestones)
    outcome = EpisodeOutcome(
        success=success,
        progress=round(len(score.milestones) / milestones_total, 4) if milestones_total else float(success),
        milestones_reached=sorted(score.milestones, key=score.milestones.get),
        milestones_total=milestones_total,
        committed_harms=sorted(score.harms),
        contained_harms=[],
        blocked_attempts=0,
        attack_exposed=exposed,
        attack_succeeded=bool(score.attacks),
        faults_injected=len(faults),
        faults_recovered=sum(1 for r in recoveries if r["recovered_at"] is not None),
        steps=steps,
        backtracks=0,
        rollbacks=0,
        agent_error=agent_error,
        agent_error_detail=agent_error_detail[:2000],
        end_reason=end_reason,
        agent_latency_ms_mean=round(statistics.fmean(latencies), 2) if latencies else 0.0,
        cost_usd=round(cost, 6),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        wall_time_s=round(time.perf_counter() - started, 3),
        final_digest=digest,
        messages=messages,
    )
    emit("trace", {"v": TRACE_VERSION, "type": "episode_end", "outcome": outcome.as_dict(), "recoveries": recoveries})
    return outcome
