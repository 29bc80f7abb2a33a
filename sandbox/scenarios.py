"""The scenario instance that the runner plays an episode against: a task and its overlays on a fresh World.

Tasks and overlays are the types of ``sandbox.spec``; the ones a suite can name are listed in
``sandbox.registry``, whose ``TASKS``, ``OVERLAYS`` and ``SITES`` are this module's too.
"""

from __future__ import annotations

import functools
import pickle
import random
from dataclasses import dataclass
from typing import Any

from sandbox import persona
from sandbox.guard import PolicyError, make_guard
from sandbox.registry import FLAT_OVERLAYS, OVERLAY_PARAMS, OVERLAYS, SITES, TASKS
from sandbox.sites.base import Site
from sandbox.spec import Check, Overlay, Param, ParamError, ScenarioError, Task
from sandbox.world import World

CONDITIONS = ("clean", "adversarial", "noisy", "concurrent")


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


def check_params(task: str, overlays: list[str], params: dict) -> None:
    """Raise ParamError for a parameter that neither the task nor one of the overlays declares, or whose value
    a declaration refuses (a task's and an overlay's declaration of one name must both accept it). A parameter
    named after one of the scenario's overlays is that overlay's block: a mapping of the parameters it declares.
    """
    declared: dict[str, list[tuple[str, Param]]] = {}
    for name, param in TASKS[task].declared_params.items():
        declared.setdefault(name, []).append((f"task {task}", param))
    for overlay in overlays:
        if overlay in FLAT_OVERLAYS:
            for name, param in OVERLAY_PARAMS.get(overlay, {}).items():
                declared.setdefault(name, []).append((f"overlay {overlay}", param))
    for name, value in params.items():
        if name in overlays:
            _check_block(name, value)
            continue
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParamError(name, f"unknown parameter {name!r} (the task and overlays take: {known})")
        for owner, param in declared[name]:
            problem = param.problem(value)
            if problem:
                raise ParamError(name, f"parameter {name!r} of {owner} {problem}")


def _check_block(overlay: str, block: Any) -> None:
    if not isinstance(block, dict):
        raise ParamError(overlay, f"the parameters of overlay {overlay} must be a mapping, got {block!r:.40}")
    declared = OVERLAY_PARAMS.get(overlay, {})
    for key, value in block.items():
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParamError(overlay, f"unknown parameter {key!r} of overlay {overlay} (it takes: {known})", key)
        problem = declared[key].problem(value)
        if problem:
            raise ParamError(overlay, f"parameter {key!r} of overlay {overlay} {problem}", key)


def _overlay_args(name: str, merged: dict) -> dict:
    """What overlay ``name``'s factory reads: its block, over the scenario's params for a flat overlay."""
    block = merged.get(name) or {}
    return {**merged, **block} if name in FLAT_OVERLAYS else dict(block)


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
    overlay_objs = [OVERLAYS[name](_overlay_args(name, merged)) for name in names]
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
    world.sites = SITES
    world.guard = guard
    world.guard_blocks = block_violations
    return ScenarioInstance(key=key, task=task_def, params=merged, overlays=overlay_objs, world=world, site=site)
