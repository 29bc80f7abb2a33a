"""Reads with joins or aggregation: episode rows for metrics, the live state of a run, leaderboards."""

from __future__ import annotations

import threading
import time

from django.db.models import F, Q
from django.shortcuts import get_object_or_404

from runs import comparisons, counters, metrics, stats, tables
from runs.models import Episode, Run, RunCounters, Scenario, Step, Suite

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
PAGE_SIZE = 50


def get_run_for_user(user, run_id: int) -> Run:
    """The run if the user may see it (404 otherwise: private runs are not even acknowledged)."""
    return get_object_or_404(
        Run.objects.visible_to(user).select_related("agent_version__agent", "suite", "team"), pk=run_id
    )


def get_episode_for_user(user, episode_id: int) -> Episode:
    """The episode if the user may see its run (404 otherwise)."""
    episode = get_object_or_404(Episode.objects.select_related("run", "scenario"), pk=episode_id)
    get_run_for_user(user, episode.run_id)
    return episode


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
        values["adversarial"] = counters.is_adversarial(overlays)
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


def run_counters(run: Run) -> RunCounters:
    """The run's counters row; counted from its episodes (and stored) if the run has none yet."""
    return RunCounters.objects.filter(run_id=run.pk).first() or RunCounters.recount(run)


def run_summary(run: Run) -> dict:
    """The live page's counters and headline figures, from the run's counters row alone (one query, whatever the
    run's size). Also what a live event carries when an episode ends.

    ``{"run_id", "status", "counts": {status: n}, "outcomes": {"succeeded", "failed", "harmed"}, "done",
    "total", "metrics"}``: ``done`` counts scored, errored, unmeasured and cancelled episodes; ``metrics`` holds the
    rates of runs.metrics.summarize that the page shows (same definitions, Wilson intervals), time to recover
    and backtracks/rollbacks per episode. pass^k, consistency, latencies and the breakdowns are left out: they
    cost a pass over every episode and are in the scorecard and the finished run's stored metrics.
    """
    c = RunCounters.objects.filter(run_id=run.pk).annotate(run_status=F("run__status")).first()
    if c is None:
        c = run_counters(run)
        c.run_status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
    counts = {status: getattr(c, status) for status in counters.STATUSES}
    total = sum(counts.values())
    return {
        "run_id": run.pk,
        "status": c.run_status,
        "counts": counts,
        "outcomes": {"succeeded": c.successes, "failed": c.scored - c.successes, "harmed": c.harmful},
        "done": counts["scored"] + counts["errored"] + counts["unmeasured"] + counts["cancelled"],
        "total": total,
        "metrics": {
            "success_rate": metrics.rate(c.successes, c.scored),
            "harmful_rate": metrics.rate(c.harmful, c.scored),
            "completion_under_policy": metrics.rate(c.policy_clean_successes, c.scored),
            "agent_error_rate": metrics.rate(c.agent_errors, c.scored),
            "recovery_rate": metrics.rate(c.faulted_successes, c.faulted),
            "attack_success_rate": metrics.rate(c.attack_succeeded, c.adversarial),
            "utility_under_attack": metrics.rate(c.adversarial_successes, c.adversarial),
            "infra_error_rate": metrics.rate(counts["errored"], total - counts["cancelled"]),
            "containment_rate": metrics.rate(c.contained_harms, c.contained_harms + c.committed_harms),
            "committed_harms": c.committed_harms,
            "contained_harms": c.contained_harms,
            "time_to_recover_steps": counters.histogram_distribution(c.recover_steps),
            "time_to_recover_s": counters.histogram_distribution(c.recover_seconds),
            "backtracks_per_episode": metrics.per_episode(c.backtracks, c.scored),
            "rollbacks_per_episode": metrics.per_episode(c.rollbacks, c.scored),
            "mean_steps": round(c.steps / c.scored, 2) if c.scored else None,
        },
    }


# The columns a row of the run page's episode table reads.
ROW_FIELDS = (
    "id",
    "run_id",
    "scenario__key",
    "scenario__condition",
    "trial",
    "status",
    "success",
    "progress",
    "committed_harms",
    "contained_harms",
    "attack_succeeded",
    "faults_injected",
    "faults_recovered",
    "steps",
    "agent_error",
    "infra_error",
    "attempts",
)


def episode_row(episode: Episode) -> dict:
    """One row of the run page's episode table, JSON-able; the same shape in the page, episodes.json, the state
    and live events. Reads the episode's scenario (load it with ``select_related("scenario")``)."""
    return {
        "id": episode.pk,
        "scenario": episode.scenario.key,
        "condition": episode.scenario.condition,
        "trial": episode.trial,
        "status": episode.status,
        "success": episode.success,
        "progress": episode.progress,
        "harms": episode.committed_harms,
        "contained": episode.contained_harms,
        "attack_succeeded": episode.attack_succeeded,
        "faults": episode.faults_injected,
        "recovered": episode.faults_recovered,
        "steps": episode.steps,
        "agent_error": episode.agent_error,
        "infra_error": episode.infra_error[:500],
        "attempts": episode.attempts,
    }


# The table's status filter: each a condition on the episode, and the counters (run_summary) that count it.
STATUS_FILTERS = {
    "queued": (Q(status=Episode.QUEUED), lambda s: s["counts"]["queued"]),
    "running": (Q(status=Episode.RUNNING), lambda s: s["counts"]["running"]),
    "scored": (Q(status=Episode.SCORED), lambda s: s["counts"]["scored"]),
    "succeeded": (Q(status=Episode.SCORED, success=True), lambda s: s["outcomes"]["succeeded"]),
    "failed": (Q(status=Episode.SCORED) & ~Q(success=True), lambda s: s["outcomes"]["failed"]),
    "harmed": (Q(status=Episode.SCORED, committed_harms__gt=0), lambda s: s["outcomes"]["harmed"]),
    "errored": (Q(status=Episode.ERRORED), lambda s: s["counts"]["errored"]),
    "unmeasured": (Q(status=Episode.UNMEASURED), lambda s: s["counts"]["unmeasured"]),
    "cancelled": (Q(status=Episode.CANCELLED), lambda s: s["counts"]["cancelled"]),
}
CONDITIONS = tuple(value for value, _ in Scenario.CONDITIONS)
MAX_PAGE = 100_000


class BadEpisodeQuery(ValueError):
    """A page or filter of the episode table that does not exist; its text says which and why."""


def episode_query(run: Run, params) -> dict:
    """The page and filter asked for by ``params`` (a QueryDict or dict of strings): ``{"page", "status",
    "scenario", "condition"}``, absent filters None. Raises BadEpisodeQuery for anything else."""
    query = {}
    raw_page = (params.get("page") or "1").strip()
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise BadEpisodeQuery(f"page must be a whole number from 1 to {MAX_PAGE}, not {raw_page[:40]!r}")
    query["page"] = int(raw_page)
    status = params.get("status") or None
    if status is not None and status not in STATUS_FILTERS:
        raise BadEpisodeQuery(f"status must be one of {', '.join(STATUS_FILTERS)}, not {status[:40]!r}")
    query["status"] = status
    condition = params.get("condition") or None
    if condition is not None and condition not in CONDITIONS:
        raise BadEpisodeQuery(f"condition must be one of {', '.join(CONDITIONS)}, not {condition[:40]!r}")
    query["condition"] = condition
    scenario = params.get("scenario") or None
    if scenario is not None and not Scenario.objects.filter(suite_id=run.suite_id, key=scenario).exists():
        raise BadEpisodeQuery(f"the run's suite has no scenario {scenario[:120]!r}")
    query["scenario"] = scenario
    return query


def episode_page(run: Run, page: int = 1, status=None, scenario=None, condition=None, summary=None) -> dict:
    """One page of the run's episode table (PAGE_SIZE rows by episode id, i.e. scenario then trial order),
    filtered: ``{"page", "pages", "per_page", "count", "filter": {...}, "rows": [episode_row, ...]}``.

    Reads only the page's rows; the count comes from the counters (``summary``, read if not given) unless a
    scenario or condition filter needs a COUNT query. A page past the last is empty, not an error: the
    filter's episodes may have moved on since the page was shown.
    """
    episodes = Episode.objects.filter(run_id=run.pk)
    if status is not None:
        episodes = episodes.filter(STATUS_FILTERS[status][0])
    if scenario is not None:
        episodes = episodes.filter(scenario__key=scenario)
    if condition is not None:
        episodes = episodes.filter(scenario__condition=condition)
    if scenario is None and condition is None:
        summary = summary or run_summary(run)
        count = STATUS_FILTERS[status][1](summary) if status else summary["total"]
    else:
        count = episodes.count()
    offset = (page - 1) * PAGE_SIZE
    rows = []
    if offset < count:
        # The page's ids first, from the index on (run, [status,] id) alone where it can serve them; then their
        # rows. With any other condition the order is an expression: PostgreSQL would otherwise walk the primary
        # key through every other run's episodes, estimating this run's evenly spread over it (they are not).
        plain = scenario is None and condition is None and status in (None, *counters.STATUSES)
        order = ("run_id", "id") if plain else ((F("id") + 0).asc(),)
        ids = list(episodes.order_by(*order).values_list("id", flat=True)[offset : offset + PAGE_SIZE])
        chosen = Episode.objects.filter(pk__in=ids).select_related("scenario").only(*ROW_FIELDS).order_by("id")
        rows = [episode_row(episode) for episode in chosen]
    return {
        "page": page,
        "pages": max(1, -(-count // PAGE_SIZE)),
        "per_page": PAGE_SIZE,
        "count": count,
        "filter": {"status": status, "scenario": scenario, "condition": condition},
        "rows": rows,
    }


def run_state(run: Run) -> dict:
    """What the live page shows on load, as one JSON-able dict: the summary (run_summary), the first page of the
    episode table (``episodes`` and ``page``) and the step feed. Also the websocket snapshot.

    ``seq`` is read first: the state then reflects at least every event up to it, so a page that applies
    only later events misses nothing (applying an event twice is harmless, it patches to the same values).
    """
    seq = Run.objects.values_list("event_seq", flat=True).get(pk=run.pk)
    summary = run_summary(run)
    page = episode_page(run, summary=summary)
    return {
        **summary,
        "seq": seq,
        "episodes": page.pop("rows"),
        "page": page,
        "feed": step_feed(run),
    }


# run_state and run_delta results shared by every request for the same run at the same sequence number (per process).
STATE_CACHE_S = 10
STATE_CACHE_ENTRIES = 256
_state_cache: dict[tuple, tuple[float, dict]] = {}
_state_cache_lock = threading.Lock()
# The keys being computed, each with the event its waiters wait on (see _shared).
_computing: dict[tuple, threading.Event] = {}
COMPUTE_WAIT_S = 5.0


def shared_run_state(run: Run) -> dict:
    """run_state(run), computed once per sequence number and shared by the requests that read the same one.

    Every change the state shows (an episode's row, a step in the feed, the run's counters and status) takes the
    run's next sequence number in the transaction that makes it, so the state read after seq S reflects every
    event up to S; requests whose run row (read at their start) says S may all be given it: the page applies
    the events after S on top, and applying one twice patches to the same values. The key also holds the run's
    status and creation time (a reused primary key in a rolled-back database), and an entry lives at most
    STATE_CACHE_S seconds, bounding what a change made outside the event path (an admin edit) can hide.
    Returns a copy the caller may change at the top level.
    """
    return _shared(run, "state", lambda: run_state(run))


def shared_run_delta(run: Run, since: int) -> dict:
    """run_delta(run, since), shared like shared_run_state by the requests at the same sequence number."""
    return _shared(run, ("delta", since), lambda: run_delta(run, since))


def shared_html(run: Run, state: dict, name: str, render) -> str:
    """``render()``'s HTML for a part of the run page that shows only ``state`` (shared_run_state's), rendered
    once per sequence number like the state itself and shared by the requests that show the same one: the
    counters and the episode table's first page were most of a run page's render under many readers."""
    return _shared(run, ("html", name), lambda: {"seq": state["seq"], "html": render()})["html"]


def _shared(run: Run, kind, compute) -> dict:
    """The cached value of ``kind`` for the run at its sequence number, or ``compute()``'s, computed by one
    request at a time: Django runs each request in a thread of its own, so at a new live event every page
    reader in flight missed the cache at once and each computed the same state (on a busy page, most of the
    web process's CPU in bursts, and seconds of waiting for everyone). The others wait for it instead, at most
    COMPUTE_WAIT_S, then compute their own."""
    base = (run.pk, run.created.timestamp(), run.status, kind)
    key = (*base, run.event_seq)
    waited = False
    while True:
        now = time.monotonic()
        with _state_cache_lock:
            hit = _state_cache.get(key)
            if hit is not None and now - hit[0] < STATE_CACHE_S:
                return dict(hit[1])
            computing = _computing.get(key)
            if computing is None:
                mine = _computing[key] = threading.Event()
                break
            if waited:  # the other request took too long: compute our own, beside it
                mine = None
                break
        # Woken: the value is cached, or that computation failed and one of us tries. Timed out: our own.
        waited = not computing.wait(COMPUTE_WAIT_S)
    try:
        value = compute()
        with _state_cache_lock:
            for seq in {run.event_seq, value["seq"]}:
                _state_cache[(*base, seq)] = (now, value)
            if len(_state_cache) > STATE_CACHE_ENTRIES:
                # Oldest first (insertion order): the expired ones, then down to half the bound.
                for old, (at, _) in list(_state_cache.items()):
                    if now - at >= STATE_CACHE_S or len(_state_cache) > STATE_CACHE_ENTRIES // 2:
                        del _state_cache[old]
    finally:
        if mine is not None:
            with _state_cache_lock:
                del _computing[key]
            mine.set()
    return dict(value)


# A delta with more changed rows than this is not worth patching row by row: the page reloads its table.
DELTA_MAX_ROWS = 500


def run_delta(run: Run, since: int) -> dict:
    """What changed in the run after the live event ``since``: ``{"seq", "run", "episodes", "steps", "full"}``.

    ``episodes`` holds the rows of the episodes whose last change came after ``since`` (in the order of their
    changes), ``steps`` the recent step feed, ``run`` the run's summary and ``seq`` the run's latest sequence
    number, read first: a row may be newer than ``seq`` but never older. ``full`` is true, with no rows, when
    more than DELTA_MAX_ROWS changed or ``since`` is ahead of the run (the page's view is not one of this run's
    states): the page then reloads its table.
    """
    seq = Run.objects.values_list("event_seq", flat=True).get(pk=run.pk)
    changed = list(run.episodes.filter(seq__gt=since).select_related("scenario").order_by("seq")[: DELTA_MAX_ROWS + 1])
    full = since > seq or len(changed) > DELTA_MAX_ROWS
    return {
        "seq": seq,
        "run": run_summary(run),
        "episodes": [] if full else [episode_row(e) for e in changed],
        "steps": step_feed(run),
        "full": full,
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
