"""Types shared by the API's operations."""

from __future__ import annotations

from typing import Annotated

from django.db.models import Q
from ninja import Field, Path

from api.errors import ApiError

# PostgreSQL refuses NUL characters in text: refuse them at the door rather than fail in the database.
NO_NUL = r"^[^\x00]*$"
MAX_ID = 2**53  # larger ids do not exist, and would overflow the database's integers


def Text(max_length: int, min_length: int = 0, description: str = ""):  # noqa: N802 - reads as a type
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=NO_NUL, description=description)]


def id_path(description: str):
    return Path(..., ge=1, le=MAX_ID, description=description)


def team_field():
    return Field(
        None, ge=1, le=MAX_ID, description="the id of the team it goes to; needed only when you are in more than one"
    )


def team_of(user, what: str, team_id: int | None = None, *, default=None):
    """The team a user's new thing goes to: ``team_id`` when given (404 unless the user is in it), else
    ``default`` (e.g. the team of the agent a run uses), else the user's only team. A user in several teams
    must say which: a token has no "current team" as a page session has."""
    teams = user.teams.order_by("pk")
    if team_id is not None:
        team = teams.filter(pk=team_id).first()
        if team is None:
            raise ApiError(404, "not_found", f"You are not in a team with id {team_id}.")
        return team
    if default is not None:
        return default
    mine = list(teams[:11])
    if not mine:
        raise ApiError(409, "no_team", f"You are not in a team yet, so there is nowhere to keep {what}.")
    if len(mine) > 1:
        names = ", ".join(f"{t.name} (team {t.pk})" for t in mine[:10])
        message = f"You are in more than one team ({names}): say with 'team' which one keeps {what}."
        raise ApiError(422, "ambiguous", message)
    return mine[0]


def split_reference(reference: str) -> tuple[str, int | None]:
    """``"NAME"`` or ``"NAME@VERSION"`` → (name, version number or None)."""
    name, at, number = reference.rpartition("@")
    if not at:
        return reference, None
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise ApiError(422, "invalid", f"the version after '@' must be a number, not {number[:20]!r}")
    return name, int(number)


def by_name(queryset, name: str, user, what: str):
    """The one row named ``name`` among ``queryset`` (already limited to what the user sees): the user's teams'
    own first, then the built-in one. 404 when there is none; 422 when two of the user's teams both have one."""
    rows = list(queryset.filter(name=name).filter(Q(team__members=user) | Q(team__isnull=True)).distinct())
    own = [row for row in rows if row.team_id is not None]
    if len(own) > 1:
        raise ApiError(422, "ambiguous", f"more than one of your teams has {what} called {name!r}; use its id")
    if own:
        return own[0]
    if rows:
        return rows[0]
    raise ApiError(404, "not_found", f"no {what} called {name!r} that you can see")
