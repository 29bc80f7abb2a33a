from django import template

from agents import teams as team_rules

register = template.Library()


@register.filter
def owned_by(team, user) -> bool:
    """``{% if run.team|owned_by:user %}``: whether the user is an owner of the team (False without a team)."""
    return team is not None and team_rules.is_owner(user, team)
