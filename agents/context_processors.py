from django.utils.functional import SimpleLazyObject

from agents import teams as team_rules


def teams(request):
    """The nav's team switcher: the user's teams and the current one, read only if a page shows them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_teams": SimpleLazyObject(lambda: [m.team for m in team_rules.request_memberships(request)]),
        "current_team": SimpleLazyObject(lambda: team_rules.current_team(request)),
    }
