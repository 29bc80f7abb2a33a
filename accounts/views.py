from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.shortcuts import redirect, render

from accounts.forms import SignupForm
from agents import teams


def signup(request):
    """Make an account. With GAUNTLET_SIGNUP=invite only through a team's invitation link (``?invite=``);
    with a link, the new account joins that team at once."""
    if request.user.is_authenticated:
        return redirect("runs:index")
    token = request.GET.get("invite") or request.POST.get("invite") or ""
    invitation = None
    if token:
        try:
            invitation = teams.find_invitation(token)
        except teams.TeamError as exc:
            return render(request, "registration/invitation_invalid.html", {"reason": str(exc)}, status=410)
    elif settings.GAUNTLET_SIGNUP != "open":
        return render(request, "registration/signup_closed.html", status=403)
    initial = {"email": invitation.email} if invitation else {}
    form = SignupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
                team = teams.accept_invitation(token, user) if invitation else None
        except teams.TeamError as exc:
            # The link was spent or expired while the form was filled in: no account is left behind.
            return render(request, "registration/invitation_invalid.html", {"reason": str(exc)}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if team is not None:
            request.session[teams.SESSION_KEY] = team.pk
            messages.success(request, f"Welcome! You are a member of team {team.name}.")
            return redirect("teams:detail", team_id=team.pk)
        messages.success(request, "Welcome! Create a team to register agents and start runs.")
        return redirect("teams:index")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "invitation": invitation, "token": token}
    return render(request, "registration/signup.html", context, status=status)
