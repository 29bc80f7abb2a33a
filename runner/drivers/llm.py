"""The built-in ``llm`` agent: any OpenAI-compatible chat endpoint playing the agent contract.

Each step it renders the request as a chat prompt (the action grammar in the system message; the goal, the page
and the recent history in the user message), POSTs ``{base_url}/chat/completions`` and takes the first valid
action call of the reply (a reply without one is passed on as written, for the step loop to count).
Config (``AgentSpec.config``)::

    name: "llm"
    base_url: "https://api.openai.com/v1"   # required, http(s)
    model: "gpt-4o-mini"                    # required
    temperature: 0                          # optional, 0..2
    max_tokens: 512                         # optional, sent as max_tokens
    price_input_per_mtok: 0                 # optional, USD per million prompt tokens
    price_output_per_mtok: 0                # optional, USD per million completion tokens
    vision: false                           # optional, attach the set-of-marks image or the screenshot
                                            # (the version's ``observation`` must ask for one of them)
    history_steps: 10                       # optional, previous actions shown to the model
    system_prompt: ""                       # optional, appended to the built-in instructions

The API key is ``AgentSpec.secret``, sent as a bearer token; it never appears in anything this driver returns
or raises. Vendor failures become named agent errors (:class:`AgentFailure`), never other exceptions.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from runner.actions import ACTIONS, MAX_ACTION_LENGTH, Action, ActionError, ActionSpec, parse_action
from runner.drivers import AgentDriver, AgentFailure
from runner.egress import EgressRefused, agent_client
from runner.types import AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_UNREACHABLE, AgentSpec

DEFAULTS: dict[str, Any] = {
    "temperature": 0,
    "max_tokens": 512,
    "price_input_per_mtok": 0,
    "price_output_per_mtok": 0,
    "vision": False,
    "history_steps": 10,
    "system_prompt": "",
}
MAX_PAGE_CHARS = 30_000
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_THOUGHT_CHARS = 2000
SNIPPET_CHARS = 300
# Connection errors, 429 and 5xx are retried this many times, after these pauses; the episode's step timeout
# bounds the whole call, so a long Retry-After is capped rather than obeyed.
RETRY_BACKOFF_S = (0.3, 0.9)
MAX_RETRY_AFTER_S = 5.0
REQUEST_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

# One line per action for the system prompt; the signatures come from ACTIONS, so an action added to the
# grammar shows up even before it gets a description here.
ACTION_HELP = {
    "click": "click an element",
    "dblclick": "double-click an element",
    "fill": "type text into a text box (replaces its content)",
    "select_option": "choose an option (or a list of options) in a select box",
    "press": "press a key in an element, e.g. 'Enter'",
    "hover": "move the mouse over an element",
    "focus": "focus an element",
    "clear": "clear a text box",
    "scroll": "scroll the page by dx, dy pixels",
    "goto": "open a URL",
    "go_back": "go back in the tab's history",
    "go_forward": "go forward in the tab's history",
    "noop": "do nothing, optionally wait wait_ms milliseconds",
    "send_msg_to_user": "send a message to the user",
    "report_infeasible": "end the episode: the goal cannot or should not be done, and why",
    "backtrack": "restore the page and the site to an earlier checkpoint",
    "stop": "end the episode: the goal is done (answer: what to report, if anything)",
}

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_LABEL = re.compile(r"^(?:next\s+|final\s+)?(?:action|answer|command)\s*[:=\-]\s*", re.IGNORECASE)
_LANG_TAG = re.compile(r"^[A-Za-z0-9_+.\-]*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _setting(config: dict, key: str) -> Any:
    """An optional setting; absent or null means its default."""
    value = config.get(key)
    return DEFAULTS[key] if value is None else value


def validate_config(config: dict) -> list[str]:
    """Problems with an ``llm`` agent config, one clear message each; an empty list when it is usable."""
    if not isinstance(config, dict):
        return ["the config must be an object"]
    errors = []
    model = config.get("model")
    if not isinstance(model, str) or not model.strip():
        errors.append("model is required (e.g. gpt-4o-mini)")
    base_url = config.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        errors.append("base_url is required (e.g. https://api.openai.com/v1)")
    else:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append("base_url must be an http(s) URL such as https://api.openai.com/v1")
        elif parts.query or parts.fragment:
            errors.append("base_url must not have a query or a fragment")
        elif parts.username or parts.password:
            errors.append("base_url must not carry credentials; the API key is the agent's secret")
    temperature = _setting(config, "temperature")
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        errors.append("temperature must be a number from 0 to 2")
    max_tokens = _setting(config, "max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 200_000:
        errors.append("max_tokens must be a whole number from 1 to 200000")
    for key in ("price_input_per_mtok", "price_output_per_mtok"):
        price = _setting(config, key)
        if not _is_number(price) or price < 0:
            errors.append(f"{key} must be a number of US dollars per million tokens, 0 or more")
    vision = _setting(config, "vision")
    if not isinstance(vision, bool):
        errors.append("vision must be true or false")
    elif vision:
        # The runner sends only the fields the version's ``observation`` list asks for (axtree by default).
        observation = config.get("observation")
        if not isinstance(observation, list) or not any(f in ("screenshot", "set_of_marks") for f in observation):
            errors.append("vision needs the observation to include screenshot or set_of_marks")
    history_steps = _setting(config, "history_steps")
    if not isinstance(history_steps, int) or isinstance(history_steps, bool) or not 0 <= history_steps <= 100:
        errors.append("history_steps must be a whole number from 0 to 100")
    system_prompt = _setting(config, "system_prompt")
    if not isinstance(system_prompt, str) or len(system_prompt) > 20_000:
        errors.append("system_prompt must be text of at most 20000 characters")
    return errors


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
    """The instructions: the agent's task and the action grammar, rendered from :data:`ACTIONS`."""
    lines = []
    for spec in ACTIONS.values():
        if spec.name == "backtrack" and not with_backtrack:
            continue
        help_text = ACTION_HELP.get(spec.name, "")
        lines.append(f"{_signature(spec)}" + (f"  # {help_text}" if help_text else ""))
    text = (
        "You are a web agent. You operate a web browser to accomplish a user's goal, one action at a time.\n"
        "Each turn you get the goal, the current page as an accessibility tree (interactive elements carry a "
        "ref such as [ref=e12]), the result of your last action and your recent actions.\n\n"
        "Actions (arguments are Python literals; a ref is a quoted string such as 'e12'):\n"
        + "\n".join(lines)
        + "\n\nAnswer with a short reasoning, then exactly one action call in a fenced code block, for example:\n"
        "```\nclick('e12')\n```\n"
        "Use only refs that appear on the current page. Call stop() when the goal is accomplished, and "
        "report_infeasible(reason) when it cannot or should not be done."
    )
    if extra.strip():
        text += "\n\n" + extra.strip()
    return text


def _page_text(observation: dict) -> tuple[str, str]:
    """(label, content) of the page for the prompt: the accessibility tree, or the DOM without one, capped."""
    axtree = observation.get("axtree")
    label, content = ("accessibility tree", axtree) if isinstance(axtree, str) else ("DOM", observation.get("dom"))
    if not isinstance(content, str) or not content.strip():
        return "page", "(no page content available)"
    if len(content) > MAX_PAGE_CHARS:
        content = f"{content[:MAX_PAGE_CHARS]}\n... ({len(content) - MAX_PAGE_CHARS} more characters not shown)"
    return label, content


def user_message(request: dict, history_steps: int) -> str:
    """The step as text: goal, page, last action and its error, notices, recent history, checkpoints."""
    task = request.get("task") or {}
    observation = request.get("observation") or {}
    sections = [f"## Goal\n{task.get('goal') or '(no goal given)'}"]
    page = [f"URL: {observation.get('url') or ''}", f"Title: {observation.get('title') or ''}"]
    tabs = observation.get("tabs") or []
    if isinstance(tabs, list) and len(tabs) > 1:
        for index, tab in enumerate(tabs):
            if isinstance(tab, dict):
                active = " (active)" if tab.get("active") else ""
                page.append(f"Tab {index}{active}: {tab.get('title') or ''} {tab.get('url') or ''}".rstrip())
    sections.append("## Current page\n" + "\n".join(page))
    label, content = _page_text(observation)
    sections.append(f"## Page ({label})\n{content}")
    last_action = observation.get("last_action")
    if last_action:
        last = f"{last_action}"
        error = observation.get("last_action_error")
        last += f"\nError: {error}" if error else "\nIt succeeded."
    else:
        last = "None: this is the first step."
    sections.append(f"## Last action\n{last}")
    notices = [n for n in observation.get("notices") or [] if isinstance(n, str) and n.strip()]
    if notices:
        sections.append("## Notices\n" + "\n".join(f"- {n}" for n in notices))
    history = [h for h in request.get("history") or [] if isinstance(h, dict)]
    recent = history[-history_steps:] if history_steps else []
    if recent:
        lines = []
        for entry in recent:
            line = f"step {entry.get('step', '?')}: {entry.get('action') or '(no action)'}"
            if entry.get("error"):
                line += f"  -> error: {entry['error']}"
            lines.append(line)
        sections.append("## Previous actions (oldest first)\n" + "\n".join(lines))
    checkpoints = request.get("checkpoints") or []
    if checkpoints:
        sections.append("## Checkpoints you may backtrack to\n" + ", ".join(str(c) for c in checkpoints))
    sections.append("Answer with one action call in a fenced code block.")
    return "\n\n".join(sections)


def _candidates(text: str):
    """Possible action strings of a reply, in order: fenced blocks (whole, then line by line), then lines."""
    for block in _FENCE.findall(text):
        lines = block.strip("\n").splitlines()
        if len(lines) > 1 and _LANG_TAG.match(lines[0].strip()):
            lines = lines[1:]
        yield "\n".join(lines)
        yield from lines
    yield from text.splitlines()


def _clean(candidate: str) -> str:
    candidate = candidate.strip().lstrip("-*>").strip()
    candidate = _LABEL.sub("", candidate).strip()
    if len(candidate) > 1 and candidate.startswith("`") and candidate.endswith("`"):
        candidate = candidate.strip("`").strip()
    return candidate.rstrip(";").strip()


def parse_reply(text: str) -> Action | None:
    """The first action call in a model's reply that the grammar accepts, or None."""
    for candidate in _candidates(text):
        candidate = _clean(candidate)
        if not candidate or "(" not in candidate:
            continue
        try:
            return parse_action(candidate)
        except ActionError:
            continue
    return None


def unparsed_action(text: str) -> str:
    """What to pass on as the action of a reply with no valid one: its first call-like line (so the error the
    model reads next is about what it tried), else its first line; never empty, at most MAX_ACTION_LENGTH."""
    candidates = [_clean(c) for c in _candidates(text) if "\n" not in c]
    chosen = next((c for c in candidates if "(" in c), next((c for c in candidates if c), ""))
    return (chosen or "(an empty reply)")[:MAX_ACTION_LENGTH]


def _snippet(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def _vendor_message(raw: bytes) -> str:
    """The vendor's error message (OpenAI's ``{"error": {"message": ...}}`` shape), else a body snippet."""
    try:
        body = json.loads(raw)
    except ValueError:
        return _snippet(raw)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return _snippet(error["message"])
    if isinstance(error, str):
        return _snippet(error)
    return _snippet(raw)


def _retry_after(response_headers: httpx.Headers, attempt: int) -> float:
    """The pause before the next attempt: the vendor's Retry-After in seconds if it gives one, capped."""
    try:
        seconds = float(response_headers.get("retry-after", ""))
    except ValueError:
        return RETRY_BACKOFF_S[attempt]
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else RETRY_BACKOFF_S[attempt]


def _content(message: Any) -> str | None:
    """The text of a chat message; a list of content parts is joined, a bare refusal counts as the text."""
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        content = "\n".join(parts) if parts else None
    if content is None and isinstance(message.get("refusal"), str):
        content = message["refusal"]
    return content if isinstance(content, str) else None


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class LLMAgent(AgentDriver):
    """An OpenAI-compatible chat model as the agent; ``instance`` is ignored: the model sees only the request."""

    def __init__(self, spec: AgentSpec, instance=None, agent_index: int = 0):
        self.secret = spec.secret or ""
        problems = validate_config(spec.config)
        if problems:
            raise AgentFailure(AGENT_CRASHED, self._redact("invalid llm agent config: " + "; ".join(problems)))
        config = {key: _setting(spec.config, key) for key in DEFAULTS}
        config.update(base_url=spec.config["base_url"], model=spec.config["model"])
        self.url = config["base_url"].strip().rstrip("/") + "/chat/completions"
        self.model = config["model"].strip()
        self.temperature = config["temperature"]
        self.max_tokens = config["max_tokens"]
        self.price_input = float(config["price_input_per_mtok"])
        self.price_output = float(config["price_output_per_mtok"])
        self.vision = config["vision"]
        self.history_steps = config["history_steps"]
        self.system_prompt = config["system_prompt"]
        self._client: httpx.AsyncClient | None = None

    def _redact(self, text: str) -> str:
        return text.replace(self.secret, "[redacted]") if self.secret else text

    def messages(self, request: dict) -> list[dict]:
        """The chat messages for one request of the agent contract."""
        observation = request.get("observation") or {}
        system = system_message(bool(request.get("checkpoints")), self.system_prompt)
        text = user_message(request, self.history_steps)
        user: dict[str, Any] = {"role": "user", "content": text}
        image = observation.get("set_of_marks") or observation.get("screenshot")
        if self.vision and isinstance(image, str) and image:
            user["content"] = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}},
            ]
        return [{"role": "system", "content": system}, user]

    async def act(self, request: dict) -> dict:
        body = {
            "model": self.model,
            "messages": self.messages(request),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        data = await self._complete(body)
        choices = data.get("choices")
        message = (
            choices[0].get("message")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict)
            else None
        )
        text = _content(message)
        if text is None:
            raise AgentFailure(
                AGENT_BAD_RESPONSE,
                self._redact(f"model reply has no choices[0].message.content: {_snippet(json.dumps(data))}"),
            )
        action = parse_reply(text)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens_in, tokens_out = _tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens"))
        cost = (tokens_in * self.price_input + tokens_out * self.price_output) / 1_000_000
        return {
            # A reply without a valid action goes on as written: the step loop fails the step, feeds the error
            # back (the next prompt shows it) and ends the episode at the run's cap of unparsable actions.
            "action": str(action) if action is not None else self._redact(unparsed_action(text)),
            "thought": self._redact(text)[:MAX_THOUGHT_CHARS],
            "usage": {
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cost_usd": round(cost, 8),
                "model": self.model,
            },
        }

    async def _complete(self, body: dict) -> dict:
        """POST the chat completion, retrying connection errors, 429 and 5xx; the decoded JSON object."""
        if self._client is None:
            self._client = agent_client(timeout=REQUEST_TIMEOUT)
        headers = {"Content-Type": "application/json", "User-Agent": "gauntlet-llm-agent"}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        payload = json.dumps(body).encode()
        attempts = len(RETRY_BACKOFF_S) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, response_headers, raw = await self._post(payload, headers)
            except EgressRefused as exc:
                raise AgentFailure(
                    AGENT_UNREACHABLE, self._redact(f"model endpoint refused by the egress policy: {exc}")
                )
            except httpx.TransportError as exc:
                # Connection refused or reset, a timeout: the endpoint may be back in a moment.
                if last:
                    # Never connected (refused, a name or TLS failure): the model never saw the prompt.
                    never_connected = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                    raise AgentFailure(
                        AGENT_UNREACHABLE if never_connected else AGENT_CRASHED,
                        self._redact(
                            f"model endpoint unreachable after {attempts} attempts: {type(exc).__name__}: "
                            f"{_snippet(str(exc))}"
                        ),
                    )
                await asyncio.sleep(RETRY_BACKOFF_S[attempt])
                continue
            except httpx.RequestError as exc:
                # A body that cannot be decoded (bad compression, say) will not get better on a retry.
                raise AgentFailure(
                    AGENT_BAD_RESPONSE,
                    self._redact(f"model endpoint answered an unreadable body: {type(exc).__name__}: {exc}"),
                )
            if status == 429 or status >= 500:
                if last:
                    raise AgentFailure(
                        AGENT_CRASHED,
                        self._redact(f"model endpoint HTTP {status} after {attempts} attempts: {_vendor_message(raw)}"),
                    )
                await asyncio.sleep(_retry_after(response_headers, attempt))
                continue
            if not 200 <= status < 300:
                raise AgentFailure(AGENT_CRASHED, self._redact(f"model endpoint HTTP {status}: {_vendor_message(raw)}"))
            try:
                data = json.loads(raw)
            except ValueError:
                raise AgentFailure(
                    AGENT_BAD_RESPONSE, self._redact(f"model endpoint answered non-JSON: {_snippet(raw)}")
                )
            if not isinstance(data, dict):
                raise AgentFailure(
                    AGENT_BAD_RESPONSE, self._redact(f"model endpoint answered a non-object: {_snippet(raw)}")
                )
            return data
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _post(self, payload: bytes, headers: dict) -> tuple[int, httpx.Headers, bytes]:
        """One POST; the body is read up to :data:`MAX_RESPONSE_BYTES`, beyond which the reply is refused."""
        assert self._client is not None
        async with self._client.stream("POST", self.url, content=payload, headers=headers) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise AgentFailure(
                    AGENT_BAD_RESPONSE, f"model endpoint answered {declared} bytes, over the 1 MiB limit"
                )
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise AgentFailure(AGENT_BAD_RESPONSE, "model endpoint answered more than the 1 MiB limit")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
