"""Whether two runs differ: paired by (scenario, trial) when they ran the same suite version with the same seed,
unpaired otherwise. A difference is called only when the stated test finds it at α = 0.05.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runs import stats
from runs.leaderboards import SCORE_SETTINGS
from runs.models import Episode, Run

if TYPE_CHECKING:
    import pandas as pd

# The per-episode outcomes a comparison tests: (key, label, column, better when higher).
OUTCOMES = (("success_rate", "Success", "success", True), ("harmful_rate", "Harmful", "harmed", False))


def paired(a: Run, b: Run) -> bool:
    """Runs of the same suite version and seed played the same worlds trial by trial, so pairing is valid."""
    return a.suite_hash == b.suite_hash and a.config.get("seed") == b.config.get("seed")


def _scored(run: Run) -> pd.DataFrame:
    import pandas as pd  # here, not at import: a worker never makes a table

    values = Episode.objects.filter(run=run, status=Episode.SCORED).values(
        "scenario__key", "trial", "success", "committed_harms"
    )
    frame = pd.DataFrame.from_records(
        list(values), columns=["scenario__key", "trial", "success", "committed_harms"]
    ).rename(columns={"scenario__key": "scenario"})
    frame["success"] = frame["success"].fillna(False).astype(bool)
    frame["harmed"] = frame["committed_harms"] > 0
    return frame[["scenario", "trial", "success", "harmed"]]


def verdict(test: dict, first_minus_second: float | None, higher_is_better: bool) -> int | None:
    """Which run (0 or 1) a test of the first against the second says is better; None unless significant."""
    if not test["significant"] or not first_minus_second:
        return None
    return 0 if (first_minus_second > 0) == higher_is_better else 1


def compare(a: Run, b: Run) -> dict:
    """Test success and harmful rate of ``a`` against ``b``.

    Returns ``{"paired", "method", "outcomes", "flips", "pairs"}``. ``outcomes`` has one entry per OUTCOMES
    key: ``{"label", "test", "better"}``, ``better`` 0 or 1 only when the test is significant. Paired: the exact
    McNemar test on the discordant (scenario, trial) pairs, and ``flips`` per scenario (``pairs``, successes
    only A had / only B had, harms only A / only B). Unpaired: the two-proportion z-test and no flips.
    """
    first, second = _scored(a), _scored(b)
    outcomes = {}
    flips: list[dict] = []
    if paired(a, b):
        both = first.merge(second, on=["scenario", "trial"], suffixes=("_a", "_b"))
        for key, label, column, higher in OUTCOMES:
            only_a = both[f"{column}_a"] & ~both[f"{column}_b"]
            only_b = both[f"{column}_b"] & ~both[f"{column}_a"]
            both[f"{column}_only_a"], both[f"{column}_only_b"] = only_a, only_b
            test = stats.mcnemar_exact(int(only_a.sum()), int(only_b.sum()))
            outcomes[key] = {"label": label, "test": test, "better": verdict(test, test["b"] - test["c"], higher)}
        per_scenario = both.groupby("scenario", sort=True).agg(
            pairs=("trial", "size"),
            success_only_a=("success_only_a", "sum"),
            success_only_b=("success_only_b", "sum"),
            harm_only_a=("harmed_only_a", "sum"),
            harm_only_b=("harmed_only_b", "sum"),
        )
        flips = [
            {"scenario": scenario, **{k: int(v) for k, v in row.items()}} for scenario, row in per_scenario.iterrows()
        ]
        method, pairs = stats.MCNEMAR_METHOD, len(both)
    else:
        for key, label, column, higher in OUTCOMES:
            test = stats.two_proportion_test(
                int(first[column].sum()), len(first), int(second[column].sum()), len(second)
            )
            outcomes[key] = {"label": label, "test": test, "better": verdict(test, test["diff"], higher)}
        method, pairs = stats.TWO_PROPORTION_METHOD, 0
    return {"paired": paired(a, b), "method": method, "outcomes": outcomes, "flips": flips, "pairs": pairs}


def partner(run: Run, runs) -> Run | None:
    """The run to compare ``run`` with, among ``runs`` (those the viewer may see), or None; never ``run``.

    The newest finished run of the same agent's previous version on the same suite version; failing that, the
    newest other finished run of the same version and suite version with different settings.
    """
    finished = runs.filter(suite_hash=run.suite_hash, status__in=Run.FINAL).exclude(pk=run.pk)
    previous = (
        finished.filter(
            agent_version__agent_id=run.agent_version.agent_id,
            agent_version__number__lt=run.agent_version.number,
        )
        .order_by("-agent_version__number", "-created", "-pk")
        .first()
    )
    if previous is not None:
        return previous
    for other in finished.filter(agent_version=run.agent_version).order_by("-created", "-pk"):
        if any(other.config.get(key) != run.config.get(key) for key in SCORE_SETTINGS):
            return other
    return None
