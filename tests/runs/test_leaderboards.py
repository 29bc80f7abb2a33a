"""Leaderboards: one row per agent version and settings, ties against each group's leader, eligibility."""

import pytest

from agents.models import Team
from runs import leaderboards
from runs.models import Episode, Run, Suite
from tests.runs.boards import finished_run, version

pytestmark = pytest.mark.django_db


@pytest.fixture
def smoke(builtins):
    return Suite.objects.get(name="smoke", team__isnull=True)


def board(suite, **options):
    return leaderboards.leaderboard(suite, **options)


def test_it_pools_the_runs_of_one_version_and_settings_into_one_row(smoke):
    oracle = version("oracle")
    first, second = finished_run(oracle, "ss"), finished_run(oracle, "sf")
    (row,) = board(smoke)
    assert row["runs"] == [second.pk, first.pk] and row["n"] == 4 and row["value"]["k"] == 3


def test_it_keeps_runs_with_other_settings_in_their_own_row(smoke):
    oracle = version("oracle")
    finished_run(oracle, "ss")
    finished_run(oracle, "ss", guard=True)
    assert sorted(row["settings_label"] for row in board(smoke)) == ["guard · 30 steps", "plain · 30 steps"]


def test_it_ties_each_row_with_its_group_s_leader_never_with_the_row_above(smoke):
    # 17/20 is no different from 20/20 (p = 0.072), 14/20 is no different from 17/20 (p = 0.26) but is from
    # 20/20 (p = 0.008): it leads a new group instead of chaining to rank 1.
    finished_run(version("a"), "s" * 20)
    finished_run(version("b"), "s" * 17 + "f" * 3)
    finished_run(version("c"), "s" * 14 + "f" * 6)
    ranks = [(row["agent"], row["rank"], row["group"]) for row in board(smoke)]
    assert ranks == [("a", 1, 1), ("b", 1, 1), ("c", 3, 2)]


def test_it_ranks_a_dead_endpoint_below_oracle(smoke):
    finished_run(version("oracle"), "s" * 9)
    finished_run(version("dead"), "fff")
    assert [(row["agent"], row["rank"]) for row in board(smoke)] == [("oracle", 1), ("dead", 2)]


def test_it_ranks_lower_harm_first_for_the_harmful_rate(smoke):
    finished_run(version("gullible"), "s" * 10, harms="h" * 10)
    finished_run(version("cautious"), "s" * 10)
    assert [row["agent"] for row in board(smoke, metric="harmful_rate")] == ["cautious", "gullible"]


def test_it_ranks_by_completion_under_policy(smoke):
    # Both succeed every time, but one breaks a policy in 3 of its 4 successes: CuP 1/4 against 4/4.
    finished_run(version("careless"), "ssss", violations="vvv")
    finished_run(version("careful"), "ssss")
    rows = board(smoke, metric="completion_under_policy")
    assert [(row["agent"], row["value"]["k"]) for row in rows] == [("careful", 4), ("careless", 1)]


def test_it_leaves_out_a_run_with_an_errored_episode(smoke):
    finished_run(version("oracle"), "sse")
    assert board(smoke) == []


def test_it_leaves_out_a_run_with_an_unmeasured_episode(smoke):
    finished_run(version("oracle"), "ssu")
    assert board(smoke) == []


def test_it_leaves_out_a_run_that_is_not_complete(smoke):
    finished_run(version("oracle"), "ss", status=Run.PARTIAL)
    assert board(smoke) == []


def test_it_counts_only_the_chosen_condition(smoke):
    oracle = version("oracle")
    finished_run(oracle, "ss", scenario="purchase-clean")
    finished_run(oracle, "ff", scenario="purchase-review-injection")
    (row,) = board(smoke, condition="adversarial")
    assert row["n"] == 2 and row["value"]["value"] == 0.0


def test_it_holds_a_team_s_unpublished_run_only_for_that_team(smoke, django_user_model):
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    outsider = django_user_model.objects.create_user("bob")
    beta.members.add(outsider)
    finished_run(version("secret", team=alpha), "ss", team=alpha)
    assert board(smoke, user=outsider) == [] and len(board(smoke, team=alpha)) == 1


def test_it_holds_a_published_run_for_every_team(smoke, django_user_model):
    alpha = Team.objects.create(name="alpha")
    outsider = django_user_model.objects.create_user("bob")
    finished_run(version("shared", team=alpha), "ss", team=alpha, published=True)
    assert [row["label"] for row in board(smoke, user=outsider)] == ["shared v1"]


def test_it_marks_the_rows_on_the_pareto_front(smoke):
    finished_run(version("good"), "ss")
    finished_run(version("bad"), "ff", harms="hh")
    assert {row["agent"]: row["pareto"] for row in board(smoke)} == {"good": True, "bad": False}


def test_it_weighs_agent_latency_by_steps_and_spreads_cost_over_episodes(smoke):
    run = finished_run(version("oracle"), "ss")
    first, second = run.episodes.order_by("trial")
    first.agent_latency_ms, first.steps, first.cost_usd = 100, 1, 0.01
    second.agent_latency_ms, second.steps, second.cost_usd = 400, 3, 0.03
    Episode.objects.bulk_update([first, second], ["agent_latency_ms", "steps", "cost_usd"])
    (row,) = board(smoke)
    assert (row["latency_ms"], row["cost_usd_per_episode"]) == (325.0, 0.02)
