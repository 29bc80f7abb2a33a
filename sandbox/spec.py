"""What a site or an overlay module offers, as plain values: tasks, checks, parameters and overlays.

The types every site, overlay and the scenario builder share, with no dependency on any site: sites and overlay
modules build their values from these, ``sandbox.registry`` lists them, and ``sandbox.scenarios`` plays them.
A task is a goal on a site with a success check, progress milestones and harm checks, all evaluated on World
state (never on page text). An overlay is a condition applied to a task: it can change the World's seed state
(``prepare``), answer a request before the site does (``before_request``: a 503, a latency), or change a
response (``after_response``: a popup). Adversarial overlays declare the attacker's goal as a check, so attack
success is measured, not guessed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.sites.base import Request, Response
from sandbox.world import World


class ScenarioError(ValueError):
    """A scenario that names an unknown task or overlay, or gives bad parameters."""


class ParamError(ScenarioError):
    """A parameter that no task or overlay of the scenario declares, or a value its declaration refuses.
    ``name`` is the parameter's, and ``key`` the one inside it for an overlay's own block of parameters
    (``params: {"adversarial:visible_injection": {text: ...}}``), so a suite error can point at its line."""

    def __init__(self, name: str, message: str, key: str = ""):
        self.name = name
        self.key = key
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


class TaskList(list[Task]):
    """A module's tasks in the order it defines them. ``add`` returns the task, so that one statement names a
    task and lists it (``REPLY = TASKS.add(Task(...))``); nothing outside the module changes."""

    def add(self, task: Task) -> Task:
        self.append(task)
        return task


@dataclass(frozen=True)
class OverlayType:
    """An overlay as a module offers it: its full name, what builds it from the scenario's params, and the
    parameters it reads from them (none by default).

    A scenario gives an overlay's parameters in the overlay's own block of its ``params``, keyed by the
    overlay's name, so that two overlays (or an overlay and the task) may each take a ``text``. A ``flat``
    overlay also reads them next to the task's, as every overlay did before blocks existed; its factory gets
    the scenario's params with its block merged over them. The factory of any other overlay gets its block only.
    """

    name: str
    factory: Callable[[dict], Overlay]
    params: dict[str, Param] = field(default_factory=dict)
    flat: bool = True


class OverlayList(list[OverlayType]):
    """A module's overlays in the order it defines them; ``add`` declares one next to the classes it builds."""

    def add(
        self,
        name: str,
        factory: Callable[[dict], Overlay],
        params: dict[str, Param] | None = None,
        *,
        flat: bool = True,
    ) -> None:
        self.append(OverlayType(name, factory, dict(params or {}), flat))
