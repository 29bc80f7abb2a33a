"""HTTPS-only behaviour is on in production and off in development; the health check answers either way."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000


def test_development_serves_plain_http(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and "Strict-Transport-Security" not in response


def test_production_redirects_plain_http_to_https(production, client):
    response = client.get(reverse("login"))
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    assert "max-age=31536000" in client.get(reverse("login"), secure=True)["Strict-Transport-Security"]


def test_the_health_check_answers_ok_without_login(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200 and response.content == b"ok"


def test_the_health_check_answers_over_plain_http_in_production(production, client):
    assert client.get(reverse("healthz")).status_code == 200


def test_the_health_check_refuses_writes(client):
    assert client.post(reverse("healthz")).status_code == 405
