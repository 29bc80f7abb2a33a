"""A run's tables, built with pandas: its breakdowns by condition, scenario and overlay, and its episode CSV.

pandas only groups and lays out here; every figure comes from the pure formulas of :mod:`runs.metrics`, fed
the rows (or the counts) of each group. Outputs are plain Python (dicts, lists, str, int, float, None), so
they can be stored as JSON on the run.
"""

from __future__ import annotations

import pandas as pd

from runs import metrics

CLEAN = "clean"
HARMFUL = "harmful"
BENIGN_TWIN = "benign twin"

# The episode CSV's columns, in order: what a person filtering a run in a spreadsheet needs.
CSV_COLUMNS = (
    "id",
    "scenario",
    "task",
    "condition",
    "overlays",
    "task_kind",
    "trial",
    "status",
    "success",
    "progress",
    "committed_harms",
    "contained_harms",
    "blocked_attempts",
    "policy_violations",
    "attack_exposed",
    "attack_succeeded",
    "faults_injected",
    "faults_recovered",
    "refused",
    "steps",
    "backtracks",
    "rollbacks",
    "agent_error",
    "agent_latency_ms",
    "cost_usd",
    "wall_time_s",
    "attempts",
    "infra_error",
)
# A spreadsheet runs a cell that starts with one of these as a formula; agent and infra error texts are not ours.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def condition_labels(row: dict) -> list[str]:
    """The conditions an episode counts under (DESIGN.md's breakdown).

    Each of its overlays (``adversarial:<kind>``, ``noisy:<kind>``, ``concurrent:<kind>``; an episode under
    composed overlays counts for each); ``harmful`` for a harmful request and ``benign twin`` for its twin;
    ``clean`` for an ordinary task under no overlay. Harmful requests and twins are never ``clean``: their
    success means something else (refusing, resp. not over-refusing).
    """
    overlays = [o for o in row.get("overlays") or [] if o != CLEAN]
    kind = row.get("task_kind")
    labels = list(overlays)
    if kind == HARMFUL:
        labels.append(HARMFUL)
    elif kind == "benign":
        labels.append(BENIGN_TWIN)
    elif not overlays:
        labels.append(CLEAN)
    return labels


def _frame(rows: list[dict]) -> pd.DataFrame:
    """One line per episode: its position in ``rows`` and the columns the breakdowns group by."""
    return pd.DataFrame(
        {
            "row": range(len(rows)),
            "scenario": [r["scenario"] for r in rows],
            "condition": [r["condition"] for r in rows],
            "overlay": [[str(o) for o in r.get("overlays") or [CLEAN]] for r in rows],
            "label": [condition_labels(r) for r in rows],
            "task": [r.get("task") or r["scenario"] for r in rows],
            "scored": [r["status"] == "scored" for r in rows],
            "success": [bool(r["success"]) for r in rows],
        }
    )


def _summaries(rows: list[dict], frame: pd.DataFrame, column: str, order=None) -> dict[str, dict]:
    """:func:`runs.metrics.summarize` of each group of ``column`` (list columns count a row in each group)."""
    grouped = frame.explode(column).groupby(column, sort=True)["row"].apply(list)
    keys = list(grouped.index) if order is None else sorted(grouped.index, key=order)
    return {str(key): metrics.summarize([rows[i] for i in grouped[key]]) for key in keys}


def condition_order(label: str) -> tuple[int, str]:
    """clean first, then the overlay kinds by family, then harmful requests and their benign twins."""
    families = {CLEAN: 0, "adversarial": 1, "noisy": 2, "concurrent": 3, HARMFUL: 4, BENIGN_TWIN: 5}
    return families.get(label.split(":")[0], 6), label


def robustness(rows: list[dict]) -> dict[str, dict]:
    """HAL's robustness ratio per overlay kind, over the same tasks with and without the overlay.

    For each overlay kind, only tasks that have scored episodes both under the overlay and clean (no overlay
    at all) count, on both sides. A task is the row's ``task`` (the task id, whatever its parameters), or its
    scenario key when the row has none. Returns ``{kind: {"value", "overlay": {"k", "n"}, "clean": {"k", "n"},
    "tasks"}}``: successes and scored episodes of each side, and how many tasks were compared; ``value`` is
    :func:`runs.metrics.robustness_ratio` of the counts (None when undefined).
    """
    frame = _frame(rows)
    # .loc with a boolean mask: a plain [] on an empty frame would read the empty mask as a column list.
    frame = frame.loc[frame["scored"].astype(bool)]
    exploded = frame.explode("overlay")
    clean = frame[frame["overlay"].map(lambda overlays: overlays == [CLEAN])]
    out = {}
    for kind in sorted(set(exploded["overlay"]) - {CLEAN}):
        under = exploded[exploded["overlay"] == kind]
        tasks = set(under["task"]) & set(clean["task"])
        under, baseline = under[under["task"].isin(tasks)], clean[clean["task"].isin(tasks)]
        overlay_counts = (int(under["success"].sum()), len(under))
        clean_counts = (int(baseline["success"].sum()), len(baseline))
        out[kind] = {
            "value": metrics.robustness_ratio(overlay_counts, clean_counts),
            "overlay": {"k": overlay_counts[0], "n": overlay_counts[1]},
            "clean": {"k": clean_counts[0], "n": clean_counts[1]},
            "tasks": len(tasks),
        }
    return out


def run_metrics(episodes) -> dict:
    """The headline metrics of a run (:func:`runs.metrics.summarize`) and its breakdowns.

    Adds ``per_scenario``, ``per_condition`` (by the scenario's declared condition), ``per_overlay`` and
    ``by_condition`` (the labels of :func:`condition_labels`, clean first): each maps a group to the
    group's summary. ``robustness`` maps each overlay kind to its ratio (None when undefined) and
    ``robustness_detail`` gives the counts behind it (:func:`robustness`).
    """
    rows = list(episodes)
    result = metrics.summarize(rows)
    frame = _frame(rows)
    result["per_scenario"] = _summaries(rows, frame, "scenario")
    result["per_condition"] = _summaries(rows, frame, "condition")
    result["per_overlay"] = _summaries(rows, frame, "overlay")
    result["by_condition"] = _summaries(rows, frame, "label", order=condition_order)
    detail = robustness(rows)
    result["robustness"] = {kind: value["value"] for kind, value in detail.items()}
    result["robustness_detail"] = detail
    return result


def _spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def episodes_csv(rows: list[dict]) -> str:
    """The episodes as CSV text, one line each, with the columns of :data:`CSV_COLUMNS`.

    Overlays are joined with ``+``; a text cell a spreadsheet would run as a formula is prefixed with ``'``.
    """
    frame = pd.DataFrame([{column: row.get(column) for column in CSV_COLUMNS} for row in rows], columns=CSV_COLUMNS)
    frame["overlays"] = frame["overlays"].map(lambda overlays: "+".join(overlays or []))
    for column in ("agent_error", "infra_error", "scenario", "task"):
        frame[column] = frame[column].map(_spreadsheet_safe)
    return frame.to_csv(index=False, lineterminator="\n")
