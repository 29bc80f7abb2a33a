"""The CI client (client/gauntlet_client.py) as a pipeline runs it: a subprocess with only the API's URL and a
token, against Daphne serving the API and a real Celery worker playing the built-in smoke suite."""

import os
import socket
import subprocess
import sys

import pytest

from agents import services
from agents.forms import AgentForm
from api import tokens
from tests.conftest import ROOT, serving_asgi

pytestmark = [pytest.mark.services, pytest.mark.browser]

CLIENT = ROOT / "client" / "gauntlet_client.py"


@pytest.fixture
def pipeline(transactional_db, builtins, team_user, tmp_path):
    """Start the client like a CI job: ``pipeline(*args)`` is a Popen; the API is live on the test database."""
    _, user = team_user
    with serving_asgi(tmp_path / "daphne.log") as (url, _):
        env = {**os.environ, "GAUNTLET_URL": url, "GAUNTLET_TOKEN": tokens.create_token(user, "ci")[1]}

        def start(*args: str, **extra_env: str) -> subprocess.Popen:
            """The client with ``args``; no terminal, so it never prompts. ``extra_env``: more variables."""
            command = [sys.executable, str(CLIENT), *args]
            return subprocess.Popen(
                command,
                env={**env, **extra_env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

        start.url = url
        yield start


def finished(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def test_it_passes_a_run_that_meets_its_thresholds_and_fails_one_that_misses(pipeline, celery_worker_process):
    thresholds = ["--wait", "--poll", "1", "--fail-under", "success=0.8", "--fail-over", "harmful=0.05"]
    oracle = pipeline("run", "--agent", "oracle", "--suite", "smoke", "--seed", "3", *thresholds)
    gullible = pipeline("run", "--agent", "gullible@1", "--suite", "smoke", *thresholds)
    code, output = finished(oracle)
    assert code == 0, output
    assert "started: oracle v1 on smoke v1, 3 episodes" in output and "3/3 done" in output
    assert "success_rate: 1.000 [" in output and "PASSED" in output
    code, output = finished(gullible)
    assert code == 1, output
    assert "THRESHOLD MISSED" in output and "is over 0.05" in output, output  # the attack lands


def test_a_run_that_could_not_measure_exits_2(pipeline, team_user):
    # An HTTP agent whose endpoint refuses connections: the run is refused before it starts, unmeasured.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    form = AgentForm({"name": "down", "kind": "http", "url": f"http://127.0.0.1:{port}/", "observation": ["axtree"]})
    assert form.is_valid(), form.errors
    services.register_agent(team=team_user[0], name="down", kind="http", config=form.config)
    code, output = finished(pipeline("run", "--agent", "down", "--suite", "smoke", "--wait"))
    assert code == 2, output
    assert "NOT MEASURED" in output and "cannot be reached" in output


def test_a_version_that_failed_verification_runs_only_with_allow_unverified(pipeline, team_user):
    from runs.models import Run

    source = "class Agent:\n    def act(self, request):\n        return None\n"
    _, version, _ = services.register_agent(team=team_user[0], name="broken", kind="python", config={}, source=source)
    assert services.verify_version(version).verify_status == "failed"
    code, output = finished(pipeline("run", "--agent", "broken", "--suite", "smoke"))
    assert code == 3, output
    assert "broken v1 failed its verification" in output and "--allow-unverified" in output
    assert not Run.objects.exists()
    code, output = finished(pipeline("run", "--agent", "broken", "--suite", "smoke", "--allow-unverified"))
    assert code == 0 and "started: broken v1 on smoke" in output, output


LLM_FLAGS = ("--model", "fake-1", "--price-input-per-mtok", "2.5", "--price-output-per-mtok", "10")
LLM_LIMITS = ("--context-window", "8000", "--parse-retries", "2", "--step-timeout", "45")


def test_it_registers_an_llm_agent_with_the_key_from_the_environment(pipeline):
    from agents import crypto
    from agents.models import Agent
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key="sk-fake-2f9c41") as fake:
        args = ("llm-agent", "gpt", "--base-url", fake.base_url, *LLM_FLAGS, *LLM_LIMITS)
        code, output = finished(pipeline(*args, GAUNTLET_LLM_API_KEY="sk-fake-2f9c41"))
        base_url = fake.base_url
    assert code == 0, output
    assert "agent gpt" in output and "verified" in output and "sk-fake-2f9c41" not in output
    agent = Agent.objects.get(name="gpt")
    config = agent.latest_version().config
    assert config["base_url"] == base_url and config["model"] == "fake-1"
    assert (config["price_input_per_mtok"], config["price_output_per_mtok"]) == (2.5, 10)
    assert (config["context_window"], config["parse_retries"], config["timeout_s"]) == (8000, 2, 45)
    assert crypto.decrypt(agent.secret_encrypted) == "sk-fake-2f9c41"


def test_a_new_llm_version_keeps_the_newest_settings_and_key_but_those_given(pipeline):
    from agents.models import Agent
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key="sk-fake-2f9c41") as fake:
        args = ("llm-agent", "gpt", "--base-url", fake.base_url, *LLM_FLAGS, *LLM_LIMITS)
        assert finished(pipeline(*args, GAUNTLET_LLM_API_KEY="sk-fake-2f9c41"))[0] == 0
        code, output = finished(pipeline("llm-version", "gpt", "--step-timeout", "60", "--parse-retries", "4"))
    assert code == 0 and "version 2 added" in output and "verified" in output, output
    first, second = (v.config for v in Agent.objects.get(name="gpt").versions.order_by("number"))
    assert {**first, "timeout_s": 60, "parse_retries": 4} == second


def test_an_llm_agent_without_its_key_is_registered_but_not_verified_exit_2(pipeline):
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key="sk-fake-2f9c41") as fake:
        code, output = finished(pipeline("llm-agent", "gpt", "--base-url", fake.base_url, *LLM_FLAGS))
    assert code == 2, output
    assert "no API key given ($GAUNTLET_LLM_API_KEY is not set" in output and "VERIFICATION FAILED" in output


def test_usage_and_api_errors_exit_3(pipeline):
    code, output = finished(pipeline("run", "--agent", "nobody", "--suite", "smoke"))
    assert code == 3 and "not_found" in output
    code, output = finished(pipeline("run", "--suite", "smoke"))
    assert code == 3 and "--agent" in output
    code, output = finished(pipeline("--token", "gt_wrong", "run", "--agent", "oracle", "--suite", "smoke"))
    assert code == 3 and "unauthenticated" in output
    code, output = finished(pipeline("run", "--agent", "oracle", "--suite", "smoke", "--fail-under", "success=0.8"))
    assert code == 3 and "thresholds need --wait" in output


def test_the_dashboard_serves_the_client(client, db):
    response = client.get("/downloads/gauntlet_client.py")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CLIENT.read_bytes()


def test_a_run_cancelled_while_waited_for_exits_2(pipeline, team_user):
    import time

    from runs import control
    from runs.models import Run

    team, user = team_user
    waiting = pipeline(
        "run", "--agent", "oracle", "--suite", "smoke", "--team", str(team.pk), "--wait", "--poll", "0.5"
    )
    deadline = time.monotonic() + 60
    while not Run.objects.exists():  # no worker: the run stays queued until it is cancelled
        assert time.monotonic() < deadline and waiting.poll() is None
        time.sleep(0.2)
    control.cancel_run(Run.objects.get(), user)
    code, output = finished(waiting)
    assert code == 2, output
    assert "NOT MEASURED" in output and "cancelled" in output, output
