from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents import teams
from agents.models import Agent, AgentVersion, Membership
from agents.services import AgentError, VersionUnverified
from runner.types import DEFAULT_MAX_INVALID_ACTIONS
from runs import bundle, comparisons, control, debugger, leaderboards, playground, scorecard, selectors, services
from runs.models import Run, Scenario, Step, Suite
from sandbox.scenarios import ScenarioError
from sandbox.sites.base import Request as SandboxRequest
from sandbox.suites import MAX_SUITE_BYTES, SuiteError


def bad_request(request, exception=None):
    """The site's 400 page (handler400), saying which limit the request broke when it is one of Django's own.

    Other causes (a disallowed host, a malformed body) get the page's general wording: an exception's own
    text is never shown, as it may carry what the request sent.
    """
    limit_mib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    reasons = {
        RequestDataTooBig: f"The form is larger than the {limit_mib:g} MiB the server accepts.",
        TooManyFieldsSent: "The form has more fields than the server accepts.",
        TooManyFilesSent: "The form carries more files than the server accepts.",
    }
    reason = next((text for kind, text in reasons.items() if isinstance(exception, kind)), "")
    return render(request, "400.html", {"reason": reason, "max_form_mib": f"{limit_mib:g}"}, status=400)


class NewRunForm(forms.Form):
    agent_version = forms.ModelChoiceField(queryset=AgentVersion.objects.none(), label="Agent")
    suite = forms.ModelChoiceField(queryset=Suite.objects.none())
    trials = forms.IntegerField(min_value=1, max_value=20, initial=1)
    seed = forms.IntegerField(min_value=0, max_value=1_000_000, initial=0)
    backtracking = forms.BooleanField(required=False, help_text="agents may answer backtrack(checkpoint)")
    guard = forms.BooleanField(required=False, help_text="the suite's policies block writes before they land")
    auto_rollback = forms.BooleanField(
        required=False, label="Auto-rollback", help_text="harm from a reversible write is rolled back"
    )
    max_invalid_actions = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=services.MAX_INVALID_ACTIONS_LIMIT,
        initial=DEFAULT_MAX_INVALID_ACTIONS,
        label="Unparsable actions allowed in a row",
        help_text="then the episode ends as agent_bad_response",
    )
    playwright_trace = forms.ChoiceField(
        choices=[("off", "off"), ("on_failure", "on failure"), ("always", "always")],
        initial="off",
        required=False,
        label="Playwright trace",
        help_text="screenshots, DOM snapshots and network of each episode, for Playwright's trace viewer; "
        "on failure keeps those that failed, harmed or errored",
    )
    run_anyway = forms.BooleanField(
        required=False,
        label="Run it anyway",
        help_text="needed to run an agent version whose verification failed",
    )

    def __init__(self, user, *args, team=None, **kwargs):
        """``team``: offer only the built-ins and that team's agents and suites (the run goes to that team)."""
        super().__init__(*args, **kwargs)
        agents, suites = Agent.objects.visible_to(user), Suite.objects.visible_to(user)
        if team is not None:
            agents = agents.filter(Q(team__isnull=True) | Q(team=team))
            suites = suites.filter(Q(team__isnull=True) | Q(team=team))
        self.fields["agent_version"].queryset = AgentVersion.objects.filter(agent__in=agents).select_related("agent")
        self.fields["suite"].queryset = suites


class RerunForm(NewRunForm):
    """A run's settings, prefilled with its own, for a new run of the same agent version and suite."""

    max_steps = forms.IntegerField(min_value=1, max_value=500, label="Max steps per episode")

    def __init__(self, user, run: Run, *args, **kwargs):
        initial = {key: run.config.get(key) for key in control.RERUN_SETTINGS if run.config.get(key) is not None}
        super().__init__(user, *args, initial=initial, **kwargs)
        # The same agent version and suite version: a re-run changes settings only, and the version was
        # already chosen (confirmed, if its verification failed) for the run it repeats.
        del self.fields["agent_version"], self.fields["suite"], self.fields["run_anyway"]


def artifact_response(name: str, content_type: str, *, missing: str, filename: str | None = None):
    """The stored artifact ``name``, for a caller that has already checked the user may see it.

    Streamed from storage by this process, or, with GAUNTLET_ARTIFACT_REDIRECT, a redirect to a presigned
    URL that expires within a minute. ``filename`` makes it a download; 404 with ``missing`` when absent.
    """
    if not name or not default_storage.exists(name):
        raise Http404(missing)
    if settings.GAUNTLET_ARTIFACT_REDIRECT:
        disposition = f'attachment; filename="{filename}"' if filename else "inline"
        url = default_storage.url(
            name, parameters={"ResponseContentType": content_type, "ResponseContentDisposition": disposition}
        )
        response = redirect(url)
    else:
        response = FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=bool(filename),
            filename=filename or "",
            content_type=content_type,
        )
    # Private runs: no shared cache may keep an artifact or the signed link to it.
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
def index(request):
    runs = Run.objects.visible_to(request.user).select_related("agent_version__agent", "suite")[:50]
    form = NewRunForm(request.user, team=teams.current_team(request))
    return render(request, "runs/index.html", {"runs": runs, "form": form})


@login_required
@require_POST
def start_run(request):
    team = teams.current_team(request)
    form = NewRunForm(request.user, request.POST, team=team)
    if team is None:
        messages.error(request, "You are not in a team yet, so there is nowhere to keep your runs.")
        return redirect("runs:index")
    if not form.is_valid():
        runs = Run.objects.visible_to(request.user)[:50]
        return render(request, "runs/index.html", {"runs": runs, "form": form}, status=400)
    try:
        run = services.queue_run(
            agent_version=form.cleaned_data["agent_version"],
            suite=form.cleaned_data["suite"],
            team=team,
            user=request.user,
            trials=form.cleaned_data["trials"],
            seed=form.cleaned_data["seed"],
            backtracking=form.cleaned_data["backtracking"],
            guard=form.cleaned_data["guard"],
            auto_rollback=form.cleaned_data["auto_rollback"],
            max_invalid_actions=form.cleaned_data["max_invalid_actions"] or DEFAULT_MAX_INVALID_ACTIONS,
            playwright_trace=form.cleaned_data["playwright_trace"] or "off",
            allow_unverified=form.cleaned_data["run_anyway"],
        )
    except AgentError as exc:
        # A failed verification is answered by ticking "Run it anyway"; anything else by another version.
        form.add_error("run_anyway" if isinstance(exc, VersionUnverified) else "agent_version", str(exc))
        runs = Run.objects.visible_to(request.user)[:50]
        return render(request, "runs/index.html", {"runs": runs, "form": form}, status=400)
    if run.enqueue_deferred:
        messages.warning(
            request, "The job queue cannot be reached right now. The run is saved and starts by itself when it is back."
        )
    return redirect("runs:detail", run_id=run.pk)


def _episode_urls() -> dict:
    """The episode page and trace URLs around the episode id, so a table row is two string joins, not two
    ``{% url %}`` lookups (the browser's table builds them the same way)."""
    marker = 987654321
    urls = {}
    for name in ("episode", "trace"):
        before, after = reverse(f"runs:{name}", args=[marker]).split(str(marker))
        urls[name] = {"before": before, "after": after}
    return urls


# How long a run page reuses the run it offers to compare with (the choice changes only when a run finishes).
PARTNER_CACHE_S = 30


def _compare_link(user, run: Run) -> dict | None:
    """The run page's "compare with" run as ``{"pk", "agent_version"}`` (comparisons.partner among the runs the
    user may see), or None; chosen at most once per PARTNER_CACHE_S per user and run."""
    key = f"run-partner:{user.pk}:{run.pk}:{run.created.timestamp()}"
    link = cache.get(key)
    if link is None:
        other = comparisons.partner(run, Run.objects.visible_to(user).select_related("agent_version__agent"))
        link = {"pk": other.pk, "agent_version": str(other.agent_version)} if other else {}
        cache.set(key, link, PARTNER_CACHE_S)
    return link or None


@login_required
def run_detail(request, run_id):
    """The run page: summary, scorecard, one page of the episode table (``?page=&status=&scenario=&condition=``
    as episodes.json takes them; a bad one shows the first page with the reason) and the step feed."""
    run = selectors.get_run_for_user(request.user, run_id)
    partner = _compare_link(request.user, run)
    state = selectors.shared_run_state(run)
    query_error = ""
    try:
        query = selectors.episode_query(run, request.GET)
    except selectors.BadEpisodeQuery as exc:
        query, query_error = {}, str(exc)
    page = state["page"]
    if any(query.get(key) for key in ("status", "scenario", "condition")) or query.get("page", 1) > 1:
        page = selectors.episode_page(run, **query, summary=state)
        state["episodes"] = page.pop("rows")
    shown = {key: value for key, value in page["filter"].items() if value}
    links = {
        "prev": f"?{urlencode({**shown, 'page': page['page'] - 1})}" if page["page"] > 1 else "",
        "next": f"?{urlencode({**shown, 'page': page['page'] + 1})}" if page["page"] < page["pages"] else "",
    }
    fragment = {
        "run": run,
        "state": state,
        "page": page,
        "links": links,
        "query_error": query_error,
        "status_filters": selectors.STATUS_FILTERS,
        "conditions": selectors.CONDITIONS,
        "urls": _episode_urls(),
    }

    def counters():
        return render_to_string("runs/_live_counters.html", fragment)

    def episodes():
        keys = list(run.suite.scenarios.values_list("key", flat=True))
        return render_to_string("runs/_live_episodes.html", {**fragment, "scenario_keys": keys})

    if query_error or page is not state["page"]:
        episodes_html = episodes()  # a filtered or later page: this request's own
    else:
        episodes_html = selectors.shared_html(run, state, "episodes", episodes)
    context = {
        "run": run,
        "state": state,
        "counters_html": mark_safe(selectors.shared_html(run, state, "counters", counters)),  # noqa: S308
        "episodes_html": mark_safe(episodes_html),  # noqa: S308 - our own templates' output
        "scorecard_section": scorecard.page_section(run, state["total"]),
        "compare_with": partner,
    }
    role = teams.request_role(request, run.team_id) if run.team_id else None
    context.update(can_control=role is not None, is_owner=role == Membership.OWNER)
    return render(request, "runs/detail.html", context)


@login_required
@require_POST
def cancel_run(request, run_id):
    """Cancel the run (runs.control.cancel_run): queued episodes withdrawn, running ones stopped."""
    run = control.run_for_member(request.user, run_id)
    try:
        done = control.cancel_run(run, request.user)
    except control.RunControlError as exc:
        messages.info(request, str(exc))
    else:
        (messages.info if done.already else messages.success)(request, done.message)
    return redirect("runs:detail", run_id=run.pk)


@login_required
@require_POST
def retry_errored(request, run_id):
    """Queue the run's errored episodes again (runs.control.retry_errored)."""
    run = control.run_for_member(request.user, run_id)
    try:
        queued = control.retry_errored(run, request.user)
    except control.RunControlError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{queued} errored episode{'s' if queued != 1 else ''} queued again.")
    return redirect("runs:detail", run_id=run.pk)


@login_required
def rerun(request, run_id):
    """A new run of the same agent version and suite: GET shows the run's settings to change, POST starts it."""
    run = control.run_for_member(request.user, run_id)
    if request.method != "POST":
        return render(request, "runs/rerun.html", {"run": run, "form": RerunForm(request.user, run)})
    form = RerunForm(request.user, run, request.POST)
    if form.is_valid():
        settings_ = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
        try:
            new = control.rerun(run, request.user, **settings_)
        except (AgentError, control.RunControlError) as exc:
            form.add_error(None, str(exc))
        else:
            if new.enqueue_deferred:
                messages.warning(
                    request,
                    "The job queue cannot be reached right now. The run is saved and starts by itself when it is back.",
                )
            return redirect("runs:detail", run_id=new.pk)
    return render(request, "runs/rerun.html", {"run": run, "form": form}, status=400)


@login_required
def compare(request):
    """Two runs side by side: the settings that differ and what they changed."""
    runs = Run.objects.visible_to(request.user).select_related("agent_version__agent", "suite")
    try:
        a, b = (selectors.get_run_for_user(request.user, int(request.GET[k])) for k in ("a", "b"))
    except (KeyError, ValueError):
        return render(
            request, "runs/compare.html", {"runs": runs[:100], "error": "Choose two runs to compare."}, status=400
        )
    return render(request, "runs/compare.html", {"runs": runs[:100], **selectors.compare_runs(a, b)})


@login_required
def run_state(request, run_id):
    """The run's live state; with ``?since=SEQ``, only what changed after event SEQ (selectors.run_delta)."""
    run = selectors.get_run_for_user(request.user, run_id)
    if "since" in request.GET:
        since = request.GET["since"]
        if not (since.isascii() and since.isdigit()) or len(since) > 19:
            return JsonResponse({"error": "since must be a live event sequence number (an integer ≥ 0)"}, status=400)
        return JsonResponse(selectors.shared_run_delta(run, int(since)))
    return JsonResponse(selectors.shared_run_state(run))


@login_required
def run_episodes(request, run_id):
    """One page of the run's episode table as JSON (selectors.episode_page); 400 with ``{"error"}`` for a page or
    filter that is not one."""
    run = selectors.get_run_for_user(request.user, run_id)
    try:
        query = selectors.episode_query(run, request.GET)
    except selectors.BadEpisodeQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(selectors.episode_page(run, **query))


@login_required
def run_episodes_csv(request, run_id):
    """The run's episodes as a CSV download (one line each), for the run's team only."""
    run = selectors.get_run_for_user(request.user, run_id)
    response = HttpResponse(selectors.episodes_csv(run), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-episodes.csv"'
    return response


@login_required
def run_scorecard(request, run_id):
    """The run's scorecard as JSON: the page re-reads it after episodes finish (see runs.scorecard)."""
    run = selectors.get_run_for_user(request.user, run_id)
    return JsonResponse(scorecard.run_scorecard(run))


@login_required
def run_bundle(request, run_id):
    """The whole run as one zip (runs.bundle), streamed as it is made, for the run's team only."""
    return bundle.response(request, selectors.get_run_for_user(request.user, run_id))


@login_required
def episode_detail(request, episode_id):
    episode = selectors.get_episode_for_user(request.user, episode_id)
    steps = list(episode.step_set.all())
    status = request.GET.get("status") or ""
    if status not in selectors.STATUS_FILTERS:
        status = ""  # the neighbours of every status
    context = {
        "episode": episode,
        "run": episode.run,
        "steps": steps,
        "tree": debugger.tree_branches(debugger.checkpoint_tree(steps)),
        "neighbours": debugger.episode_neighbours(episode, status or None),
        "neighbour_status": status,
        "status_filters": selectors.STATUS_FILTERS,
    }
    return render(request, "runs/episode.html", context)


@login_required
def episode_trace(request, episode_id):
    episode = selectors.get_episode_for_user(request.user, episode_id)
    return artifact_response(
        episode.trace_path,
        "application/x-ndjson",
        filename=f"run-{episode.run_id}-episode-{episode.pk}-trace.jsonl",
        missing="This episode has no trace yet.",
    )


@login_required
def episode_playwright_trace(request, episode_id, number):
    """The episode's ``number``-th Playwright trace (Episode.playwright_traces, from 1), a trace.zip that
    Playwright's trace viewer opens (``playwright show-trace``, or trace.playwright.dev)."""
    episode = selectors.get_episode_for_user(request.user, episode_id)
    traces = episode.playwright_traces or []
    if not 1 <= number <= len(traces):
        raise Http404("This episode has no such Playwright trace (the run's Playwright trace setting decides).")
    trace = traces[number - 1]
    return artifact_response(
        trace["path"],
        "application/zip",
        filename=f"run-{episode.run_id}-episode-{episode.pk}-attempt-{trace['attempt']}-agent-{trace['agent']}"
        "-playwright-trace.zip",
        missing="This Playwright trace is no longer stored.",
    )


@login_required
def step_observation(request, episode_id, index):
    """What the agent was sent at one step and how the page changed since its previous step, as JSON (the
    episode page reads it when a step's "what the agent saw" is opened)."""
    episode = selectors.get_episode_for_user(request.user, episode_id)
    seen = debugger.step_observation(episode, index)
    if seen is None:
        message = (
            "The trace is written when the episode ends." if not episode.trace_path else "No such step in the trace."
        )
        return JsonResponse({"error": message}, status=404)
    seen["images"] = {name: reverse("runs:blob", args=[episode.pk, digest]) for name, digest in seen["images"].items()}
    response = JsonResponse(seen)
    patch_cache_control(response, private=True, max_age=3600 if episode.finished else 0)
    return response


@login_required
def trace_blob(request, episode_id, digest):
    """A blob of the episode's run (docs/trace-format.md), such as a screenshot exactly as the agent was sent it."""
    episode = selectors.get_episode_for_user(request.user, episode_id)
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise Http404("not a blob's hash")
    name = services.blob_name(episode.run_id, digest)
    if name and default_storage.exists(name):
        with default_storage.open(name, "rb") as f:
            head = f.read(3)
        content_type = "image/jpeg" if head == b"\xff\xd8\xff" else "application/octet-stream"
    else:
        content_type = "application/octet-stream"
    return artifact_response(name, content_type, missing="No such blob in this run.")


@login_required
def step_screenshot(request, step_id):
    step = get_object_or_404(Step, pk=step_id)
    selectors.get_episode_for_user(request.user, step.episode_id)
    return artifact_response(step.screenshot_path, "image/jpeg", missing="No screenshot for this step.")


@login_required
def suite_list(request):
    suites = Suite.objects.visible_to(request.user).prefetch_related("scenarios")
    return render(request, "runs/suites.html", {"suites": suites})


class SuiteUploadForm(forms.Form):
    file = forms.FileField(required=False, label="YAML file")
    content = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 18, "cols": 90}), label="or paste YAML"
    )

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_SUITE_BYTES:
                raise forms.ValidationError(f"The file is larger than {MAX_SUITE_BYTES // 1024} KiB.")
            data["text"] = upload.read()
        elif data.get("content", "").strip():
            data["text"] = data["content"]
        else:
            raise forms.ValidationError("Choose a YAML file or paste the suite.")
        return data


@login_required
def suite_new(request):
    team = teams.current_team(request)
    form = SuiteUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if team is None:
            form.add_error(None, "You are not in a team yet, so there is nowhere to keep the suite.")
        else:
            try:
                suite, created = services.register_team_suite(form.cleaned_data["text"], team)
            except (SuiteError, services.SuiteRejected) as exc:
                form.add_error(None, str(exc))
            else:
                if created:
                    messages.success(request, f"Registered {suite}.")
                else:
                    messages.info(request, f"This content is already registered as {suite}.")
                return redirect("runs:suite", suite_id=suite.pk)
    status = 400 if form.errors else 200
    return render(request, "runs/suite_new.html", {"form": form}, status=status)


@login_required
def suite_detail(request, suite_id):
    suite = selectors.get_suite_for_user(request.user, suite_id)
    return render(request, "runs/suite.html", {"suite": suite, "scenarios": suite.scenarios.all()})


@login_required
def leaderboard(request, suite_id):
    suite = selectors.get_suite_for_user(request.user, suite_id)
    metric = request.GET.get("metric", "success_rate")
    if metric not in leaderboards.METRICS:
        messages.error(request, f"Unknown metric {metric!r}; showing success rate.")
        metric = "success_rate"
    conditions = leaderboards.conditions(suite)
    condition = request.GET.get("condition") or None
    if condition is not None and condition not in conditions:
        messages.error(request, f"Unknown condition {condition!r}; showing every condition.")
        condition = None
    rows = leaderboards.leaderboard(suite, request.user, metric, condition)
    run_ids = [pk for row in rows for pk in row["runs"]]
    # Rows may pool other teams' published runs: link only to the runs this viewer may open.
    openable = set(Run.objects.visible_to(request.user).filter(pk__in=run_ids).values_list("pk", flat=True))
    context = {
        "suite": suite,
        "rows": rows,
        "metric": metric,
        "metrics": leaderboards.METRICS,
        "metric_label": leaderboards.METRICS[metric].label,
        "condition": condition,
        "conditions": conditions,
        "method": leaderboards.METHOD,
        "openable": openable,
        "chart": leaderboards.chart_data(rows, metric),
    }
    return render(request, "runs/leaderboard.html", context)


@login_required
@require_POST
def publish_run(request, run_id):
    """Publish (or, with ``published=0``, withdraw) a run's scores on the public leaderboard."""
    run = selectors.get_run_for_user(request.user, run_id)
    if not run.team:
        raise Http404("Only the run's team can publish it.")
    teams.require_owner(request.user, run.team, "publish its runs")
    publish = request.POST.get("published", "1") != "0"
    Run.objects.filter(pk=run.pk).update(published=publish)
    if publish:
        messages.success(request, f"Run #{run.pk} is published: its scores are on the public leaderboard.")
    else:
        messages.info(request, f"Run #{run.pk} is private again.")
    return redirect("runs:detail", run_id=run.pk)


@login_required
@require_POST
def try_scenario(request, scenario_id):
    """Open the scenario's sandbox, with a fresh World, in the user's own browser."""
    scenario = get_object_or_404(Scenario.objects.select_related("suite"), pk=scenario_id)
    selectors.get_suite_for_user(request.user, scenario.suite_id)
    try:
        seed = int(request.POST.get("seed") or 0)
        if not 0 <= seed <= 1_000_000:
            raise ValueError("the seed must be between 0 and 1000000")
        start_url = playground.open_playground(request.user, scenario, seed)
    except (ScenarioError, ValueError) as exc:
        messages.error(request, f"This scenario cannot be opened: {exc}")
        return redirect("runs:suite", suite_id=scenario.suite_id)
    except playground.PlaygroundFull as exc:
        messages.error(request, str(exc))
        return redirect("runs:suite", suite_id=scenario.suite_id)
    return redirect(start_url)


@csrf_exempt
@login_required
def play(request, token, host, path=""):
    """Forward a request of the user's browser to their playground World (see sandbox.play)."""
    query = request.META.get("QUERY_STRING", "")
    sandbox_request = SandboxRequest(
        method=request.method,
        host=host.lower(),
        path="/" + path + (f"?{query}" if query else ""),
        query={k: v for k, v in request.GET.items()},
        form={k: v for k, v in request.POST.items()},
        headers={k.lower(): v for k, v in request.headers.items()},
    )
    try:
        response = playground.serve_playground(request.user, token, sandbox_request)
    except playground.PlaygroundConflict as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    if response is None:
        raise Http404("This sandbox has expired or is not yours. Open the scenario again.")
    http = HttpResponse(response.body, status=response.status, content_type=response.content_type)
    for name, value in response.headers:
        http[name] = value
    return http
