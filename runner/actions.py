"""The action grammar of the agent contract (gauntlet.agent/v1), parsed, never evaluated.

Actions are BrowserGym-style call strings: ``click('e12')``, ``fill('e7', "running shoes")``, with the names,
parameters and meanings of BrowserGym's high-level action set (every subset: bid, coord, nav, tab, chat,
infeas) plus Gauntlet's own ``stop`` and ``backtrack``. The string is parsed with Python's own grammar
(``ast.parse``); only calls of known action names whose arguments are literals (strings, numbers, booleans,
lists and tuples of them) are accepted. Nothing is ever evaluated. An answer may be wrapped the way models
write it, in a fenced code block or after an ``Action:`` label; both are stripped. Several calls, one a line,
are accepted only where the agent version allows several actions per step (:func:`parse_actions`).
"""

from __future__ import annotations

import ast
import re
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
_BUTTON = ("button", str, "left")
_CLICK = (_BUTTON, ("modifiers", list, []))
MODIFIERS = ("Alt", "Control", "ControlOrMeta", "Meta", "Shift")
# BrowserGym's "coord" subset: actions on viewport coordinates and the keyboard rather than on element refs.
COORDINATE_ACTIONS = (
    "scroll_at",
    "mouse_move",
    "mouse_up",
    "mouse_down",
    "mouse_click",
    "mouse_dblclick",
    "mouse_drag_and_drop",
    "mouse_upload_file",
    "keyboard_down",
    "keyboard_up",
    "keyboard_press",
    "keyboard_type",
    "keyboard_insert_text",
)
# Actions that change which tab is the agent's: the episode loop, which holds the agent's page, runs them.
TAB_ACTIONS = ("new_tab", "tab_focus", "tab_close")

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("click", (("ref", str),), _CLICK, aliases=_REF),
        ActionSpec("dblclick", (("ref", str),), _CLICK, aliases=_REF),
        # enable_autocomplete_menu: type the last character as a key press after filling the rest, so a page
        # that opens its suggestions on key events shows them (BrowserGym's meaning).
        ActionSpec("fill", (("ref", str), ("value", str)), (("enable_autocomplete_menu", bool, False),), aliases=_REF),
        ActionSpec("check", (("ref", str),), aliases=_REF),
        ActionSpec("uncheck", (("ref", str),), aliases=_REF),
        ActionSpec("select_option", (("ref", str), ("value", (str, list))), aliases=(*_REF, ("options", "value"))),
        ActionSpec("press", (("ref", str), ("key", str)), aliases=(*_REF, ("key_comb", "key"))),
        ActionSpec("hover", (("ref", str),), aliases=_REF),
        ActionSpec("focus", (("ref", str),), aliases=_REF),
        ActionSpec("clear", (("ref", str),), aliases=_REF),
        ActionSpec(
            "drag_and_drop",
            (("from_ref", str), ("to_ref", str)),
            aliases=(("from_bid", "from_ref"), ("to_bid", "to_ref")),
        ),
        ActionSpec("upload_file", (("ref", str), ("file", (str, list))), aliases=_REF),
        ActionSpec("scroll", (("dx", _NUM), ("dy", _NUM)), aliases=(("delta_x", "dx"), ("delta_y", "dy"))),
        ActionSpec("scroll_at", (("x", _NUM), ("y", _NUM), ("dx", _NUM), ("dy", _NUM))),
        ActionSpec("mouse_move", (("x", _NUM), ("y", _NUM))),
        ActionSpec("mouse_up", (("x", _NUM), ("y", _NUM)), (_BUTTON,)),
        ActionSpec("mouse_down", (("x", _NUM), ("y", _NUM)), (_BUTTON,)),
        ActionSpec("mouse_click", (("x", _NUM), ("y", _NUM)), (_BUTTON,)),
        ActionSpec("mouse_dblclick", (("x", _NUM), ("y", _NUM)), (_BUTTON,)),
        ActionSpec("mouse_drag_and_drop", (("from_x", _NUM), ("from_y", _NUM), ("to_x", _NUM), ("to_y", _NUM))),
        ActionSpec("mouse_upload_file", (("x", _NUM), ("y", _NUM), ("file", (str, list)))),
        ActionSpec("keyboard_down", (("key", str),)),
        ActionSpec("keyboard_up", (("key", str),)),
        ActionSpec("keyboard_press", (("key", str),)),
        ActionSpec("keyboard_type", (("text", str),)),
        ActionSpec("keyboard_insert_text", (("text", str),)),
        ActionSpec("goto", (("url", str),)),
        ActionSpec("go_back", ()),
        ActionSpec("go_forward", ()),
        ActionSpec("new_tab", ()),
        ActionSpec("tab_focus", (("index", int),)),
        ActionSpec("tab_close", ()),
        # BrowserGym's default wait: an agent written for it that sends noop() to let a page settle gets its second.
        ActionSpec("noop", (), (("wait_ms", _NUM, 1000),)),
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

    @property
    def refs(self) -> tuple[str, ...]:
        """The element refs the action names (none for coordinate, keyboard and page actions)."""
        return tuple(self.args[k] for k in ("ref", "from_ref", "to_ref") if k in self.args)

    def __str__(self) -> str:
        spec = ACTIONS[self.name]
        parts = [repr(self.args[p[0]]) for p in spec.params]
        parts += [f"{o[0]}={self.args[o[0]]!r}" for o in spec.optional if self.args.get(o[0]) != o[2]]
        return f"{self.name}({', '.join(parts)})"


def _lists(value: Any) -> Any:
    """Tuples as lists: BrowserGym's parser takes ``('a', 'b')`` wherever it takes ``['a', 'b']``."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


def _literal(node: ast.expr, where: str) -> Any:
    try:
        return _lists(ast.literal_eval(node))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ActionError(f"{where} must be a literal (a quoted string or a number)")


def _check_type(name: str, value: Any, expected) -> Any:
    types = expected if isinstance(expected, tuple) else (expected,)
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ActionError(f"argument {name!r} must be {names}, got {type(value).__name__}")
    return value


# A fenced code block around the whole answer (```python ... ```), and a leading "Action:" label.
_FENCE = re.compile(r"^```[A-Za-z0-9_+.\-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_LABEL = re.compile(r"^action\s*:\s*", re.IGNORECASE)


def _unwrap(text: str) -> str:
    text = text.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1).strip()
    return _LABEL.sub("", text, count=1).strip()


def parse_action(text: str) -> Action:
    """Parse one action string. Raises ActionError with a message fit to show the agent."""
    return parse_actions(text)[0]


def parse_actions(text: str, *, several: bool = False) -> list[Action]:
    """Parse an answer: one action, or with ``several`` one or more, one call a line, in order.

    Raises ActionError with a message fit to show the agent; an answer with several calls where ``several`` is
    off is refused as a whole (nothing of it runs)."""
    if not isinstance(text, str):
        raise ActionError("the action must be a string")
    if len(text) > MAX_ACTION_LENGTH:
        raise ActionError(f"action longer than {MAX_ACTION_LENGTH} characters")
    text = _unwrap(text)
    if not text:
        raise ActionError("empty action")
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as exc:
        raise ActionError(f"not a valid action call: {exc.msg}")
    except (MemoryError, RecursionError):
        raise ActionError("not a valid action call: too deeply nested")
    statements = tree.body
    if not statements:
        raise ActionError("empty action")
    if any(s.lineno == p.end_lineno for p, s in zip(statements, statements[1:], strict=False)):
        raise ActionError("not a valid action call: one action a line, without ';'")
    if len(statements) > 1 and not several:
        raise ActionError(
            f"one action per step: the answer holds {len(statements)} actions "
            "(this agent version does not allow several actions per step)"
        )
    actions = []
    for statement in statements:
        if not isinstance(statement, ast.Expr):
            raise ActionError("an action is one call such as click('e12')")
        actions.append(_parse_call(statement.value))
    return actions


def _parse_call(call: ast.expr) -> Action:
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
    for listed in ("value", "file"):
        if isinstance(args.get(listed), list) and not all(isinstance(v, str) for v in args[listed]):
            raise ActionError(f"{name} takes a string or a list of strings as {listed!r}")
    if "button" in args and args["button"] not in ("left", "middle", "right"):
        raise ActionError("button must be 'left', 'middle' or 'right'")
    if any(m not in MODIFIERS for m in args.get("modifiers", [])):
        raise ActionError(f"modifiers must be among {', '.join(MODIFIERS)}")
    return Action(name=name, args=args)
