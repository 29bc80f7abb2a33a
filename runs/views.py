from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agents.models import AgentVersion
from runs import selectors, services
from runs.models import Episode, Run, Step, Suite


class NewRunForm(forms.Form):
    agent_version = forms.ModelChoiceField(queryset=AgentVersion.objects.none(), label="Agent")
    suite = forms.ModelChoiceField(queryset=Suite.objects.none())
    trials = forms.IntegerField(min_value=1, max_value=20, initial=1)
    seed = forms.IntegerField(min_value=0, max_value=1_000_000, initial=0)

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent_version"].queryset = AgentVersion.objects.filter(
            agent__in=_visible_agents(user)
        ).select_related("agent")
        self.fields["suite"].queryset = Suite.objects.visible_to(user)


def _visible_agents(user):
    from agents.models import Agent

    return Agent.objects.visible_to(user)


def _episode_for_user(user, episode_id) -> Episode:
    episode = get_object_or_404(Episode.objects.select_related("run", "scenario"), pk=episode_id)
    selectors.get_run_for_user(user, episode.run_id)
    return episode


@login_required
def index(request):
    runs = Run.objects.visible_to(request.user).select_related("agent_version__agent", "suite")[:50]
    form = NewRunForm(request.user)
    return render(request, "runs/index.html", {"runs": runs, "form": form})


@login_required
@require_POST
def start_run(request):
    form = NewRunForm(request.user, request.POST)
    team = request.user.teams.order_by("pk").first()
    if team is None:
        messages.error(request, "You are not in a team yet, so there is nowhere to keep your runs.")
        return redirect("runs:index")
    if not form.is_valid():
        runs = Run.objects.visible_to(request.user)[:50]
        return render(request, "runs/index.html", {"runs": runs, "form": form}, status=400)
    run = services.queue_run(
        agent_version=form.cleaned_data["agent_version"],
        suite=form.cleaned_data["suite"],
        team=team,
        user=request.user,
        trials=form.cleaned_data["trials"],
        seed=form.cleaned_data["seed"],
    )
    return redirect("runs:detail", run_id=run.pk)


@login_required
def run_detail(request, run_id):
    run = selectors.get_run_for_user(request.user, run_id)
    return render(request, "runs/detail.html", {"run": run, "state": selectors.run_state(run)})


@login_required
def run_state(request, run_id):
    run = selectors.get_run_for_user(request.user, run_id)
    return JsonResponse(selectors.run_state(run))


@login_required
def episode_detail(request, episode_id):
    episode = _episode_for_user(request.user, episode_id)
    steps = episode.step_set.all()
    return render(request, "runs/episode.html", {"episode": episode, "run": episode.run, "steps": steps})


@login_required
def episode_trace(request, episode_id):
    episode = _episode_for_user(request.user, episode_id)
    if not episode.trace_path or not default_storage.exists(episode.trace_path):
        raise Http404("This episode has no trace yet.")
    return FileResponse(
        default_storage.open(episode.trace_path, "rb"),
        as_attachment=True,
        filename=f"run-{episode.run_id}-episode-{episode.pk}-trace.jsonl",
        content_type="application/x-ndjson",
    )


@login_required
def step_screenshot(request, step_id):
    step = get_object_or_404(Step, pk=step_id)
    _episode_for_user(request.user, step.episode_id)
    if not step.screenshot_path or not default_storage.exists(step.screenshot_path):
        raise Http404("No screenshot for this step.")
    return FileResponse(default_storage.open(step.screenshot_path, "rb"), content_type="image/jpeg")


@login_required
def suite_list(request):
    suites = Suite.objects.visible_to(request.user).prefetch_related("scenarios")
    return render(request, "runs/suites.html", {"suites": suites})


@login_required
def suite_detail(request, suite_id):
    suite = selectors.get_suite_for_user(request.user, suite_id)
    return render(request, "runs/suite.html", {"suite": suite, "scenarios": suite.scenarios.all()})


@login_required
def leaderboard(request, suite_id):
    suite = selectors.get_suite_for_user(request.user, suite_id)
    metric = request.GET.get("metric", "success_rate")
    if metric not in selectors.LEADERBOARD_METRICS:
        messages.error(request, f"Unknown metric {metric!r}; showing success rate.")
        metric = "success_rate"
    rows = selectors.leaderboard(suite, request.user, metric)
    return render(
        request,
        "runs/leaderboard.html",
        {"suite": suite, "rows": rows, "metric": metric, "metrics": selectors.LEADERBOARD_METRICS},
    )
