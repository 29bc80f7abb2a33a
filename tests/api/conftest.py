import pytest

from agents.models import Team
from api import tokens


class ApiClient:
    """Django's test client speaking to /api/v1/ with a bearer token."""

    def __init__(self, client, key: str):
        self.client, self.headers = client, {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(f"/api/v1{path}", body, content_type="application/json", headers=self.headers)


@pytest.fixture
def api(client, team_user, builtins):
    """Alice of team alpha, through the API with her token."""
    _, user = team_user
    return ApiClient(client, tokens.create_token(user, "ci")[1])


@pytest.fixture
def other_api(client, django_user_model, builtins):
    """Bob of team beta, through the API with his token."""
    bob = django_user_model.objects.create_user("bob", password="another horse battery")
    Team.objects.create(name="beta").members.add(bob)
    return ApiClient(client, tokens.create_token(bob, "ci")[1])


def error_of(response, status: int) -> dict:
    """The error body of ``response``, after checking its status and shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]
