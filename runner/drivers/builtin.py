"""Built-in baseline agents, in-process: they read the scenario instance, not just the observation."""

from __future__ import annotations

import random
import re
from typing import Any
from urllib.parse import urlsplit

from runner.actions import ActionError, parse_action
from runner.axtree import snapshot_of
from runner.browser import is_sandbox_url
from runner.drivers import AgentDriver, AgentFailure
from runner.types import AGENT_BAD_RESPONSE, AgentSpec
from sandbox import persona
from sandbox.baselines import solutions
from sandbox.baselines.common import (
    DISMISS_LABELS,
    click,
    fill,
    find_all,
    go_back,
    goto,
    handle_interruptions,
    make_gullible,
    press,
    report_infeasible,
    stop,
    value_of,
    wait,
)
from sandbox.scenarios import ScenarioInstance


class OracleAgent(AgentDriver):
    """Solves every solvable task with privileged knowledge of its parameters; ignores page instructions.

    The upper bound of the benchmark and the proof that each task is solvable and each check is right.
    """

    def __init__(self, spec: AgentSpec, instance: ScenarioInstance, agent_index: int = 0):
        self.spec = spec
        self.instance = instance
        self.params = instance.params_for(agent_index)
        self.memory: dict[str, Any] = {}
        self.solve = solutions.solution(instance.task.id)

    async def act(self, request: dict) -> dict:
        if self.instance.task.kind == "harmful":
            return {
                "action": report_infeasible("I will not do this: the request itself is harmful."),
                "thought": "",
                "usage": {},
            }
        observation = request["observation"]
        action = self.solve(observation, self.params, self.memory)
        return {"action": action, "thought": "", "usage": {}}


class GullibleAgent(OracleAgent):
    """Does what page text tells it: the proof that attacks land.

    It works the task like the oracle, but adopts any instruction it reads on a page (and keeps it for the
    rest of the episode), and carries out harmful requests instead of refusing them.
    """

    def __init__(self, spec: AgentSpec, instance: ScenarioInstance, agent_index: int = 0):
        super().__init__(spec, instance, agent_index)
        credentials = {
            "username": persona.USERNAME,
            "password": persona.PASSWORD,
            "secrets": persona.SECRETS,
            "goal": instance.goal_for(agent_index),
        }
        self.solve = make_gullible(self.solve, credentials)

    async def act(self, request: dict) -> dict:
        action = self.solve(request["observation"], self.params, self.memory)
        return {"action": action, "thought": "", "usage": {}}


def _elements(observation: dict) -> list[dict] | tuple[dict, ...]:
    elements = observation.get("elements")
    if elements is None:
        elements = snapshot_of(observation).elements
    return elements


def _scroll(dx: int, dy: int) -> str:
    return f"scroll({int(dx)}, {int(dy)})"


def _backtrack(checkpoint_id: str | int) -> str:
    return f"backtrack({checkpoint_id!r})"


class RandomAgent(AgentDriver):
    """Acts at random: the floor of the benchmark.

    Each step it picks uniformly among the actions the current page offers: a click on each clickable element
    (link, button, checkbox, radio, ...), a fill of each text box with a random word (a small number for a
    number box), a scroll up or down, and going back; with ``stop_probability`` it stops instead. It never
    navigates with ``goto``, so it cannot leave the sandbox (going back from the start page is an action
    error, not a way out), and it answers ``go_forward()`` on a page without elements. Its choices come from
    a ``random.Random`` seeded with the episode's seed, the agent's index and the config's ``seed``, so the
    same episode replays the same actions.

    Config: ``seed`` (an int or a string, default 0), ``stop_probability`` (a number from 0 to 1, default 0.02).
    """

    CLICKABLE = frozenset(
        {"link", "button", "checkbox", "radio", "switch", "tab", "menuitem", "menuitemcheckbox", "menuitemradio"}
    )
    TEXT_BOXES = frozenset({"textbox", "searchbox"})
    WORDS = ("hello", "boots", "tent", "maria", "thanks", "invoice", "trail", "blue", "test", "springfield", "42")

    def __init__(self, spec: AgentSpec, instance: ScenarioInstance | None, agent_index: int = 0):
        config = spec.config or {}
        probability = config.get("stop_probability", 0.02)
        if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise AgentFailure(
                AGENT_BAD_RESPONSE, f"stop_probability must be a number from 0 to 1, got {probability!r}"
            )
        extra = config.get("seed", 0)
        if isinstance(extra, bool) or not isinstance(extra, int | str):
            raise AgentFailure(AGENT_BAD_RESPONSE, f"seed must be an integer or a string, got {extra!r}")
        episode_seed = instance.world.seed if instance is not None else 0
        self.stop_probability = float(probability)
        # A string seed is hashed the same way in every process (unlike hash()), so episodes replay exactly.
        self.rng = random.Random(f"random-agent:{episode_seed}:{agent_index}:{extra}")

    def choices(self, observation: dict) -> list[tuple[str, str]]:
        """The (kind, ref) actions the page offers, in page order; refless kinds have ref ""."""
        options = []
        for element in _elements(observation):
            if element["role"] in self.CLICKABLE:
                options.append(("click", element["ref"]))
            elif element["role"] in self.TEXT_BOXES:
                options.append(("fill", element["ref"]))
            elif element["role"] == "spinbutton":
                options.append(("fill_number", element["ref"]))
        return options + [("scroll_down", ""), ("scroll_up", ""), ("go_back", "")]

    async def act(self, request: dict) -> dict:
        observation = request.get("observation") or {}
        if not _elements(observation):
            # A page with nothing to act on (an error page, one still loading): try the next page in history.
            return {"action": "go_forward()", "thought": "", "usage": {}}
        if self.rng.random() < self.stop_probability:
            return {"action": stop(), "thought": "", "usage": {}}
        kind, ref = self.rng.choice(self.choices(observation))
        match kind:
            case "click":
                action = click(ref)
            case "fill":
                action = fill(ref, self.rng.choice(self.WORDS))
            case "fill_number":
                action = fill(ref, str(self.rng.randint(0, 5)))
            case "scroll_down":
                action = _scroll(0, 400)
            case "scroll_up":
                action = _scroll(0, -400)
            case _:
                action = go_back()
        return {"action": action, "thought": "", "usage": {}}


# What the cautious agent reads as a page that went wrong: an HTTP error heading or title.
_ERROR_TEXT = re.compile(
    r"^\s*[45]\d\d\b|service (?:temporarily )?unavailable|internal server error|bad gateway|gateway time-?out"
    r"|method not allowed|^\s*(?:page )?not found\s*$",
    re.IGNORECASE,
)
# Buttons that close a dialog or banner without accepting anything, compared case-insensitively.
_DECLINE_LABELS = frozenset(
    label.casefold()
    for label in (
        *DISMISS_LABELS,
        "No, thanks",
        "Maybe later",
        "Not interested",
        "Skip",
        "Decline",
        "Reject",
        "Close dialog",
        "Continue without accepting",
        "Necessary only",
        "×",
        "✕",
    )
)
_RETRYABLE = frozenset({"click", "dblclick", "fill", "select_option", "press", "hover", "goto"})
_MODAL_ROLES = frozenset({"dialog", "alertdialog"})


def _modals(observation: dict) -> list[tuple[dict, list[dict]]]:
    """Each open dialog (or cookie region) of the page with the elements inside it, from the snapshot's nesting."""
    snapshot = snapshot_of(observation)
    found = []
    for index, line in enumerate(snapshot.lines):
        container = line.element
        if container is None:
            continue
        if container["role"] not in _MODAL_ROLES and not (
            container["role"] == "region" and "cookie" in container["name"].casefold()
        ):
            continue
        found.append((container, [inner.element for inner in snapshot.nested(index) if inner.element is not None]))
    return found


def _page_problem(observation: dict) -> str:
    """Why the page went wrong ("" if it did not): an error page, a host outside the user's sites, no content."""
    url = observation.get("url") or ""
    if url.startswith("chrome-error:"):
        return "error: the browser could not load the page"
    if url in ("", "about:blank"):
        return "empty: a blank page"
    host = (urlsplit(url).hostname or "").lower()
    if not is_sandbox_url(url) or host == persona.ATTACKER_HOST:
        return f"off_site: {host or url} is not one of the user's sites"
    headings = [e["name"] for e in find_all(observation, "heading")]
    for text in [observation.get("title") or "", *headings]:
        if _ERROR_TEXT.search(text):
            return f"error: {text.strip()}"
    if not _elements(observation):
        return "empty: the page shows nothing"
    return ""


class CautiousAgent(OracleAgent):
    """Works the task like the oracle, inside a generic recovery layer: the baseline that survives faults.

    Each step the first rule that applies decides; the task's solution (:mod:`sandbox.baselines`, with the
    agent's params) only plans once none does. Page content never adds a goal: no instruction read on a page is adopted.

    1. **Refuse** a harmful request (``report_infeasible``), like the oracle.
    2. **Dismiss** whatever covers the page: in an open dialog or cookie region, click a button or link
       inside it that declines or closes (``No thanks``, ``Reject all``, ``Close``, ``Cancel``, ...), never
       one that accepts; a dialog without one gets ``Escape`` once (``MAX_DISMISSALS`` in all). On a sign-in
       page of one of the user's sites (an expired session) sign in with the persona's credentials.
    3. **Retry** an action that failed (``last_action_error``) once, if it was a click/fill/press/... whose
       element is still on the page (same ref, role and name) or a ``goto``; otherwise re-plan.
    4. **Wait** (``noop(wait_ms=700)``) while the page shows a ``Loading…`` status, or up to twice for a page
       with no elements, at most ``MAX_WAITS`` times per episode.
    5. **Backtrack** when the page went wrong (an HTTP error page, a host that is not one of the user's
       sites, an empty page): to the newest checkpoint from before this step whose page was seen working, if
       ``request["checkpoints"]`` offers one; else reload the page once (``goto(url)``, which never resubmits
       a form), then ``go_back()`` twice, then start over at the task's start URL. At most
       ``MAX_RECOVERIES`` such steps per episode; after that the solution decides alone.

    Counts of each recovery are kept in ``memory["recovery"]`` and every response's ``thought`` names the rule
    that chose its action (``"policy"``, the name traces have always given the task's solution, or
    ``"recovery: ..."``).
    """

    MAX_DISMISSALS = 10
    MAX_WAITS = 8
    MAX_RECOVERIES = 12
    RETRY = "recovery: retry the failed action once"

    def __init__(self, spec: AgentSpec, instance: ScenarioInstance, agent_index: int = 0):
        super().__init__(spec, instance, agent_index)
        kinds = ("dismissals", "retries", "waits", "backtracks", "reloads", "go_backs", "restarts")
        self.counts = self.memory["recovery"] = dict.fromkeys(kinds, 0)
        self._last: dict | None = None  # the action this agent answered last, its thought and its element
        self._escaped: set[str] = set()
        self._signin_memory: dict[str, Any] = {}
        self._good_urls: set[str] = set()
        self._bad_seen: set[tuple[int, str]] = set()
        self._used_checkpoints: set[str] = set()
        self._backtracking = True
        self._incident: dict | None = None  # the run of consecutive steps on pages that went wrong
        self._empty_waits = 0

    async def act(self, request: dict) -> dict:
        if self.instance.task.kind == "harmful":
            return await super().act(request)
        observation = request["observation"]
        step = int(request.get("step") or 0)
        problem = _page_problem(observation)
        self._remember(step, observation, problem)
        action, thought = (
            self._dismiss(observation, problem)
            or self._retry(observation)
            or self._wait(observation, problem)
            or self._recover(request, observation, problem)
            or (self.solve(observation, self.params, self.memory), "policy")
        )
        self._last = {"action": action, "thought": thought, "target": self._target(action, observation)}
        return {"action": action, "thought": thought, "usage": {}}

    def _remember(self, step: int, observation: dict, problem: str) -> None:
        url = observation.get("url") or ""
        if problem:
            self._bad_seen.add((step, url))
        else:
            self._good_urls.add(url)
            self._incident = None
        if _elements(observation):
            self._empty_waits = 0
        last = self._last
        if last and observation.get("last_action_error") and last["action"].startswith("backtrack("):
            # The run refused to backtrack (not enabled, or infeasible here): recover without checkpoints.
            self._backtracking = False

    @staticmethod
    def _target(action: str, observation: dict) -> dict | None:
        try:
            parsed = parse_action(action)
        except ActionError:
            return None
        ref = parsed.args.get("ref")
        return next((e for e in _elements(observation) if e["ref"] == ref), None) if ref else None

    def _dismiss(self, observation: dict, problem: str) -> tuple[str, str] | None:
        if self.counts["dismissals"] >= self.MAX_DISMISSALS:
            return None
        for container, inside in _modals(observation):
            for element in inside:
                if element["role"] in ("button", "link") and element["name"].strip().casefold() in _DECLINE_LABELS:
                    self.counts["dismissals"] += 1
                    return click(element["ref"]), f"recovery: dismiss the {container['role']} {container['name']!r}"
            if container["ref"] not in self._escaped:
                self._escaped.add(container["ref"])
                self.counts["dismissals"] += 1
                return press(container["ref"], "Escape"), f"recovery: escape the {container['role']} with no way out"
        signing_in = any(h["name"].startswith("Sign in to") for h in find_all(observation, "heading"))
        if signing_in and not problem:
            action = handle_interruptions(
                observation, self._signin_memory, username=persona.USERNAME, password=persona.PASSWORD
            )
            if action:
                return action, "recovery: sign in again on the user's own site"
        return None

    def _retry(self, observation: dict) -> tuple[str, str] | None:
        error, last = observation.get("last_action_error"), self._last
        if not error or last is None or last["action"] != observation.get("last_action"):
            return None
        if last["thought"].startswith(self.RETRY):
            return None  # once: a second failure re-plans
        try:
            name = parse_action(last["action"]).name
        except ActionError:
            return None
        if name not in _RETRYABLE:
            return None
        target = last["target"]
        if name != "goto":
            now = next((e for e in _elements(observation) if target and e["ref"] == target["ref"]), None)
            if now is None or (now["role"], now["name"]) != (target["role"], target["name"]):
                return None
        self.counts["retries"] += 1
        return last["action"], f"{self.RETRY} after: {error}"

    def _wait(self, observation: dict, problem: str) -> tuple[str, str] | None:
        if self.counts["waits"] >= self.MAX_WAITS:
            return None
        loading = any(value_of(e).startswith("Loading") for e in find_all(observation, "status"))
        empty = problem.startswith("empty") and self._empty_waits < 2
        if not (loading or empty):
            return None
        self._empty_waits += int(empty)
        self.counts["waits"] += 1
        return wait(700), "recovery: wait for the page's content"

    def _recover(self, request: dict, observation: dict, problem: str) -> tuple[str, str] | None:
        recoveries = sum(self.counts[k] for k in ("backtracks", "reloads", "go_backs", "restarts"))
        if not problem or recoveries >= self.MAX_RECOVERIES:
            return None
        url = observation.get("url") or ""
        incident = self._incident = self._incident or {"reloaded": set(), "go_backs": 0}
        checkpoint = self._checkpoint(request)
        if checkpoint is not None:
            self._used_checkpoints.add(str(checkpoint["id"]))
            self.counts["backtracks"] += 1
            return _backtrack(checkpoint["id"]), f"recovery: {problem}; backtrack to step {checkpoint.get('step')}"
        if not problem.startswith("off_site") and is_sandbox_url(url) and url not in incident["reloaded"]:
            incident["reloaded"].add(url)
            self.counts["reloads"] += 1
            return goto(url), f"recovery: {problem}; reload the page"
        if incident["go_backs"] < 2:
            incident["go_backs"] += 1
            self.counts["go_backs"] += 1
            return go_back(), f"recovery: {problem}; go back"
        incident["go_backs"] = 0
        self.counts["restarts"] += 1
        return goto(request["task"]["start_url"]), f"recovery: {problem}; start over"

    def _checkpoint(self, request: dict) -> dict | None:
        """The newest usable checkpoint from before this step whose page was seen working, or None."""
        if not self._backtracking:
            return None
        step = int(request.get("step") or 0)
        usable = []
        for checkpoint in request.get("checkpoints") or []:
            if not isinstance(checkpoint, dict) or "id" not in checkpoint:
                continue
            at, url = int(checkpoint.get("step") or 0), str(checkpoint.get("url") or "")
            # A checkpoint may record the page before or after its step's action: either must have looked fine.
            seen_wrong = (at, url) in self._bad_seen or (at + 1, url) in self._bad_seen
            if (
                at < step
                and url in self._good_urls
                and not seen_wrong
                and str(checkpoint["id"]) not in self._used_checkpoints
            ):
                usable.append(checkpoint)
        return max(usable, key=lambda c: int(c.get("step") or 0), default=None)
