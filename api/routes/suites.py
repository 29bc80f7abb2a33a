"""Suites (register YAML, list, versions) and their leaderboards."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db.models import Q
from ninja import Field, Query, Router, Schema, Status

from api.errors import COMMON, WRITE, ApiError
from api.pagination import Page, PageParams, paginate
from api.schemas import Text, id_path, split_reference, team_field, team_of
from runs import leaderboards, selectors, services
from runs.models import Run, Suite
from sandbox.suites import MAX_SUITE_BYTES, SuiteError

router = Router(tags=["suites"])

MetricName = Literal[tuple(leaderboards.METRICS)]  # type: ignore[valid-type]


class ScenarioOut(Schema):
    key: str
    task: str
    overlays: list[str]
    condition: str
    description: str


class SuiteOut(Schema):
    id: int
    name: str
    version: int
    description: str
    team: str | None = Field(description="the owning team; null for a built-in suite")
    content_hash: str
    default_trials: int
    max_steps: int
    scenarios: int
    created: datetime


class SuiteDetail(SuiteOut):
    content: str = Field(description="the suite's YAML source")
    scenario_list: list[ScenarioOut]


class SuiteRegistered(SuiteDetail):
    created_version: bool = Field(description="false when this content was already registered as this version")


class SuiteIn(Schema):
    content: Text(MAX_SUITE_BYTES, 1, "the suite's YAML source (docs/suite-format.md)")
    team: int | None = team_field()


class LeaderboardRow(Schema):
    rank: int | None = Field(description="null when the row has no value for the metric")
    agent: str
    agent_version_id: int
    version: int
    label: str
    baseline: bool
    settings: dict[str, Any]
    settings_label: str
    runs: list[int] = Field(description="the pooled runs you can open")
    published: bool
    n: int
    value: dict[str, Any] = Field(description="the ranking metric's rate: value, low, high (95 % Wilson), k, n")
    tie: bool
    metrics: dict[str, dict[str, Any]] = Field(description="every metric's rate, by key")
    cost_usd_per_episode: float | None
    latency_ms: float | None
    pareto: bool


class Leaderboard(Page[LeaderboardRow]):
    suite_id: int
    metric: str
    condition: str | None
    method: str


def suite_out(suite: Suite) -> dict:
    return {
        "id": suite.pk,
        "name": suite.name,
        "version": suite.version,
        "description": suite.description,
        "team": suite.team.name if suite.team_id else None,
        "content_hash": suite.content_hash,
        "default_trials": suite.default_trials,
        "max_steps": suite.max_steps,
        "scenarios": suite.scenarios.count(),
        "created": suite.created,
    }


def suite_detail(suite: Suite) -> dict:
    scenarios = [
        {
            "key": s.key,
            "task": s.task,
            "overlays": [str(o) for o in s.overlays],
            "condition": s.condition,
            "description": s.description,
        }
        for s in suite.scenarios.all()
    ]
    return {**suite_out(suite), "content": suite.content, "scenario_list": scenarios}


def visible_suites(user):
    return Suite.objects.visible_to(user).select_related("team")


def resolve_suite(user, reference: str) -> Suite:
    """``NAME`` (its newest version) or ``NAME@N``: the user's teams' suite of that name first, then the built-in."""
    name, number = split_reference(reference)
    suites = visible_suites(user).filter(name=name)
    if number:
        suites = suites.filter(version=number)
    own = suites.filter(team__members=user)
    teams = set(own.values_list("team_id", flat=True))
    if len(teams) > 1:
        raise ApiError(422, "ambiguous", f"more than one of your teams has a suite called {name!r}; use its id")
    suite = (own if teams else suites.filter(team__isnull=True)).order_by("-version").first()
    if suite is None:
        raise ApiError(404, "not_found", f"no suite called {reference!r} that you can see")
    return suite


@router.get("/suites", response={200: Page[SuiteOut], **COMMON}, summary="List the suites you can run")
def list_suites(request, page: Query[PageParams], name: Text(100) | None = None):
    """Built-in suites and your teams' suites, every version, by name then newest version first."""
    suites = visible_suites(request.auth).order_by("name", "-version", "pk")
    if name:
        suites = suites.filter(name=name)
    return paginate(request, suites, page, suite_out)


@router.post(
    "/suites",
    response={200: SuiteRegistered, 201: SuiteRegistered, **WRITE},
    summary="Register a suite (YAML)",
)
def register_suite(request, payload: SuiteIn):
    """New content under a name makes its next version (201); content already registered returns that version
    (200). A YAML error answers 422 ``suite_invalid`` with the line in ``details.line``."""
    team = team_of(request.auth, "the suite", payload.team)
    try:
        suite, created = services.register_team_suite(payload.content, team)
    except SuiteError as exc:
        raise ApiError(422, "suite_invalid", str(exc), {"line": exc.line})
    except services.SuiteRejected as exc:
        raise ApiError(409, "suite_name_taken", str(exc))
    return Status(201 if created else 200, {**suite_detail(suite), "created_version": created})


@router.get("/suites/{suite_id}", response={200: SuiteDetail, **COMMON}, summary="One suite version")
def get_suite(request, suite_id: int = id_path("the suite version's id")):
    """With its YAML source and its scenarios."""
    return suite_detail(selectors.get_suite_for_user(request.auth, suite_id))


@router.get("/suites/{suite_id}/versions", response={200: Page[SuiteOut], **COMMON}, summary="A suite's versions")
def list_suite_versions(request, page: Query[PageParams], suite_id: int = id_path("any version's id")):
    """Every version of the suite's name (same owner), newest first."""
    suite = selectors.get_suite_for_user(request.auth, suite_id)
    owner = Q(team=suite.team) if suite.team_id else Q(team__isnull=True)
    versions = visible_suites(request.auth).filter(owner, name=suite.name).order_by("-version")
    return paginate(request, versions, page, suite_out)


@router.get("/suites/{suite_id}/leaderboard", response={200: Leaderboard, **COMMON}, summary="A suite's leaderboard")
def get_leaderboard(
    request,
    page: Query[PageParams],
    suite_id: int = id_path("the suite version's id"),
    metric: MetricName = "success_rate",
    condition: Text(40) | None = None,
):
    """One row per agent version and run settings, pooling the complete runs you may see on this suite version
    (published runs of every team, the baselines', your teams'), ranked by ``metric``; ``condition`` filters by
    a scenario condition (or ``harmful``/``benign``)."""
    suite = selectors.get_suite_for_user(request.auth, suite_id)
    conditions = leaderboards.conditions(suite)
    if condition and condition not in conditions:
        known = ", ".join(conditions) or "none"
        raise ApiError(422, "invalid", f"Unknown condition {condition!r}; this suite has: {known}.")
    rows = leaderboards.leaderboard(suite, request.auth, metric, condition or None)
    openable = set(
        Run.objects.visible_to(request.auth)
        .filter(pk__in=[pk for r in rows for pk in r["runs"]])
        .values_list("pk", flat=True)
    )

    def row_out(row: dict) -> dict:
        return {
            **{key: row[key] for key in LeaderboardRow.model_fields if key in row and key != "runs"},
            "runs": [pk for pk in row["runs"] if pk in openable],
            "tie": bool(row.get("tie")),
            "pareto": bool(row.get("pareto")),
            "metrics": {key: row[key] for key in leaderboards.METRICS},
        }

    return {
        **paginate(request, rows, page, row_out),
        "suite_id": suite.pk,
        "metric": metric,
        "condition": condition or None,
        "method": leaderboards.METHOD,
    }
