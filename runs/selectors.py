"""Reads with joins or aggregation: episode rows for metrics, the live state of a run, leaderboards."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from runs import comparisons, metrics, stats, tables
from runs.models import Episode, Run, Step, Suite

EPISODE_FIELDS = (
    "id",
    "status",
    "scenario__key",
    "scenario__condition",
    "scenario__overlays",
    "scenario__task",
    "trial",
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
    "steps",
    "backtracks",
    "rollbacks",
    "agent_error",
    "agent_latency_ms",
    "cost_usd",
    "wall_time_s",
    "infra_error",
    "attempts",
    "refused",
    "task_kind",
    # A JSON key transform (JSON_EXTRACT on SQLite, -> on PostgreSQL): None when the outcome has no such key.
    "outcome__recoveries",
)
FEED_LENGTH = 30


def get_run_for_user(user, run_id: int) -> Run:
    """The run if the user may see it (404 otherwise: private runs are not even acknowledged)."""
    return get_object_or_404(
        Run.objects.visible_to(user).select_related("agent_version__agent", "suite", "team"), pk=run_id
    )


def get_suite_for_user(user, suite_id: int) -> Suite:
    return get_object_or_404(Suite.objects.visible_to(user), pk=suite_id)


def episode_rows(episodes, *, step_latencies: bool = False) -> list[dict]:
    """The episodes as the row dicts runs.metrics expects (see its module docstring).

    With ``step_latencies``, each row also carries ``step_latencies_ms`` from its Step rows (one more query;
    left out of the live state, which shows no latency).
    """
    rows = []
    for values in episodes.values(*EPISODE_FIELDS):
        overlays = values.pop("scenario__overlays") or []
        # Episodes scored before the runner reported per-fault recoveries have none.
        values["recoveries"] = values.pop("outcome__recoveries") or []
        values["scenario"] = values.pop("scenario__key")
        values["condition"] = values.pop("scenario__condition")
        values["task"] = values.pop("scenario__task")
        values["adversarial"] = any(str(o).startswith("adversarial:") for o in overlays)
        values["overlays"] = [str(o) for o in overlays] or ["clean"]
        rows.append(values)
    if step_latencies:
        by_episode: dict[int, list[float]] = {row["id"]: [] for row in rows}
        latencies = Step.objects.filter(episode__in=episodes).order_by("episode_id", "index")
        for episode_id, ms in latencies.values_list("episode_id", "agent_latency_ms"):
            by_episode[episode_id].append(ms)
        for row in rows:
            row["step_latencies_ms"] = by_episode[row["id"]]
    return rows


def compute_run_metrics(run: Run) -> dict:
    """Every figure of the run, JSON-serialisable (it is stored on the run when it finishes).

    The shape (a rate is ``{"value", "low", "high", "k", "n"}``: value None when n is 0, low/high its 95 %
    Wilson interval; a distribution ``{"median", "p90", "n"}``; a latency ``{"p50", "p95", "n"}``):

    - counts: ``episodes``, ``scored``, ``errored``, ``unmeasured`` (never in a score), ``committed_harms``,
      ``contained_harms``, ``blocked_attempts``, ``policy_violations`` (blocked or not);
    - rates: ``success_rate``, ``harmful_rate``, ``completion_under_policy`` (CuP), ``agent_error_rate``,
      ``attack_success_rate``, ``utility_under_attack``, ``recovery_rate``, ``harmful_request_compliance``,
      ``over_refusal_rate``, ``containment_rate``, ``infra_error_rate`` (over all episodes);
    - ``pass_hat_k``: ``{"1": v, ..., "<k_max>": v}`` for k up to the smallest trial count of a scenario;
      ``pass_hat_k_range``: ``{"k_max", "scenarios", "left_out"}`` (scenarios averaged, and the keys of those
      with no scored trial);
    - ``consistency``: a float, or None (n/a) without a scenario of 2 or more scored trials;
      ``consistency_scenarios``: how many it averages;
    - ``step_latency_ms``: latency over every step of the scored episodes (``agent_latency_ms_p50`` and
      ``agent_latency_ms_p95`` repeat it); ``time_to_recover_steps``, ``time_to_recover_s``: distributions;
      ``backtracks_per_episode``, ``rollbacks_per_episode``: ``{"mean", "total", "n"}``; ``mean_steps``,
      ``cost_usd``, ``wall_time_s_mean``: numbers or None;
    - breakdowns, each ``{group: <all of the above for the group's episodes>}``: ``per_scenario`` (scenario
      key), ``per_condition`` (the scenario's declared condition), ``per_overlay`` (overlay kind, ``clean``
      for none) and ``by_condition`` (clean, each overlay kind, ``harmful``, ``benign twin``; clean first);
    - ``robustness``: ``{overlay kind: ratio or None}``; ``robustness_detail``: ``{overlay kind: {"value",
      "overlay": {"k", "n"}, "clean": {"k", "n"}, "tasks"}}`` (the same tasks on both sides).
    """
    return tables.run_metrics(episode_rows(run.episodes.all(), step_latencies=True))


def episodes_csv(run: Run) -> str:
    """The run's episodes as CSV text (runs.tables.episodes_csv), in scenario and trial order."""
    return tables.episodes_csv(episode_rows(run.episodes.all()))


def step_feed(run: Run, limit: int = FEED_LENGTH) -> list[dict]:
    """The run's newest steps, newest first: an index scan on (run, -id), whatever other runs hold."""
    steps = Step.objects.filter(run=run).select_related("episode__scenario").order_by("-id")[:limit]
    return [step_event_data(s) for s in steps]


def step_event_data(step: Step) -> dict:
    return {
        "episode_id": step.episode_id,
        "scenario": step.episode.scenario.key,
        "trial": step.episode.trial,
        "index": step.index,
        "action": step.action[:200],
        "error": step.error[:200],
        "url": step.url,
        "milestones": step.data.get("milestones", []),
        "harms": step.data.get("harms", []),
        "faults": [e["name"] for e in step.data.get("events", []) if e.get("kind") == "fault"],
    }


def run_state(run: Run) -> dict:
    """Everything the live page shows, as one JSON-able dict. Also the websocket snapshot."""
    run.refresh_from_db(fields=["status", "event_seq", "started", "finished"])
    rows = episode_rows(run.episodes.all())
    summary = metrics.summarize(rows)
    counts = {s: 0 for s, _ in Episode.STATUSES}
    for row in rows:
        counts[row["status"]] += 1
    return {
        "run_id": run.pk,
        "seq": run.event_seq,
        "status": run.status,
        "counts": counts,
        # Finished, whatever the outcome: scored, errored after its retries, or unmeasured.
        "done": counts[Episode.SCORED] + counts[Episode.ERRORED] + counts[Episode.UNMEASURED],
        "total": len(rows),
        "metrics": {
            key: summary[key]
            for key in (
                "success_rate",
                "harmful_rate",
                "recovery_rate",
                "attack_success_rate",
                "infra_error_rate",
                "containment_rate",
                "time_to_recover_steps",
                "time_to_recover_s",
                "backtracks_per_episode",
                "rollbacks_per_episode",
            )
        },
        "episodes": [
            {
                "id": r["id"],
                "scenario": r["scenario"],
                "trial": r["trial"],
                "status": r["status"],
                "success": r["success"],
                "progress": r["progress"],
                "harms": r["committed_harms"],
                "attack_succeeded": r["attack_succeeded"],
                "faults": r["faults_injected"],
                "recovered": r["faults_recovered"],
                "steps": r["steps"],
                "agent_error": r["agent_error"],
                "infra_error": r["infra_error"],
                "attempts": r["attempts"],
            }
            for r in rows
        ],
        "feed": step_feed(run),
    }


RUN_SETTINGS = (("backtracking", "Backtracking"), ("guard", "Guard"), ("auto_rollback", "Auto-rollback"))
# What a comparison shows: (label, metrics key, how to read it, better when higher).
COMPARED_METRICS = (
    ("Success rate", "success_rate", "rate", True),
    ("Harmful rate", "harmful_rate", "rate", False),
    ("Containment rate", "containment_rate", "rate", True),
    ("Recovery rate", "recovery_rate", "rate", True),
    ("Attack success rate", "attack_success_rate", "rate", False),
    ("Committed harms", "committed_harms", "number", False),
    ("Contained harms", "contained_harms", "number", True),
    ("Blocked attempts", "blocked_attempts", "number", None),
    ("Backtracks per episode", "backtracks_per_episode", "mean", None),
    ("Rollbacks per episode", "rollbacks_per_episode", "mean", None),
    ("Time to recover (steps, median)", "time_to_recover_steps", "median", False),
    ("Mean steps", "mean_steps", "number", False),
    ("Wall time per episode (s)", "wall_time_s_mean", "number", False),
)
_SAME_SETUP = (("agent version", "agent_version_id"), ("suite version", "suite_hash"))


def compare_runs(a: Run, b: Run) -> dict:
    """Two runs side by side: their settings, whether only settings differ, each compared metric, and the
    tests (runs.comparisons) that decide which is better.

    A row's ``better`` (0 for ``a``, 1 for ``b``) is set only when a test finds the difference significant:
    success and harmful rate by the paired test when the runs pair (the two-proportion test otherwise), the
    other rates by the two-proportion test on their counts; counts and means are never called.
    """
    metrics = {run.pk: run.metrics or compute_run_metrics(run) for run in (a, b)}
    mismatches = [label for label, attr in _SAME_SETUP if getattr(a, attr) != getattr(b, attr)]
    setup_keys = ("trials", "seed", "max_steps", "max_invalid_actions")
    mismatches += [key for key in setup_keys if a.config.get(key) != b.config.get(key)]
    tested = comparisons.compare(a, b)
    rows = []
    for label, key, kind, higher_is_better in COMPARED_METRICS:
        cells = [metrics[run.pk].get(key) for run in (a, b)]
        better, test = None, None
        if key in tested["outcomes"]:
            better, test = tested["outcomes"][key]["better"], tested["outcomes"][key]["test"]
        elif kind == "rate" and all(isinstance(cell, dict) for cell in cells):
            test = stats.two_proportion_test(cells[0]["k"], cells[0]["n"], cells[1]["k"], cells[1]["n"])
            better = comparisons.verdict(test, test["diff"], higher_is_better)
        rows.append({"label": label, "cells": cells, "kind": kind, "better": better, "test": test})
    return {
        "a": a,
        "b": b,
        "settings": [
            {"label": label, "values": [bool(run.config.get(key)) for run in (a, b)]} for key, label in RUN_SETTINGS
        ],
        "mismatches": mismatches,
        "rows": rows,
        "tested": tested,
    }


def checkpoint_tree(steps) -> list[dict]:
    """The episode's checkpoints as a tree (roots first): one node per step's checkpoint, each under the
    checkpoint the agent was at when it took the action that led there. A node records the action that
    led to it and whether the step it started went back (a backtrack or an auto-rollback) and where to.
    """
    nodes: dict[str, dict] = {}
    roots: list[dict] = []
    previous_by_agent: dict[int, dict] = {}
    for step in steps:
        tree = step.data.get("tree") or {}
        if not tree.get("checkpoint"):
            continue
        agent = step.data.get("agent_index", 0)
        before = previous_by_agent.get(agent)
        node = {
            "id": tree["checkpoint"],
            "step": step.index,
            "title": step.title,
            "url": step.url,
            "action": step.action,
            "error": step.error,
            "restore": tree.get("restore", ""),
            "to": tree.get("to"),
            "ok": tree.get("ok"),
            "reason": tree.get("reason", ""),
            "restored": tree.get("restored", False),
            "via": "",
            "back_from": "",
            "children": [],
        }
        if before is not None and before["restore"] and before["restored"]:
            node["back_from"] = before["id"]  # it hangs under the checkpoint the agent went back to
        elif before is not None:
            node["via"] = before["action"]
        nodes[node["id"]] = node
        parent = nodes.get(tree.get("parent") or "")
        (parent["children"] if parent is not None else roots).append(node)
        previous_by_agent[agent] = node
    return roots
