"""Registering agents and their versions, their secrets, and checking a version answers the contract."""

from __future__ import annotations

import asyncio

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from agents import crypto
from agents.models import Agent, AgentVersion, Team
from runner.drivers import BUILTIN_AGENTS, agent_endpoint
from runner.drivers.http import validate_url
from runner.drivers.llm import validate_config as llm_config_errors
from runner.drivers.python import check_source
from runner.egress import check_url
from runner.observation import validate_observation_options
from runner.protocol import probe_endpoint, verify_agent
from runner.types import MULTI_ACTION_KEY, AgentSpec, multi_action_error, step_timeout_error

LLM = "llm"


class AgentError(ValueError):
    """Bad input for an agent or a version; the message is fit to show the user."""


class VersionUnverified(AgentError):
    """A run of a version whose verification failed was asked for without confirming it. ``detail`` is the
    verification's error."""

    def __init__(self, version: AgentVersion):
        self.detail = version.verify_detail
        super().__init__(
            f"{version.label} failed its verification ({version.verify_detail or 'no detail recorded'}); "
            "confirm to run it anyway, or check it again."
        )


def check_verified(version: AgentVersion, *, allow_unverified: bool = False) -> None:
    """Raise VersionUnverified for a version whose last verification failed, unless ``allow_unverified``.
    A version never checked (pending) passes, as every version did before this check existed."""
    if version.verify_status == AgentVersion.VERIFY_FAILED and not allow_unverified:
        raise VersionUnverified(version)


def config_errors(kind: str, config: dict, source: str = "") -> list[str]:
    """Everything wrong with a version's settings for an agent of ``kind``; empty when it can be run."""
    errors = []
    if "observation" in config:
        errors += validate_observation_options(config["observation"])
    timeout_error = step_timeout_error(config.get("timeout_s"))
    if timeout_error:
        errors.append(timeout_error)
    multi_action = multi_action_error(config.get(MULTI_ACTION_KEY))
    if multi_action:
        errors.append(multi_action)
    if kind == Agent.KIND_HTTP:
        error = validate_url(config.get("url", ""))
        if error:
            errors.append(error)
    elif kind == Agent.KIND_PYTHON:
        error = check_source(source)
        if error:
            errors.append(error)
    elif kind == Agent.KIND_BUILTIN:
        name = config.get("name")
        if name not in BUILTIN_AGENTS:
            errors.append(f"unknown built-in agent {name!r}; known: {', '.join(sorted(BUILTIN_AGENTS))}")
        elif name == LLM:
            # The per-step timeout is checked above for every kind; the llm check says the same, once is enough.
            errors += [error for error in llm_config_errors(config) if error not in errors]
    else:
        errors.append(f"unknown agent kind {kind!r}")
    if not errors:
        # Numeric and localhost hosts only: no DNS lookup while a form is being saved. Names are judged when
        # the version is verified, when a run starts and on every connection.
        refused = check_url(agent_endpoint(AgentSpec(kind=kind, config=config)), names=False)
        if refused:
            errors.append(f"the endpoint is {refused}")
    return errors


def reachability_problem(version: AgentVersion) -> str:
    """Why a run could not reach this version's endpoint now (the egress policy included), or "" when it can
    or the version calls no endpoint. Blocks for at most a few seconds on the network; call it before taking
    any lock."""
    spec = AgentSpec(kind=version.agent.kind, config=dict(version.config))
    if not agent_endpoint(spec):
        return ""  # nothing to reach, and no event loop to start
    return asyncio.run(probe_endpoint(spec))


def agent_spec(version: AgentVersion) -> AgentSpec:
    """What the runner needs for this version, with its secret decrypted. Never log the result's secret."""
    agent = version.agent
    return AgentSpec(
        kind=agent.kind,
        config=dict(version.config),
        label=version.label,
        secret=crypto.decrypt(agent.secret_encrypted),
        source=version.source,
    )


def _store_secret(agent: Agent, plain: str) -> None:
    agent.secret_encrypted = crypto.encrypt(plain) if plain else ""
    agent.secret_hint = crypto.hint(plain)


@transaction.atomic
def register_agent(
    *,
    team: Team,
    name: str,
    kind: str,
    config: dict,
    description: str = "",
    source: str = "",
    source_name: str = "",
    secret: str = "",
) -> tuple[Agent, AgentVersion, str]:
    """Create a team's agent with its version 1. Returns (agent, version, clear secret to show once).

    An HTTP agent gets a new signing secret; an LLM agent keeps the API key given as ``secret``.
    The version is not verified here (see :func:`verify_version`), so a slow endpoint never holds a transaction.
    """
    name = name.strip()
    if not name:
        raise AgentError("the agent needs a name")
    errors = config_errors(kind, config, source)
    if errors:
        raise AgentError("; ".join(errors))
    if kind == Agent.KIND_HTTP:
        secret = crypto.new_secret()
    agent = Agent(team=team, name=name, kind=kind, description=description)
    _store_secret(agent, secret)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise AgentError(f"your team already has an agent called {name!r}")
    version = AgentVersion.objects.create(agent=agent, number=1, config=config, source=source, source_name=source_name)
    return agent, version, secret if kind == Agent.KIND_HTTP else ""


@transaction.atomic
def add_version(agent: Agent, *, config: dict, source: str = "", source_name: str = "") -> AgentVersion:
    """A new version numbered after the newest; earlier versions stay as they were (runs keep pointing at them)."""
    if agent.is_builtin:
        raise AgentError("built-in agents cannot be changed")
    errors = config_errors(agent.kind, config, source)
    if errors:
        raise AgentError("; ".join(errors))
    Agent.objects.select_for_update().filter(pk=agent.pk).first()  # serialise numbering per agent
    number = (agent.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return AgentVersion.objects.create(
        agent=agent, number=number, config=config, source=source, source_name=source_name
    )


def set_secret(agent: Agent, plain: str | None = None) -> str:
    """Replace the agent's secret with ``plain`` (an API key, or a signing secret the team chose), or with a
    new signing secret when none is given. Returns it in clear."""
    if agent.is_builtin:
        raise AgentError("built-in agents have no secret")
    if plain is None and agent.kind == Agent.KIND_HTTP:
        plain = crypto.new_secret()
    _store_secret(agent, plain or "")
    agent.save(update_fields=["secret_encrypted", "secret_hint"])
    return plain or ""


def verify_version(version: AgentVersion) -> AgentVersion:
    """Send the version one sample request and record "verified" or the exact error. Safe to repeat.

    Blocks for at most about the version's per-step timeout (``timeout_s``); call it outside a transaction.
    """
    try:
        spec = agent_spec(version)
    except crypto.SecretUnavailable as exc:
        error = str(exc)
    else:
        error = asyncio.run(verify_agent(spec))
    version.verify_status = AgentVersion.VERIFY_FAILED if error else AgentVersion.VERIFIED
    version.verify_detail = error
    version.verified_at = timezone.now()
    AgentVersion.objects.filter(pk=version.pk).update(
        verify_status=version.verify_status, verify_detail=error, verified_at=version.verified_at
    )
    return version
