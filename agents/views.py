from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agents import services, teams
from agents.forms import AgentForm, VersionForm, form_kind
from agents.models import Agent, AgentVersion
from runs import leaderboards
from runs.models import Run

SHOWN_SECRET = "agents:shown-secret"


def _get_agent_for_user(user, agent_id: int) -> Agent:
    """An agent the user may see (built-in or of one of their teams), or 404."""
    return get_object_or_404(Agent.objects.visible_to(user), pk=agent_id)


def _get_team_agent_for_user(user, agent_id: int) -> Agent:
    """An agent the user may change: one of their teams' agents, or 404."""
    agent = _get_agent_for_user(user, agent_id)
    if agent.is_builtin:
        raise Http404("Built-in agents cannot be changed.")
    return agent


def _remember_secret(request, agent: Agent, secret: str) -> None:
    # Shown on the next page only: the session holds it until that page pops it.
    request.session[SHOWN_SECRET] = {"agent": agent.pk, "secret": secret}


@login_required
def index(request):
    agents = Agent.objects.visible_to(request.user).select_related("team").prefetch_related("versions")
    return render(request, "agents/index.html", {"agents": agents})


@login_required
def new(request):
    team = teams.current_team(request)
    if team is None:
        messages.error(request, "You are not in a team yet, so there is nowhere to keep an agent: create one first.")
        return redirect("teams:index")
    form = AgentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            agent, _, secret = form.save(team)
        except services.AgentError as exc:
            form.add_error(None, str(exc))
        else:
            if secret:
                _remember_secret(request, agent, secret)
            return redirect("agents:detail", agent_id=agent.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "agents/new.html", {"form": form, "team": team}, status=status)


@login_required
def detail(request, agent_id):
    agent = _get_agent_for_user(request.user, agent_id)
    runs = Run.objects.visible_to(request.user).select_related("suite").order_by("-pk")
    versions = agent.versions.order_by("-number").prefetch_related(Prefetch("runs", queryset=runs, to_attr="team_runs"))
    shown = request.session.get(SHOWN_SECRET)
    secret = ""
    if shown and shown.get("agent") == agent.pk:
        secret = shown["secret"]
        del request.session[SHOWN_SECRET]
    form = None
    if not agent.is_builtin:
        latest = agent.latest_version()
        initial = dict(latest.config) if latest else {}
        form = VersionForm(kind=form_kind(agent), initial=initial)
    context = {"agent": agent, "versions": versions, "secret": secret, "form": form, "kind": form_kind(agent)}
    context["history"] = leaderboards.history(agent, request.user)
    context["can_rotate"] = not agent.is_builtin and teams.is_owner(request.user, agent.team_id)
    return render(request, "agents/detail.html", context)


@login_required
@require_POST
def add_version(request, agent_id):
    agent = _get_team_agent_for_user(request.user, agent_id)
    form = VersionForm(request.POST, request.FILES, kind=form_kind(agent))
    owner = teams.is_owner(request.user, agent.team_id)
    if form.is_valid() and form.cleaned_data.get("api_key") and not owner:
        # A new API key is a new secret: replacing it is an owner's call, like rotating a signing secret.
        form.add_error(None, f"Only an owner of team {agent.team} can replace the API key; leave it empty.")
    if form.is_valid():
        try:
            version = form.save(agent)
        except services.AgentError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added {version.label}.")
            return redirect("agents:detail", agent_id=agent.pk)
    versions = agent.versions.order_by("-number")
    context = {"agent": agent, "versions": versions, "secret": "", "form": form, "kind": form_kind(agent)}
    context["history"] = leaderboards.history(agent, request.user)
    context["can_rotate"] = owner
    return render(request, "agents/detail.html", context, status=400)


@login_required
@require_POST
def verify(request, agent_id, number):
    agent = _get_team_agent_for_user(request.user, agent_id)
    version = get_object_or_404(AgentVersion, agent=agent, number=number)
    services.verify_version(version)
    if version.verify_status == AgentVersion.VERIFIED:
        messages.success(request, f"{version.label} verified.")
    else:
        messages.error(request, f"{version.label} failed verification: {version.verify_detail}")
    return redirect("agents:detail", agent_id=agent.pk)


@login_required
@require_POST
def rotate_secret(request, agent_id):
    agent = _get_team_agent_for_user(request.user, agent_id)
    teams.require_owner(request.user, agent.team, "replace an agent's secret")
    if agent.kind != Agent.KIND_HTTP:
        messages.error(request, "Only HTTP agents have a signing secret; change an API key with a new version.")
        return redirect("agents:detail", agent_id=agent.pk)
    _remember_secret(request, agent, services.set_secret(agent))
    messages.success(request, "A new secret is in force: requests are signed with it from now on.")
    return redirect("agents:detail", agent_id=agent.pk)
