import pytest
from django.urls import reverse

from api.models import ApiToken
from tests.api.conftest import ApiClient, error_of

pytestmark = pytest.mark.django_db


def test_it_refuses_a_request_without_credentials(client, builtins):
    response = client.get("/api/v1/runs")
    assert error_of(response, 401)["code"] == "unauthenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_it_accepts_a_token_and_records_its_use(api):
    assert api.get("/runs").status_code == 200
    assert ApiToken.objects.get().last_used is not None


def test_it_refuses_an_unknown_or_malformed_token(client, api):
    for header in ("Bearer gt_nope", "Bearer ", "Basic YWxpY2U6eA==", "gt_nope"):
        assert error_of(client.get("/api/v1/runs", headers={"Authorization": header}), 401)["code"] == "unauthenticated"


def test_a_revoked_token_is_refused(client, team_user, builtins):
    _, user = team_user
    client.force_login(user)
    client.post(reverse("api_tokens"), {"name": "pipeline"})
    key = client.get(reverse("api_tokens")).context["shown"]["key"]
    client.logout()
    assert ApiClient(client, key).get("/agents").status_code == 200
    client.force_login(user)
    client.post(reverse("api_token_revoke", args=[ApiToken.objects.get().pk]))
    client.logout()
    assert error_of(ApiClient(client, key).get("/agents"), 401)["code"] == "unauthenticated"


def test_the_tokens_page_shows_a_new_token_once_and_keeps_only_its_hash(client, team_user):
    _, user = team_user
    client.force_login(user)
    response = client.post(reverse("api_tokens"), {"name": "github-actions"}, follow=True)
    key = response.context["shown"]["key"]
    assert key.startswith("gt_") and key.encode() in response.content
    token = ApiToken.objects.get()
    assert token.name == "github-actions" and key not in token.key_hash and token.prefix == key[:10]
    again = client.get(reverse("api_tokens"))
    assert key.encode() not in again.content and b"github-actions" in again.content
    assert b"API tokens" in client.get(reverse("runs:index")).content  # linked from the nav


def test_the_tokens_page_refuses_a_nameless_token(client, team_user):
    client.force_login(team_user[1])
    response = client.post(reverse("api_tokens"), {"name": "  "})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_nobody_revokes_another_person_s_token(client, api, django_user_model):
    intruder = django_user_model.objects.create_user("mallory", password="x")
    client.force_login(intruder)
    assert client.post(reverse("api_token_revoke", args=[ApiToken.objects.get().pk])).status_code == 404
    assert ApiToken.objects.exists()


def test_the_session_works_for_the_pages_scripts(client, team_user, builtins):
    client.force_login(team_user[1])
    assert client.get("/api/v1/agents").status_code == 200


def test_a_session_post_needs_the_csrf_token(team_user, builtins):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(team_user[1])
    body = {"content": "name: mine\nscenarios:\n  - key: buy\n    task: shop.purchase\n"}
    refused = browser.post("/api/v1/suites", body, content_type="application/json")
    assert error_of(refused, 403)["code"] == "csrf_failed"
    browser.get(reverse("api_tokens"))  # any page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/v1/suites", body, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert accepted.status_code == 201, accepted.content
