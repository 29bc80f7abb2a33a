"""The per-step timeout (``timeout_s``) is a setting of every kind of version: offered, checked and shown."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents import services
from agents.models import Agent

pytestmark = pytest.mark.django_db

PYTHON_AGENT = b"class Agent:\n    def act(self, request):\n        return 'noop(0)'\n"
MESSAGE = "the per-step timeout (timeout_s) must be from 1 to 300 seconds"


@pytest.fixture
def logged_in(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client


def register_python(client, **fields):
    data = {"name": "local", "kind": "python", "observation": ["axtree"], **fields}
    return client.post(reverse("agents:new"), {**data, "source_file": SimpleUploadedFile("agent.py", PYTHON_AGENT)})


def test_it_is_offered_for_a_python_agent_and_shown_on_its_page(logged_in):
    response = register_python(logged_in, timeout_s="7")
    assert response.status_code == 302
    assert Agent.objects.get(name="local").latest_version().config["timeout_s"] == 7
    assert "per-step timeout: 7 s" in logged_in.get(response.url).content.decode()


def test_the_page_shows_the_default_when_it_is_not_set(logged_in):
    response = register_python(logged_in)
    assert "timeout_s" not in Agent.objects.get(name="local").latest_version().config
    assert "per-step timeout: 30 s" in logged_in.get(response.url).content.decode()


def test_the_form_refuses_a_timeout_out_of_range_with_a_clear_message(logged_in):
    response = register_python(logged_in, timeout_s="301")
    assert response.status_code == 400 and MESSAGE in response.content.decode()
    assert not Agent.objects.filter(name="local").exists()


@pytest.mark.parametrize("value", [0, 301, "30", True])
def test_the_service_refuses_a_bad_timeout_for_any_kind(value):
    assert MESSAGE in services.config_errors("http", {"url": "http://127.0.0.1:9/", "timeout_s": value})
    assert MESSAGE in services.config_errors("python", {"timeout_s": value}, PYTHON_AGENT.decode())
