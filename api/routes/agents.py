"""Agents and their versions: list, read, register (HTTP, LLM, Python file) and add versions.

Registration goes through the pages' own forms (agents.forms), so the API accepts and refuses exactly what
they do, with the same messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.shortcuts import get_object_or_404
from django.utils.datastructures import MultiValueDict
from ninja import Field, Query, Router, Schema, Status

from agents import services
from agents.forms import AgentForm, VersionForm, form_kind
from agents.models import Agent, AgentVersion
from api.errors import COMMON, WRITE, ApiError
from api.pagination import Page, PageParams, paginate
from api.schemas import Text, by_name, id_path, split_reference, team_field, team_of
from runner.observation import OBSERVATION_FIELDS

router = Router(tags=["agents"])

Observation = Literal[OBSERVATION_FIELDS]  # type: ignore[valid-type]


class VersionOut(Schema):
    agent_id: int
    number: int
    label: str
    config: dict[str, Any]
    source_name: str = Field(description="the uploaded file's name (Python agents)")
    locked: bool = Field(description="a run used it: it can no longer change")
    verify_status: Literal["pending", "verified", "failed"]
    verify_detail: str = Field(description="the exact error of the last sample request, if it failed")
    verified_at: datetime | None
    created: datetime


class AgentOut(Schema):
    id: int
    name: str
    kind: Literal["builtin", "http", "python", "llm"]
    kind_label: str
    description: str
    team: str | None = Field(description="the owning team; null for a built-in baseline")
    secret_hint: str = Field(description="the last characters of the signing secret or API key")
    latest_version: int | None
    created: datetime


class AgentCreated(AgentOut):
    version: VersionOut
    secret: str | None = Field(description="an HTTP agent's signing secret: shown this once, stored encrypted")


class VersionIn(Schema):
    """A version's settings. Which apply depends on the agent's kind (as on the agent page's form)."""

    observation: list[Observation] | None = Field(None, description="what each step's request carries")
    # http
    url: Text(2000) | None = Field(None, description="HTTP: the endpoint URL")
    timeout_s: float | None = Field(None, description="every kind: per-step timeout, 1 to 300 s (30 by default)")
    multi_action: bool = Field(
        False, description="every kind: run all the actions of an answer holding several, one a line (off: refused)"
    )
    # python
    source: Text(256 * 1024) | None = Field(None, description="Python: the agent file's text")
    source_name: Text(200) = Field("agent.py", description="Python: the file's name")
    memory_mb: int | None = Field(None, description="Python: memory limit (MiB), 64 to 4096")
    cpu_s: int | None = Field(None, description="Python: CPU seconds per episode, 1 to 3600")
    tmp_mb: int | None = Field(None, description="Python: private disk (MiB), 1 to 1024")
    # llm
    base_url: Text(2000) | None = Field(None, description="LLM: the OpenAI-compatible base URL")
    model: Text(200) | None = None
    api_key: Text(1000) | None = Field(None, description="LLM: stored encrypted; omit on a version to keep it")
    temperature: float | None = None
    max_tokens: int | None = None
    price_input_per_mtok: float | None = Field(None, description="LLM: USD per million input tokens")
    price_output_per_mtok: float | None = Field(None, description="LLM: USD per million output tokens")
    vision: bool = Field(False, description="LLM: send the screenshot (observation screenshot or set_of_marks)")
    context_window: int | None = Field(None, description="LLM: the model's context window in tokens")
    parse_retries: int | None = Field(None, description="LLM: answers without a parsable action asked again")
    history_steps: int | None = Field(None, description="LLM: previous steps shown in the prompt")
    system_prompt: Text(20_000) | None = Field(None, description="LLM: extra instructions for the system prompt")
    system_prompt_as_user: bool = Field(False, description="LLM: send the instructions as a user message")


class AgentIn(VersionIn):
    team: int | None = team_field()
    name: Text(100, 1)
    kind: Literal["http", "python", "llm"]
    description: Text(5000) = ""


def agent_out(agent: Agent) -> dict:
    latest = agent.latest_version()
    kind = form_kind(agent)
    return {
        "id": agent.pk,
        "name": agent.name,
        "kind": kind,
        "kind_label": agent.kind_label,
        "description": agent.description,
        "team": agent.team.name if agent.team_id else None,
        "secret_hint": agent.secret_hint,
        "latest_version": latest.number if latest else None,
        "created": agent.created,
    }


def version_out(version: AgentVersion) -> dict:
    return {
        "agent_id": version.agent_id,
        "number": version.number,
        "label": version.label,
        "config": version.config,
        "source_name": version.source_name,
        "locked": version.locked,
        "verify_status": version.verify_status,
        "verify_detail": version.verify_detail,
        "verified_at": version.verified_at,
        "created": version.created,
    }


def _form_input(payload: VersionIn) -> tuple[dict, dict]:
    """The JSON payload as the form's POST data and files (the source becomes an uploaded file)."""
    data: dict[str, Any] = {}
    for key, value in payload.dict(exclude={"source", "source_name", "observation"}).items():
        if value is None or value is False:
            continue
        data[key] = "on" if value is True else str(value)
    files = {}
    if payload.source is not None:
        files["source_file"] = SimpleUploadedFile(payload.source_name or "agent.py", payload.source.encode())
    post = MultiValueDict({key: [value] for key, value in data.items()})
    post.setlist("observation", list(payload.observation or ["axtree"]))
    return post, files


def _form_errors(form) -> ApiError:
    errors = form.errors.get_json_data()
    first = next(iter(errors.values()))[0]["message"]
    details = [
        {"field": None if field == "__all__" else field, "message": error["message"]}
        for field, field_errors in errors.items()
        for error in field_errors
    ]
    return ApiError(422, "agent_invalid", first, details)


def get_agent_for_user(user, agent_id: int) -> Agent:
    return get_object_or_404(Agent.objects.visible_to(user).select_related("team"), pk=agent_id)


@router.get("/agents", response={200: Page[AgentOut], **COMMON}, summary="List the agents you can use")
def list_agents(request, page: Query[PageParams], name: Text(100) | None = None):
    """Built-in baselines and your teams' agents, by name."""
    agents = Agent.objects.visible_to(request.auth).select_related("team").order_by("name", "pk")
    if name:
        agents = agents.filter(name=name)
    return paginate(request, agents, page, agent_out)


@router.post("/agents", response={201: AgentCreated, **WRITE}, summary="Register an agent with its version 1")
def create_agent(request, payload: AgentIn):
    """An HTTP endpoint (you get its signing secret once), a Python file (``source``: the file's text) or an
    OpenAI-compatible LLM endpoint. Version 1 is sent one sample request at once: see its ``verify_status``."""
    team = team_of(request.auth, "the agent", payload.team)
    post, files = _form_input(payload)
    post["name"], post["kind"], post["description"] = payload.name, payload.kind, payload.description
    form = AgentForm(post, files)
    if not form.is_valid():
        raise _form_errors(form)
    if Agent.objects.filter(team=team, name=form.cleaned_data["name"].strip()).exists():
        raise ApiError(409, "agent_exists", f"your team already has an agent called {payload.name.strip()!r}")
    try:
        agent, version, secret = form.save(team)
    except services.AgentError as exc:
        raise ApiError(422, "agent_invalid", str(exc))
    return Status(201, {**agent_out(agent), "version": version_out(version), "secret": secret or None})


@router.get("/agents/{agent_id}", response={200: AgentOut, **COMMON}, summary="One agent")
def get_agent(request, agent_id: int = id_path("the agent's id")):
    return agent_out(get_agent_for_user(request.auth, agent_id))


@router.get("/agents/{agent_id}/versions", response={200: Page[VersionOut], **COMMON}, summary="An agent's versions")
def list_versions(request, page: Query[PageParams], agent_id: int = id_path("the agent's id")):
    """Newest first."""
    agent = get_agent_for_user(request.auth, agent_id)
    return paginate(request, agent.versions.select_related("agent").order_by("-number"), page, version_out)


@router.post(
    "/agents/{agent_id}/versions",
    response={201: VersionOut, **WRITE},
    summary="Add a version to one of your team's agents",
)
def create_version(request, payload: VersionIn, agent_id: int = id_path("the agent's id")):
    """Settings as for the agent's kind; earlier versions stay as they are. Sent one sample request at once."""
    agent = get_agent_for_user(request.auth, agent_id)
    if agent.is_builtin:
        raise ApiError(404, "not_found", "Built-in agents cannot be changed.")
    post, files = _form_input(payload)
    form = VersionForm(post, files, kind=form_kind(agent))
    if not form.is_valid():
        raise _form_errors(form)
    try:
        version = form.save(agent)
    except services.AgentError as exc:
        raise ApiError(422, "agent_invalid", str(exc))
    return Status(201, version_out(version))


@router.get("/agents/{agent_id}/versions/{number}", response={200: VersionOut, **COMMON}, summary="One version")
def get_version(request, agent_id: int = id_path("the agent's id"), number: int = id_path("the version number")):
    agent = get_agent_for_user(request.auth, agent_id)
    return version_out(get_object_or_404(AgentVersion.objects.select_related("agent"), agent=agent, number=number))


def resolve_version(user, reference: str) -> AgentVersion:
    """``NAME`` (its newest version) or ``NAME@N`` among the agents the user can use."""
    name, number = split_reference(reference)
    agent = by_name(Agent.objects.visible_to(user), name, user, "an agent")
    versions = agent.versions.select_related("agent")
    version = versions.filter(number=number).first() if number else versions.order_by("-number").first()
    if version is None:
        raise ApiError(404, "not_found", f"{agent.name} has no version {number}")
    return version
