"""The "API tokens" settings page (list, create: shown once, revoke) and the CI client's download."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
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


def client_download(request):
    """The command-line client (one file, standard library only) for CI pipelines to fetch. Public: it holds no
    secret, and a pipeline fetches it before it has anything but the dashboard's URL."""
    path = settings.BASE_DIR / "client" / "gauntlet_client.py"
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="text/x-python")


def api_not_found(request, rest=""):
    """Any other address under /api/v1/: the API's error shape rather than the site's HTML 404 page."""
    body = {"error": {"code": "not_found", "message": "No such API operation; see /api/v1/docs.", "details": None}}
    return JsonResponse(body, status=404)
