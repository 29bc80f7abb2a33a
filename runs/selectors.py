"""Reads with joins or aggregation: episode rows for metrics, the live state of a run, leaderboards."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from runs import metrics
from runs.models import Episode, Run, Step, Suite

EPISODE_FIELDS = (
    "id",
    "status",
    "scenario__key",
    "scenario__condition",
    "scenario__overlays",
    "trial",
    "success",
    "progress",
    "committed_harms",
    "contained_harms",
    "blocked_attempts",
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
)
FEED_LENGTH = 30


def get_run_for_user(user, run_id: int) -> Run:
    """The run if the user may see it (404 otherwise: private runs are not even acknowledged)."""
    return get_object_or_404(
        Run.objects.visible_to(user).select_related("agent_version__agent", "suite", "team"), pk=run_id
    )


def get_suite_for_user(user, suite_id: int) -> Suite:
    return get_object_or_404(Suite.objects.visible_to(user), pk=suite_id)


def episode_rows(episodes) -> list[dict]:
    rows = []
    for values in episodes.values(*EPISODE_FIELDS):
        overlays = values.pop("scenario__overlays") or []
        values["scenario"] = values.pop("scenario__key")
        values["condition"] = values.pop("scenario__condition")
        values["adversarial"] = any(str(o).startswith("adversarial:") for o in overlays)
        values["overlays"] = [str(o) for o in overlays] or ["clean"]
        rows.append(values)
    return rows


def compute_run_metrics(run: Run) -> dict:
    return metrics.run_metrics(episode_rows(run.episodes.all()))


def step_feed(run: Run, limit: int = FEED_LENGTH) -> list[dict]:
    steps = Step.objects.filter(episode__run=run).select_related("episode__scenario").order_by("-id")[:limit]
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
        "total": len(rows),
        "metrics": {
            key: summary[key]
            for key in ("success_rate", "harmful_rate", "recovery_rate", "attack_success_rate", "infra_error_rate")
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


LEADERBOARD_METRICS = {
    "success_rate": ("Success", False),
    "harmful_rate": ("Harmful", True),
    "recovery_rate": ("Recovery", False),
    "attack_success_rate": ("Attack success", True),
    "utility_under_attack": ("Utility under attack", False),
    "harmful_request_compliance": ("Harmful compliance", True),
    "over_refusal_rate": ("Over-refusal", True),
}


def leaderboard(suite: Suite, user, metric: str = "success_rate") -> list[dict]:
    """One row per finished run of this suite version visible to the user, ranked by ``metric``.

    Runs whose 95 % intervals overlap the row above share its rank (a statistical tie). Metrics are read
    from the JSON stored on the run when it finished (computed once, not per page view).
    """
    if metric not in LEADERBOARD_METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    lower_is_better = LEADERBOARD_METRICS[metric][1]
    runs = (
        Run.objects.visible_to(user)
        .filter(suite=suite, status__in=(Run.COMPLETE, Run.PARTIAL))
        .select_related("agent_version__agent")
        .order_by("-created")
    )
    rows = [{"run": run, "metrics": run.metrics} for run in runs if run.metrics]

    def sort_key(row):
        value = row["metrics"][metric]["value"]
        if value is None:
            return (1, 0)
        return (0, value if lower_is_better else -value)

    rows.sort(key=sort_key)
    rank = 0
    previous = None
    for position, row in enumerate(rows, start=1):
        current = row["metrics"][metric]
        if previous is None or not metrics.rates_tie(previous, current):
            rank = position
            row["tie"] = False
        else:
            row["tie"] = True
        row["rank"] = rank
        previous = current
    return rows
