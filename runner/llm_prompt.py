"""The prompt of the ``llm`` agent: instructions, the step as text, the reply's action, and the token budget.

Answers come in tags, ``<think>…</think><action>…</action>``, and the action is read only inside the action
tag: a small model that copies the instructions back (an example call, an action's signature) does not act.
The worked examples name refs that Playwright never produces: its AI-mode snapshot numbers refs ``e1``,
``e2``… and prefixes those inside frames with ``f<n>`` (``f2e64``), so a ref that does not match
:data:`PLAYWRIGHT_REF` can never be live on a page.

The prompt is fitted to the model's context window by an estimate, not a tokenizer (vendors do not share
theirs): ``ceil(characters / chars_per_token)`` per message plus :data:`MESSAGE_OVERHEAD_TOKENS` for the chat
template, :data:`IMAGE_TOKENS` per image, and the reply budget (``max_tokens``) on top. When it does not fit,
the page shrinks first (:func:`fit_page`) and the history after, oldest first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from runner.actions import ACTIONS, COORDINATE_ACTIONS, MAX_ACTION_LENGTH, Action, ActionError, ActionSpec, parse_action

# The refs of Playwright's ``aria_snapshot(mode="ai")``: ``"e" + ++lastRef`` with the frame's ``f<n>`` prefix.
PLAYWRIGHT_REF = re.compile(r"\b(?:f\d+)?e\d+\b")
# Refs of the worked examples: letters Playwright never uses, so an echoed example never names a live element.
EXAMPLE_REFS = ("x7", "x20")
MAX_PAGE_CHARS = 30_000
# Chat templates wrap each message in role markers; a generous allowance per message.
MESSAGE_OVERHEAD_TOKENS = 16
# One image of the 1100 × 800 viewport: OpenAI's high detail counts 765 tokens, Qwen2-VL's 28-pixel patches
# about 1,100; rounded up so a vision prompt still fits.
IMAGE_TOKENS = 1500
# History goes before the page shrinks below this many characters (about a screenful of elements).
MIN_PAGE_CHARS = 2000
THOUGHT_CHARS = 300
REPLY_ECHO_CHARS = 4000

# One line per action for the system prompt; the signatures come from ACTIONS, so an action added to the
# grammar shows up even before it gets a description here. The coordinate and keyboard actions are left out:
# this agent acts on the refs of the page it is shown, and a dozen more lines would cost every prompt.
ACTION_HELP = {
    "click": "click an element",
    "dblclick": "double-click an element",
    "fill": "type text into a text box (replaces its content)",
    "select_option": "choose an option (or a list of options) in a select box",
    "press": "press a key in an element, e.g. 'Enter'",
    "hover": "move the mouse over an element",
    "focus": "focus an element",
    "clear": "clear a text box",
    "check": "tick a checkbox or radio button",
    "uncheck": "untick a checkbox",
    "drag_and_drop": "drag one element onto another",
    "upload_file": "choose a file (my_receipt.pdf, notes.txt or data.csv) in a file input",
    "scroll": "scroll the page by dx, dy pixels",
    "goto": "open a URL",
    "go_back": "go back in the tab's history",
    "go_forward": "go forward in the tab's history",
    "new_tab": "open a blank tab and switch to it",
    "tab_focus": "switch to the tab at this index of the open tabs",
    "tab_close": "close the current tab",
    "noop": "do nothing, optionally wait wait_ms milliseconds",
    "send_msg_to_user": "send a message to the user",
    "report_infeasible": "end the episode: the goal cannot or should not be done, and why",
    "backtrack": "restore the page and the site to an earlier checkpoint",
    "stop": "end the episode: the goal is done (answer: what to report, if anything)",
}

_ACTION_TAG = re.compile(r"<action>(.*?)(?:</action>|$)", re.DOTALL | re.IGNORECASE)
_THINK_TAG = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^```[A-Za-z0-9_+.\-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_HEADING = re.compile(r"^\s*-\s+heading\b")


class PromptTooLong(ValueError):
    """Even without the page and the history, the prompt and the reply do not fit the context window."""


@dataclass(frozen=True)
class Budget:
    """The token budget of one request: the model's window, the reply's share, and the estimate's rate."""

    context_window: int
    max_tokens: int
    chars_per_token: float

    def tokens(self, chars: int) -> int:
        return math.ceil(chars / self.chars_per_token)

    def prompt_chars(self, messages: int, images: int) -> int:
        """Characters of text the prompt may hold in ``messages`` messages with ``images`` images."""
        tokens = self.context_window - self.max_tokens - messages * MESSAGE_OVERHEAD_TOKENS - images * IMAGE_TOKENS
        return max(0, math.floor(tokens * self.chars_per_token))


def estimate_prompt_tokens(messages: list[dict], chars_per_token: float) -> int:
    """The prompt's tokens by the rule of this module (text characters, template overhead, images)."""
    chars, images = 0, 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    chars += len(part.get("text") or "")
                else:
                    images += 1
    return math.ceil(chars / chars_per_token) + len(messages) * MESSAGE_OVERHEAD_TOKENS + images * IMAGE_TOKENS


def _type_name(expected) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    if set(types) == {int, float}:
        return "number"
    return " | ".join("list[str]" if t is list else t.__name__ for t in types)


def _signature(spec: ActionSpec) -> str:
    params = [f"{name}: {_type_name(kind)}" for name, kind in spec.params]
    params += [f"{name}: {_type_name(kind)} = {default!r}" for name, kind, default in spec.optional]
    return f"{spec.name}({', '.join(params)})"


def system_message(with_backtrack: bool, extra: str = "") -> str:
    """The instructions: the task, what refs are, the action grammar and the answer format with examples."""
    lines = []
    for spec in ACTIONS.values():
        if (spec.name == "backtrack" and not with_backtrack) or spec.name in COORDINATE_ACTIONS:
            continue
        help_text = ACTION_HELP.get(spec.name, "")
        lines.append(_signature(spec) + (f"  # {help_text}" if help_text else ""))
    box, button = EXAMPLE_REFS
    text = (
        "You are a web agent. You operate a web browser to accomplish a user's goal, one action at a time.\n"
        "Each turn you get the goal, the current page as an accessibility tree, the result of your last action "
        "and your recent actions and thoughts.\n\n"
        "Refs: every element you can act on carries a ref in the tree, written [ref=...]: the letter e and a "
        "number, with an f and a number in front for an element inside a frame. Refs belong to the page they "
        "were shown on: use only refs of the current page, copied exactly, as a quoted string.\n\n"
        "Actions (arguments are Python literals):\n"
        + "\n".join(lines)
        + "\n\nAnswer in exactly this format: your reasoning inside <think></think>, then one action call "
        "inside <action></action>. Only the action inside the tag is carried out.\n"
        "Examples (the refs here are made up; never use them):\n"
        f"<think>The search box is {box}; I type the product's name.</think>\n"
        f"<action>fill('{box}', 'trail shoes')</action>\n\n"
        f"<think>The results are shown; the Add to cart button is {button}.</think>\n"
        f"<action>click('{button}')</action>\n\n"
        "<think>The order is placed, so the goal is done.</think>\n"
        "<action>stop('Order placed')</action>\n\n"
        "Call stop() when the goal is accomplished, and report_infeasible(reason) when it cannot or should "
        "not be done."
    )
    if extra.strip():
        text += "\n\n" + extra.strip()
    return text


def page_content(observation: dict) -> tuple[str, str]:
    """(label, content) of the page: the accessibility tree, or the DOM without one."""
    axtree = observation.get("axtree")
    label, content = ("accessibility tree", axtree) if isinstance(axtree, str) else ("DOM", observation.get("dom"))
    if not isinstance(content, str) or not content.strip():
        return "page", "(no page content available)"
    return label, content


def fit_page(content: str, budget: int) -> str:
    """The page within ``budget`` characters, by one rule: all of it if it fits; else only its headings and
    the lines that carry a ref (the elements the agent can act on), with a line saying how many were left out;
    else those (or the whole page, when no line has a ref) cut at a line boundary, with a line saying how many
    characters were not shown."""
    if len(content) <= budget:
        return content
    lines = content.splitlines()
    kept = [line for line in lines if "[ref=" in line or _HEADING.match(line)]
    note = f"... ({len(lines) - len(kept)} of {len(lines)} lines without a ref left out to fit the context window)"
    text = "\n".join(kept + [note])
    if kept and len(text) <= budget:
        return text
    body = "\n".join(kept) if kept else content  # a page with no refs (a DOM in one line) is cut as it is
    room = max(0, budget - 80)
    cut = body[:room]
    if "\n" in cut and len(body) > room:
        cut = cut[: cut.rindex("\n")]
    return f"{cut}\n... ({len(body) - len(cut)} more characters of the page not shown to fit the context window)"


def _history_lines(request: dict, history_steps: int, thoughts: dict[int, str]) -> list[str]:
    """One entry per recent step, oldest first: the action, its error, and the thought that led to it."""
    history = [h for h in request.get("history") or [] if isinstance(h, dict)]
    entries = []
    for entry in history[-history_steps:] if history_steps else []:
        line = f"step {entry.get('step', '?')}: {entry.get('action') or '(no action)'}"
        if entry.get("error"):
            line += f"  -> error: {entry['error']}"
        thought = thoughts.get(entry.get("step"))
        if thought:
            line += f"\n  thought: {thought}"
        entries.append(line)
    return entries


def _sections(request: dict, step_number: int, max_steps: int | None) -> tuple[list[str], list[str], str]:
    """(sections before the page, sections after the history, page label), without the page and history."""
    task = request.get("task") or {}
    observation = request.get("observation") or {}
    head = [f"## Goal\n{task.get('goal') or '(no goal given)'}"]
    budget = f"This is step {step_number}" + (f" of at most {max_steps}." if max_steps else ".")
    head.append(f"## Step\n{budget}")
    page = [f"URL: {observation.get('url') or ''}", f"Title: {observation.get('title') or ''}"]
    tabs = observation.get("tabs") or []
    if isinstance(tabs, list) and len(tabs) > 1:
        for index, tab in enumerate(tabs):
            if isinstance(tab, dict):
                active = " (active)" if tab.get("active") else ""
                page.append(f"Tab {index}{active}: {tab.get('title') or ''} {tab.get('url') or ''}".rstrip())
    head.append("## Current page\n" + "\n".join(page))
    tail = []
    last_action = observation.get("last_action")
    if last_action:
        error = observation.get("last_action_error")
        last = f"{last_action}" + (f"\nError: {error}" if error else "\nIt succeeded.")
    else:
        last = "None: this is the first step."
    tail.append(f"## Last action\n{last}")
    notices = [n for n in observation.get("notices") or [] if isinstance(n, str) and n.strip()]
    if notices:
        tail.append("## Notices\n" + "\n".join(f"- {n}" for n in notices))
    checkpoints = request.get("checkpoints") or []
    if checkpoints:
        tail.append("## Checkpoints you may backtrack to\n" + ", ".join(str(c) for c in checkpoints))
    tail.append("Answer with <think>your reasoning</think> then one <action>action call</action>.")
    label, _ = page_content(observation)
    return head, tail, label


def user_message(
    request: dict,
    history_steps: int,
    *,
    step_number: int = 1,
    max_steps: int | None = None,
    thoughts: dict[int, str] | None = None,
    room: int | None = None,
) -> str:
    """The step as text: goal, step budget, page, last action and its error, notices, recent history and
    thoughts, checkpoints. The page is fitted to :data:`MAX_PAGE_CHARS`; with ``room`` (characters), the page
    and then the history shrink to fit that too."""
    head, tail, label = _sections(request, step_number, max_steps)
    _, content = page_content(request.get("observation") or {})
    history = _history_lines(request, history_steps, thoughts or {})

    def render(page: str, entries: list[str]) -> str:
        sections = [*head, f"## Page ({label})\n{page}", tail[0]]
        if entries:
            sections.append("## Previous actions (oldest first)\n" + "\n".join(entries))
        return "\n\n".join(sections + tail[1:])

    if room is None:
        return render(fit_page(content, MAX_PAGE_CHARS), history)
    fixed = len(render("", []))
    if fixed > room:
        raise PromptTooLong(f"the prompt without the page needs {fixed} characters, {room} fit")
    # The page gives way down to MIN_PAGE_CHARS; below that the oldest history goes first.
    while history and room - len(render("", history)) < min(MIN_PAGE_CHARS, len(content)):
        history = history[1:]
    page_room = min(room - len(render("", history)), MAX_PAGE_CHARS)
    return render(fit_page(content, page_room), history)


def think_text(reply: str) -> str:
    """The reasoning of a reply (its think tag, else the text before the action tag), short, on one line."""
    match = _THINK_TAG.search(reply)
    text = match.group(1) if match else reply.split("<action>", 1)[0]
    text = " ".join(text.split())
    return text[:THOUGHT_CHARS] + ("..." if len(text) > THOUGHT_CHARS else "")


def _action_text(raw: str) -> str:
    text = raw.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1).strip()
    if len(text) > 1 and text.startswith("`") and text.endswith("`"):
        text = text.strip("`").strip()
    return text.rstrip(";").strip()


def parse_reply(text: str) -> tuple[Action | None, str]:
    """(the action of the reply's last action tag, "") or (None, why there is none).

    Text outside an action tag never yields an action, and neither does a tag inside the reasoning."""
    outside = _THINK_TAG.sub("", text)
    tags = _ACTION_TAG.findall(outside)
    if not tags:
        return None, "your reply has no <action>...</action> tag"
    candidate = _action_text(tags[-1])
    if not candidate:
        return None, "the <action> tag of your reply is empty"
    try:
        return parse_action(candidate), ""
    except ActionError as exc:
        return None, f"invalid action in the <action> tag: {exc}"


def unparsed_action(text: str) -> str:
    """What to pass on as the action of a reply without a valid one: its last action tag's text, else a note
    that it had none (neither parses); never empty, at most MAX_ACTION_LENGTH."""
    tags = _ACTION_TAG.findall(_THINK_TAG.sub("", text))
    chosen = _action_text(tags[-1]) if tags else ""
    return (chosen or "(no action in an <action> tag)")[:MAX_ACTION_LENGTH]


def feedback(error: str) -> str:
    """The follow-up message after a reply without a usable action."""
    return (
        f"Your reply could not be used: {error}. Answer again: your reasoning inside <think></think>, then "
        "exactly one action call inside <action></action>."
    )


def echo(reply: str, limit: int = REPLY_ECHO_CHARS) -> str:
    """The model's unusable reply as it is sent back in a retry: at most ``limit`` characters (and never more
    than :data:`REPLY_ECHO_CHARS`), since it only shows what went wrong."""
    limit = max(0, min(limit, REPLY_ECHO_CHARS) - 4)
    return reply if len(reply) <= limit else reply[:limit] + "\n..."
