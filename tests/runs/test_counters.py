"""runs.counters: what an episode adds to its run's counters, and the figures read back from them."""

import random

import pytest

from runs import counters, metrics


@pytest.mark.parametrize("seed", range(5))
def test_a_histogram_gives_the_distribution_of_its_values(seed):
    rng = random.Random(seed)
    values = [round(rng.uniform(0, 9), 3) for _ in range(rng.randint(1, 40))]
    histogram = {}
    for value in values:
        histogram = counters.add_histogram(histogram, {f"{value:.3f}": 1})
    assert counters.histogram_distribution(histogram) == metrics.distribution(values)


def test_an_empty_histogram_has_no_distribution():
    assert counters.histogram_distribution({}) == {"median": None, "p90": None, "n": 0}


def test_an_unscored_episode_adds_only_its_status():
    assert counters.tally({"status": "errored", "success": True, "committed_harms": 2}) == {"errored": 1}


def test_a_change_moves_the_counters_by_the_difference():
    scored = {"status": "scored", "success": True, "faults_injected": 1, "steps": 4, "recoveries": []}
    scored["recoveries"] = [{"steps_to_recover": 2, "seconds_to_recover": 1.5}]
    delta = counters.difference({"status": "running"}, scored)
    assert delta["running"] == -1 and delta["scored"] == 1 and delta["faulted_successes"] == 1
    assert delta["recover_steps"] == {"2": 1} and delta["recover_seconds"] == {"1.500": 1}
    assert counters.difference(scored, scored) == {}
