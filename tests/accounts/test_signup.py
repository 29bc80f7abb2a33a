"""Sign-up: open, or only through an invitation link (GAUNTLET_SIGNUP)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from agents.models import Invitation, Membership

pytestmark = pytest.mark.django_db

FORM = {
    "username": "newcomer",
    "email": "new@example.test",
    "password1": "long enough pw",
    "password2": "long enough pw",
}


@pytest.fixture
def token(client, team_user, mailoutbox):
    team, alice = team_user
    client.force_login(alice)
    client.post(reverse("teams:invite", args=[team.pk]), {"email": "new@example.test"})
    client.logout()
    return re.search(r"/teams/join/([^/\s]+)/", mailoutbox[0].body).group(1)


def test_open_sign_up_makes_an_account_and_logs_in(client, settings, db):
    settings.GAUNTLET_SIGNUP = "open"
    response = client.post(reverse("signup"), FORM)
    assert response.url == reverse("teams:index")
    user = get_user_model().objects.get(username="newcomer")
    assert user.email == "new@example.test" and not user.is_staff and not user.is_superuser
    assert client.get(reverse("teams:index")).status_code == 200


def test_the_login_page_offers_sign_up_only_when_open(client, settings, db):
    settings.GAUNTLET_SIGNUP = "open"
    assert reverse("signup") in client.get(reverse("login")).content.decode()
    settings.GAUNTLET_SIGNUP = "invite"
    assert reverse("signup") not in client.get(reverse("login")).content.decode()


def test_invite_only_sign_up_refuses_a_visitor_without_a_link(client, settings, db):
    settings.GAUNTLET_SIGNUP = "invite"
    assert client.get(reverse("signup")).status_code == 403
    response = client.post(reverse("signup"), FORM)
    assert response.status_code == 403 and "invitation" in response.content.decode()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_sign_up_through_a_link_joins_the_team_even_when_invite_only(client, settings, token, team_user):
    settings.GAUNTLET_SIGNUP = "invite"
    page = client.get(reverse("signup") + f"?invite={token}").content.decode()
    assert "joins team <strong>alpha</strong>" in page and 'value="new@example.test"' in page
    response = client.post(reverse("signup"), {**FORM, "invite": token})
    team, _ = team_user
    assert response.url == reverse("teams:detail", args=[team.pk])
    user = get_user_model().objects.get(username="newcomer")
    assert Membership.objects.get(team=team, user=user).role == Membership.MEMBER
    assert Invitation.objects.get().accepted_by == user


def test_a_spent_link_makes_no_account(client, token, django_user_model):
    Invitation.objects.update(accepted_by=django_user_model.objects.create_user("early"), accepted_at=timezone.now())
    response = client.post(reverse("signup"), {**FORM, "invite": token})
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_a_bad_link_on_the_sign_up_page_says_so(client, db):
    response = client.get(reverse("signup") + "?invite=nonsense")
    assert response.status_code == 410 and "not valid" in response.content.decode()


@pytest.mark.parametrize(
    "change, error",
    [
        ({"password2": "something else"}, "didn’t match"),
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"email": "not-an-address"}, "valid email"),
        ({"username": "alice"}, "already exists"),
        ({"email": "ALICE@example.test"}, "already exists"),
    ],
)
def test_bad_input_is_refused_with_the_reason(client, settings, django_user_model, change, error):
    settings.GAUNTLET_SIGNUP = "open"
    django_user_model.objects.create_user("alice", email="alice@example.test")
    response = client.post(reverse("signup"), {**FORM, **change})
    assert response.status_code == 400 and error in response.content.decode()
    assert django_user_model.objects.count() == 1


def test_a_logged_in_user_is_sent_to_the_runs(client, team_user):
    client.force_login(team_user[1])
    assert client.get(reverse("signup")).url == reverse("runs:index")


def test_the_setting_refuses_an_unknown_mode(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import benchmark_site.settings as module

    monkeypatch.setenv("GAUNTLET_SIGNUP", "sometimes")
    with pytest.raises(ImproperlyConfigured, match="GAUNTLET_SIGNUP"):
        importlib.reload(module)
    monkeypatch.delenv("GAUNTLET_SIGNUP")
    importlib.reload(module)
