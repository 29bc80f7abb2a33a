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

        def start(*args: str) -> subprocess.Popen:
            command = [sys.executable, str(CLIENT), *args]
            return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

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
