"""Several actions per answer (``multi_action``) is a setting of every kind of version: off unless ticked,
checked by the service, shown on the version page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents import services
from agents.models import Agent

pytestmark = pytest.mark.django_db

PYTHON_AGENT = b"class Agent:\n    def act(self, request):\n        return \"fill('e1', 'x')\\nclick('e2')\"\n"


@pytest.fixture
def logged_in(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client


def register_python(client, **fields):
    data = {"name": "local", "kind": "python", "observation": ["axtree"], **fields}
    return client.post(reverse("agents:new"), {**data, "source_file": SimpleUploadedFile("agent.py", PYTHON_AGENT)})


def test_it_is_off_unless_ticked(logged_in):
    assert register_python(logged_in).status_code == 302
    assert "multi_action" not in Agent.objects.get(name="local").latest_version().config


def test_ticked_it_is_stored_and_shown_on_the_page(logged_in):
    response = register_python(logged_in, multi_action="on")
    version = Agent.objects.get(name="local").latest_version()
    assert version.config["multi_action"] is True
    assert "<code>multi_action</code>: True" in logged_in.get(response.url).content.decode()


def test_verification_accepts_several_actions_only_where_they_are_allowed(logged_in):
    register_python(logged_in, name="one")
    register_python(logged_in, name="several", multi_action="on")
    one, several = (Agent.objects.get(name=n).latest_version() for n in ("one", "several"))
    assert one.verify_status == "failed" and "does not allow several actions" in one.verify_detail
    assert several.verify_status == "verified", several.verify_detail


@pytest.mark.parametrize("value", ["yes", 1])
def test_the_service_refuses_anything_but_true_or_false(value):
    assert "multi_action must be true or false" in services.config_errors("python", {"multi_action": value}, "x = 1")
