"""Team pages: list and create teams, members and roles, invitations, leaving, and the nav's switcher."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from agents import teams
from agents.models import Membership

SHOWN_LINK = "teams:shown-invite-link"


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", help_text="The link is mailed there; it lets one person join.")


def _member_id(request) -> int:
    try:
        return int(request.POST.get("user", ""))
    except ValueError:
        return 0


@login_required
def index(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = teams.create_team(request.user, form.cleaned_data["name"])
        except teams.TeamError as exc:
            form.add_error("name", str(exc))
        else:
            teams.switch_team(request, team.pk)
            messages.success(request, f"Team {team.name} is created, and you are its owner.")
            return redirect("teams:detail", team_id=team.pk)
    memberships = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    status = 400 if form.errors else 200
    return render(request, "teams/index.html", {"memberships": memberships, "form": form}, status=status)


def _detail(request, team, membership, invite_form=None, status=200):
    shown = request.session.get(SHOWN_LINK)
    link = ""
    if shown and shown.get("team") == team.pk:
        link = shown["link"]
        del request.session[SHOWN_LINK]
    context = {
        "team": team,
        "membership": membership,
        "memberships": team.memberships.select_related("user").order_by("-role", "user__username"),
        "invitations": teams.pending_invitations(team) if membership.is_owner else [],
        "invite_form": invite_form or InviteForm(),
        "invite_link": link,
    }
    return render(request, "teams/detail.html", context, status=status)


@login_required
def detail(request, team_id):
    team, membership = teams.get_team_for_user(request.user, team_id)
    return _detail(request, team, membership)


@login_required
@require_POST
def invite(request, team_id):
    team, membership = teams.get_team_for_user(request.user, team_id)
    teams.require_owner(request.user, team, "invite members")
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _detail(request, team, membership, invite_form=form, status=400)
    email = form.cleaned_data["email"]
    _, link = teams.invite(
        team, request.user, email, lambda token: request.build_absolute_uri(reverse("teams:join", args=[token]))
    )
    # Shown once, on the next page: only its hash is stored.
    request.session[SHOWN_LINK] = {"team": team.pk, "link": link}
    messages.success(request, f"Invitation mailed to {email}.")
    return redirect("teams:detail", team_id=team.pk)


@login_required
@require_POST
def revoke(request, team_id, invitation_id):
    team, _ = teams.get_team_for_user(request.user, team_id)
    teams.revoke_invitation(team, request.user, invitation_id)
    messages.info(request, "The invitation is withdrawn; its link no longer works.")
    return redirect("teams:detail", team_id=team.pk)


@login_required
@require_POST
def remove(request, team_id):
    team, _ = teams.get_team_for_user(request.user, team_id)
    try:
        teams.remove_member(team, request.user, _member_id(request))
    except teams.TeamError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The member is removed from the team.")
    return redirect("teams:detail", team_id=team.pk)


@login_required
@require_POST
def set_role(request, team_id):
    team, _ = teams.get_team_for_user(request.user, team_id)
    try:
        membership = teams.set_role(team, request.user, _member_id(request), request.POST.get("role", ""))
    except teams.TeamError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
    return redirect("teams:detail", team_id=team.pk)


@login_required
@require_POST
def leave(request, team_id):
    team, _ = teams.get_team_for_user(request.user, team_id)
    try:
        teams.leave_team(team, request.user)
    except teams.TeamError as exc:
        messages.error(request, str(exc))
        return redirect("teams:detail", team_id=team.pk)
    messages.success(request, f"You have left team {team.name}.")
    return redirect("teams:index")


@login_required
@require_POST
def switch(request):
    try:
        team_id = int(request.POST.get("team", ""))
    except ValueError:
        team_id = 0
    team = teams.switch_team(request, team_id)
    messages.info(request, f"You are working in team {team.name}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("runs:index")
    return redirect(target)


def join(request, token):
    """An invitation link. Signed in: a button to join. Signed out: sign up through it, or log in and join."""
    try:
        invitation = teams.find_invitation(token)
    except teams.TeamError as exc:
        return render(request, "registration/invitation_invalid.html", {"reason": str(exc)}, status=410)
    team = invitation.team
    if request.method == "POST" and request.user.is_authenticated:
        try:
            teams.accept_invitation(token, request.user)
        except teams.TeamError as exc:
            return render(request, "registration/invitation_invalid.html", {"reason": str(exc)}, status=410)
        teams.switch_team(request, team.pk)
        messages.success(request, f"You are now a member of team {team.name}.")
        return redirect("teams:detail", team_id=team.pk)
    member = request.user.is_authenticated and teams.membership_for(request.user, team) is not None
    context = {"invitation": invitation, "team": team, "token": token, "already_member": member}
    return render(request, "teams/join.html", context)
