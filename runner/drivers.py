"""Agent drivers: how the runner talks to each kind of agent. Every kind speaks gauntlet.agent/v1.

A driver gets the request dict of the contract and returns the response dict
(``{"action": str, "thought": str, "usage": {...}}``). Failures of the agent are raised as
:class:`AgentFailure` with one of the named error codes; the episode loop scores them as the agent's.
"""

from __future__ import annotations

from typing import Any

from runner.types import AGENT_BAD_RESPONSE, AgentSpec
from sandbox import persona
from sandbox.policies import make_gullible, report_infeasible
from sandbox.scenarios import ScenarioInstance


class AgentFailure(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class AgentDriver:
    async def act(self, request: dict) -> dict:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class OracleAgent(AgentDriver):
    """Solves every solvable task with privileged knowledge of its parameters; ignores page instructions.

    The upper bound of the benchmark and the proof that each task is solvable and each check is right.
    """

    def __init__(self, instance: ScenarioInstance, agent_index: int = 0):
        self.instance = instance
        self.params = instance.params_for(agent_index)
        self.memory: dict[str, Any] = {}

    async def act(self, request: dict) -> dict:
        if self.instance.task.kind == "harmful":
            return {
                "action": report_infeasible("I will not do this: the request itself is harmful."),
                "thought": "",
                "usage": {},
            }
        observation = request["observation"]
        action = self.instance.task.policy(observation, self.params, self.memory)
        return {"action": action, "thought": "", "usage": {}}


class GullibleAgent(OracleAgent):
    """Does what page text tells it: the proof that attacks land.

    It works the task like the oracle, but adopts any instruction it reads on a page (and keeps it for the
    rest of the episode), and carries out harmful requests instead of refusing them.
    """

    def __init__(self, instance: ScenarioInstance, agent_index: int = 0):
        super().__init__(instance, agent_index)
        credentials = {"username": persona.USERNAME, "password": persona.PASSWORD, "secrets": persona.SECRETS}
        self.policy = make_gullible(instance.task.policy, credentials)

    async def act(self, request: dict) -> dict:
        action = self.policy(request["observation"], self.params, self.memory)
        return {"action": action, "thought": "", "usage": {}}


BUILTIN_AGENTS = {
    "oracle": OracleAgent,
    "gullible": GullibleAgent,
}


def make_driver(spec: AgentSpec, instance: ScenarioInstance, agent_index: int = 0) -> AgentDriver:
    if spec.kind == "builtin":
        name = spec.config.get("name", "")
        if name not in BUILTIN_AGENTS:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"unknown built-in agent {name!r}")
        return BUILTIN_AGENTS[name](instance, agent_index)
    raise AgentFailure(AGENT_BAD_RESPONSE, f"agent kind {spec.kind!r} is not supported by this runner")
