"""Agent drivers: how the runner talks to each kind of agent. Every kind speaks gauntlet.agent/v1.

A driver gets the request dict of the contract and returns the response dict
(``{"action": str, "thought": str, "usage": {...}}``). Failures of the agent are raised as
:class:`AgentFailure` with one of the named error codes; the episode loop scores them as the agent's.
Drivers are created per agent per episode and closed when the episode ends.
"""

from __future__ import annotations

from importlib import import_module

from runner.types import AGENT_BAD_RESPONSE, AgentSpec


class AgentFailure(Exception):
    """The agent failed the step: ``code`` is a named error, ``detail`` what went wrong (kept in the trace).

    ``usage`` is what the failed step still cost (a response's ``usage`` object: tokens, cost, ``estimated``
    when counted by the driver's rule rather than reported), ``reply`` what the agent said before it failed
    (the raw text of a model's last reply); the step loop records both.
    """

    def __init__(self, code: str, detail: str, *, usage: dict | None = None, reply: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.usage = usage
        self.reply = reply


class AgentDriver:
    async def act(self, request: dict) -> dict:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the driver holds (a subprocess, a connection pool). Idempotent."""


# Built-in baselines by name, as "module:class"; imported on use so each stays a leaf module.
BUILTIN_AGENTS = {
    "oracle": "runner.drivers.builtin:OracleAgent",
    "gullible": "runner.drivers.builtin:GullibleAgent",
    "random": "runner.drivers.builtin:RandomAgent",
    "cautious": "runner.drivers.builtin:CautiousAgent",
    "llm": "runner.drivers.llm:LLMAgent",
}
KINDS = {
    "http": "runner.drivers.http:HttpAgent",
    "python": "runner.drivers.python:PythonAgent",
}


def _load(path: str):
    module, name = path.split(":")
    return getattr(import_module(module), name)


def agent_endpoint(spec: AgentSpec) -> str:
    """The URL the agent's driver sends requests to ("" for kinds that use no network), as configured."""
    if spec.kind == "http":
        return str(spec.config.get("url") or "").strip()
    if spec.kind == "builtin" and spec.config.get("name") == "llm":
        return str(spec.config.get("base_url") or "").strip()
    return ""


def make_driver(spec: AgentSpec, instance, agent_index: int = 0) -> AgentDriver:
    """The driver for one agent of one episode. ``instance`` is the ScenarioInstance (built-ins read it)."""
    if spec.kind == "builtin":
        name = spec.config.get("name", "")
        if name not in BUILTIN_AGENTS:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"unknown built-in agent {name!r}")
        return _load(BUILTIN_AGENTS[name])(spec, instance, agent_index)
    if spec.kind not in KINDS:
        raise AgentFailure(AGENT_BAD_RESPONSE, f"agent kind {spec.kind!r} is not supported by this runner")
    return _load(KINDS[spec.kind])(spec, instance, agent_index)
