"""Runs (start with every setting, list, status, metrics, scorecard, bundle) and their episodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from agents.models import Agent, AgentVersion
from agents.services import AgentError, VersionUnverified
from api.errors import COMMON, WRITE, ApiError
from api.pagination import Page, PageParams, paginate
from api.routes.agents import resolve_version
from api.routes.suites import resolve_suite
from api.schemas import MAX_ID, Text, id_path, team_field, team_of
from runner.types import DEFAULT_MAX_INVALID_ACTIONS, PLAYWRIGHT_TRACE_MODES
from runs import bundle, control, counters, scorecard, selectors, services
from runs.models import Episode, Run, Suite

router = Router(tags=["runs"])

RunStatus = Literal[tuple(status for status, _ in Run.STATUSES)]  # type: ignore[valid-type]
EpisodeFilter = Literal[tuple(selectors.STATUS_FILTERS)]  # type: ignore[valid-type]
Condition = Literal[selectors.CONDITIONS]  # type: ignore[valid-type]
ZIP = {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}


class RunIn(Schema):
    """What to run: the agent version and suite, by id or by name, and the run's settings."""

    agent: Text(120) | None = Field(None, description="NAME (its newest version) or NAME@VERSION", examples=["oracle"])
    agent_version_id: int | None = Field(None, ge=1, le=MAX_ID, description="instead of agent: the version's id")
    suite: Text(120) | None = Field(None, description="NAME (its newest version) or NAME@VERSION", examples=["smoke"])
    suite_id: int | None = Field(None, ge=1, le=MAX_ID, description="instead of suite: the suite version's id")
    trials: int | None = Field(None, ge=1, le=100, description="trials per scenario; the suite's default if omitted")
    seed: int = Field(0, ge=0, le=1_000_000)
    max_steps: int | None = Field(None, ge=1, le=500, description="steps per episode; the suite's if omitted")
    backtracking: bool = Field(False, description="agents may answer backtrack(checkpoint)")
    guard: bool = Field(False, description="the suite's policies block harmful writes before they land")
    auto_rollback: bool = Field(False, description="harm from a reversible write is undone at once")
    max_invalid_actions: int = Field(
        DEFAULT_MAX_INVALID_ACTIONS,
        ge=1,
        le=services.MAX_INVALID_ACTIONS_LIMIT,
        description="unparsable actions in a row that end an episode as agent_bad_response",
    )
    playwright_trace: Literal[PLAYWRIGHT_TRACE_MODES] = "off"  # type: ignore[valid-type]
    team: int | None = team_field()
    allow_unverified: bool = Field(
        False, description="run an agent version whose verification failed (else 409 agent_unverified)"
    )


class Counts(Schema):
    queued: int
    running: int
    scored: int
    errored: int
    unmeasured: int
    cancelled: int
    total: int
    done: int = Field(description="scored, errored, unmeasured and cancelled")


class RunOut(Schema):
    id: int
    status: RunStatus
    agent_id: int
    agent: str
    agent_version: int
    agent_version_id: int
    suite_id: int
    suite: str
    suite_version: int
    suite_hash: str
    config: dict[str, Any] = Field(description="the run's settings")
    team: str | None
    published: bool
    counts: Counts
    created: datetime
    started: datetime | None
    finished: datetime | None
    url: str = Field(description="the run's page")


class RunStarted(RunOut):
    enqueue_deferred: bool = Field(description="the job queue was unreachable: the run starts when it is back")


class RunMetrics(Schema):
    run_id: int
    status: RunStatus
    final: bool = Field(description="the run has ended; the metrics will not change")
    counts: Counts
    metrics: dict[str, Any] = Field(
        description="rates as {value, low, high, k, n} (95 % Wilson interval). A finished run has every metric "
        "(pass^k, breakdowns, latencies); a running one the headline rates counted so far"
    )


class EpisodeOut(Schema):
    id: int
    run_id: int
    scenario: str
    condition: str
    trial: int
    seed: int
    status: str = Field(description="queued, running, scored, errored, unmeasured or cancelled")
    success: bool | None
    progress: float | None
    committed_harms: int
    contained_harms: int
    blocked_attempts: int
    policy_violations: int
    attack_exposed: bool
    attack_succeeded: bool
    faults_injected: int
    faults_recovered: int
    steps: int
    backtracks: int
    rollbacks: int
    refused: bool
    agent_error: str
    infra_error: str
    attempts: int
    cost_usd: float
    wall_time_s: float | None
    started: datetime | None
    finished: datetime | None
    has_trace: bool


def _counts(c) -> dict:
    values = {status: getattr(c, status) for status in counters.STATUSES}
    total = sum(values.values())
    return {**values, "total": total, "done": total - values["queued"] - values["running"]}


def run_out(request, run: Run) -> dict:
    version = run.agent_version
    return {
        "id": run.pk,
        "status": run.status,
        "agent_id": version.agent_id,
        "agent": version.agent.name,
        "agent_version": version.number,
        "agent_version_id": version.pk,
        "suite_id": run.suite_id,
        "suite": run.suite.name,
        "suite_version": run.suite.version,
        "suite_hash": run.suite_hash,
        "config": run.config,
        "team": run.team.name if run.team_id else None,
        "published": run.published,
        # The list loads each run's counters with it; a run without a row yet is counted from its episodes.
        "counts": _counts(getattr(run, "counters", None) or selectors.run_counters(run)),
        "created": run.created,
        "started": run.started,
        "finished": run.finished,
        "url": request.build_absolute_uri(f"/runs/{run.pk}/"),
    }


def episode_out(episode: Episode) -> dict:
    fields = EpisodeOut.model_fields.keys() - {"scenario", "condition", "has_trace"}
    return {
        **{name: getattr(episode, name) for name in fields},
        "scenario": episode.scenario.key,
        "condition": episode.scenario.condition,
        "has_trace": bool(episode.trace_path),
    }


def get_run(user, run_id: int) -> Run:
    return selectors.get_run_for_user(user, run_id)


@router.get("/runs", response={200: Page[RunOut], **COMMON}, summary="List the runs you can see")
def list_runs(
    request,
    page: Query[PageParams],
    status: RunStatus | None = None,
    agent_id: int | None = Query(None, ge=1, le=MAX_ID),
    suite_id: int | None = Query(None, ge=1, le=MAX_ID),
):
    """Your teams' runs and public ones, newest first."""
    runs = Run.objects.visible_to(request.auth).select_related("agent_version__agent", "suite", "team", "counters")
    if status:
        runs = runs.filter(status=status)
    if agent_id:
        runs = runs.filter(agent_version__agent_id=agent_id)
    if suite_id:
        runs = runs.filter(suite_id=suite_id)
    return paginate(request, runs.order_by("-created", "-pk"), page, lambda run: run_out(request, run))


@router.post("/runs", response={201: RunStarted, **WRITE}, summary="Start a run")
def start_run(request, payload: RunIn):
    """Queues one episode per scenario × trial for your team. A run of an HTTP or LLM agent whose endpoint
    cannot be reached is refused (409 ``agent_unreachable``) before anything is created, and so is a run of a
    version whose verification failed unless ``allow_unverified`` is true (409 ``agent_unverified``, the
    verification's error in ``details.verify_detail``)."""
    user = request.auth
    if (payload.agent is None) == (payload.agent_version_id is None):
        raise ApiError(422, "invalid", "give either agent (NAME or NAME@VERSION) or agent_version_id")
    if (payload.suite is None) == (payload.suite_id is None):
        raise ApiError(422, "invalid", "give either suite (NAME or NAME@VERSION) or suite_id")
    if payload.agent is not None:
        version = resolve_version(user, payload.agent)
    else:
        visible = AgentVersion.objects.filter(agent__in=Agent.objects.visible_to(user)).select_related("agent")
        version = get_object_or_404(visible, pk=payload.agent_version_id)
    if payload.suite is not None:
        suite = resolve_suite(user, payload.suite)
    else:
        suite = get_object_or_404(Suite.objects.visible_to(user), pk=payload.suite_id)
    # A team's agent or suite runs in that team; built-ins in the team named, or the user's only one.
    owned = {thing.team for thing in (version.agent, suite) if thing.team_id is not None}
    if len(owned) > 1:
        raise ApiError(422, "invalid", "the agent and the suite belong to different teams; a run belongs to one")
    team = team_of(user, "the run", payload.team, default=next(iter(owned), None) if payload.team is None else None)
    if owned and team not in owned:
        (other,) = owned
        raise ApiError(422, "invalid", f"team {team.name} cannot run what belongs to team {other.name}")
    try:
        run = services.queue_run(
            agent_version=version,
            suite=suite,
            team=team,
            user=user,
            trials=payload.trials,
            seed=payload.seed,
            max_steps=payload.max_steps,
            backtracking=payload.backtracking,
            guard=payload.guard,
            auto_rollback=payload.auto_rollback,
            max_invalid_actions=payload.max_invalid_actions,
            playwright_trace=payload.playwright_trace,
            allow_unverified=payload.allow_unverified,
        )
    except VersionUnverified as exc:
        raise ApiError(409, "agent_unverified", str(exc), {"verify_detail": exc.detail})
    except AgentError as exc:
        raise ApiError(409, "agent_unreachable", str(exc))
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc))
    return Status(201, {**run_out(request, run), "enqueue_deferred": run.enqueue_deferred})


@router.get("/runs/{run_id}", response={200: RunOut, **COMMON}, summary="A run's status and counts")
def get_run_status(request, run_id: int = id_path("the run's id")):
    return run_out(request, get_run(request.auth, run_id))


@router.get("/runs/{run_id}/metrics", response={200: RunMetrics, **COMMON}, summary="A run's metrics")
def get_run_metrics(request, run_id: int = id_path("the run's id")):
    run = get_run(request.auth, run_id)
    summary = selectors.run_summary(run)
    final = summary["status"] in Run.FINAL
    if final:
        run.refresh_from_db(fields=["metrics"])
    metrics = run.metrics if final and run.metrics else summary["metrics"]
    counts = {**summary["counts"], "total": summary["total"], "done": summary["done"]}
    return {"run_id": run.pk, "status": summary["status"], "final": final, "counts": counts, "metrics": metrics}


@router.get("/runs/{run_id}/scorecard", response={200: dict[str, Any], **COMMON}, summary="A run's scorecard")
def get_run_scorecard(request, run_id: int = id_path("the run's id")):
    """Every metric of the run page's scorecard with its interval and k/n: overall, by condition, by scenario;
    pass^k, consistency, robustness, cost, tokens and latency. ``stale`` or ``pending`` while a big run runs."""
    return scorecard.run_scorecard(get_run(request.auth, run_id))


@router.get(
    "/runs/{run_id}/bundle",
    response={**COMMON},
    openapi_extra={"responses": {200: {"description": "The run bundle (a zip), streamed as it is made", **ZIP}}},
    summary="Download the run bundle",
)
def get_run_bundle(request, run_id: int = id_path("the run's id")):
    """run.json, episodes.csv, steps.parquet and every episode's trace.jsonl and screenshots, as one zip."""
    return bundle.response(request, get_run(request.auth, run_id))


@router.get("/runs/{run_id}/episodes", response={200: Page[EpisodeOut], **COMMON}, summary="A run's episodes")
def list_episodes(
    request,
    page: Query[PageParams],
    run_id: int = id_path("the run's id"),
    status: EpisodeFilter | None = Query(None, description="as the run page's filter (succeeded, harmed, … too)"),
    scenario: Text(120) | None = None,
    condition: Condition | None = None,
):
    """In scenario then trial order."""
    run = get_run(request.auth, run_id)
    episodes = Episode.objects.filter(run=run).select_related("scenario")
    if status:
        episodes = episodes.filter(selectors.STATUS_FILTERS[status][0])
    if scenario:
        episodes = episodes.filter(scenario__key=scenario)
    if condition:
        episodes = episodes.filter(scenario__condition=condition)
    return paginate(request, episodes.order_by("id"), page, episode_out)


class Cancelled(RunOut):
    withdrawn: int = Field(description="queued episodes withdrawn")
    stopped: int = Field(description="running episodes that stop at their next step")
    already: bool = Field(description="the run was already cancelled: nothing changed")
    message: str


class Retried(RunOut):
    queued: int = Field(description="errored episodes queued again")


class RerunIn(Schema):
    """Settings to change; the others are the run's own. The agent version and suite version stay the same."""

    trials: int | None = Field(None, ge=1, le=100)
    seed: int | None = Field(None, ge=0, le=1_000_000)
    max_steps: int | None = Field(None, ge=1, le=500)
    backtracking: bool | None = None
    guard: bool | None = None
    auto_rollback: bool | None = None
    max_invalid_actions: int | None = Field(None, ge=1, le=services.MAX_INVALID_ACTIONS_LIMIT)
    playwright_trace: Literal[PLAYWRIGHT_TRACE_MODES] | None = None  # type: ignore[valid-type]


@router.post("/runs/{run_id}/cancel", response={200: Cancelled, **WRITE}, summary="Cancel a run")
def cancel_run(request, run_id: int = id_path("the run's id")):
    """Queued episodes are withdrawn, running ones stop at their next step; what was scored is kept and the
    run ends ``cancelled``. Cancelling a cancelled run changes nothing (``already``); a run that has ended
    otherwise is a 409 ``run_finished``."""
    run = control.run_for_member(request.auth, run_id)
    try:
        done = control.cancel_run(run, request.auth)
    except control.RunControlError as exc:
        raise ApiError(409, "run_finished", str(exc))
    run.refresh_from_db()
    return {
        **run_out(request, run),
        "withdrawn": done.withdrawn,
        "stopped": done.stopped,
        "already": done.already,
        "message": done.message,
    }


@router.post("/runs/{run_id}/retry", response={200: Retried, **WRITE}, summary="Retry a run's errored episodes")
def retry_run(request, run_id: int = id_path("the run's id")):
    """The run's errored episodes (infrastructure failures after their retries) are queued again for fresh
    attempts, and the run is running again. 409 ``nothing_to_retry`` when none errored or the run was
    cancelled."""
    run = control.run_for_member(request.auth, run_id)
    try:
        queued = control.retry_errored(run, request.auth)
    except control.RunControlError as exc:
        raise ApiError(409, "nothing_to_retry", str(exc))
    run.refresh_from_db()
    return {**run_out(request, run), "queued": queued}


@router.post("/runs/{run_id}/rerun", response={201: RunStarted, **WRITE}, summary="Re-run with other settings")
def rerun_run(request, payload: RerunIn, run_id: int = id_path("the run's id")):
    """A new run of the same agent version and suite version, with the run's settings except those given."""
    run = control.run_for_member(request.auth, run_id)
    try:
        new = control.rerun(run, request.auth, **payload.dict(exclude_none=True))
    except AgentError as exc:
        raise ApiError(409, "agent_unreachable", str(exc))
    except control.RunControlError as exc:
        raise ApiError(422, "invalid", str(exc))
    return Status(201, {**run_out(request, new), "enqueue_deferred": new.enqueue_deferred})
