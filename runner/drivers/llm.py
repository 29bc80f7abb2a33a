"""The built-in ``llm`` agent: any OpenAI-compatible chat endpoint playing the agent contract.

Each step it renders the request as a chat prompt fitted to the model's context window (runner.llm_prompt),
streams ``{base_url}/chat/completions`` and takes the action inside the reply's ``<action>`` tag. A reply
without one gets the parse error back in a follow-up turn, up to ``parse_retries`` times; the last reply is then
passed on as written, for the step loop to count. Every request of the step is counted in its usage (a
vendor's count, or this driver's estimate marked ``estimated``), also when the step fails, and every attempt
ends within ``timeout_s``.
Config (``AgentSpec.config``)::

    name: "llm"
    base_url: "https://api.openai.com/v1"   # required, http(s)
    model: "gpt-4o-mini"                    # required
    temperature: 0                          # optional, 0..2
    max_tokens: 512                         # optional, the reply's budget, sent as max_tokens
    context_window: 8192                    # optional, the model's context in tokens (prompt + reply)
    chars_per_token: 2.5                    # optional, the rate that estimates a prompt's tokens
    parse_retries: 3                        # optional, 0..10 follow-ups after a reply without an action
    timeout_s: 30                           # optional, 1..300, the step's deadline, retries included
    system_prompt_as_user: false            # optional, instructions at the top of the user turn
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
from dataclasses import dataclass, field
from typing import Any

import httpx

from runner.drivers import AgentDriver, AgentFailure
from runner.drivers.llm_config import DEFAULTS, setting, validate_config
from runner.egress import EgressRefused, agent_client
from runner.llm_prompt import (
    MAX_PAGE_CHARS,
    Budget,
    PromptTooLong,
    echo,
    estimate_prompt_tokens,
    feedback,
    parse_reply,
    system_message,
    think_text,
    unparsed_action,
    user_message,
)
from runner.types import (
    AGENT_BAD_RESPONSE,
    AGENT_CONTEXT_OVERFLOW,
    AGENT_CRASHED,
    AGENT_TIMEOUT,
    AGENT_UNREACHABLE,
    AgentSpec,
)

__all__ = ["DEFAULTS", "LLMAgent", "MAX_PAGE_CHARS", "validate_config"]

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_THOUGHT_CHARS = 4000
SNIPPET_CHARS = 300
# Connection errors, 429 and 5xx are retried this many times, after these pauses, within the step's deadline;
# a long Retry-After is capped rather than obeyed.
RETRY_BACKOFF_S = (0.3, 0.9)
MAX_RETRY_AFTER_S = 5.0
CONNECT_TIMEOUT_S = 10.0
# A vendor's words for a prompt longer than its context: OpenAI's "maximum context length", llama.cpp's
# "exceeds the available context size", vLLM's "... tokens ... too long".
_OVERFLOW = re.compile(r"context|too many tokens|too long|maximum.{0,40}tokens|tokens?.{0,40}exceed", re.IGNORECASE)


def _snippet(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_message(error: Any) -> str | None:
    """The message of OpenAI's ``{"error": {"message": ...}}`` (or a bare string error)."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return error if isinstance(error, str) else None


def _vendor_message(raw: bytes) -> str:
    """The vendor's error message, else a body snippet."""
    body = _json(raw)
    message = _error_message(body.get("error")) if isinstance(body, dict) else None
    return _snippet(message if message is not None else raw)


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


@dataclass
class _Tally:
    """The usage of one step, summed over all its requests."""

    model: str
    price_input: float
    price_output: float
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    def add(self, input_tokens: int, output_tokens: int, *, estimated: bool = False) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.estimated = self.estimated or estimated

    def usage(self) -> dict:
        cost = (self.input_tokens * self.price_input + self.output_tokens * self.price_output) / 1_000_000
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(cost, 8),
            "model": self.model,
        }
        if self.estimated:
            usage["estimated"] = True
        return usage


@dataclass
class _Call:
    """One request in flight: the prompt's estimate and what has been streamed so far."""

    prompt_tokens: int
    text: list[str] = field(default_factory=list)
    usage: dict | None = None


class LLMAgent(AgentDriver):
    """An OpenAI-compatible chat model as the agent; ``instance`` is ignored: the model sees only the request.

    One driver plays one agent of one episode, so it keeps the model's thoughts of earlier steps for the
    history it shows."""

    def __init__(self, spec: AgentSpec, instance=None, agent_index: int = 0):
        self.secret = spec.secret or ""
        problems = validate_config(spec.config)
        if problems:
            raise AgentFailure(AGENT_CRASHED, self._redact("invalid llm agent config: " + "; ".join(problems)))
        config = {key: setting(spec.config, key) for key in DEFAULTS}
        self.url = spec.config["base_url"].strip().rstrip("/") + "/chat/completions"
        self.model = spec.config["model"].strip()
        self.temperature = config["temperature"]
        self.max_tokens = config["max_tokens"]
        self.budget = Budget(config["context_window"], config["max_tokens"], float(config["chars_per_token"]))
        self.parse_retries = config["parse_retries"]
        self.timeout_s = float(config["timeout_s"])
        self.system_as_user = config["system_prompt_as_user"]
        self.price_input = float(config["price_input_per_mtok"])
        self.price_output = float(config["price_output_per_mtok"])
        self.vision = config["vision"]
        self.history_steps = config["history_steps"]
        self.system_prompt = config["system_prompt"]
        self.steps = 0
        self.thoughts: dict[int, str] = {}  # by the request's step number
        self._client: httpx.AsyncClient | None = None

    def _redact(self, text: str) -> str:
        return text.replace(self.secret, "[redacted]") if self.secret else text

    def messages(self, request: dict, retry: tuple[str, str] | None = None) -> list[dict]:
        """The chat messages for one request of the agent contract, fitted to the context window; ``retry`` is
        (the unusable reply, why) for a follow-up that asks again."""
        observation = request.get("observation") or {}
        system = system_message(bool(request.get("checkpoints")), self.system_prompt)
        image = observation.get("set_of_marks") or observation.get("screenshot")
        image = image if self.vision and isinstance(image, str) and image else None
        turns = []
        count = (1 if self.system_as_user else 2) + (2 if retry else 0)
        room = self.budget.prompt_chars(count, 1 if image else 0)
        if retry is not None:
            # The unusable reply goes back capped to a quarter of the room left, so the step's page still fits.
            limit = (room - len(system)) // 4
            turns = [
                {"role": "assistant", "content": echo(retry[0], limit)},
                {"role": "user", "content": feedback(retry[1])},
            ]
        room -= sum(len(t["content"]) for t in turns)
        prefix = system + "\n\n" if self.system_as_user else ""
        max_steps = request.get("max_steps")
        try:
            text = prefix + user_message(
                request,
                self.history_steps,
                step_number=self.steps,
                max_steps=max_steps if isinstance(max_steps, int) and not isinstance(max_steps, bool) else None,
                thoughts=self.thoughts,
                room=room - len(prefix or system),
            )
        except PromptTooLong as exc:
            raise AgentFailure(
                AGENT_CONTEXT_OVERFLOW,
                f"the prompt does not fit context_window ({self.budget.context_window} tokens, "
                f"{self.max_tokens} of them for the reply) even without the page: {exc}",
            )
        user: dict[str, Any] = {"role": "user", "content": text}
        if image:
            user["content"] = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}},
            ]
        head = [] if self.system_as_user else [{"role": "system", "content": system}]
        return [*head, user, *turns]

    async def act(self, request: dict) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        self.steps += 1
        tally = _Tally(self.model, self.price_input, self.price_output)
        text, retry = "", None
        try:
            for _ in range(self.parse_retries + 1):
                messages = self.messages(request, retry)
                text = await self._complete(messages, tally, deadline)
                action, error = parse_reply(text)
                if action is not None:
                    break
                retry = (text, error)
        except AgentFailure as exc:
            exc.usage, exc.reply = tally.usage(), self._redact(exc.reply or text)[:MAX_THOUGHT_CHARS]
            raise
        step = request.get("step")
        if isinstance(step, int):
            self.thoughts[step] = self._redact(think_text(text))
        return {
            # A reply without a valid action after the retries goes on as written: the step loop fails the step,
            # feeds the error back (the next prompt shows it) and ends the episode at the run's cap.
            "action": str(action) if action is not None else self._redact(unparsed_action(text)),
            "thought": self._redact(text)[:MAX_THOUGHT_CHARS],
            "usage": tally.usage(),
        }

    async def _complete(self, messages: list[dict], tally: _Tally, deadline: float) -> str:
        """One chat completion, streamed, retrying connection errors, 429 and 5xx within the deadline; its
        text. Every request's usage goes into ``tally``."""
        if self._client is None:
            # The deadline is kept by asyncio below; httpx's own read timeout only backs it up.
            timeout = httpx.Timeout(self.timeout_s + 5, connect=min(CONNECT_TIMEOUT_S, self.timeout_s))
            self._client = agent_client(timeout=timeout)
        headers = {"Content-Type": "application/json", "User-Agent": "gauntlet-llm-agent"}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        payload = json.dumps(body).encode()
        loop = asyncio.get_running_loop()
        attempts = len(RETRY_BACKOFF_S) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            call = _Call(estimate_prompt_tokens(messages, self.budget.chars_per_token))
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    status, response_headers, raw = await self._post(payload, headers, call)
            except TimeoutError:
                # The request is abandoned and its connection closed, so the server stops generating; what it
                # cost is estimated: the whole prompt, and the reply streamed so far.
                output = self.budget.tokens(len("".join(call.text)))
                tally.add(call.prompt_tokens, output, estimated=True)
                raise AgentFailure(
                    AGENT_TIMEOUT,
                    f"no complete answer from the model within {self.timeout_s:g} s (timeout_s)",
                    reply="".join(call.text),
                )
            except EgressRefused as exc:
                raise AgentFailure(
                    AGENT_UNREACHABLE, self._redact(f"model endpoint refused by the egress policy: {exc}")
                )
            except httpx.TransportError as exc:
                # Connection refused or reset: the endpoint may be back in a moment.
                self._count(call, tally)
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
                await self._pause(RETRY_BACKOFF_S[attempt], deadline)
                continue
            except httpx.RequestError as exc:
                # A body that cannot be decoded (bad compression, say) will not get better on a retry.
                raise AgentFailure(
                    AGENT_BAD_RESPONSE,
                    self._redact(f"model endpoint answered an unreadable body: {type(exc).__name__}: {exc}"),
                )
            except AgentFailure:
                self._count(call, tally)
                raise
            if not 200 <= status < 300:
                self._count_error(raw, tally)
                self._check_overflow(status, raw)
                if (status == 429 or status >= 500) and not last:
                    await self._pause(_retry_after(response_headers, attempt), deadline)
                    continue
                after = f" after {attempts} attempts" if status == 429 or status >= 500 else ""
                raise AgentFailure(
                    AGENT_CRASHED, self._redact(f"model endpoint HTTP {status}{after}: {_vendor_message(raw)}")
                )
            if raw is not None:
                self._plain_answer(raw, call)
            self._count(call, tally)
            # An empty reply is a reply without an action: asked again, then counted by the step loop.
            return "".join(call.text)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _count(self, call: _Call, tally: _Tally) -> None:
        """A finished or broken request's usage: the vendor's, else estimated when it produced anything."""
        usage = call.usage or {}
        tokens_in, tokens_out = _tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens"))
        if tokens_in or tokens_out:
            tally.add(tokens_in, tokens_out)
        elif call.text:
            tally.add(call.prompt_tokens, self.budget.tokens(len("".join(call.text))), estimated=True)

    @staticmethod
    def _count_error(raw: bytes, tally: _Tally) -> None:
        """An error answer's usage, when its body says what the failed request cost."""
        body = _json(raw)
        usage = body.get("usage") if isinstance(body, dict) else None
        if isinstance(usage, dict):
            tally.add(_tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens")))

    def _check_overflow(self, status: int, raw: bytes) -> None:
        message = _vendor_message(raw)
        if status in (400, 413) and _OVERFLOW.search(message):
            raise AgentFailure(
                AGENT_CONTEXT_OVERFLOW,
                self._redact(
                    f"model endpoint HTTP {status}, the prompt does not fit the model's context: {message} "
                    f"(context_window is {self.budget.context_window}; set it to the server's)"
                ),
            )

    def _plain_answer(self, raw: bytes, call: _Call) -> None:
        """A vendor that ignored ``stream``: the whole completion as one JSON object."""
        data = _json(raw)
        if data is None:
            raise AgentFailure(AGENT_BAD_RESPONSE, self._redact(f"model endpoint answered non-JSON: {_snippet(raw)}"))
        if not isinstance(data, dict):
            raise AgentFailure(
                AGENT_BAD_RESPONSE, self._redact(f"model endpoint answered a non-object: {_snippet(raw)}")
            )
        if isinstance(data.get("usage"), dict):
            call.usage = data["usage"]
        choices = data.get("choices")
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        text = _content(first.get("message"))
        if text is None:
            raise AgentFailure(
                AGENT_BAD_RESPONSE,
                self._redact(f"model reply has no choices[0].message.content: {_snippet(json.dumps(data))}"),
            )
        call.text = [text]

    def _stream_event(self, data: str, call: _Call) -> None:
        """One ``data:`` line of a streamed completion: a piece of the reply, the usage, or an error."""
        chunk = _json(data.encode())
        if not isinstance(chunk, dict):
            raise AgentFailure(AGENT_BAD_RESPONSE, self._redact(f"model stream sent a non-object: {_snippet(data)}"))
        message = _error_message(chunk.get("error"))
        if message is not None:
            if _OVERFLOW.search(message):
                raise AgentFailure(
                    AGENT_CONTEXT_OVERFLOW,
                    self._redact(f"the prompt does not fit the model's context: {_snippet(message)}"),
                )
            raise AgentFailure(AGENT_CRASHED, self._redact(f"model stream failed: {_snippet(message)}"))
        if isinstance(chunk.get("usage"), dict):
            call.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                piece = _content(choice.get("delta"))
                if piece:
                    call.text.append(piece)

    async def _post(self, payload: bytes, headers: dict, call: _Call) -> tuple[int, httpx.Headers, bytes | None]:
        """One POST: (status, headers, body) of an error or a plain JSON answer, or (status, headers, None)
        when the answer streamed into ``call``. At most :data:`MAX_RESPONSE_BYTES` are read."""
        assert self._client is not None
        async with self._client.stream("POST", self.url, content=payload, headers=headers) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise AgentFailure(
                    AGENT_BAD_RESPONSE, f"model endpoint answered {declared} bytes, over the 1 MiB limit"
                )
            streamed = response.headers.get("content-type", "").startswith("text/event-stream")
            size, chunks = 0, []
            if streamed and 200 <= response.status_code < 300:
                async for line in response.aiter_lines():
                    size += len(line) + 1
                    if size > MAX_RESPONSE_BYTES:
                        raise AgentFailure(AGENT_BAD_RESPONSE, "model endpoint streamed more than the 1 MiB limit")
                    if line.startswith("data:"):
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        self._stream_event(data, call)
                return response.status_code, response.headers, None
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise AgentFailure(AGENT_BAD_RESPONSE, "model endpoint answered more than the 1 MiB limit")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    @staticmethod
    async def _pause(seconds: float, deadline: float) -> None:
        """Wait before a retry, never past the deadline (the next attempt then times out at once)."""
        await asyncio.sleep(max(0.0, min(seconds, deadline - asyncio.get_running_loop().time())))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
