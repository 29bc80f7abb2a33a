"""Errors answer with the site's own pages, saying what went wrong, never Django's bare ones."""

import pytest
from django.test import Client
from django.urls import path, reverse

from benchmark_site.urls import urlpatterns as site_urlpatterns

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


# The site's URLs plus one view that fails, for the 500 page (the real views have no known way to fail).
urlpatterns = [*site_urlpatterns, path("boom/", _boom)]


@pytest.fixture
def logged_in(client, team_user, builtins):
    client.force_login(team_user[1])
    return client


def test_it_answers_an_oversized_form_with_a_400_page_naming_the_limit(logged_in):
    response = logged_in.post(
        reverse("runs:suite_new"),
        data=b"content=" + b"x" * (3 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "The form is larger than the 2.5 MiB the server accepts." in page
    assert 'class="brand"' in page  # the site's layout, not Django's bare page


def test_it_answers_a_disallowed_host_with_the_400_page(client):
    response = client.get("/", HTTP_HOST="attacker.example")
    assert response.status_code == 400 and "Bad request (400)" in response.content.decode()


def test_it_answers_a_missing_object_with_the_404_page_and_its_message(logged_in):
    response = logged_in.get(reverse("runs:episode", args=[10**22]))
    page = response.content.decode()
    assert response.status_code == 404
    assert "Not found (404)" in page and "No Episode matches the given query." in page


def test_it_answers_an_unknown_address_without_django_s_class_names(logged_in):
    page = logged_in.get("/no/such/page/").content.decode()
    assert "There is nothing at this address." in page and "Resolver404" not in page


def test_it_answers_a_form_without_its_token_with_a_403_page_that_says_to_reload(team_user, builtins):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team_user[1])
    response = client.post(reverse("runs:suite_new"), {"content": "name: x"})
    assert response.status_code == 403 and "Reload the page and send the form again." in response.content.decode()


@pytest.mark.urls(__name__)
def test_it_answers_a_server_error_with_the_500_page():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500 and "Server error (500)" in response.content.decode()
    assert "a bug" not in response.content.decode()
