"""Plain dataclasses exchanged between the dashboard (the Celery task) and the runner. No Django here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PROTOCOL = "gauntlet.agent/v1"
TRACE_VERSION = "gauntlet.trace/v2"

# Named agent errors: the agent's failure, scored.
AGENT_TIMEOUT = "agent_timeout"
AGENT_BAD_RESPONSE = "agent_bad_response"
AGENT_CRASHED = "agent_crashed"
# The model's server refused the prompt as longer than its context window (an llm agent configured with a
# context_window larger than the server's): the agent's configuration failed, named apart from a crash.
AGENT_CONTEXT_OVERFLOW = "agent_context_overflow"
# The agent never saw the request (connection refused, a name or TLS failure, refused by the egress policy):
# not the agent's failure but a failure to measure it, so the episode is unmeasured and enters no score.
AGENT_UNREACHABLE = "agent_unreachable"
# Unparsable actions in a row that end an episode with agent_bad_response, unless the run says otherwise.
DEFAULT_MAX_INVALID_ACTIONS = 3
# How long an agent may take to answer one step: the version's ``timeout_s`` (every kind), in these bounds.
DEFAULT_STEP_TIMEOUT_S = 30.0
MIN_STEP_TIMEOUT_S, MAX_STEP_TIMEOUT_S = 1, 300
# The runner waits this much longer than the step timeout, so that drivers that keep the deadline themselves
# (http, llm, python) report it first, with their own message; the runner's timeout is the backstop.
STEP_TIMEOUT_GRACE_S = 2.0
STEP_TIMEOUT_MESSAGE = (
    f"the per-step timeout (timeout_s) must be from {MIN_STEP_TIMEOUT_S} to {MAX_STEP_TIMEOUT_S} seconds"
)


def step_timeout_error(value) -> str:
    """Why ``value`` cannot be a version's ``timeout_s``, or "" when it can (None: not set, the default)."""
    if value is None:
        return ""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not MIN_STEP_TIMEOUT_S <= value <= MAX_STEP_TIMEOUT_S:
        return STEP_TIMEOUT_MESSAGE
    return ""


def step_timeout_s(config: dict) -> float:
    """The per-step timeout a version's config asks for, or the default. Assumes a validated config."""
    value = config.get("timeout_s")
    return float(value) if value is not None and not step_timeout_error(value) else DEFAULT_STEP_TIMEOUT_S


# An answer holding several actions, one a line, runs them all in one step only where the version's config sets
# this (BrowserGym's multiaction); otherwise it is refused as invalid, as one action per step is the default.
MULTI_ACTION_KEY = "multi_action"
MULTI_ACTION_MESSAGE = f"{MULTI_ACTION_KEY} must be true or false"


def multi_action_error(value) -> str:
    """Why ``value`` cannot be a version's ``multi_action``, or "" when it can (None: not set, off)."""
    return "" if value is None or isinstance(value, bool) else MULTI_ACTION_MESSAGE


def allows_several_actions(config: dict) -> bool:
    """Whether the version lets one answer hold several actions. Assumes a validated config."""
    return config.get(MULTI_ACTION_KEY) is True


@dataclass
class AgentSpec:
    """What the runner needs to talk to one agent version.

    ``config`` is the version's settings (built-in name, endpoint URL, model, observation options).
    ``secret`` (the HTTP signing secret or an LLM API key) and ``source`` (an uploaded Python file) are
    never written to a trace or a log; they are left out of the repr for that reason.
    """

    kind: str  # "builtin", "http" or "python"
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    secret: str = field(default="", repr=False)
    source: str = field(default="", repr=False)


@dataclass
class EpisodeSpec:
    episode_id: int
    run_id: int
    scenario_key: str
    task: str
    overlays: list[str]
    params: dict[str, Any]
    seed: int
    trial: int
    agent: AgentSpec
    max_steps: int = 30
    # The agent version's timeout_s (runner.types.step_timeout_s); drivers read the same number from the config.
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S
    screenshots: bool = True
    attempt: int = 1
    # Run settings whose effect the dashboard compares (DESIGN.md, Backtracking and rollback).
    backtracking: bool = False
    guard: bool = False
    auto_rollback: bool = False
    # Unparsable actions in a row (each fed back as last_action_error) that end the episode as agent_bad_response.
    max_invalid_actions: int = DEFAULT_MAX_INVALID_ACTIONS
    # The suite's guard policies for this scenario (sandbox.guard); enforced only when ``guard`` is on.
    policies: list[dict[str, Any]] = field(default_factory=list)
    # Playwright's own trace of each agent's browser context (screenshots, DOM snapshots, network), as
    # Playwright's ``trace`` option: "off", "on_failure" (kept when the episode failed, harmed or errored) or
    # "always". A kept trace is emitted as ("playwright_trace", {"agent": index, "data": zip bytes}).
    playwright_trace: str = "off"


@dataclass
class StepRecord:
    """One observe → act → result cycle, sent to the task as soon as it is done."""

    index: int
    action: str
    thought: str
    error: str
    url: str
    title: str
    observation_digest: str
    agent_latency_ms: float
    step_ms: float
    usage: dict[str, Any]
    wal: list[dict]
    events: list[dict]
    milestones: list[str]
    harms: list[str]
    screenshot: bytes | None = None
    agent_index: int = 0
    # Where the step sits in the checkpoint tree: its checkpoint (state before the action) and parent,
    # and, when the step went back (a backtrack, or an auto-rollback of its harm), where to and whether it worked.
    tree: dict[str, Any] = field(default_factory=dict)
    # The element the action's ref named, as the agent's observation showed it: {"ref", "role", "name"}
    # ({} when the action names no ref; role and name empty when the page had no such ref).
    target: dict[str, Any] = field(default_factory=dict)
    # The step's time in the World: its checkpoint and its scoring (milestones, harms, the WAL it wrote). The
    # rest of step_ms that is not the agent's (agent_latency_ms) is the browser's: observing and acting.
    world_ms: float = 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("screenshot")
        return data


PLAYWRIGHT_TRACE_MODES = ("off", "on_failure", "always")


@dataclass
class EpisodeOutcome:
    success: bool
    progress: float
    milestones_reached: list[str]
    milestones_total: int
    committed_harms: list[str]
    contained_harms: list[str]
    blocked_attempts: int
    attack_exposed: bool
    attack_succeeded: bool
    faults_injected: int
    faults_recovered: int
    steps: int
    backtracks: int
    rollbacks: int
    agent_error: str
    agent_error_detail: str
    end_reason: str
    agent_latency_ms_mean: float
    cost_usd: float
    input_tokens: int
    output_tokens: int
    wall_time_s: float
    final_digest: str
    messages: list[str] = field(default_factory=list)
    # Whether the agent refused: report_infeasible, or a last message the classifier reads as one (runner.refusal).
    refused: bool = False
    task_kind: str = "task"
    agents: int = 1
    # Per fault: step, recovered_at, steps_to_recover, seconds_to_recover (runner.scorekeeper).
    recoveries: list[dict] = field(default_factory=list)
    # Harms auto-rollback could not contain, each with the reason (an irreversible write).
    uncontained_harms: list[dict] = field(default_factory=list)
    # Writes that broke a guard policy, blocked (guard on) or let through (guard off).
    policy_violations: int = 0
    # Why ``refused`` is what it is (runner.refusal): the rule that decided it.
    refusal_reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class InfraError(RuntimeError):
    """An infrastructure failure (browser crash, sandbox failure): the episode is unscored and retried."""
