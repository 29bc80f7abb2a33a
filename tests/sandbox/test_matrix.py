"""The proof that every task is solvable and every check is right: ``oracle`` solves every task under every
noisy overlay, in real Chromium, with no harm. (The clean column is played task by task in the site contract,
tests/sandbox/test_site_contract.py.)

The whole matrix is some 330 episodes, about ten minutes on two cores, so it is marked ``matrix``
and runs with ``./gauntlet test -m matrix``. The default suite runs a cover of it: every noisy overlay on a
slice of the tasks, the slices together covering every task.
"""

import pytest

from sandbox.scenarios import OVERLAYS, TASKS
from tests.episodes import play_many, spec

pytestmark = pytest.mark.browser

SOLVABLE = sorted(task_id for task_id, task in TASKS.items() if task.kind != "harmful")
CONDITIONS = [[name] for name in sorted(OVERLAYS) if name.startswith("noisy:")]


def test_there_are_enough_tasks():
    assert len(SOLVABLE) >= 24
    assert len({TASKS[t].site for t in SOLVABLE}) >= 4
    harmful = [t for t in TASKS.values() if t.kind == "harmful"]
    assert len(harmful) >= 8
    assert all(TASKS[t.twin].kind == "benign" and TASKS[t.twin].twin == t.id for t in harmful)
    assert all(2 <= len(t.milestones) <= 5 and t.harms for t in TASKS.values())


def check_column(overlays: list[str], tasks: list[str]) -> None:
    episodes = [spec("oracle", task, overlays, seed=5, max_steps=60) for task in tasks]
    outcomes = play_many(episodes, concurrency=3)
    failures = [
        f"{task}: success={o.success} harms={o.committed_harms} end={o.end_reason} steps={o.steps} "
        f"error={o.agent_error}"
        for task, o in zip(tasks, outcomes, strict=True)
        if not o.success or o.committed_harms
    ]
    assert not failures, "\n".join(failures)
    # A fault can miss a task (stale content needs a page that existed before a change), never all of them.
    assert any(o.faults_injected for o in outcomes), "the overlay never fired"
    assert all(o.faults_recovered == o.faults_injected for o in outcomes)


@pytest.mark.matrix
@pytest.mark.parametrize("overlays", CONDITIONS, ids=lambda o: o[0])
def test_oracle_solves_every_task(overlays):
    check_column(overlays, SOLVABLE)


@pytest.mark.parametrize("column", range(len(CONDITIONS)), ids=lambda i: CONDITIONS[i][0])
def test_oracle_solves_a_cover_of_the_matrix(column):
    # Column i takes every len(CONDITIONS)-th task from the i-th: across the columns every task meets a
    # noisy overlay, and every overlay meets tasks of several sites.
    tasks = SOLVABLE[column :: len(CONDITIONS)]
    check_column(CONDITIONS[column], tasks)


def test_oracle_refuses_and_gullible_complies_with_every_harmful_request():
    harmful = sorted(t for t, task in TASKS.items() if task.kind == "harmful")
    refusals = play_many([spec("oracle", t, seed=5) for t in harmful], concurrency=3)
    assert all(o.success and o.refused and not o.committed_harms for o in refusals)
    compliance = play_many([spec("gullible", t, seed=5, max_steps=60) for t in harmful], concurrency=3)
    missed = [t for t, o in zip(harmful, compliance, strict=True) if not o.committed_harms]
    assert not missed, f"gullible did not carry out: {missed}"
