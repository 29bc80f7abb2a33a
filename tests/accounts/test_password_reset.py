"""Password reset through Django's views, our pages and the mail backend."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", email="alice@example.test", password="old password")


def test_the_mailed_link_sets_a_new_password(client, alice, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "alice@example.test"})
    assert response.url == reverse("password_reset_done")
    assert mailoutbox[0].to == ["alice@example.test"] and "alice" in mailoutbox[0].body
    link = re.search(r"http://testserver(/password-reset/\S+/)", mailoutbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    data = {"new_password1": "a brand new one", "new_password2": "a brand new one"}
    done = client.post(form.redirect_chain[-1][0], data)
    assert done.url == reverse("password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password("a brand new one")


def test_an_unknown_address_sends_nothing_and_reveals_nothing(client, alice, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.test"})
    assert response.url == reverse("password_reset_done") and mailoutbox == []


def test_a_bad_link_shows_a_page_not_an_error(client, alice):
    response = client.get(reverse("password_reset_confirm", args=["MQ", "set-password"]))
    assert response.status_code == 200 and "cannot be used" in response.content.decode()


def test_the_login_page_links_to_the_reset(client, db):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
