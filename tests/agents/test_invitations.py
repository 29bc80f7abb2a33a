"""Invitation links: owners only, mailed and shown once, stored hashed, single use, expiring."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Invitation, Membership
from tests.agents.teams import member_of

pytestmark = pytest.mark.django_db


def invite(client, team, email="bob@example.test"):
    return client.post(reverse("teams:invite", args=[team.pk]), {"email": email})


@pytest.fixture
def link(client, team_user, mailoutbox):
    """An invitation to team alpha made by its owner, alice, through the page; its link."""
    team, alice = team_user
    client.force_login(alice)
    page = client.get(invite(client, team).url).content.decode()
    client.logout()
    return re.search(r'<code id="invite-link">([^<]+)</code>', page).group(1)


def test_the_link_is_mailed_and_shown_once(client, team_user, mailoutbox):
    team, alice = team_user
    client.force_login(alice)
    response = invite(client, team)
    page = client.get(response.url).content.decode()
    link = re.search(r'<code id="invite-link">([^<]+)</code>', page).group(1)
    assert link.startswith("http://testserver/teams/join/")
    assert mailoutbox[0].to == ["bob@example.test"] and link in mailoutbox[0].body
    assert "alpha" in mailoutbox[0].subject
    assert link not in client.get(response.url).content.decode()


def test_only_the_token_s_hash_is_stored(link):
    token = link.rstrip("/").split("/")[-1]
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())


def test_it_expires_after_the_configured_days(link, settings):
    invitation = Invitation.objects.get()
    expected = timezone.now() + timedelta(days=settings.GAUNTLET_INVITE_DAYS)
    assert abs((invitation.expires - expected).total_seconds()) < 60


def test_a_member_cannot_invite(client, team_user, django_user_model, mailoutbox):
    team, _ = team_user
    client.force_login(member_of(team, django_user_model.objects.create_user("bob")))
    assert invite(client, team).status_code == 403
    assert Invitation.objects.count() == 0 and mailoutbox == []


def test_a_bad_address_is_refused(client, team_user, mailoutbox):
    team, alice = team_user
    client.force_login(alice)
    assert invite(client, team, email="not an address").status_code == 400
    assert Invitation.objects.count() == 0


def test_a_logged_in_user_joins_as_a_member(client, link, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    client.force_login(bob)
    assert "Join team alpha" in client.get(link).content.decode()
    response = client.post(link)
    team = Invitation.objects.get().team
    assert response.url == reverse("teams:detail", args=[team.pk])
    assert Membership.objects.get(team=team, user=bob).role == Membership.MEMBER
    assert Invitation.objects.get().accepted_by == bob


def test_a_link_works_once(client, link, django_user_model):
    client.force_login(django_user_model.objects.create_user("bob"))
    client.post(link)
    client.force_login(django_user_model.objects.create_user("carol"))
    response = client.post(link)
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert client.get(link).status_code == 410
    assert Invitation.objects.get().team.members.count() == 2


def test_an_expired_link_says_so(client, link, django_user_model):
    Invitation.objects.update(expires=timezone.now() - timedelta(seconds=1))
    client.force_login(django_user_model.objects.create_user("bob"))
    response = client.post(link)
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert Invitation.objects.get().team.members.count() == 1


def test_a_bad_link_says_so(client, team_user):
    response = client.get(reverse("teams:join", args=["not-a-token"]))
    assert response.status_code == 410 and "not valid" in response.content.decode()


def test_a_member_already_in_the_team_leaves_the_link_unused(client, link, team_user):
    client.force_login(team_user[1])
    assert "already a member" in client.get(link).content.decode()
    assert client.post(link).status_code == 410
    assert Invitation.objects.get().accepted_at is None


def test_a_signed_out_visitor_is_offered_sign_up_and_log_in(client, link):
    page = client.get(link).content.decode()
    token = link.rstrip("/").split("/")[-1]
    assert f"/signup/?invite={token}" in page
    assert "/login/?next=/teams/join/" in page


def test_an_owner_withdraws_an_invitation(client, link, team_user):
    team, alice = team_user
    client.force_login(alice)
    client.post(reverse("teams:revoke", args=[team.pk, Invitation.objects.get().pk]))
    assert Invitation.objects.count() == 0
    assert client.get(link).status_code == 410


def test_a_member_cannot_withdraw_an_invitation(client, link, team_user, django_user_model):
    team, _ = team_user
    client.force_login(member_of(team, django_user_model.objects.create_user("bob")))
    assert client.post(reverse("teams:revoke", args=[team.pk, Invitation.objects.get().pk])).status_code == 403
    assert Invitation.objects.count() == 1


def test_a_signed_out_visitor_logs_in_and_joins(client, link, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    path = link.removeprefix("http://testserver")
    response = client.post(reverse("login"), {"username": "bob", "password": "pw-bob-123", "next": path})
    assert response.url == path
    client.post(path)
    assert Invitation.objects.get().team.members.filter(pk=bob.pk).exists()
