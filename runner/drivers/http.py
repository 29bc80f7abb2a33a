"""The ``http`` agent kind: the platform POSTs each step's request to the team's endpoint, signed.

Signature (documented in docs/agent-protocol.md so a team can verify it): the request carries
``X-Gauntlet-Timestamp: <unix seconds>`` and ``X-Gauntlet-Signature: v1=<hex>``, where ``<hex>`` is
HMAC-SHA256 with the agent's secret over ``<timestamp>.<raw body bytes>``.

Failures are the agent's and named: no answer in time is ``agent_timeout``; an answer that is not a JSON
object, is larger than the limit or comes with a 4xx status is ``agent_bad_response``; a 5xx status, a
dropped connection or an endpoint that cannot be reached is ``agent_crashed``. Only errors that happen
before the agent can have seen the request (the connection could not be opened) are retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import httpx

from runner.drivers import AgentDriver, AgentFailure
from runner.egress import EgressRefused, agent_client
from runner.types import (
    AGENT_BAD_RESPONSE,
    AGENT_CRASHED,
    AGENT_TIMEOUT,
    AGENT_UNREACHABLE,
    PROTOCOL,
    AgentSpec,
    step_timeout_s,
)

SIGNATURE_HEADER = "X-Gauntlet-Signature"
TIMESTAMP_HEADER = "X-Gauntlet-Timestamp"
PROTOCOL_HEADER = "X-Gauntlet-Protocol"
MAX_RESPONSE_BYTES = 256 * 1024
CONNECT_RETRIES = 2
RETRY_DELAYS_S = (0.2, 0.6)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: float = 300) -> bool:
    """Whether ``signature`` is ours for this body and the timestamp is within ``tolerance_s`` of now."""
    try:
        age = abs(time.time() - int(timestamp))
    except (TypeError, ValueError):
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def validate_url(url: str) -> str | None:
    """An error message for an unusable endpoint URL, or None."""
    if not isinstance(url, str) or not url.strip():
        return "the endpoint URL is required"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the endpoint URL must be an absolute http:// or https:// URL"
    if parts.username or parts.password:
        return "the endpoint URL must not carry credentials; requests are signed with the agent's secret"
    return None


def _snippet(data: bytes, limit: int = 300) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return text + ("…" if len(data) > limit else "")


class HttpAgent(AgentDriver):
    def __init__(self, spec: AgentSpec, instance=None, agent_index: int = 0):
        self.url = str(spec.config.get("url", "")).strip()
        error = validate_url(self.url)
        if error:
            raise AgentFailure(AGENT_BAD_RESPONSE, error)
        self.secret = spec.secret
        # The version's per-step timeout; the episode loop waits a little longer, so this one reports first.
        self.timeout_s = step_timeout_s(spec.config)
        self.max_bytes = MAX_RESPONSE_BYTES
        self._client = agent_client(
            timeout=httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s)),
            headers={"User-Agent": "gauntlet-runner", PROTOCOL_HEADER: PROTOCOL},
        )

    async def act(self, request: dict) -> dict:
        body = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
        for attempt in range(CONNECT_RETRIES + 1):
            # A fresh timestamp per attempt, so a retried request is not older than the first.
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            }
            try:
                return await self._post(body, headers)
            except EgressRefused as exc:
                # Nothing was sent, and asking again gets the same answer.
                raise AgentFailure(AGENT_UNREACHABLE, f"{self.url} refused by the egress policy: {exc}")
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The connection was never opened, so the agent cannot have seen this request: safe to retry.
                if attempt == CONNECT_RETRIES:
                    raise AgentFailure(
                        AGENT_UNREACHABLE, f"agent unreachable at {self.url}: {exc or type(exc).__name__}"
                    )
                await asyncio.sleep(RETRY_DELAYS_S[attempt])
        raise AssertionError("unreachable")

    async def _post(self, body: bytes, headers: dict) -> dict:
        try:
            async with self._client.stream("POST", self.url, content=body, headers=headers) as response:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > self.max_bytes:
                        raise AgentFailure(
                            AGENT_BAD_RESPONSE,
                            f"response larger than {self.max_bytes // 1024} KiB (starts {_snippet(bytes(data))!r})",
                        )
                status = response.status_code
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            raise AgentFailure(AGENT_TIMEOUT, f"no answer from {self.url} within {self.timeout_s:g} s")
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.HTTPError as exc:
            # The connection was open and the request possibly seen: the agent dropped it. Not retried.
            raise AgentFailure(AGENT_CRASHED, f"connection to {self.url} failed: {exc or type(exc).__name__}")
        data = bytes(data)
        if status >= 500:
            raise AgentFailure(AGENT_CRASHED, f"agent answered HTTP {status}: {_snippet(data)!r}")
        if status != 200:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"agent answered HTTP {status} (expected 200): {_snippet(data)!r}")
        try:
            answer = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"response is not JSON ({exc}): {_snippet(data)!r}")
        if not isinstance(answer, dict):
            raise AgentFailure(AGENT_BAD_RESPONSE, f"response must be a JSON object, got {_snippet(data)!r}")
        return answer

    async def close(self) -> None:
        await self._client.aclose()
