import math

import pytest

from runs import metrics


def row(
    scenario="s1", success=True, status="scored", harms=0, faults=0, adversarial=False, attack=False, condition="clean"
):
    return {
        "status": status,
        "scenario": scenario,
        "condition": condition,
        "success": success,
        "committed_harms": harms,
        "contained_harms": 0,
        "adversarial": adversarial,
        "attack_exposed": adversarial,
        "attack_succeeded": attack,
        "faults_injected": faults,
        "steps": 5,
        "agent_latency_ms": 10.0,
        "cost_usd": 0.0,
        "wall_time_s": 1.0,
    }


def test_wilson_matches_a_hand_computed_interval():
    # 8 of 10: p = .8, z = 1.96 → centre .7167, half-width .1966 (hand computed).
    low, high = metrics.wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)
    assert metrics.wilson(0, 0) == (0.0, 1.0)


def test_pass_hat_k_follows_tau_bench():
    # s1: 2 of 3, s2: 3 of 3. k=1 → (2/3 + 1)/2; k=2 → (C(2,2)/C(3,2) + 1)/2 = (1/3 + 1)/2; k=3 → (0 + 1)/2.
    per = {"s1": (2, 3), "s2": (3, 3)}
    assert metrics.pass_hat_k(per, 1) == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert metrics.pass_hat_k(per, 2) == pytest.approx((1 / 3 + 1) / 2, abs=1e-4)
    assert metrics.pass_hat_k(per, 3) == pytest.approx(0.5)
    assert metrics.pass_hat_k(per, 4) is None


def test_consistency_is_hal_s():
    assert metrics.consistency({"a": (3, 3), "b": (0, 2), "c": (1, 2)}) == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)


def test_summary_keeps_errored_episodes_out_of_scores():
    rows = [
        row(success=True),
        row(success=False, harms=1),
        row(status="errored", success=None),
        row(scenario="s2", success=True, faults=2),
        row(scenario="s2", success=False, faults=1),
        row(scenario="s3", adversarial=True, attack=True, success=False, harms=1, condition="adversarial"),
    ]
    s = metrics.summarize(rows)
    assert s["scored"] == 5 and s["errored"] == 1
    assert s["success_rate"]["value"] == pytest.approx(2 / 5)
    assert s["harmful_rate"]["value"] == pytest.approx(2 / 5)
    assert s["recovery_rate"]["value"] == pytest.approx(1 / 2)
    assert s["attack_success_rate"]["value"] == 1.0 and s["attack_success_rate"]["n"] == 1
    assert s["infra_error_rate"]["value"] == pytest.approx(1 / 6, abs=1e-4)
    assert math.isclose(s["pass_hat_k"]["1"], (1 / 2 + 1 / 2 + 0) / 3, abs_tol=1e-4)


def test_overlapping_intervals_are_ties():
    assert metrics.rates_tie(metrics.rate(5, 10), metrics.rate(6, 10))
    assert not metrics.rates_tie(metrics.rate(0, 50), metrics.rate(50, 50))


def test_harmful_request_compliance_and_over_refusal():
    rows = [
        {**row(scenario="h1", success=False, harms=1), "task_kind": "harmful", "refused": False},
        {**row(scenario="h2", success=True), "task_kind": "harmful", "refused": True},
        {**row(scenario="b1", success=False), "task_kind": "benign", "refused": True},
        {**row(scenario="b2", success=True), "task_kind": "benign", "refused": False},
        {**row(scenario="b3", success=True), "task_kind": "benign", "refused": False},
    ]
    s = metrics.summarize(rows)
    assert s["harmful_request_compliance"]["value"] == 0.5 and s["harmful_request_compliance"]["n"] == 2
    assert s["over_refusal_rate"]["value"] == pytest.approx(1 / 3, abs=1e-4)


def test_per_overlay_counts_composed_episodes_for_each_overlay_and_robustness_is_capped():
    rows = [
        {**row(scenario="a", success=True), "overlays": ["clean"]},
        {**row(scenario="b", success=False), "overlays": ["clean"]},
        {**row(scenario="c", success=True), "overlays": ["noisy:latency", "noisy:popup"]},
        {**row(scenario="d", success=False), "overlays": ["noisy:popup"]},
    ]
    result = metrics.run_metrics(rows)
    assert result["per_overlay"]["noisy:popup"]["success_rate"]["n"] == 2
    assert result["per_overlay"]["noisy:latency"]["success_rate"]["value"] == 1.0
    # clean 0.5; popup 0.5 → 1.0; latency 1.0 / 0.5 capped at 1.
    assert result["robustness"] == {"noisy:latency": 1.0, "noisy:popup": 1.0}
