"""The run page's scorecard: runs.metrics' figures shaped into tables and chart series.

:func:`build_scorecard` is the one place that knows which metrics keys the page shows and how; it reads them
defensively (a missing key or a None value shows as "n/a"), so the metrics module can grow or rename figures
without breaking the page. Everything it returns is JSON-able and carries its display text, so the server's
template and the page's script render the same strings.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from runs import counters, metrics, selectors, tables
from runs.models import Run

NA = "n/a"
CACHE_S = 600
# A big running run's scorecard: recomputed at most this often, one request at a time (LOCK_S at most).
LIVE_REFRESH_S = 15
LOCK_S = 120

# (metrics key, label): the rates of DESIGN.md's table, in its order.
RATES = (
    ("success_rate", "Success"),
    ("harmful_rate", "Harmful"),
    ("attack_success_rate", "Attack success (ASR)"),
    ("utility_under_attack", "Utility under attack"),
    ("harmful_request_compliance", "Harmful-request compliance"),
    ("over_refusal_rate", "Over-refusal"),
    ("completion_under_policy", "Completion under policy (CuP)"),
    ("recovery_rate", "Recovery"),
    ("containment_rate", "Containment"),
    ("infra_error_rate", "Infra errors"),
)
# How the page names the task-kind conditions of runs.tables.condition_labels.
CONDITION_NAMES = {"harmful": "harmful request"}


def _get(mapping: dict | None, key: str):
    """``mapping[key]``, or None when it is absent or ``mapping`` is not a dict (metrics stored by older runs
    lack the newer keys)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


def _num(value, digits: int = 2) -> str:
    if value is None:
        return NA
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _rate_parts(value) -> tuple[str, str, str]:
    """(value, interval, n) texts of a rate dict; n/a for no episodes or anything that is not a rate."""
    if not isinstance(value, dict) or "n" not in value:
        return NA, NA, NA
    if value.get("value") is None:
        return NA, NA, str(value["n"])
    # A no-break space inside the interval: a narrow cell wraps between interval and k/n, never inside.
    interval = f"[{value['low']:.2f},\u00a0{value['high']:.2f}]"
    return f"{value['value']:.2f}", interval, f"{value.get('k', '?')}/{value['n']}"


def rate_cell(value) -> dict | str:
    """One table cell of a rate: ``{"text": "0.67", "detail": "[0.21, 0.94] 2/3"}``, or "n/a"."""
    shown, interval, n = _rate_parts(value)
    if shown == NA:
        return NA
    return {"text": shown, "detail": f"{interval} {n}"}


def _series(value) -> dict:
    """A rate as a chart point: value, whisker lengths and n (None value when there is none)."""
    if not isinstance(value, dict) or value.get("value") is None:
        return {"value": None, "minus": 0, "plus": 0, "n": value.get("n", 0) if isinstance(value, dict) else 0}
    return {
        "value": value["value"],
        "minus": round(value["value"] - value["low"], 4),
        "plus": round(value["high"] - value["value"], 4),
        "n": value["n"],
    }


def _distribution_text(d: dict | None, unit: str = "") -> str:
    """'median 4.5 · p90 6.5' (with the unit) of a distribution dict; n/a when it holds nothing."""
    if not isinstance(d, dict) or not d.get("n"):
        return NA
    return f"median {_num(d.get('median'))}{unit} · p90 {_num(d.get('p90'))}{unit}"


def _distribution_cell(d: dict | None) -> dict | str:
    """A distribution as a breakdown cell: the median on top, p90 and n beneath; n/a when it holds nothing."""
    if not isinstance(d, dict) or not d.get("n"):
        return NA
    return {"text": _num(d.get("median")), "detail": f"p90 {_num(d.get('p90'))} n={d['n']}"}


def _cost(value) -> str:
    return NA if value is None else f"${value:.4f}"


def _robustness(group: str, robustness: dict) -> str:
    """The robustness ratio of an overlay kind; clean is the baseline the ratios are taken against."""
    if group == "clean":
        return "baseline"
    value = robustness.get(group)
    if isinstance(value, dict):
        value = value.get("value")
    return _num(value)


def _overall_table(m: dict, rows: list[dict]) -> dict:
    table = []
    for key, label in RATES:
        shown, interval, n = _rate_parts(_get(m, key))
        table.append([label, shown, interval, n])
    table.append(["Agent errors", *_rate_parts(_get(m, "agent_error_rate"))])
    table.append(["Unmeasured (agent unreachable)", *_rate_parts(_unmeasured_rate(rows))])
    for key, label, unit in (
        ("time_to_recover_steps", "Time to recover (steps)", ""),
        ("time_to_recover_s", "Time to recover (seconds)", " s"),
    ):
        d = _get(m, key) or {}
        table.append([label, _distribution_text(d, unit), "", str(d.get("n", 0))])
    table.append(["Consistency (scenarios with ≥ 2 trials)", _num(_get(m, "consistency"), 4), "", ""])
    return {
        "id": "overall",
        "title": "Overall",
        "columns": ["Metric", "Value", "95 % interval", "k/n"],
        "rows": table,
    }


def _unmeasured_rate(rows: list[dict]) -> dict:
    # Over all episodes, like the infra error rate: unmeasured ones are in no other figure.
    return metrics.rate(sum(1 for r in rows if r["status"] == "unmeasured"), len(rows))


def _columns(extra=()) -> list[tuple[str, object]]:
    """(label, (group, summary) → cell) of a breakdown table: every rate, time to recover, consistency, cost."""
    columns = [(label, lambda _, s, key=key: rate_cell(_get(s, key))) for key, label in RATES]
    columns += [
        ("Time to recover (steps)", lambda _, s: _distribution_cell(_get(s, "time_to_recover_steps"))),
        ("Consistency", lambda _, s: _num(_get(s, "consistency"), 4)),
        # Agents need not report usage: a cost of 0 says nothing was reported, and is left out like n/a.
        ("Cost", lambda _, s: _cost(_get(s, "cost_usd") or None)),
    ]
    return columns + list(extra)


def _breakdown(table_id: str, title: str, first: str, groups: list[tuple[str, dict]], columns) -> dict:
    """A table of ``groups`` (name, summary) by ``columns`` (label, (name, summary) → cell); a column that is n/a
    in every row is left out, and named in the table's note."""
    cells = [[cell(name, summary) for _, cell in columns] for name, summary in groups]
    kept = [i for i in range(len(columns)) if any(row[i] != NA for row in cells)]
    dropped = [label for i, (label, _) in enumerate(columns) if i not in kept]
    rows = [
        [name, str(summary.get("scored", 0)), *(row[i] for i in kept)]
        for (name, summary), row in zip(groups, cells, strict=True)
    ]
    note = f"Left out, n/a in every row: {', '.join(dropped)}." if dropped and groups else ""
    return {
        "id": table_id,
        "title": title,
        "columns": [first, "Scored", *(columns[i][0] for i in kept)],
        "rows": rows,
        "note": note,
    }


def condition_groups(m: dict, rows: list[dict]) -> list[tuple[str, dict]]:
    """(label, summary) per condition, in the metrics' ``by_condition`` order (runs.tables.condition_labels):
    clean, each overlay kind, then harmful requests and their benign twins."""
    by_condition = _get(m, "by_condition") or {}
    ordered = sorted(by_condition.items(), key=lambda item: tables.condition_order(item[0]))
    return [(CONDITION_NAMES.get(label, label), summary) for label, summary in ordered]


def _pass_hat_k(m: dict) -> dict:
    raw = _get(m, "pass_hat_k") or {}
    points = sorted((int(k), v) for k, v in raw.items() if v is not None)
    span = _get(m, "pass_hat_k_range") or {}
    left_out = span.get("left_out") or []
    note = "k goes up to the smallest number of scored trials of a scenario."
    if left_out:
        note += f" Left out (no scored trial): {', '.join(map(str, left_out))}."
    return {"k": [k for k, _ in points], "value": [v for _, v in points], "note": note}


def _resources(m: dict, rows: list[dict]) -> dict:
    scored = [r for r in rows if r["status"] == "scored"]
    tokens_in = sum(r.get("input_tokens") or 0 for r in scored)
    tokens_out = sum(r.get("output_tokens") or 0 for r in scored)
    latency = _get(m, "step_latency_ms") or {}
    p50, p95 = latency.get("p50"), latency.get("p95")
    latency_label = f"Agent step latency (n={latency.get('n', 0)} steps)"
    rows_out = [
        ["Cost", _cost(_get(m, "cost_usd"))],
        ["Tokens (input / output)", f"{tokens_in:,} / {tokens_out:,}"],
        [latency_label, f"p50 {_num(p50)} ms · p95 {_num(p95)} ms" if p50 is not None else NA],
        ["Wall time per episode", NA if _get(m, "wall_time_s_mean") is None else f"{_num(m['wall_time_s_mean'])} s"],
        ["Steps per episode", _num(_get(m, "mean_steps"))],
    ]
    return {"id": "resources", "title": "Cost, tokens and latency", "columns": ["Figure", "Value"], "rows": rows_out}


def build_scorecard(m: dict, rows: list[dict]) -> dict:
    """The scorecard of metrics ``m`` (selectors.compute_run_metrics) over episode ``rows`` (selectors.episode_rows,
    optionally with ``input_tokens``/``output_tokens``).

    Returns ``{"done", "total", "tables": [{"id", "title", "columns", "rows", "note"?}], "charts": {...}}``.
    Tables (overall, by condition, by scenario, resources) hold display strings, except a breakdown's rate
    cell, ``{"text", "detail"}`` (see :func:`rate_cell`). Chart series: ``pass_hat_k`` (k, value, note),
    ``conditions`` (labels and success/harmful points with whisker lengths), ``success_harm`` (one point per
    scenario and one overall). Pure; tolerant of missing keys and None values.
    """
    conditions = condition_groups(m, rows)
    per_scenario = sorted((_get(m, "per_scenario") or {}).items())
    robustness = _get(m, "robustness") or {}
    done = sum(1 for r in rows if r["status"] not in ("queued", "running"))
    tables = [
        _overall_table(m, rows),
        _breakdown(
            "conditions",
            "By condition",
            "Condition",
            conditions,
            # The robustness ratio is per overlay kind; the groups' own summaries do not carry it.
            _columns([("Robustness", lambda name, _: _robustness(name, robustness))]),
        ),
        _breakdown("scenarios", "By scenario", "Scenario", per_scenario, _columns()),
        _resources(m, rows),
    ]
    scenario_points = [
        {
            "label": name,
            "success": _series(_get(s, "success_rate")),
            "harmful": _series(_get(s, "harmful_rate")),
        }
        for name, s in per_scenario
    ]
    return {
        "done": done,
        "total": len(rows),
        "tables": tables,
        "charts": {
            "pass_hat_k": _pass_hat_k(m),
            "conditions": {
                "labels": [name for name, _ in conditions],
                "success": [_series(_get(s, "success_rate")) for _, s in conditions],
                "harmful": [_series(_get(s, "harmful_rate")) for _, s in conditions],
            },
            "success_harm": {
                "scenarios": scenario_points,
                "overall": {"success": _series(_get(m, "success_rate")), "harmful": _series(_get(m, "harmful_rate"))},
            },
        },
    }


# A run page computes the scorecard itself, when it is not cached, only for runs up to this size: a larger
# run's page shows it pending and its script reads scorecard.json, so the page stays fast (the scorecard is a
# pass over every episode and its steps: seconds at 20,000 episodes).
INLINE_EPISODES = 2000


def _cache_key(run: Run) -> str:
    """Changes when an episode finishes (or is finished again): the finished counts and their outcome sums, from
    the run's counters. The run's creation time guards against a reused primary key (a test database rolled
    back)."""
    c = selectors.run_counters(run)
    finished = (c.scored, c.errored, c.unmeasured, c.successes, c.harmful, c.steps, c.faulted, c.contained_harms)
    return f"scorecard:{run.pk}:{run.created.timestamp()}:{':'.join(map(str, finished))}"


def _pending_card(run: Run) -> dict:
    """An empty scorecard marked ``pending``: the page's script replaces it from scorecard.json."""
    return {"run_id": run.pk, **build_scorecard({}, []), "done": -1, "pending": True}


def _latest_key(run: Run) -> str:
    return f"scorecard-latest:{run.pk}:{run.created.timestamp()}"


def run_scorecard(run: Run) -> dict:
    """The scorecard of the run's episodes as they stand (see :func:`build_scorecard`). Read-only.

    Cached until another episode finishes: every page watching a running run shares one computation per
    finished episode, and a finished run's scorecard is computed once per cache lifetime. A big run still
    running (more than INLINE_EPISODES episodes) is recomputed at most every LIVE_REFRESH_S seconds (longer
    when a computation takes long) and by one request at a time: the others get the latest card, marked
    ``stale``, rather than each paying seconds of CPU whenever an episode finishes.
    """
    key = _cache_key(run)
    card = cache.get(key)
    if card is not None:
        return card
    c = selectors.run_counters(run)
    if run.is_final or sum(getattr(c, status) for status in counters.STATUSES) <= INLINE_EPISODES:
        card = _compute_scorecard(run)
        cache.set(key, card, CACHE_S)
        return card
    latest_key, lock_key = _latest_key(run), f"scorecard-lock:{run.pk}:{run.created.timestamp()}"
    latest = cache.get(latest_key)
    fresh = latest is not None and time.time() - latest["at"] < max(LIVE_REFRESH_S, 4 * latest["took_s"])
    if fresh or not cache.add(lock_key, 1, LOCK_S):
        if latest is not None:
            return {**latest["card"], "stale": True}
        return _pending_card(run)
    try:
        started = time.monotonic()
        card = _compute_scorecard(run)
        cache.set(key, card, CACHE_S)
        cache.set(latest_key, {"card": card, "at": time.time(), "took_s": time.monotonic() - started}, CACHE_S)
    finally:
        cache.delete(lock_key)
    return card


def page_section(run: Run, total: int) -> str:
    """The run page's scorecard section (templates/runs/_scorecard.html), rendered once per scorecard and shared
    by every request for the page until another episode finishes: its tables are most of a run page's render.

    The scorecard is as :func:`run_scorecard` when cached or the run is small (``total`` episodes, at most
    INLINE_EPISODES); a big run shows its latest card (stale) or an empty one marked ``pending``, for the
    page's script to replace from scorecard.json.
    """
    key = _cache_key(run)
    html = cache.get(f"{key}:html")
    if html is not None:
        return mark_safe(html)  # noqa: S308 - our own template's output
    card = cache.get(key)
    if card is None and total > INLINE_EPISODES:
        latest = cache.get(_latest_key(run))
        card = latest and {**latest["card"], "stale": True}
    if card is None and total <= INLINE_EPISODES:
        card = run_scorecard(run)
    if card is None:
        card = _pending_card(run)
    html = render_to_string("runs/_scorecard.html", {"run": run, "scorecard": card})
    if not card.get("pending") and not card.get("stale"):
        cache.set(f"{key}:html", html, CACHE_S)
    return mark_safe(html)  # noqa: S308 - our own template's output


def _compute_scorecard(run: Run) -> dict:
    episodes = run.episodes.all()
    rows = selectors.episode_rows(episodes)
    # Tokens are only in the outcome JSON; the metrics do not total them (yet).
    tokens = {pk: (i, o) for pk, i, o in episodes.values_list("pk", "outcome__input_tokens", "outcome__output_tokens")}
    for row in rows:
        row["input_tokens"], row["output_tokens"] = tokens.get(row["id"], (0, 0))
    return {"run_id": run.pk, **build_scorecard(selectors.compute_run_metrics(run), rows)}
