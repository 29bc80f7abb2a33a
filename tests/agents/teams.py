"""Helpers for the team tests: people in teams with a role."""

from agents.models import Membership, Team


def member_of(team: Team, user, role: str = Membership.MEMBER):
    Membership.objects.create(team=team, user=user, role=role)
    return user
