"""Creating teams, owners and members: who may change roles, remove people and leave."""

import pytest
from django.urls import reverse

from agents.models import Membership, Team
from tests.agents.teams import member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(team_user, django_user_model):
    team, _ = team_user
    return member_of(team, django_user_model.objects.create_user("bob", password="pw-bob-123"))


def role(team, user):
    return Membership.objects.get(team=team, user=user).role


def test_it_makes_the_creator_the_owner_of_a_new_team(client, django_user_model):
    user = django_user_model.objects.create_user("carol", password="pw-carol-1")
    client.force_login(user)
    response = client.post(reverse("teams:index"), {"name": "Gamma"})
    team = Team.objects.get(name="Gamma")
    assert response.url == reverse("teams:detail", args=[team.pk])
    assert role(team, user) == Membership.OWNER


def test_it_refuses_a_taken_name_whatever_its_case(client, team_user):
    client.force_login(team_user[1])
    response = client.post(reverse("teams:index"), {"name": "ALPHA"})
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert Team.objects.count() == 1


def test_it_refuses_a_blank_name(client, team_user):
    client.force_login(team_user[1])
    assert client.post(reverse("teams:index"), {"name": "  "}).status_code == 400


def test_team_members_filters_still_find_every_member(team_user, bob):
    team, alice = team_user
    assert set(team.members.all()) == {alice, bob}
    assert list(Team.objects.filter(members=bob)) == [team]


def test_an_owner_makes_a_member_an_owner(client, team_user, bob):
    team, alice = team_user
    client.force_login(alice)
    client.post(reverse("teams:set_role", args=[team.pk]), {"user": bob.pk, "role": "owner"})
    assert role(team, bob) == Membership.OWNER


def test_a_member_cannot_change_roles(client, team_user, bob):
    team, alice = team_user
    client.force_login(bob)
    response = client.post(reverse("teams:set_role", args=[team.pk]), {"user": bob.pk, "role": "owner"})
    assert response.status_code == 403
    assert role(team, bob) == Membership.MEMBER


def test_the_last_owner_cannot_make_themself_a_member(client, team_user):
    team, alice = team_user
    client.force_login(alice)
    response = client.post(reverse("teams:set_role", args=[team.pk]), {"user": alice.pk, "role": "member"}, follow=True)
    assert "needs an owner" in response.content.decode()
    assert role(team, alice) == Membership.OWNER


def test_an_owner_makes_another_owner_a_member(client, team_user, bob):
    team, alice = team_user
    Membership.objects.filter(team=team, user=bob).update(role=Membership.OWNER)
    client.force_login(bob)
    client.post(reverse("teams:set_role", args=[team.pk]), {"user": alice.pk, "role": "member"})
    assert role(team, alice) == Membership.MEMBER


def test_it_refuses_an_unknown_role(client, team_user, bob):
    team, alice = team_user
    client.force_login(alice)
    response = client.post(reverse("teams:set_role", args=[team.pk]), {"user": bob.pk, "role": "admin"}, follow=True)
    assert "Unknown role" in response.content.decode()
    assert role(team, bob) == Membership.MEMBER


def test_an_owner_removes_a_member(client, team_user, bob):
    team, alice = team_user
    client.force_login(alice)
    client.post(reverse("teams:remove", args=[team.pk]), {"user": bob.pk})
    assert not team.members.filter(pk=bob.pk).exists()


def test_a_member_cannot_remove_anyone(client, team_user, bob):
    team, alice = team_user
    client.force_login(bob)
    assert client.post(reverse("teams:remove", args=[team.pk]), {"user": alice.pk}).status_code == 403
    assert team.members.count() == 2


def test_removing_someone_outside_the_team_is_404(client, team_user, django_user_model):
    team, alice = team_user
    stranger = django_user_model.objects.create_user("eve")
    client.force_login(alice)
    assert client.post(reverse("teams:remove", args=[team.pk]), {"user": stranger.pk}).status_code == 404
    assert client.post(reverse("teams:remove", args=[team.pk]), {"user": "x"}).status_code == 404


def test_a_member_leaves(client, team_user, bob):
    team, _ = team_user
    client.force_login(bob)
    response = client.post(reverse("teams:leave", args=[team.pk]))
    assert response.url == reverse("teams:index")
    assert not team.members.filter(pk=bob.pk).exists()


def test_the_last_owner_cannot_leave(client, team_user, bob):
    team, alice = team_user
    client.force_login(alice)
    page = client.post(reverse("teams:leave", args=[team.pk]), follow=True).content.decode()
    assert "last owner" in page and "make another member an owner first" in page
    assert team.members.filter(pk=alice.pk).exists()


def test_an_owner_leaves_once_another_owner_is_named(client, team_user, bob):
    team, alice = team_user
    client.force_login(alice)
    client.post(reverse("teams:set_role", args=[team.pk]), {"user": bob.pk, "role": "owner"})
    client.post(reverse("teams:leave", args=[team.pk]))
    assert list(team.members.all()) == [bob]


def test_another_team_s_pages_are_404(client, team_user, django_user_model):
    team, _ = team_user
    client.force_login(django_user_model.objects.create_user("eve"))
    assert client.get(reverse("teams:detail", args=[team.pk])).status_code == 404
    for name in ("invite", "remove", "set_role", "leave"):
        assert client.post(reverse(f"teams:{name}", args=[team.pk]), {"email": "e@x.test"}).status_code == 404


def test_a_member_sees_the_team_without_owner_controls(client, team_user, bob):
    team, _ = team_user
    client.force_login(bob)
    page = client.get(reverse("teams:detail", args=[team.pk])).content.decode()
    assert "alice" in page and "Invite a member" not in page and "Make owner" not in page


def test_team_pages_need_a_login(client, team_user):
    team, _ = team_user
    response = client.get(reverse("teams:detail", args=[team.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
