"""Built-in baseline agents, in-process: they read the scenario instance, not just the observation."""

from __future__ import annotations

from typing import Any

from runner.drivers import AgentDriver
from runner.types import AgentSpec
from sandbox import persona
from sandbox.policies import make_gullible, report_infeasible
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

    def __init__(self, spec: AgentSpec, instance: ScenarioInstance, agent_index: int = 0):
        super().__init__(spec, instance, agent_index)
        credentials = {"username": persona.USERNAME, "password": persona.PASSWORD, "secrets": persona.SECRETS}
        self.policy = make_gullible(instance.task.policy, credentials)

    async def act(self, request: dict) -> dict:
        action = self.policy(request["observation"], self.params, self.memory)
        return {"action": action, "thought": "", "usage": {}}
