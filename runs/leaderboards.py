"""Leaderboards: one row per agent version and run settings, pooling the scored episodes of its finished runs
on one suite version, ranked by a chosen rate with ties decided against each group's leader.

The database does the counting (one aggregate query over the episodes, grouped by run and task kind); pandas
pools those counts into rows. Which runs a viewer's board holds is :func:`eligible_runs`. Agent history
(:func:`history`) pools the same counts per suite version, settings and agent version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from runs import metrics, stats
from runs.models import Episode, Run, Scenario, Suite

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Metric:
    label: str
    lower_is_better: bool
    # The counts (columns of the pooled table) of the rate's numerator and denominator.
    k: str
    n: str


METRICS = {
    "success_rate": Metric("Success", False, "success", "n"),
    "harmful_rate": Metric("Harmful", True, "harmful", "n"),
    "completion_under_policy": Metric("Completion under policy (CuP)", False, "cup", "n"),
    "attack_success_rate": Metric("Attack success (ASR)", True, "adv_attack", "adv_n"),
    "utility_under_attack": Metric("Utility under attack", False, "adv_success", "adv_n"),
    "recovery_rate": Metric("Recovery", False, "faulted_success", "faulted_n"),
    "harmful_request_compliance": Metric("Harmful-request compliance", True, "harmful_req_harm", "harmful_req_n"),
    "over_refusal_rate": Metric("Over-refusal", True, "benign_refused", "benign_n"),
}
# The run settings that change what a run scores: runs differing in one are never pooled into one row.
SCORE_SETTINGS = ("backtracking", "guard", "auto_rollback", "max_steps", "max_invalid_actions")
TASK_KIND_CONDITIONS = {"harmful": "harmful requests", "benign": "benign twins"}
METHOD = (
    "Each row is compared with the leader of its group only (never with the row above): it shares the leader's "
    f"rank unless a {stats.TWO_PROPORTION_METHOD} finds a difference; otherwise it leads a new group. "
    "Intervals are 95 % Wilson score intervals; Δ is the difference from the group's leader with Newcombe's "
    "hybrid score interval."
)
_COUNTS = (
    "n",
    "success",
    "harmful",
    "cup",
    "adv_n",
    "adv_success",
    "adv_attack",
    "faulted_n",
    "faulted_success",
    "harmful_req_n",
    "harmful_req_harm",
    "benign_n",
    "benign_refused",
    "cost_usd",
    "latency_weighted",
    "latency_steps",
)


def eligible_runs(user=None, team=None):
    """The runs a viewer's boards and histories pool, each eligible to rank.

    Public: published runs of every team, runs of no team, and runs of the built-in baselines on built-in
    suites (a baseline's run on a team's own suite stays that team's: it would name the suite). A user also sees
    the unpublished runs of their own teams (``team`` likewise, for the command line). Eligible: complete,
    with every episode scored, so a run with an errored, unmeasured or cancelled episode ranks nowhere.
    """
    unscored = Episode.objects.filter(run=OuterRef("pk")).exclude(status=Episode.SCORED)
    baseline = Q(agent_version__agent__team__isnull=True, suite__team__isnull=True)
    public = Q(published=True) | Q(team__isnull=True) | baseline
    if user is not None and user.is_authenticated:
        public |= Q(team__in=user.teams.all())
    if team is not None:
        public |= Q(team=team)
    return Run.objects.filter(public, status=Run.COMPLETE).exclude(Exists(unscored))


def board_runs(suite: Suite, user=None, team=None):
    """The eligible runs (:func:`eligible_runs`) of this suite version."""
    return eligible_runs(user, team).filter(suite=suite)


def conditions(suite: Suite) -> dict[str, str]:
    """The conditions a board of this suite can be filtered by (key → label): the scenarios' conditions, and
    harmful requests and benign twins when the suite has them."""
    found = {c: c for c in sorted(set(suite.scenarios.values_list("condition", flat=True)))}
    for kind, label in TASK_KIND_CONDITIONS.items():
        if Episode.objects.filter(scenario__suite=suite, task_kind=kind).exists():
            found[kind] = label
    return found


def settings_label(config: dict) -> str:
    """The run settings as a reader scans them: "backtracking · guard · 30 steps"."""
    on = [name.replace("_", "-") for name in ("backtracking", "guard", "auto_rollback") if config.get(name)]
    parts = on or ["plain"]
    if config.get("max_steps"):
        parts.append(f"{config['max_steps']} steps")
    return " · ".join(parts)


def _counts(run_ids: list[int], condition: str | None = None) -> pd.DataFrame:
    """Per run, the pooled counts of its scored episodes (one aggregate query, summed per run by pandas)."""
    import pandas as pd  # here, not at import: a worker never makes a table

    columns = ["run_id", *_COUNTS]
    if not run_ids:
        return pd.DataFrame(columns=columns)
    episodes = Episode.objects.filter(run_id__in=run_ids, status=Episode.SCORED)
    scenarios = Scenario.objects.filter(suite__runs__in=run_ids).distinct()
    if condition in TASK_KIND_CONDITIONS:
        episodes = episodes.filter(task_kind=condition)
    elif condition:
        episodes = episodes.filter(
            scenario_id__in=list(scenarios.filter(condition=condition).values_list("pk", flat=True))
        )
    adversarial = [
        pk
        for pk, overlays in scenarios.values_list("pk", "overlays")
        if any(str(o).startswith("adversarial:") for o in overlays or [])
    ]
    adv = Q(scenario_id__in=adversarial)
    timed = Q(agent_latency_ms__isnull=False)
    # One pass over the episodes, grouped by run and task kind: every count is a filtered aggregate, so the
    # database never returns per-episode rows. Annotation names must not be field names (a filter on
    # ``success`` would then read the count).
    grouped = episodes.values("run_id", "task_kind").annotate(
        c_n=Count("id"),
        c_success=Count("id", filter=Q(success=True)),
        c_harmful=Count("id", filter=Q(committed_harms__gt=0)),
        # Completion under policy: succeeded without violating a policy, blocked or not (DESIGN.md).
        c_cup=Count("id", filter=Q(success=True, policy_violations=0)),
        c_refused=Count("id", filter=Q(refused=True)),
        c_adv_n=Count("id", filter=adv),
        c_adv_success=Count("id", filter=adv & Q(success=True)),
        c_adv_attack=Count("id", filter=adv & Q(attack_succeeded=True)),
        c_faulted_n=Count("id", filter=Q(faults_injected__gt=0)),
        c_faulted_success=Count("id", filter=Q(faults_injected__gt=0, success=True)),
        c_cost_usd=Sum("cost_usd"),
        # agent_latency_ms is an episode's mean per step: weigh it by its steps to get the mean over steps.
        c_latency_weighted=Sum(F("agent_latency_ms") * F("steps"), filter=timed),
        c_latency_steps=Sum("steps", filter=timed),
    )
    frame = pd.DataFrame.from_records(list(grouped))
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.rename(columns=lambda name: name.removeprefix("c_"))
    harmful_req = frame["task_kind"] == "harmful"
    benign = frame["task_kind"] == "benign"
    frame = frame.assign(
        harmful_req_n=frame["n"].where(harmful_req, 0),
        harmful_req_harm=frame["harmful"].where(harmful_req, 0),
        benign_n=frame["n"].where(benign, 0),
        benign_refused=frame["refused"].where(benign, 0),
    ).fillna({"cost_usd": 0.0, "latency_weighted": 0.0, "latency_steps": 0})
    return frame.groupby("run_id", as_index=False)[list(_COUNTS)].sum()


def _rate(row, metric: Metric) -> dict:
    return metrics.rate(int(row[metric.k]), int(row[metric.n]))


def _rank(rows: list[dict], metric_key: str) -> None:
    """Sort ``rows`` by the metric (rows without a value last) and give each a rank and tie group.

    Walking down the sorted rows, a row that the test cannot tell from its group's leader shares the leader's
    rank and group; the first row it can tell apart becomes the next group's leader, ranked by its position.
    Rows without a value get no rank.
    """
    metric = METRICS[metric_key]

    def key(row):
        value = row["value"]["value"]
        if value is None:
            return (1, 0.0, 0)
        return (0, value if metric.lower_is_better else -value, -row["value"]["n"])

    rows.sort(key=key)
    leader = None
    group = 0
    for position, row in enumerate(rows, start=1):
        rate = row["value"]
        row.update(rank=None, group=None, tie=False, vs_leader=None, diff_interval=None)
        if rate["value"] is None:
            continue
        if leader is not None:
            lead = leader["value"]
            test = stats.two_proportion_test(rate["k"], rate["n"], lead["k"], lead["n"])
            row["vs_leader"] = test
            row["diff_interval"] = stats.newcombe_interval(rate["k"], rate["n"], lead["k"], lead["n"])
            if not test["significant"]:
                row.update(rank=leader["rank"], group=group, tie=True)
                continue
        group += 1
        leader = row
        row.update(rank=position, group=group)


def _mark_pareto(rows: list[dict]) -> None:
    """Flag the rows no other row beats on both success (higher) and harmful rate (lower)."""
    points = [(r["success_rate"]["value"], r["harmful_rate"]["value"]) for r in rows]
    for row, (success, harm) in zip(rows, points, strict=True):
        row["pareto"] = success is not None and not any(
            s is not None and s >= success and h <= harm and (s, h) != (success, harm) for s, h in points
        )


def leaderboard(
    suite: Suite, user=None, metric: str = "success_rate", condition: str | None = None, team=None
) -> list[dict]:
    """The ranked rows of the suite version's board as the viewer may see it (see :func:`board_runs`).

    Each row: ``agent``, ``agent_version_id``, ``version``, ``baseline`` (a built-in agent), ``settings`` (the
    score-changing run settings) and their ``settings_label``, ``runs`` (pooled run ids, newest first),
    ``published`` (every pooled run is public), ``n``, ``value`` (the chosen metric's rate dict), a rate dict
    per metric key, ``cost_usd_per_episode``, ``latency_ms`` (mean agent latency per step), and from the
    ranking ``rank``, ``group``, ``tie``, ``vs_leader`` (the test against the group leader) and
    ``diff_interval``, plus ``pareto``. Raises ValueError for an unknown metric.
    """
    import pandas as pd  # here, not at import: a worker never makes a table

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    runs = list(
        board_runs(suite, user, team)
        .order_by("-created", "-pk")
        .values(
            "pk",
            "config",
            "published",
            "team_id",
            "agent_version_id",
            "agent_version__number",
            "agent_version__agent__name",
            "agent_version__agent__team_id",
            "suite__team_id",
        )
    )
    if not runs:
        return []
    info = pd.DataFrame.from_records(
        [
            {
                "run_id": r["pk"],
                "agent_version_id": r["agent_version_id"],
                "agent": r["agent_version__agent__name"],
                "version": r["agent_version__number"],
                "baseline": r["agent_version__agent__team_id"] is None,
                "public": r["published"]
                or r["team_id"] is None
                or (r["agent_version__agent__team_id"] is None and r["suite__team_id"] is None),
                "settings_key": tuple((name, (r["config"] or {}).get(name)) for name in SCORE_SETTINGS),
            }
            for r in runs
        ]
    )
    counts = _counts(info["run_id"].tolist(), condition)
    table = info.merge(counts, on="run_id", how="left").fillna({c: 0 for c in _COUNTS})
    table["order"] = range(len(table))  # newest run first, kept through the grouping
    pooled = table.groupby(["agent_version_id", "settings_key"], sort=False).agg(
        agent=("agent", "first"),
        version=("version", "first"),
        baseline=("baseline", "first"),
        published=("public", "all"),
        runs=("run_id", list),
        **{c: (c, "sum") for c in _COUNTS},
    )
    rows = []
    for (version_id, settings_key), row in pooled.iterrows():
        settings = dict(settings_key)
        entry = {
            "agent": row["agent"],
            "agent_version_id": int(version_id),
            "version": int(row["version"]),
            "label": f"{row['agent']} v{int(row['version'])}",
            "baseline": bool(row["baseline"]),
            "settings": settings,
            "settings_label": settings_label(settings),
            "runs": [int(pk) for pk in row["runs"]],
            "published": bool(row["published"]),
            "n": int(row["n"]),
            "cost_usd_per_episode": round(row["cost_usd"] / row["n"], 6) if row["n"] else None,
            "latency_ms": round(row["latency_weighted"] / row["latency_steps"], 1) if row["latency_steps"] else None,
        }
        entry |= {key: _rate(row, m) for key, m in METRICS.items()}
        entry["value"] = entry[metric]
        rows.append(entry)
    _rank(rows, metric)
    _mark_pareto(rows)
    return rows


def chart_data(rows: list[dict], metric: str) -> dict:
    """What the page's success-versus-harm chart plots (JSON-able): a point per row with its intervals."""
    points = [
        {
            "label": f"{row['label']} · {row['settings_label']}",
            "baseline": row["baseline"],
            "pareto": row["pareto"],
            "success": row["success_rate"],
            "harmful": row["harmful_rate"],
        }
        for row in rows
        if row["success_rate"]["value"] is not None
    ]
    return {"metric": METRICS[metric].label, "points": points}


def history(agent, user=None) -> list[dict]:
    """The agent's versions over time, one series per suite version and run settings, oldest version first.

    Each series: ``{"suite", "suite_id", "settings_label", "points"}``; each point: ``{"version",
    "success_rate", "harmful_rate", "runs", "n", "regression", "regression_reasons"}``. A version is a
    regression when its success rate is significantly lower, or its harmful rate significantly higher, than
    the version before it in the same series (two-proportion z-test). Pools the runs of
    :func:`eligible_runs`.
    """
    import pandas as pd  # here, not at import: a worker never makes a table

    runs = list(
        eligible_runs(user)
        .filter(agent_version__agent=agent)
        .values("pk", "config", "suite_id", "suite__name", "suite__version", "agent_version__number")
    )
    if not runs:
        return []
    info = pd.DataFrame.from_records(
        [
            {
                "run_id": r["pk"],
                "suite_id": r["suite_id"],
                "suite": f"{r['suite__name']} v{r['suite__version']}",
                "version": r["agent_version__number"],
                "settings_key": tuple((name, (r["config"] or {}).get(name)) for name in SCORE_SETTINGS),
            }
            for r in runs
        ]
    )
    table = info.merge(_counts(info["run_id"].tolist()), on="run_id", how="left").fillna({c: 0 for c in _COUNTS})
    pooled = table.groupby(["suite_id", "suite", "settings_key", "version"]).agg(
        runs=("run_id", "count"), n=("n", "sum"), success=("success", "sum"), harmful=("harmful", "sum")
    )
    series = []
    for (suite_id, suite, settings_key), versions in pooled.groupby(level=[0, 1, 2], sort=True):
        points, before = [], None
        for (*_, number), row in versions.iterrows():
            point = {
                "version": int(number),
                "runs": int(row["runs"]),
                "n": int(row["n"]),
                "success_rate": metrics.rate(int(row["success"]), int(row["n"])),
                "harmful_rate": metrics.rate(int(row["harmful"]), int(row["n"])),
                "regression_reasons": [],
            }
            if before is not None:
                point["regression_reasons"] = _regressions(before, point)
            point["regression"] = bool(point["regression_reasons"])
            points.append(point)
            before = point
        series.append(
            {
                "suite": suite,
                "suite_id": int(suite_id),
                "settings_label": settings_label(dict(settings_key)),
                "points": points,
            }
        )
    return series


def _regressions(before: dict, after: dict) -> list[str]:
    """What got significantly worse from ``before`` to ``after`` (lower success, higher harm)."""
    reasons = []
    for key, label, worse_when_higher in (("success_rate", "success", False), ("harmful_rate", "harmful rate", True)):
        old, new = before[key], after[key]
        test = stats.two_proportion_test(new["k"], new["n"], old["k"], old["n"])
        if test["significant"] and (test["diff"] > 0) == worse_when_higher:
            reasons.append(f"{label} {old['value']:.2f} → {new['value']:.2f} (p = {test['p_value']:.3f})")
    return reasons
