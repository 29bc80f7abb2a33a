"""Tests on proportions for leaderboards, comparisons and agent history. Pure functions, no Django.

Every test is two-sided at ``ALPHA``; a test with nothing to compare (an empty sample, no discordant pair)
returns a p-value of 1, so no difference is ever called on no evidence.
"""

from __future__ import annotations

import math

from runs.metrics import wilson

ALPHA = 0.05
TWO_PROPORTION_METHOD = "two-sided two-proportion z-test (pooled variance), α = 0.05"
MCNEMAR_METHOD = "two-sided exact McNemar test on the discordant pairs, α = 0.05"


def _normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> dict:
    """Two-sided z-test of p1 = p2 with the pooled variance.

    Returns ``{"diff": p1 − p2, "z", "p_value", "significant"}``; ``diff`` and ``z`` are None when a sample is
    empty. When both samples are all successes or all failures the difference is 0 and p is 1.
    """
    if n1 == 0 or n2 == 0:
        return {"diff": None, "z": None, "p_value": 1.0, "significant": False}
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = 0.0 if se == 0 else (p1 - p2) / se
    p_value = _normal_two_sided_p(z)
    return {"diff": p1 - p2, "z": z, "p_value": p_value, "significant": p_value < ALPHA}


def newcombe_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval (his method 10) of p1 − p2 from the two 95 % Wilson intervals.

    None when a sample is empty.
    """
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    diff = p1 - p2
    return (
        diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def mcnemar_exact(b: int, c: int) -> dict:
    """Exact two-sided McNemar test: b pairs where only the first succeeded, c where only the second did.

    Under no difference each discordant pair goes either way with probability ½; the p-value is twice the
    binomial tail of the rarer side, capped at 1. Returns ``{"b", "c", "p_value", "significant"}``.
    """
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "p_value": 1.0, "significant": False}
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    p_value = min(1.0, 2 * tail)
    return {"b": b, "c": c, "p_value": p_value, "significant": p_value < ALPHA}
