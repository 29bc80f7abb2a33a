"""Every kind of agent, registered and run from the dashboard on `smoke` by a real Celery worker."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents.models import Agent, AgentVersion
from runs.models import Episode, Run, Suite
from tests.conftest import _free_port
from tests.fakes.openai_server import FakeOpenAI

pytestmark = [pytest.mark.browser, pytest.mark.services]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LLM_KEY = "sk-e2e-key-0123456789"


def register(client, **fields) -> Agent:
    files = {"source_file": fields.pop("source_file")} if "source_file" in fields else {}
    response = client.post(reverse("agents:new"), {"observation": ["axtree"], **fields, **files})
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Agent.objects.get(name=fields["name"])


def start_run(client, version: AgentVersion) -> int:
    suite = Suite.objects.get(name="smoke")
    response = client.post(
        reverse("runs:start"), {"agent_version": version.pk, "suite": suite.pk, "trials": 1, "seed": 0}
    )
    assert response.status_code == 302
    return int(response.url.rstrip("/").split("/")[-1])


@pytest.fixture
def example_http_agent():
    """The reference HTTP agent on a port chosen before registration; started once its secret is known."""
    port = _free_port()
    procs = []

    def start(secret: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "http_agent" / "server.py"), "--port", str(port), "--secret", secret],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().startswith("agent listening")

    yield f"http://127.0.0.1:{port}/", start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_run_of_every_kind_completes_on_smoke(celery_worker_process, builtins, team_user, client, example_http_agent):
    team, user = team_user
    client.force_login(user)
    url, start_example = example_http_agent

    # HTTP: registered before the server runs, so the first check fails; with the shown secret it passes.
    http_agent = register(client, name="example-http", kind="http", url=url)
    page = client.get(reverse("agents:detail", args=[http_agent.pk])).content.decode()
    secret = re.search(r'<code id="agent-secret">([^<]+)</code>', page).group(1)
    assert "unreachable" in http_agent.latest_version().verify_detail
    start_example(secret)
    client.post(reverse("agents:verify", args=[http_agent.pk, 1]))
    assert http_agent.latest_version().verify_status == "verified", http_agent.latest_version().verify_detail

    source = (EXAMPLES / "python_agent" / "agent.py").read_bytes()
    python_agent = register(client, name="uploaded", kind="python", source_file=SimpleUploadedFile("agent.py", source))
    assert python_agent.latest_version().verify_status == "verified", python_agent.latest_version().verify_detail

    with FakeOpenAI(api_key=LLM_KEY) as fake:
        llm_agent = register(
            client,
            name="fake-llm",
            kind="llm",
            base_url=fake.base_url,
            model="fake-1",
            api_key=LLM_KEY,
            price_input_per_mtok="3",
            price_output_per_mtok="15",
        )
        assert llm_agent.latest_version().verify_status == "verified", llm_agent.latest_version().verify_detail

        versions = {
            "http": http_agent.latest_version(),
            "python": python_agent.latest_version(),
            "llm": llm_agent.latest_version(),
        }
        # One built-in baseline stands for the kind: the others play on smoke in tests/runner/test_builtin_agents.py
        # and tests/runs/test_benchmark_command.py.
        versions["builtin"] = Agent.objects.get(team__isnull=True, name="oracle").latest_version()
        runs = {kind: start_run(client, version) for kind, version in versions.items()}

        deadline = time.monotonic() + 480
        while Run.objects.filter(pk__in=runs.values()).exclude(status__in=[Run.COMPLETE, Run.PARTIAL]).exists():
            if time.monotonic() > deadline or celery_worker_process.poll() is not None:
                pytest.fail(f"runs did not finish:\n{celery_worker_process.log_path.read_text()[-4000:]}")
            time.sleep(1)

    for kind, run_id in runs.items():
        run = Run.objects.get(pk=run_id)
        assert run.status == Run.COMPLETE, (kind, run.status)
        episodes = list(run.episodes.all())
        assert len(episodes) == 3 and all(e.status == Episode.SCORED for e in episodes), kind
        assert all(e.agent_error == "" for e in episodes), (
            kind,
            [e.outcome.get("agent_error_detail") for e in episodes],
        )
        assert all(e.steps >= 1 for e in episodes), kind
    assert Run.objects.get(pk=runs["builtin"]).metrics["success_rate"]["value"] == 1.0

    # The LLM run reported the fake vendor's token counts and the cost from the configured prices.
    llm_episodes = Run.objects.get(pk=runs["llm"]).episodes.all()
    tokens_in = sum(e.outcome["input_tokens"] for e in llm_episodes)
    tokens_out = sum(e.outcome["output_tokens"] for e in llm_episodes)
    assert tokens_in > 0 and tokens_out > 0
    cost = sum(e.cost_usd for e in llm_episodes)
    assert cost == pytest.approx((tokens_in * 3 + tokens_out * 15) / 1e6, rel=1e-3)
    completions = [r for r in fake.requests if r.path.endswith("/chat/completions")]
    assert completions and all(r.headers.get("authorization") == f"Bearer {LLM_KEY}" for r in completions)

    # Each version's runs show on its agent page; secrets show nowhere, not in traces nor in the worker's log.
    page = client.get(reverse("agents:detail", args=[http_agent.pk])).content.decode()
    assert f"run {runs['http']}" in page and secret not in page
    worker_log = celery_worker_process.log_path.read_text()
    for episode in Episode.objects.filter(run__in=runs.values()):
        with default_storage.open(episode.trace_path) as handle:
            trace = handle.read().decode()
        assert secret not in trace and LLM_KEY not in trace
        assert json.loads(trace.splitlines()[0])["type"] == "episode_start"
    assert secret not in worker_log and LLM_KEY not in worker_log
