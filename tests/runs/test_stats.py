"""The tests on proportions against values worked out by hand (and, for Newcombe, his published table)."""

import pytest

from runs import stats


def test_it_gives_the_textbook_z_test_for_45_of_100_against_55_of_100():
    # pooled 0.5, se = sqrt(0.25 · 0.02) = 0.070711, z = −1.41421, p = erfc(1) = 0.157299
    result = stats.two_proportion_test(45, 100, 55, 100)
    assert result["z"] == pytest.approx(-1.41421, abs=1e-5)
    assert result["p_value"] == pytest.approx(0.157299, abs=1e-6)
    assert not result["significant"]


def test_it_separates_a_dead_endpoint_0_of_3_from_oracle_9_of_9():
    # pooled 0.75, se = sqrt(0.1875 · 4/9) = 0.288675, z = 3.46410, p = 0.000532
    result = stats.two_proportion_test(9, 9, 0, 3)
    assert result["z"] == pytest.approx(3.46410, abs=1e-5)
    assert result["p_value"] == pytest.approx(0.000532, abs=1e-6)
    assert result["significant"]


def test_it_calls_no_difference_on_an_empty_sample():
    assert stats.two_proportion_test(3, 3, 0, 0) == {"diff": None, "z": None, "p_value": 1.0, "significant": False}


def test_it_calls_no_difference_between_two_perfect_scores():
    result = stats.two_proportion_test(5, 5, 9, 9)
    assert result["p_value"] == 1.0 and result["diff"] == 0


def test_it_reproduces_newcombe_s_hybrid_interval_for_56_of_70_against_48_of_80():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10: 0.0524 to 0.3339.
    low, high = stats.newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_it_computes_exact_mcnemar_from_the_binomial_tail():
    # 1 pair against 6: P(X ≤ 1 | 7, ½) = (1 + 7) / 128, doubled = 0.125
    assert stats.mcnemar_exact(1, 6)["p_value"] == pytest.approx(0.125)
    # 0 against 6: 2 / 64 = 0.03125, significant; 0 against 5: 2 / 32 = 0.0625, not
    assert stats.mcnemar_exact(0, 6)["significant"]
    assert not stats.mcnemar_exact(0, 5)["significant"]


def test_it_caps_mcnemar_at_one_for_balanced_flips():
    assert stats.mcnemar_exact(3, 3)["p_value"] == 1.0
    assert stats.mcnemar_exact(0, 0)["p_value"] == 1.0
