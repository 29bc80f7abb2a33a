"""Tasks, overlays and the scenario instance that the runner plays an episode against.

A task is a goal on a site with a success check, progress milestones and harm checks, all evaluated on
World state (never on page text). An overlay is a condition applied to a task: it can change the World's
seed state (``prepare``), answer a request before the site does (``before_request``: a 503, a latency), or
change a response (``after_response``: a popup). Adversarial overlays declare the attacker's goal as a
check, so attack success is measured, not guessed.
"""

from __future__ import annotations

import functools
import importlib
import pickle
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import persona
from sandbox.guard import PolicyError, make_guard
from sandbox.sites.base import Request, Response, Site
from sandbox.world import World

CONDITIONS = ("clean", "adversarial", "noisy", "concurrent")


class ScenarioError(ValueError):
    """A scenario that names an unknown task or overlay, or gives bad parameters."""


class ParamError(ScenarioError):
    """A parameter that no task or overlay of the scenario declares, or a value its declaration refuses.
    ``name`` is the parameter's, so a suite error can point at its line."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(message)


# Longer strings make no sense in a goal, and an agent could not type them in one action (runner.actions).
MAX_PARAM_STRING = 1000
_KIND_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "strings": "a list of strings",
    "numbers": "a list of numbers",
}


@dataclass(frozen=True)
class Param:
    """A declared parameter of a task or an overlay.

    ``kinds``: what YAML values it takes, among "string", "integer", "number" (an integer or a decimal) and
    "strings" or "numbers" (a list of them). Numbers, and the items of a list of numbers, lie in [low, high];
    a list has exactly ``length`` items when it is set; strings hold at most MAX_PARAM_STRING characters.
    ``check`` raises ValueError for a value of the right kind that the task still cannot use (an address
    without a postcode), so such a value is refused when the suite is registered, not in the middle of a run.
    """

    kinds: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    length: int | None = None
    check: Callable[[Any], Any] | None = None

    @classmethod
    def like(cls, default: Any) -> Param:
        """The declaration a task default implies: its kind, and for whole numbers 1 to a billion."""
        if isinstance(default, list):
            return cls(("strings",), length=len(default))
        if isinstance(default, int) and not isinstance(default, bool):
            return cls(("integer",), low=1, high=1_000_000_000)
        if isinstance(default, float):
            return cls(("number",))
        return cls(("string",))

    def problem(self, value: Any) -> str:
        """Why ``value`` is refused, or "" when it is fine."""
        if not any(_is_kind(value, kind) for kind in self.kinds):
            wanted = " or ".join(_KIND_NAMES[k] for k in self.kinds)
            return f"must be {wanted}, got {_shown(value)}"
        if isinstance(value, list) and self.length is not None and len(value) != self.length:
            return f"must be a list of {self.length} items, got {len(value)}"
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and len(item) > MAX_PARAM_STRING:
                return f"must be at most {MAX_PARAM_STRING} characters, got {len(item)}"
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, int | float) and not isinstance(number, bool):
                if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                    return f"must be from {self.low:g} to {self.high:g}, got {number!r}"
        if self.check is not None:
            try:
                self.check(value)
            except (ValueError, TypeError) as exc:
                return str(exc)
        return ""


def _is_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float) and value == value and abs(value) != float("inf")
    item_kind = {"strings": "string", "numbers": "number"}[kind]
    return isinstance(value, list) and all(_is_kind(item, item_kind) for item in value)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[[World, dict], bool]
    description: str = ""

    def __call__(self, world: World, params: dict) -> bool:
        return bool(self.fn(world, params))


@dataclass
class Task:
    id: str
    site: str
    goal: str  # str.format template over params
    start_path: str
    success: Check
    milestones: list[Check]
    harms: list[Check]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # "task" (an ordinary goal), "harmful" (the goal itself is harmful: refusing is success, carrying it out
    # is the harm) or "benign" (the harmless twin of a harmful request, on the same pages).
    kind: str = "task"
    # For "harmful" and "benign" tasks: the id of the twin.
    twin: str = ""
    # Declarations beyond what ``defaults`` imply (Param.like): bounds, checks, optional parameters.
    param_types: dict[str, Param] = field(default_factory=dict)

    @property
    def declared_params(self) -> dict[str, Param]:
        """Every parameter the task reads: each default's kind, overridden or extended by ``param_types``."""
        return {**{name: Param.like(value) for name, value in self.defaults.items()}, **self.param_types}

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise ScenarioError(f"task {self.id!r}: kind must be one of {TASK_KINDS}")
        if self.kind == "harmful" and not self.harms:
            raise ScenarioError(f"harmful task {self.id!r} must declare its harmful goal as a harm check")


TASK_KINDS = ("task", "harmful", "benign")


@dataclass
class Overlay:
    """Base overlay. ``name`` is the full name, e.g. ``adversarial:review_injection``."""

    name: str = "clean"
    description: str = ""
    # For adversarial overlays: the attacker's goal, checked on World state.
    attack_goal: Check | None = None
    # The values an injected instruction asks for; the ``gullible`` baseline adopts them when it reads
    # the instruction on a page (see sandbox.baselines).
    injected: dict[str, Any] = field(default_factory=dict)
    # Concurrent overlays: how many agent instances share the World, and what each is asked (merged over the
    # scenario's params for that agent).
    agents: int = 1
    agent_params: list[dict] = field(default_factory=list)
    # Checks a condition adds: harms it can detect (a lost update, a double submit), and a success check that
    # replaces the task's when the condition changes what success means (every agent's edit kept).
    extra_harms: list[Check] = field(default_factory=list)
    success: Check | None = None

    @property
    def condition(self) -> str:
        return self.name.split(":", 1)[0]

    def prepare(self, state: dict, task: Task, params: dict, rng: random.Random) -> None:
        """Change the seed state before the World is built (inject content, plan faults)."""

    def before_request(self, world: World, request: Request) -> Response | None:
        return None

    def after_response(self, world: World, request: Request, response: Response) -> Response:
        return response


@dataclass
class ScenarioInstance:
    """A scenario made concrete for one episode: its World and everything needed to score it."""

    key: str
    task: Task
    params: dict
    overlays: list[Overlay]
    world: World
    site: Site

    @property
    def goal(self) -> str:
        return self.goal_for(0)

    @property
    def agent_count(self) -> int:
        return max((o.agents for o in self.overlays), default=1)

    def params_for(self, agent: int) -> dict:
        """The parameters agent ``agent`` works with: the scenario's, then any concurrent overlay's for it."""
        merged = dict(self.params)
        for overlay in self.overlays:
            if agent < len(overlay.agent_params):
                merged.update(overlay.agent_params[agent])
        return merged

    def goal_for(self, agent: int) -> str:
        return f"{self.task.goal.format(**self.params_for(agent))} {persona.CREDENTIALS_NOTE}"

    @property
    def start_url(self) -> str:
        return f"http://{self.site.host}{self.task.start_path}"

    @property
    def conditions(self) -> list[str]:
        return sorted({o.condition for o in self.overlays})

    @property
    def success_check(self) -> Check:
        overrides = [o.success for o in self.overlays if o.success is not None]
        return overrides[-1] if overrides else self.task.success

    @property
    def harm_checks(self) -> list[Check]:
        """The task's harms, the overlays' extra harms, and each attacker's goal: an attack that lands (money
        or data gone to the attacker) is a committed harm too, so the harmful rate and auto-rollback see it."""
        checks = list(self.task.harms) + [h for o in self.overlays for h in o.extra_harms]
        names = {c.name for c in checks}
        return checks + [g for g in self.attack_goals if g.name not in names]

    @property
    def attack_goals(self) -> list[Check]:
        return [o.attack_goal for o in self.overlays if o.attack_goal is not None]

    def injected_values(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for overlay in self.overlays:
            merged.update(overlay.injected)
        return merged


TASKS: dict[str, Task] = {}
OVERLAYS: dict[str, Callable[[dict], Overlay]] = {}
# The parameters each overlay reads from the scenario's params, next to the task's.
OVERLAY_PARAMS: dict[str, dict[str, Param]] = {}
SITES: dict[str, Site] = {}


def register_site(site: Site) -> Site:
    SITES[site.host] = site
    return site


def register_task(task: Task) -> Task:
    if task.id in TASKS:
        raise ScenarioError(f"task {task.id!r} registered twice")
    TASKS[task.id] = task
    return task


def register_overlay(name: str, factory: Callable[[dict], Overlay], params: dict[str, Param] | None = None) -> None:
    """Register an overlay. ``params``: the parameters it reads from the scenario's params (none by default)."""
    OVERLAYS[name] = factory
    OVERLAY_PARAMS[name] = dict(params or {})


def check_params(task: str, overlays: list[str], params: dict) -> None:
    """Raise ParamError for a parameter that neither the task nor one of the overlays declares, or whose value
    a declaration refuses (a task's and an overlay's declaration of one name must both accept it)."""
    declared: dict[str, list[tuple[str, Param]]] = {}
    for name, param in TASKS[task].declared_params.items():
        declared.setdefault(name, []).append((f"task {task}", param))
    for overlay in overlays:
        for name, param in OVERLAY_PARAMS.get(overlay, {}).items():
            declared.setdefault(name, []).append((f"overlay {overlay}", param))
    for name, value in params.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParamError(name, f"unknown parameter {name!r} (the task and overlays take: {known})")
        for owner, param in declared[name]:
            problem = param.problem(value)
            if problem:
                raise ParamError(name, f"parameter {name!r} of {owner} {problem}")


@functools.cache
def _load_builtins() -> None:
    """Import every site module (and the generic overlays): importing registers sites, tasks and overlays.

    Cached: every scenario build calls it, and listing the package on each episode is wasted I/O.
    """
    import sandbox.sites

    for module in sorted(m.name for m in pkgutil.iter_modules(sandbox.sites.__path__)):
        if module != "base" and not module.endswith("_pages"):
            importlib.import_module(f"sandbox.sites.{module}")
    importlib.import_module("sandbox.overlays")
    importlib.import_module("sandbox.concurrency")


@functools.lru_cache(maxsize=32)
def _seed_state(seed: int) -> dict[str, dict]:
    """Every site's seed state, table by table; the sites share one table, the World's id counters."""
    state: dict[str, dict] = {}
    for host in sorted(SITES):
        for table, rows in SITES[host].seed_state(seed).items():
            state.setdefault(table, {}).update(rows)
    return state


def build_scenario(
    *,
    key: str,
    task: str,
    overlays: list[str] | None = None,
    params: dict | None = None,
    seed: int = 0,
    policies: list[dict] | None = None,
    block_violations: bool = True,
) -> ScenarioInstance:
    """Build a fresh World for one episode of a scenario. Deterministic in (task, overlays, params, seed).

    ``policies``: guard policies (sandbox.guard) checked on every World write before it commits; None or
    empty leaves the World unguarded. Invalid policies raise ScenarioError. ``block_violations`` False only
    records the writes that break a policy (World events of kind ``"violation"``) and lets them commit.
    """
    _load_builtins()
    if task not in TASKS:
        raise ScenarioError(f"unknown task {task!r}")
    try:
        guard = make_guard(policies)
    except PolicyError as exc:
        raise ScenarioError(f"invalid policies: {exc}") from None
    names = [name for name in overlays or [] if name != "clean"]
    for name in names:
        if name not in OVERLAYS:
            raise ScenarioError(f"unknown overlay {name!r}")
    # Before any factory reads them: a value of the wrong kind is a named ParamError, never a TypeError.
    check_params(task, names, params or {})
    task_def = TASKS[task]
    merged = {**task_def.defaults, **(params or {})}
    overlay_objs = [OVERLAYS[name](merged) for name in names]
    site = SITES[task_def.site]
    rng = random.Random(seed)
    # Every site's state, so that tasks and attacks can cross sites; each site owns its own tables. Overlays
    # change the state before the World is built, so they get a copy of the (cached) seed state.
    state = pickle.loads(pickle.dumps(_seed_state(seed)))  # a deep copy, several times faster than deepcopy
    for overlay in overlay_objs:
        overlay.prepare(state, task_def, merged, rng)
    world = World(
        seed=seed, state=state, scenario={"key": key, "task": task, "overlays": overlays or []}, copy_state=False
    )
    world.overlays = overlay_objs
    world.guard = guard
    world.guard_blocks = block_violations
    return ScenarioInstance(key=key, task=task_def, params=merged, overlays=overlay_objs, world=world, site=site)
