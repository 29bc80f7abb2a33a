"""A version whose verification failed runs only when the user confirms it; one never checked runs as today."""

import pytest
from django.urls import reverse

from agents import services as agent_services
from agents.models import AgentVersion
from runs import services
from runs.models import Run

pytestmark = pytest.mark.django_db

SUITE = "name: one\nscenarios: [{key: buy, task: shop.purchase}]\n"
ANSWERS_NONE = "class Agent:\n    def act(self, request):\n        return None\n"


@pytest.fixture
def failed_version(team_user, builtins) -> AgentVersion:
    """A Python agent whose version 1 failed its verification (its act() returns None)."""
    team, _ = team_user
    _, version, _ = agent_services.register_agent(
        team=team, name="broken", kind="python", config={}, source=ANSWERS_NONE, source_name="agent.py"
    )
    version = agent_services.verify_version(version)
    assert version.verify_status == AgentVersion.VERIFY_FAILED
    return version


@pytest.fixture
def start_form(client, team_user):
    team, user = team_user
    client.force_login(user)
    suite, _ = services.register_team_suite(SUITE, team)
    return lambda version, **extra: {"agent_version": version.pk, "suite": suite.pk, "trials": 1, "seed": 0, **extra}


def test_the_page_refuses_it_without_confirmation_and_shows_the_verification_error(client, start_form, failed_version):
    response = client.post(reverse("runs:start"), start_form(failed_version))
    assert response.status_code == 400
    page = response.content.decode()
    assert "broken v1 failed its verification" in page and "returned NoneType" in page
    assert "Run it anyway" in page
    assert not Run.objects.exists()


def test_the_page_runs_it_when_run_it_anyway_is_ticked(client, start_form, failed_version):
    response = client.post(reverse("runs:start"), start_form(failed_version, run_anyway="on"))
    assert response.status_code == 302
    assert Run.objects.get().agent_version == failed_version


def test_a_version_never_checked_runs_without_confirmation(team_user, builtins):
    team, _ = team_user
    _, version, _ = agent_services.register_agent(
        team=team, name="fresh", kind="python", config={}, source=ANSWERS_NONE, source_name="agent.py"
    )
    suite, _ = services.register_team_suite(SUITE, team)
    assert version.verify_status == AgentVersion.VERIFY_PENDING
    assert services.queue_run(agent_version=version, suite=suite, team=team, enqueue=False).episodes.count() == 1
