"""The "API tokens" settings page: list, create (shown once) and revoke personal API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api import tokens

SHOWN_TOKEN = "api:shown-token"


@login_required
def token_list(request):
    error = ""
    if request.method == "POST":
        try:
            token, key = tokens.create_token(request.user, request.POST.get("name", ""))
        except tokens.TokenError as exc:
            error = str(exc)
        else:
            # Shown on the next page only: the session holds it until that page pops it.
            request.session[SHOWN_TOKEN] = {"token": token.pk, "key": key}
            return redirect("api_tokens")
    shown = request.session.pop(SHOWN_TOKEN, None)
    context = {
        "tokens": request.user.api_tokens.all(),
        "shown": shown,
        "error": error,
        "api_url": request.build_absolute_uri("/api/v1/"),
    }
    return render(request, "api/tokens.html", context, status=400 if error else 200)


@login_required
@require_POST
def token_revoke(request, token_id):
    if not tokens.revoke_token(request.user, token_id):
        raise Http404("No such token of yours.")
    messages.success(request, "The token is revoked: requests with it are refused from now on.")
    return redirect("api_tokens")
