import pytest

from agents.models import Agent
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

PYTHON_AGENT = "class Agent:\n    def act(self, request):\n        return {'action': 'noop(0)'}\n"


def test_it_lists_the_baselines(api):
    listed = api.get("/agents").json()
    assert {"oracle", "gullible", "random", "cautious"} <= {a["name"] for a in listed["items"]}
    assert all(a["team"] is None and a["kind"] == "builtin" for a in listed["items"])


def test_it_registers_an_http_agent_and_shows_its_secret_once(api, team_user):
    response = api.post("/agents", {"name": "mine", "kind": "http", "url": "http://127.0.0.1:9/"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "http" and body["team"] == "alpha" and len(body["secret"]) >= 20
    assert body["version"]["number"] == 1 and body["version"]["verify_status"] == "failed"
    again = api.get(f"/agents/{body['id']}").json()
    assert "secret" not in again and again["secret_hint"] and again["latest_version"] == 1


def test_it_registers_a_python_file_agent(api):
    response = api.post("/agents", {"name": "py", "kind": "python", "source": PYTHON_AGENT, "source_name": "a.py"})
    assert response.status_code == 201, response.content
    assert response.json()["version"]["source_name"] == "a.py" and response.json()["secret"] is None
    assert Agent.objects.get(name="py").latest_version().source == PYTHON_AGENT


def test_it_registers_an_llm_agent_keeping_its_key_secret(api):
    body = {"name": "llm", "kind": "llm", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-123456"}
    response = api.post("/agents", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["kind"] == "llm" and created["secret"] is None and created["version"]["config"]["model"] == "m"
    assert "sk-123456" not in response.content.decode()


def test_it_passes_every_llm_setting_through_to_the_version(api):
    settings = {
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "price_input_per_mtok": 2.5,
        "price_output_per_mtok": 10.0,
        "context_window": 8000,
        "parse_retries": 2,
        "history_steps": 5,
        "timeout_s": 45.0,
        "system_prompt": "Be brief.",
        "system_prompt_as_user": True,
    }
    response = api.post("/agents", {"name": "llm", "kind": "llm", "api_key": "sk-123456", **settings})
    assert response.status_code == 201, response.content
    config = response.json()["version"]["config"]
    assert {key: config[key] for key in settings} == settings


def test_it_refuses_what_the_page_refuses_with_the_page_s_message(api):
    error = error_of(api.post("/agents", {"name": "x", "kind": "http"}), 422)
    assert error["code"] == "agent_invalid" and error["message"] == "an HTTP agent needs its endpoint URL"
    assert error["details"] == [{"field": "url", "message": "an HTTP agent needs its endpoint URL"}]
    error = error_of(api.post("/agents", {"name": "x", "kind": "python", "source": "def (:\n"}), 422)
    assert error["code"] == "agent_invalid"
    assert not Agent.objects.filter(name="x").exists()


def test_it_refuses_a_timeout_out_of_range_with_the_page_s_message(api):
    message = "the per-step timeout (timeout_s) must be from 1 to 300 seconds"
    body = {"name": "py", "kind": "python", "source": PYTHON_AGENT, "timeout_s": 0.5}
    error = error_of(api.post("/agents", body), 422)
    assert error["code"] == "agent_invalid" and error["message"] == message
    assert error["details"] == [{"field": "timeout_s", "message": message}]


def test_it_sets_several_actions_per_answer_only_when_asked(api):
    body = {"name": "py", "kind": "python", "source": PYTHON_AGENT}
    assert "multi_action" not in api.post("/agents", body).json()["version"]["config"]
    response = api.post("/agents", {**body, "name": "py2", "multi_action": True})
    assert response.status_code == 201 and response.json()["version"]["config"]["multi_action"] is True


def test_a_taken_name_is_a_conflict(api):
    assert api.post("/agents", {"name": "py", "kind": "python", "source": PYTHON_AGENT}).status_code == 201
    error = error_of(api.post("/agents", {"name": "py", "kind": "python", "source": PYTHON_AGENT}), 409)
    assert error["code"] == "agent_exists"


def test_it_adds_a_version_and_lists_them(api):
    agent = api.post("/agents", {"name": "py", "kind": "python", "source": PYTHON_AGENT}).json()
    added = api.post(f"/agents/{agent['id']}/versions", {"source": PYTHON_AGENT + "# v2\n", "memory_mb": 256})
    assert added.status_code == 201, added.content
    assert added.json()["number"] == 2 and added.json()["config"]["memory_mb"] == 256
    versions = api.get(f"/agents/{agent['id']}/versions").json()
    assert [v["number"] for v in versions["items"]] == [2, 1]
    assert api.get(f"/agents/{agent['id']}/versions/1").json()["number"] == 1


def test_built_in_agents_take_no_versions(api):
    oracle = Agent.objects.get(name="oracle")
    assert error_of(api.post(f"/agents/{oracle.pk}/versions", {"observation": ["axtree"]}), 404)["code"] == "not_found"


def test_an_unknown_field_value_is_a_validation_error(api):
    error = error_of(api.post("/agents", {"name": "x", "kind": "carrier-pigeon"}), 422)
    assert error["code"] == "invalid" and error["details"][0]["field"] == "kind"
