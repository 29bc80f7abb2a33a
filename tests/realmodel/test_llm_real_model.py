"""The `llm` agent against a real model: Gemma 3 270M on llama-cpp-python's server, through a recording proxy.

Opt-in (``./gauntlet test -m realmodel``): the first run builds llama-cpp-python from source. A small model
plays badly; what is checked is that the platform measures it right: the run completes, every token the server
counted is in the episodes' totals and their steps, and every reply the server gave is on record.
"""

import json
import time

import pytest
from django.core.files.storage import default_storage

from agents import services as agent_services
from agents.models import Agent
from runner.types import AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_TIMEOUT
from runs import services
from runs.models import Episode, Run, Step, Suite
from tests.realmodel.proxy import RecordingProxy
from tests.realmodel.server import CONTEXT_TOKENS, MODEL_ALIAS

pytestmark = [pytest.mark.realmodel, pytest.mark.services, pytest.mark.browser, pytest.mark.timeout(3600)]

# Measured on two cores shared with Chromium and the worker: a call of about 2,500 prompt tokens takes 30 to 70 s,
# so a few steps per episode keep the run within a quarter of an hour.
MAX_STEPS = 4
RUN_TIMEOUT_S = 2400
# The agent errors a scored episode may carry as the model's own failure ("" for none).
AGENT_FAILURES = {"", AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_TIMEOUT}


def llm_config(base_url: str) -> dict:
    return {
        "name": "llm",
        "base_url": base_url,
        "model": MODEL_ALIAS,
        # The pretrained 270M model rarely stops on its own: the reply budget is what bounds a call's time.
        "max_tokens": 64,
        "observation": ["axtree"],
        # Read by the driver that fits its prompt to the window, retries unparsable replies and bounds each step
        # by timeout_s; older drivers ignore them. One retry keeps a step within two calls.
        "context_window": CONTEXT_TOKENS,
        "parse_retries": 1,
        "timeout_s": 180,
    }


@pytest.fixture
def played(real_model, celery_worker_process, builtins, team_user):
    """The smoke suite played once by the `llm` agent through a recording proxy: (run, proxy)."""
    team, user = team_user
    with RecordingProxy(real_model) as proxy:
        _, version, _ = agent_services.register_agent(
            team=team, name="gemma", kind=Agent.KIND_BUILTIN, config=llm_config(proxy.base_url)
        )
        run = services.queue_run(
            agent_version=version,
            suite=Suite.objects.get(name="smoke"),
            team=team,
            user=user,
            trials=1,
            max_steps=MAX_STEPS,
        )
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while Run.objects.filter(pk=run.pk).exclude(status__in=[Run.COMPLETE, Run.PARTIAL]).exists():
            if time.monotonic() > deadline or celery_worker_process.poll() is not None:
                pytest.fail(f"the run did not finish:\n{celery_worker_process.log_path.read_text()[-4000:]}")
            time.sleep(2)
        proxy.settle()
        yield Run.objects.get(pk=run.pk), proxy


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _trace_events(episode: Episode) -> list[dict]:
    with default_storage.open(episode.trace_path) as handle:
        return [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]


def test_the_platform_measures_a_real_model_exactly(played):
    run, proxy = played
    episodes = list(run.episodes.all())
    steps = list(Step.objects.filter(episode__run=run))

    # The run completes: every episode scored, an agent error only as the model's own failure.
    assert run.status == Run.COMPLETE, [(e.status, e.outcome.get("agent_error_detail")) for e in episodes]
    assert len(episodes) == 3 and all(e.status == Episode.SCORED for e in episodes)
    assert {e.agent_error for e in episodes} <= AGENT_FAILURES, [e.outcome.get("agent_error_detail") for e in episodes]
    assert proxy.completions, "the agent never called the model"

    # Usage: the episodes' totals and the steps' usage are the server's own count.
    server_in, server_out = proxy.tokens()
    totals = (sum(e.outcome["input_tokens"] for e in episodes), sum(e.outcome["output_tokens"] for e in episodes))
    assert totals == (server_in, server_out), f"{len(proxy.completions)} calls, {len(steps)} steps"
    usages = [s.data.get("usage") or {} for s in steps]
    per_step = (sum(u.get("input_tokens") or 0 for u in usages), sum(u.get("output_tokens") or 0 for u in usages))
    assert per_step == (server_in, server_out)
    traced = [e["usage"] for ep in episodes for e in _trace_events(ep) if e["type"] == "action" and "usage" in e]
    if traced:  # the trace carries per-step usage once the driver reports it there
        assert sum(u.get("input_tokens") or 0 for u in traced) == server_in
        assert sum(u.get("output_tokens") or 0 for u in traced) == server_out

    # No reply lost: every reply the server gave is in some step's record (its thought or its data).
    recorded = [" ".join(s.split()) for step in steps for s in [step.thought, *_strings(step.data)]]
    replies = [" ".join(c.reply.split())[:200] for c in proxy.completions if c.reply and c.reply.strip()]
    kept = [r for r in replies if any(r in s for s in recorded)]
    assert len(kept) == len(replies), [r for r in replies if r not in kept]
