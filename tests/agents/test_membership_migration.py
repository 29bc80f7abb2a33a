"""Migrating the plain team members to memberships with roles keeps everyone, and names an owner per team."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("agents", "0002_agent_secrets_and_verification")]
AFTER = [("agents", "0003_membership_roles_and_invitations")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_members_stay_and_each_team_s_first_member_becomes_its_owner():
    old = migrate(BEFORE)
    try:
        User, Team = old.get_model("auth", "User"), old.get_model("agents", "Team")
        first, second, solo = (User.objects.create(username=name) for name in ("first", "second", "solo"))
        shared, alone, empty = (Team.objects.create(name=name) for name in ("shared", "alone", "empty"))
        shared.members.add(first)
        shared.members.add(second)
        alone.members.add(solo)
    finally:
        new = migrate(AFTER)
    Membership = new.get_model("agents", "Membership")
    roles = set(Membership.objects.values_list("team__name", "user__username", "role"))
    assert roles == {("shared", "first", "owner"), ("shared", "second", "member"), ("alone", "solo", "owner")}
    Team = new.get_model("agents", "Team")
    assert set(Team.objects.filter(members__username="second").values_list("name", flat=True)) == {"shared"}
