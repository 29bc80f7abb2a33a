"""Each agent version has its own per-step timeout (``timeout_s``): its runs and its verification keep it."""

import pytest

from agents import services as agent_services
from agents.models import AgentVersion
from runner.types import AGENT_TIMEOUT
from runs import services
from runs.models import Episode
from tests.fakes.agent_server import AgentServer, answer, slow

pytestmark = pytest.mark.django_db

SUITE = "name: one\nscenarios: [{key: buy, task: shop.purchase}]\n"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens on it


def http_version(team, url: str, timeout_s: float) -> AgentVersion:
    _, version, _ = agent_services.register_agent(
        team=team, name="slow", kind="http", config={"url": url, "timeout_s": timeout_s}
    )
    return version


def play_one_episode(team, version: AgentVersion) -> Episode:
    suite, _ = services.register_team_suite(SUITE, team)
    run = services.queue_run(agent_version=version, suite=suite, team=team, enqueue=False)
    episode = run.episodes.get()
    services.execute_episode(episode.pk, worker="test")
    episode.refresh_from_db()
    return episode


@pytest.mark.browser
def test_a_step_past_the_versions_timeout_fails_as_agent_timeout_in_a_run(team_user, builtins):
    team, _ = team_user
    with AgentServer(slow(4.0, answer("stop()"))) as server:
        episode = play_one_episode(team, http_version(team, server.url, 2))
    assert episode.status == Episode.SCORED
    assert episode.agent_error == AGENT_TIMEOUT
    assert episode.outcome["agent_error_detail"] == f"no answer from {server.url} within 2 s"


@pytest.mark.browser
def test_a_step_within_the_versions_timeout_is_played_in_a_run(team_user, builtins):
    team, _ = team_user
    # Longer than the 2 s the runner would allow a driver past a 1 s timeout, shorter than the version's 5 s.
    with AgentServer(slow(3.0, answer("stop()"))) as server:
        episode = play_one_episode(team, http_version(team, server.url, 5))
    assert episode.status == Episode.SCORED
    assert episode.agent_error == "" and episode.outcome["end_reason"] == "stop"


def test_verification_fails_a_version_slower_than_its_timeout(team_user):
    team, _ = team_user
    with AgentServer(slow(4.0, answer("noop(0)"))) as server:
        version = agent_services.verify_version(http_version(team, server.url, 2))
    assert version.verify_status == AgentVersion.VERIFY_FAILED


def test_verification_passes_a_version_within_its_timeout(team_user):
    team, _ = team_user
    with AgentServer(slow(3.0, answer("noop(0)"))) as server:
        version = agent_services.verify_version(http_version(team, server.url, 5))
    assert version.verify_status == AgentVersion.VERIFIED, version.verify_detail


def test_proxy_variables_do_not_divert_an_http_agent(monkeypatch, team_user, builtins):
    team, _ = team_user
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    suite, _ = services.register_team_suite(SUITE, team)
    with AgentServer(answer("noop(0)")) as server:
        version = agent_services.verify_version(http_version(team, server.url, 5))
        run = services.queue_run(agent_version=version, suite=suite, team=team, enqueue=False)
    assert version.verify_status == AgentVersion.VERIFIED, version.verify_detail
    assert run.episodes.count() == 1 and len(server.requests) == 1


def test_verification_keeps_a_python_versions_timeout(team_user):
    team, _ = team_user
    source = "import time\n\nclass Agent:\n    def act(self, request):\n        time.sleep(4)\n        return 'noop(0)'"
    _, version, _ = agent_services.register_agent(
        team=team, name="sleepy", kind="python", config={"timeout_s": 2}, source=source, source_name="agent.py"
    )
    version = agent_services.verify_version(version)
    assert version.verify_status == AgentVersion.VERIFY_FAILED
    assert version.verify_detail == f"{AGENT_TIMEOUT}: no answer within 2 s"
