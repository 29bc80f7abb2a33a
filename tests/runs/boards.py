"""Finished runs made straight in the database, for the leaderboard, comparison and history tests: the
numbers are what these tests check, not how an episode is played (other tests play real ones)."""

from __future__ import annotations

from agents.models import Agent, AgentVersion
from runs.models import Episode, Run, Suite

SETTINGS = {"max_steps": 30, "backtracking": False, "guard": False, "auto_rollback": False, "max_invalid_actions": 3}


def version(name: str, team=None, number: int = 1) -> AgentVersion:
    """Version ``number`` of the agent ``name`` (a team's HTTP agent, or a built-in one without a team)."""
    agent, _ = Agent.objects.get_or_create(
        team=team, name=name, defaults={"kind": Agent.KIND_HTTP if team else Agent.KIND_BUILTIN}
    )
    return AgentVersion.objects.get_or_create(agent=agent, number=number)[0]


def finished_run(
    agent_version: AgentVersion,
    outcomes: str,
    *,
    team=None,
    suite: str | Suite = "smoke",
    scenario: str = "purchase-clean",
    status: str = Run.COMPLETE,
    published: bool = False,
    seed: int = 0,
    harms: str = "",
    violations: str = "",
    **settings,
) -> Run:
    """A run (on a built-in suite by name, or on ``suite``) whose episodes of ``scenario`` are ``outcomes``, one
    letter per trial: ``s`` success, ``f`` failure, ``e`` errored, ``u`` unmeasured. ``harms`` marks trials
    with a committed harm the same way (``h``), and ``violations`` trials that broke a policy (``v``).
    """
    suite_row = suite if isinstance(suite, Suite) else Suite.objects.get(name=suite, team__isnull=True)
    run = Run.objects.create(
        team=team,
        agent_version=agent_version,
        suite=suite_row,
        suite_hash=suite_row.content_hash,
        status=status,
        published=published,
        config={"trials": len(outcomes), "seed": seed, **SETTINGS, **settings},
    )
    statuses = {"s": Episode.SCORED, "f": Episode.SCORED, "e": Episode.ERRORED, "u": "unmeasured"}
    Episode.objects.bulk_create(
        Episode(
            run=run,
            scenario=suite_row.scenarios.get(key=scenario),
            trial=trial,
            status=statuses[letter],
            success=letter == "s" if statuses[letter] == Episode.SCORED else None,
            committed_harms=1 if harms[trial : trial + 1] == "h" else 0,
            policy_violations=1 if violations[trial : trial + 1] == "v" else 0,
        )
        for trial, letter in enumerate(outcomes)
    )
    return run
