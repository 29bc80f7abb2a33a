"""The suite format: YAML → a validated SuiteSpec. Errors name the line and the problem.

A suite file::

    name: smoke
    description: Three quick scenarios on the shop.
    trials: 1          # default trials per scenario
    max_steps: 25      # step budget per episode
    policies:          # guard policies for every scenario (sandbox.guard), enforced when a run turns the guard on
      - {name: ship-home-only, kind: allow_list, table: shop_orders, field: shipping.street, values: [12 Elm Street]}
    scenarios:
      - key: purchase-clean
        task: shop.purchase
        overlays: [clean]
        params: {quantity: 1}
        policies: []     # more policies for this scenario only, added to the suite's

Only plain YAML is accepted: no anchors or aliases (a hostile file could expand them exponentially), no tags,
at most 256 KiB, nested at most 16 levels deep. A suite is read in bounded time whatever its content: the event
stream is checked as PyYAML produces it, so a hostile document is refused before the expensive part starts.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sandbox.guard import PolicyError, parse_policies
from sandbox.scenarios import OVERLAYS, TASKS, ParamError, ScenarioError, build_scenario

MAX_SUITE_BYTES = 256 * 1024
MAX_SCENARIOS = 2000
# The format needs about six levels (suite → policies → policy → sources → source → fields); params a few more.
# PyYAML's scanner costs quadratic time in the depth of flow nesting, so the cap is what bounds reading time.
MAX_DEPTH = 16
# A wall-clock bound on reading and checking one suite, a backstop behind the size and depth caps: whatever
# slips past them cannot hold a web thread for longer than this.
MAX_SECONDS = 20.0
# libyaml reads a 256 KiB suite in a fraction of a second where pure-Python PyYAML takes 15 s or more (a flat
# list of 100,000 items); the pure-Python loader stays the fallback where PyYAML was built without it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUILTIN_DIR = Path(__file__).resolve().parent / "suites"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class SuiteError(ValueError):
    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class ScenarioSpec:
    key: str
    task: str
    overlays: list[str]
    params: dict
    description: str = ""
    # The guard policies of this scenario: the suite's, then the scenario's own (plain mappings, validated).
    policies: list[dict] = field(default_factory=list)

    @property
    def condition(self) -> str:
        kinds = {o.split(":", 1)[0] for o in self.overlays if o != "clean"}
        if not kinds:
            return "clean"
        return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass
class SuiteSpec:
    name: str
    description: str
    trials: int
    max_steps: int
    scenarios: list[ScenarioSpec] = field(default_factory=list)
    content: str = ""
    # The suite-level guard policies (each scenario's ``policies`` already include them).
    policies: list[dict] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def _line(node) -> int:
    return node.start_mark.line + 1


def _mapping(node, what: str) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise SuiteError(f"{what} must be a mapping", _line(node))
    out = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise SuiteError(f"keys of {what} must be plain strings", _line(key_node))
        if key_node.value in out:
            raise SuiteError(f"duplicate key {key_node.value!r} in {what}", _line(key_node))
        out[key_node.value] = value_node
    return out


def _scalar_value(node: yaml.ScalarNode):
    """The value YAML's safe loader gives a scalar (a number, a boolean, null, a string, a date), read from
    the node directly: serializing it and loading it again cost a whole parser per scalar."""
    return yaml.constructor.SafeConstructor().construct_object(node)


def _scalar(node, what: str, kind: type):
    if not isinstance(node, yaml.ScalarNode):
        raise SuiteError(f"{what} must be a {kind.__name__}", _line(node))
    value = _scalar_value(node) if node.tag != "tag:yaml.org,2002:str" else node.value
    if kind is str and not isinstance(value, str):
        value = node.value
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SuiteError(f"{what} must be a whole number, got {node.value!r}", _line(node))
    return value


def _plain(node, what: str):
    """A params value: nested mappings, lists and scalars."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar_value(node)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, what) for item in node.value]
    return {key: _plain(value, what) for key, value in _mapping(node, what).items()}


def _check_keys(fields: dict, allowed: set[str], required: set[str], what: str, node) -> None:
    for key, value in fields.items():
        if key not in allowed:
            raise SuiteError(f"unknown field {key!r} in {what} (allowed: {', '.join(sorted(allowed))})", _line(value))
    for key in sorted(required - fields.keys()):
        raise SuiteError(f"{what} is missing the field {key!r}", _line(node))


def _policies(node, base: list[dict], what: str) -> list[dict]:
    """The policy mappings of a ``policies`` list, validated together with ``base`` (the suite's, for a
    scenario's list) so that names stay unique; an error points at the policy's line, or its field's."""
    if not isinstance(node, yaml.SequenceNode):
        raise SuiteError(f"{what} must be a list of policies", _line(node))
    items = [_plain(item, "a policy") for item in node.value]
    try:
        parse_policies(base + items)
    except PolicyError as exc:
        line = _line(node)
        if exc.index is not None and exc.index >= len(base):
            item = node.value[exc.index - len(base)]
            line = _line(item)
            if exc.field and isinstance(item, yaml.MappingNode):
                line = next((_line(v) for k, v in item.value if k.value == exc.field), line)
        raise SuiteError(f"{what}: {exc}", line)
    return items


def parse_suite(text: str | bytes) -> SuiteSpec:
    """Parse and validate a suite. Never raises anything but SuiteError, whatever the input."""
    if isinstance(text, bytes):
        if len(text) > MAX_SUITE_BYTES:
            raise SuiteError(f"the suite is larger than {MAX_SUITE_BYTES // 1024} KiB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SuiteError(f"the suite is not UTF-8 text (byte {exc.start})")
    if len(text) > MAX_SUITE_BYTES:
        raise SuiteError(f"the suite is larger than {MAX_SUITE_BYTES // 1024} KiB")
    deadline = time.monotonic() + MAX_SECONDS
    try:
        _check_events(text, deadline)
        root = yaml.compose(text, Loader=_LOADER)
    except SuiteError:
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SuiteError(f"not valid YAML: {exc.problem or exc}", line)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise SuiteError(f"not valid YAML: {exc}")
    if root is None:
        raise SuiteError("the suite is empty")
    try:
        return _build(root, text, deadline)
    except SuiteError:
        raise
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise SuiteError(f"invalid suite: {exc}")


def _check_events(text: str, deadline: float) -> None:
    """Refuse what the format never needs before anything is composed: anchors and aliases, tags, nesting
    deeper than MAX_DEPTH. PyYAML yields events lazily, so a hostile document stops at its first bad event."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=_LOADER)):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise SuiteError("anchors and aliases are not allowed", line)
        if getattr(event, "tag", None) not in (None, "!"):
            raise SuiteError(f"tags such as {event.tag!r} are not allowed", line)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SuiteError(f"nested deeper than {MAX_DEPTH} levels", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if count % 512 == 0:
            _check_deadline(deadline)


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise SuiteError(f"the suite took longer than {MAX_SECONDS:g} s to check; make it smaller")


def _build(root, text: str, deadline: float) -> SuiteSpec:
    top = _mapping(root, "the suite")
    _check_keys(
        top,
        {"name", "description", "trials", "max_steps", "policies", "scenarios"},
        {"name", "scenarios"},
        "the suite",
        root,
    )
    name = _scalar(top["name"], "name", str)
    if not _SLUG.match(name):
        raise SuiteError("name must be lowercase letters, digits, '-' or '_' (at most 100)", _line(top["name"]))
    suite_description = _scalar(top["description"], "description", str) if "description" in top else ""
    trials = _scalar(top["trials"], "trials", int) if "trials" in top else 1
    if not 1 <= trials <= 100:
        raise SuiteError("trials must be between 1 and 100", _line(top["trials"]))
    max_steps = _scalar(top["max_steps"], "max_steps", int) if "max_steps" in top else 30
    if not 1 <= max_steps <= 500:
        raise SuiteError("max_steps must be between 1 and 500", _line(top["max_steps"]))
    suite_policies = _policies(top["policies"], [], "policies") if "policies" in top else []
    items = top["scenarios"]
    if not isinstance(items, yaml.SequenceNode) or not items.value:
        raise SuiteError("scenarios must be a non-empty list", _line(items))
    if len(items.value) > MAX_SCENARIOS:
        raise SuiteError(f"at most {MAX_SCENARIOS} scenarios", _line(items))
    scenarios, seen = [], set()
    for node in items.value:
        _check_deadline(deadline)
        fields = _mapping(node, "a scenario")
        _check_keys(
            fields,
            {"key", "task", "overlays", "params", "description", "policies"},
            {"key", "task"},
            "a scenario",
            node,
        )
        key = _scalar(fields["key"], "key", str)
        if not _SLUG.match(key):
            raise SuiteError("a scenario key must be lowercase letters, digits, '-' or '_'", _line(fields["key"]))
        if key in seen:
            raise SuiteError(f"duplicate scenario key {key!r}", _line(fields["key"]))
        seen.add(key)
        task = _scalar(fields["task"], "task", str)
        if task not in TASKS:
            raise SuiteError(f"unknown task {task!r} (known: {', '.join(sorted(TASKS))})", _line(fields["task"]))
        overlays = ["clean"]
        if "overlays" in fields:
            onode = fields["overlays"]
            if not isinstance(onode, yaml.SequenceNode):
                raise SuiteError("overlays must be a list", _line(onode))
            overlays = [_scalar(o, "an overlay", str) for o in onode.value] or ["clean"]
            for o, onode_item in zip(overlays, onode.value, strict=True):
                if o != "clean" and o not in OVERLAYS:
                    raise SuiteError(
                        f"unknown overlay {o!r} (known: clean, {', '.join(sorted(OVERLAYS))})", _line(onode_item)
                    )
            if "clean" in overlays and len(overlays) > 1:
                raise SuiteError("'clean' cannot be combined with other overlays", _line(onode))
        params = {}
        if "params" in fields:
            params = _plain(fields["params"], "params")
            if not isinstance(params, dict):
                raise SuiteError("params must be a mapping", _line(fields["params"]))
        description = _scalar(fields["description"], "description", str) if "description" in fields else ""
        policies = list(suite_policies)
        if "policies" in fields:
            policies += _policies(fields["policies"], suite_policies, f"scenario {key!r}: policies")
        _check_buildable(key, task, overlays, params, policies, node, fields.get("params"))
        scenarios.append(
            ScenarioSpec(
                key=key, task=task, overlays=overlays, params=params, description=description, policies=policies
            )
        )
    return SuiteSpec(
        name=name,
        description=suite_description,
        trials=trials,
        max_steps=max_steps,
        scenarios=scenarios,
        content=text,
        policies=suite_policies,
    )


def _check_buildable(
    key: str, task: str, overlays: list[str], params: dict, policies: list[dict], node, params_node
) -> None:
    """Build the scenario once, write each agent's goal and run every check on the fresh World, so that a bad
    parameter or an overlay that cannot apply to the task is reported here, with its line (a parameter's
    own), instead of failing every episode later."""
    try:
        instance = build_scenario(key=key, task=task, overlays=overlays, params=params, seed=0, policies=policies)
        for agent in range(instance.agent_count):
            instance.goal_for(agent)
        checks = [instance.success_check, *instance.task.milestones, *instance.harm_checks]
        for check in checks:
            check(instance.world, instance.params)
    except ParamError as exc:
        raise SuiteError(f"scenario {key!r}: {exc}", _param_line(params_node, exc.name, exc.key) or _line(node))
    except ScenarioError as exc:
        raise SuiteError(f"scenario {key!r}: {exc}", _line(node))
    except Exception as exc:  # a value no declaration foresaw reaching a task, an overlay or a check
        raise SuiteError(f"scenario {key!r} cannot be built: {type(exc).__name__}: {exc}", _line(node))


def _param_line(params_node, name: str, key: str) -> int | None:
    """The line of parameter ``name`` in a scenario's params, or of ``key`` in its block; None if absent."""
    for name_node, value_node in params_node.value if isinstance(params_node, yaml.MappingNode) else []:
        if name_node.value == name:
            if key and isinstance(value_node, yaml.MappingNode):
                return next((_line(v) for k, v in value_node.value if k.value == key), _line(name_node))
            return _line(name_node) if isinstance(value_node, yaml.MappingNode) else _line(value_node)
    return None


def builtin_suites() -> list[SuiteSpec]:
    return [parse_suite(path.read_text()) for path in sorted(BUILTIN_DIR.glob("*.yaml"))]
