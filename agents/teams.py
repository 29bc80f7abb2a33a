"""Teams as their members use them: roles, invitations, leaving, and the team a user is working in.

Role checks for every view (and the API) go through ``membership_for`` / ``is_owner`` / ``get_team_for_user``:
a user who is not in a team gets a 404 for it, a member who tries an owner's action a PermissionDenied.
Writes that must keep a team with at least one owner lock the team's memberships first.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from agents.models import Invitation, Membership, Team

SESSION_KEY = "gauntlet:team"


class TeamError(Exception):
    """A team change that the rules refuse; the message is shown to the user as is."""


# Reads


def membership_for(user, team) -> Membership | None:
    """The user's membership of ``team`` (a Team or its id), or None."""
    if not user.is_authenticated:
        return None
    team_id = getattr(team, "pk", team)
    return Membership.objects.filter(team_id=team_id, user=user).first()


def is_owner(user, team) -> bool:
    """Whether the user is an owner of ``team`` (a Team or its id)."""
    membership = membership_for(user, team)
    return membership is not None and membership.is_owner


def require_owner(user, team, action: str) -> None:
    """Raise PermissionDenied (a 403 saying ``action`` is for owners) unless the user owns ``team``."""
    if not is_owner(user, team):
        raise PermissionDenied(f"Only an owner of team {team} can {action}.")


def get_team_for_user(user, team_id: int) -> tuple[Team, Membership]:
    """The team and the user's membership of it, or 404: other teams are not even acknowledged."""
    membership = Membership.objects.select_related("team").filter(team_id=team_id, user=user).first()
    if membership is None:
        raise Http404("No such team.")
    return membership.team, membership


def request_memberships(request) -> list[Membership]:
    """The signed-in user's memberships with their teams, by team name: read once per request (the nav, the
    current team and a page's role checks all use it; a page under load must not ask three times). A view
    that changes memberships redirects before anything reads them again."""
    user = request.user
    if not user.is_authenticated:
        return []
    cached = getattr(request, "_gauntlet_memberships", None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).select_related("team").order_by("team__name", "team_id"))
        request._gauntlet_memberships = cached
    return cached


def request_role(request, team_id) -> str | None:
    """The signed-in user's role in the team ``team_id`` (owner or member), or None when not in it."""
    return next((m.role for m in request_memberships(request) if m.team_id == team_id), None)


def current_team(request) -> Team | None:
    """The team the user is working in: the one chosen with the switcher while they are still in it, else
    their first team (the oldest); None when they are in none."""
    memberships = request_memberships(request)
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    for m in memberships:
        if m.team_id == chosen:
            return m.team
    return min((m.team for m in memberships), key=lambda team: team.pk)


def switch_team(request, team_id) -> Team:
    """Make ``team_id`` the user's current team; 404 unless they are in it."""
    team, _ = get_team_for_user(request.user, team_id)
    request.session[SESSION_KEY] = team.pk
    return team


# Writes


def create_team(user, name: str) -> Team:
    """A new team with ``user`` as its owner. TeamError when the name is taken (compared ignoring case)."""
    name = name.strip()
    if not name:
        raise TeamError("Give the team a name.")
    if Team.objects.filter(name__iexact=name).exists():
        raise TeamError(f"A team called {name!r} already exists; choose another name.")
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name)
            Membership.objects.create(team=team, user=user, role=Membership.OWNER)
    except IntegrityError:
        raise TeamError(f"A team called {name!r} already exists; choose another name.")
    return team


def _locked_memberships(team):
    # Locks the team's membership rows until the transaction ends, so two owners leaving (or demoting each
    # other) at once cannot both see the other one as the remaining owner.
    return list(Membership.objects.select_for_update().filter(team=team).order_by("pk"))


def _other_owners(memberships, user) -> int:
    return sum(1 for m in memberships if m.is_owner and m.user_id != user.pk)


def set_role(team, actor, member_id: int, role: str) -> Membership:
    """An owner makes a member an owner, or an owner a member. The team always keeps an owner."""
    if role not in (Membership.OWNER, Membership.MEMBER):
        raise TeamError(f"Unknown role {role!r}.")
    with transaction.atomic():
        memberships = _locked_memberships(team)
        require_owner(actor, team, "change roles")
        target = next((m for m in memberships if m.user_id == member_id), None)
        if target is None:
            raise Http404("No such member.")
        if target.role == role:
            return target
        if role == Membership.MEMBER and _other_owners(memberships, target.user) == 0:
            raise TeamError("A team needs an owner: make another member an owner first.")
        target.role = role
        target.save(update_fields=["role"])
    return target


def remove_member(team, actor, member_id: int) -> None:
    """An owner removes another member (or owner) from the team. To remove yourself, leave."""
    with transaction.atomic():
        memberships = _locked_memberships(team)
        require_owner(actor, team, "remove members")
        if member_id == actor.pk:
            raise TeamError("To take yourself out of the team, leave it.")
        target = next((m for m in memberships if m.user_id == member_id), None)
        if target is None:
            raise Http404("No such member.")
        target.delete()


def leave_team(team, user) -> None:
    """The user leaves the team. The last owner cannot: they hand ownership over first."""
    with transaction.atomic():
        memberships = _locked_memberships(team)
        mine = next((m for m in memberships if m.user_id == user.pk), None)
        if mine is None:
            raise Http404("No such team.")
        if mine.is_owner and _other_owners(memberships, user) == 0:
            raise TeamError(
                "You are the team's last owner, so you cannot leave it: make another member an owner first."
            )
        mine.delete()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(team, actor, email: str, accept_url) -> tuple[Invitation, str]:
    """An owner invites ``email`` to the team; returns the invitation and its link (shown once, never stored).

    ``accept_url(token)`` turns the token into the absolute link. The link is mailed to ``email`` through
    Django's mail backend; it lets one person join, until GAUNTLET_INVITE_DAYS have passed.
    """
    require_owner(actor, team, "invite members")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=team,
        email=email,
        token_hash=_hash(token),
        invited_by=actor,
        expires=timezone.now() + timedelta(days=settings.GAUNTLET_INVITE_DAYS),
    )
    link = accept_url(token)
    context = {"team": team, "inviter": actor, "link": link, "expires": invitation.expires}
    send_mail(
        subject=f"Join team {team.name} on Gauntlet",
        message=render_to_string("emails/invitation.txt", context),
        from_email=None,
        recipient_list=[email],
    )
    return invitation, link


def revoke_invitation(team, actor, invitation_id: int) -> None:
    """An owner withdraws an invitation that has not been used; its link then leads nowhere."""
    require_owner(actor, team, "withdraw invitations")
    deleted, _ = Invitation.objects.filter(team=team, pk=invitation_id, accepted_at__isnull=True).delete()
    if not deleted:
        raise Http404("No such pending invitation.")


def pending_invitations(team):
    return team.invitations.filter(accepted_at__isnull=True, expires__gt=timezone.now()).select_related("invited_by")


def find_invitation(token: str) -> Invitation:
    """The usable invitation behind ``token``; TeamError saying why when it is unknown, used or expired."""
    invitation = Invitation.objects.select_related("team").filter(token_hash=_hash(token)).first() if token else None
    if invitation is None:
        raise TeamError("This invitation link is not valid. It may have been withdrawn or mistyped.")
    if invitation.accepted_at is not None:
        raise TeamError("This invitation link has already been used. Ask the team's owner for a new one.")
    if invitation.expires <= timezone.now():
        raise TeamError("This invitation link has expired. Ask the team's owner for a new one.")
    return invitation


def accept_invitation(token: str, user) -> Team:
    """The user joins the invitation's team as a member and the link is spent. Safe against two uses at once:
    the link is claimed by a conditional update, and only the claimer joins. A user who is already in the team
    leaves the link unused."""
    invitation = find_invitation(token)
    team = invitation.team
    if Membership.objects.filter(team=team, user=user).exists():
        raise TeamError(f"You are already a member of team {team.name}.")
    now = timezone.now()
    with transaction.atomic():
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, expires__gt=now).update(
            accepted_at=now, accepted_by=user
        )
        if claimed != 1:
            raise TeamError("This invitation link has already been used. Ask the team's owner for a new one.")
        Membership.objects.create(team=team, user=user, role=Membership.MEMBER)
    return team
