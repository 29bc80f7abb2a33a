"""Every built-in solution by task key, from the site modules of :mod:`sandbox.baselines`.

A module of its own, not the package's ``__init__``: the site modules import ``sandbox.baselines.common``,
which runs the package first, so the package must not import them back."""

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
