"""What one episode adds to its run's counters (runs.models.RunCounters), and the live figures read back from them.

The counters are sums over the run's episodes of :func:`tally`, so a change of one episode moves them by
``tally(after) - tally(before)``: the run page reads one row however many episodes the run has. Only scored
episodes enter a score (DESIGN.md), so an episode that is not scored adds only its status count. Pure
functions, no Django.

Time to recover is kept as two histograms (``{value: count}``) of steps and of seconds (to the millisecond, as
the runner rounds them), so its median and p90 come from the histogram exactly as
:func:`runs.metrics.distribution` computes them from the values.
"""

from __future__ import annotations

import math

STATUSES = ("queued", "running", "scored", "errored", "unmeasured", "cancelled")
# Sums over scored episodes.
SCORED_FIELDS = (
    "successes",
    "harmful",
    "committed_harms",
    "contained_harms",
    "blocked_attempts",
    "policy_clean_successes",
    "agent_errors",
    "adversarial",
    "adversarial_successes",
    "attack_succeeded",
    "faulted",
    "faulted_successes",
    "steps",
    "backtracks",
    "rollbacks",
)
FIELDS = STATUSES + SCORED_FIELDS
HISTOGRAMS = ("recover_steps", "recover_seconds")


def is_adversarial(overlays) -> bool:
    return any(str(o).startswith("adversarial:") for o in overlays or ())


def tally(row: dict) -> dict:
    """What an episode in the state ``row`` adds to its run's counters: ``{field: int}`` for :data:`FIELDS`
    (absent = 0) and ``{histogram: {key: count}}`` for :data:`HISTOGRAMS`.

    ``row`` needs ``status``; a scored one also the outcome fields of runs.metrics' rows (``success``,
    ``committed_harms``, ``contained_harms``, ``adversarial``, ``attack_succeeded``, ``faults_injected``,
    ``steps``; optionally ``blocked_attempts``, ``policy_violations``, ``agent_error``, ``backtracks``,
    ``rollbacks``, ``recoveries``).
    """
    out: dict = {row["status"]: 1}
    if row["status"] != "scored":
        return out
    success = bool(row.get("success"))
    adversarial = bool(row.get("adversarial"))
    faulted = (row.get("faults_injected") or 0) > 0
    out.update(
        successes=int(success),
        harmful=int((row.get("committed_harms") or 0) > 0),
        committed_harms=row.get("committed_harms") or 0,
        contained_harms=row.get("contained_harms") or 0,
        blocked_attempts=row.get("blocked_attempts") or 0,
        policy_clean_successes=int(success and not row.get("policy_violations")),
        agent_errors=int(bool(row.get("agent_error"))),
        adversarial=int(adversarial),
        adversarial_successes=int(adversarial and success),
        attack_succeeded=int(adversarial and bool(row.get("attack_succeeded"))),
        faulted=int(faulted),
        faulted_successes=int(faulted and success),
        steps=row.get("steps") or 0,
        backtracks=row.get("backtracks") or 0,
        rollbacks=row.get("rollbacks") or 0,
    )
    steps: dict[str, int] = {}
    seconds: dict[str, int] = {}
    for recovery in row.get("recoveries") or ():
        if recovery.get("steps_to_recover") is not None:
            key = str(int(recovery["steps_to_recover"]))
            steps[key] = steps.get(key, 0) + 1
        if recovery.get("seconds_to_recover") is not None:
            key = f"{recovery['seconds_to_recover']:.3f}"
            seconds[key] = seconds.get(key, 0) + 1
    out["recover_steps"], out["recover_seconds"] = steps, seconds
    return out


def difference(before: dict | None, after: dict | None) -> dict:
    """``tally(after) - tally(before)`` (either may be None: the episode did not exist, or is gone)."""
    plus, minus = tally(after) if after else {}, tally(before) if before else {}
    delta: dict = {}
    for field in FIELDS:
        change = plus.get(field, 0) - minus.get(field, 0)
        if change:
            delta[field] = change
    for name in HISTOGRAMS:
        change = dict(plus.get(name, {}))
        for key, count in minus.get(name, {}).items():
            change[key] = change.get(key, 0) - count
        change = {key: count for key, count in change.items() if count}
        if change:
            delta[name] = change
    return delta


def add_histogram(histogram: dict, change: dict) -> dict:
    """``histogram`` moved by ``change``, keys whose count falls to 0 dropped."""
    out = dict(histogram)
    for key, count in change.items():
        out[key] = out.get(key, 0) + count
    return {key: count for key, count in out.items() if count > 0}


def histogram_distribution(histogram: dict) -> dict:
    """``{"median", "p90", "n"}`` of the values a ``{value: count}`` histogram holds, exactly as
    runs.metrics.distribution computes them from the values themselves."""
    items = sorted((float(key), count) for key, count in histogram.items() if count > 0)
    n = sum(count for _, count in items)
    return {"median": _percentile(items, n, 0.5), "p90": _percentile(items, n, 0.9), "n": n}


def _percentile(items: list[tuple[float, int]], n: int, q: float) -> float | None:
    if not n:
        return None
    index = (n - 1) * q
    low, high = math.floor(index), math.ceil(index)
    a, b = _nth(items, low), _nth(items, high)
    return round(a + (b - a) * (index - low), 2)


def _nth(items: list[tuple[float, int]], rank: int) -> float:
    """The value at 0-based ``rank`` of the sorted values the histogram holds."""
    for value, count in items:
        if rank < count:
            return value
        rank -= count
    raise IndexError(rank)
