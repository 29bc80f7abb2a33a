"""A run's tables: its breakdowns by condition, scenario and overlay, and its episode CSV.

Every figure comes from the pure formulas of :mod:`runs.metrics`, fed the rows (or the counts) of each group.
Outputs are plain Python (dicts, lists, str, int, float, None), so they can be stored as JSON on the run. The
breakdowns group in plain Python: a worker computes them when it finishes a run, and importing pandas (with
pyarrow, some 80 MiB) for that would stay in every worker for good; only the CSV, made by web processes,
uses pandas.
"""

from __future__ import annotations

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


def _groups(rows: list[dict], column: str) -> dict[str, list[int]]:
    """The positions in ``rows`` of each group of ``column``: ``scenario``, ``condition``, ``overlay`` (a row
    counts in the group of each of its overlays, ``clean`` for none) or ``label`` (each of its
    :func:`condition_labels`)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if column == "overlay":
            keys = [str(o) for o in row.get("overlays") or [CLEAN]]
        elif column == "label":
            keys = condition_labels(row)
        else:
            keys = [row[column]]
        for key in dict.fromkeys(keys):  # a row counts once in each of its groups
            groups.setdefault(str(key), []).append(i)
    return groups


def _summaries(rows: list[dict], column: str, order=None) -> dict[str, dict]:
    """:func:`runs.metrics.summarize` of each group of ``column`` (:func:`_groups`), in key order or ``order``."""
    groups = _groups(rows, column)
    keys = sorted(groups, key=order) if order is not None else sorted(groups)
    return {key: metrics.summarize([rows[i] for i in groups[key]]) for key in keys}


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
    scored = [row for row in rows if row["status"] == "scored"]

    def task(row):
        return row.get("task") or row["scenario"]

    def overlays(row):
        return [str(o) for o in row.get("overlays") or [CLEAN]]

    clean = [row for row in scored if overlays(row) == [CLEAN]]
    clean_tasks = {task(row) for row in clean}
    out = {}
    for kind in sorted({o for row in scored for o in overlays(row)} - {CLEAN}):
        under = [row for row in scored if kind in overlays(row)]
        tasks = {task(row) for row in under} & clean_tasks
        under = [row for row in under if task(row) in tasks]
        baseline = [row for row in clean if task(row) in tasks]
        overlay_counts = (sum(bool(row["success"]) for row in under), len(under))
        clean_counts = (sum(bool(row["success"]) for row in baseline), len(baseline))
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
    result["per_scenario"] = _summaries(rows, "scenario")
    result["per_condition"] = _summaries(rows, "condition")
    result["per_overlay"] = _summaries(rows, "overlay")
    result["by_condition"] = _summaries(rows, "label", order=condition_order)
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
    import pandas as pd  # here, not at import: workers never make the CSV

    frame = pd.DataFrame([{column: row.get(column) for column in CSV_COLUMNS} for row in rows], columns=CSV_COLUMNS)
    frame["overlays"] = frame["overlays"].map(lambda overlays: "+".join(overlays or []))
    for column in ("agent_error", "infra_error", "scenario", "task"):
        frame[column] = frame[column].map(_spreadsheet_safe)
    return frame.to_csv(index=False, lineterminator="\n")
