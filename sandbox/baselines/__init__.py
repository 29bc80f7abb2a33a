"""The built-in baselines' solutions of the tasks: how the oracle, gullible and cautious agents work each one.

A solution is ``(observation, params, memory) -> action string`` (:data:`common.Solution`), a state machine
over the current page that the agents in :mod:`runner.drivers.builtin` call every step. One module per site
holds that site's solutions in ``SOLUTIONS`` (task key -> solution); :mod:`sandbox.baselines.common` holds
what they share. The sites know nothing of their solutions: a baseline imports its site for constants and
URLs, never the other way, so a task can be written, and run by other agents, before it has one.
"""

from __future__ import annotations

from sandbox.baselines import bank, forum, mail, shop
from sandbox.baselines.common import Solution

SOLUTIONS: dict[str, Solution] = {**shop.SOLUTIONS, **mail.SOLUTIONS, **bank.SOLUTIONS, **forum.SOLUTIONS}


class NoSolution(LookupError):
    """A built-in baseline was asked to work a task that has no solution."""


def solution(task_key: str) -> Solution:
    """The solution of the task ``task_key`` (e.g. ``"mail.reply_to_message"``); :class:`NoSolution` if none."""
    try:
        return SOLUTIONS[task_key]
    except KeyError:
        raise NoSolution(
            f"no built-in baseline solves task {task_key!r}: it has no solution in sandbox.baselines"
        ) from None
