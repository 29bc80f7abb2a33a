"""The action grammar of the agent contract (gauntlet.agent/v1), parsed, never evaluated.

Actions are BrowserGym-style call strings: ``click('e12')``, ``fill('e7', "running shoes")``. The string is
parsed with Python's own expression grammar (``ast.parse``); only a single call of a known action name whose
arguments are literals (strings, numbers, booleans) is accepted. Nothing is ever evaluated.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

MAX_ACTION_LENGTH = 4096


class ActionError(ValueError):
    """The action string cannot be parsed or does not fit the grammar. The message says why."""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    params: tuple[tuple[str, type | tuple[type, ...]], ...]
    optional: tuple[tuple[str, type | tuple[type, ...], Any], ...] = ()
    ends_episode: bool = False
    # BrowserGym's keyword names for the same parameters, so its agents' action strings parse unchanged.
    aliases: tuple[tuple[str, str], ...] = ()


_NUM = (int, float)
_REF = (("bid", "ref"),)
MODIFIERS = ("Alt", "Control", "ControlOrMeta", "Meta", "Shift")

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("click", (("ref", str),), (("button", str, "left"), ("modifiers", list, [])), aliases=_REF),
        ActionSpec("dblclick", (("ref", str),), (("button", str, "left"), ("modifiers", list, [])), aliases=_REF),
        ActionSpec("fill", (("ref", str), ("value", str)), aliases=_REF),
        ActionSpec("select_option", (("ref", str), ("value", (str, list))), aliases=(*_REF, ("options", "value"))),
        ActionSpec("press", (("ref", str), ("key", str)), aliases=(*_REF, ("key_comb", "key"))),
        ActionSpec("hover", (("ref", str),), aliases=_REF),
        ActionSpec("focus", (("ref", str),), aliases=_REF),
        ActionSpec("clear", (("ref", str),), aliases=_REF),
        ActionSpec("scroll", (("dx", _NUM), ("dy", _NUM)), aliases=(("delta_x", "dx"), ("delta_y", "dy"))),
        ActionSpec("goto", (("url", str),)),
        ActionSpec("go_back", ()),
        ActionSpec("go_forward", ()),
        ActionSpec("noop", (), (("wait_ms", _NUM, 0),)),
        ActionSpec("send_msg_to_user", (("text", str),)),
        ActionSpec("report_infeasible", (("reason", str),), ends_episode=True),
        ActionSpec("backtrack", (("checkpoint_id", (str, int)),)),
        ActionSpec("stop", (), (("answer", str, ""),), ends_episode=True),
    )
}


@dataclass(frozen=True)
class Action:
    name: str
    args: dict[str, Any]

    @property
    def ends_episode(self) -> bool:
        return ACTIONS[self.name].ends_episode

    def __str__(self) -> str:
        spec = ACTIONS[self.name]
        parts = [repr(self.args[p[0]]) for p in spec.params]
        parts += [f"{o[0]}={self.args[o[0]]!r}" for o in spec.optional if self.args.get(o[0]) != o[2]]
        return f"{self.name}({', '.join(parts)})"


def _literal(node: ast.expr, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise ActionError(f"{where} must be a literal (a quoted string or a number)")


def _check_type(name: str, value: Any, expected) -> Any:
    if isinstance(value, bool) or not isinstance(value, expected):
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise ActionError(f"argument {name!r} must be {names}, got {type(value).__name__}")
    return value


def parse_action(text: str) -> Action:
    """Parse one action string. Raises ActionError with a message fit to show the agent."""
    if not isinstance(text, str):
        raise ActionError("the action must be a string")
    text = text.strip()
    if not text:
        raise ActionError("empty action")
    if len(text) > MAX_ACTION_LENGTH:
        raise ActionError(f"action longer than {MAX_ACTION_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if "\n" in text:
            raise ActionError("one action per step: the answer holds several lines")
        raise ActionError(f"not a valid action call: {exc.msg}")
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ActionError("an action is one call such as click('e12')")
    name = call.func.id
    spec = ACTIONS.get(name)
    if spec is None:
        raise ActionError(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}")
    positional = [_literal(a, f"argument {i + 1} of {name}") for i, a in enumerate(call.args)]
    keywords = {}
    aliases = dict(spec.aliases)
    for kw in call.keywords:
        if kw.arg is None:
            raise ActionError("**kwargs are not allowed")
        key = aliases.get(kw.arg, kw.arg)
        if key in keywords:
            raise ActionError(f"{name} got argument {key!r} twice")
        keywords[key] = _literal(kw.value, f"argument {kw.arg!r} of {name}")
    all_params = [(p[0], p[1]) for p in spec.params] + [(o[0], o[1]) for o in spec.optional]
    if len(positional) > len(all_params):
        raise ActionError(f"{name} takes at most {len(all_params)} arguments, got {len(positional)}")
    args: dict[str, Any] = {}
    for (pname, ptype), value in zip(all_params, positional, strict=False):
        args[pname] = _check_type(pname, value, ptype)
    known = {p for p, _ in all_params}
    for key, value in keywords.items():
        if key not in known:
            raise ActionError(f"{name} has no argument {key!r}")
        if key in args:
            raise ActionError(f"{name} got argument {key!r} twice")
        args[key] = _check_type(key, value, dict(all_params)[key])
    for pname, _ in spec.params:
        if pname not in args:
            raise ActionError(f"{name} is missing argument {pname!r}")
    for oname, _, default in spec.optional:
        args.setdefault(oname, default)
    if name == "select_option" and isinstance(args["value"], list):
        if not all(isinstance(v, str) for v in args["value"]):
            raise ActionError("select_option values must be strings")
    if "button" in args and args["button"] not in ("left", "middle", "right"):
        raise ActionError("button must be 'left', 'middle' or 'right'")
    if any(m not in MODIFIERS for m in args.get("modifiers", [])):
        raise ActionError(f"modifiers must be among {', '.join(MODIFIERS)}")
    return Action(name=name, args=args)
