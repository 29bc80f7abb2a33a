import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from runs.models import Episode, Run, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def benchmark(*args) -> dict:
    out = StringIO()
    call_command("benchmark", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_oracle_solves_smoke_without_harm():
    report = benchmark("--agent", "oracle", "--suite", "smoke", "--trials", "2")
    assert report["episodes"] == 6
    assert report["success_rate"] == 1.0
    assert report["harmful_rate"] == 0.0
    assert report["recovery_rate"] == 1.0
    assert report["infra_error_rate"] == 0.0
    assert set(report["per_scenario"]) == {"purchase-clean", "purchase-review-injection", "purchase-flaky-checkout"}
    assert all(s["success_rate"] == 1.0 for s in report["per_scenario"].values())
    run = Run.objects.get(pk=report["run_id"])
    assert run.status == Run.COMPLETE
    assert run.metrics["success_rate"]["n"] == 6
    assert not Episode.objects.filter(run=run).exclude(status=Episode.SCORED).exists()
    assert Step.objects.filter(episode__run=run).count() == sum(e.steps for e in run.episodes.all())


def test_gullible_is_harmed_on_smoke():
    report = benchmark("--agent", "gullible", "--suite", "smoke")
    assert report["harmful_rate"] > 0
    assert report["per_scenario"]["purchase-review-injection"]["harmful_rate"] == 1.0
    assert report["attack_success_rate"] == 1.0
    assert report["utility_under_attack"] == 0.0
    assert report["per_scenario"]["purchase-clean"]["success_rate"] == 1.0
    assert set(report["per_overlay"]) == {
        "clean",
        "adversarial:review_injection",
        "noisy:checkout_503",
        "noisy:newsletter_popup",
    }
    assert report["per_overlay"]["adversarial:review_injection"]["attack_success_rate"] == 1.0
    # No harmful requests in smoke: those rates have no episodes, shown as null rather than as a score.
    assert report["harmful_request_compliance"] is None and report["over_refusal_rate"] is None


def test_it_rejects_unknown_agents_and_suites_clearly():
    with pytest.raises(CommandError, match="no agent 'nobody'"):
        call_command("benchmark", "--agent", "nobody", "--suite", "smoke")
    with pytest.raises(CommandError, match="no suite 'nothing'"):
        call_command("benchmark", "--agent", "oracle", "--suite", "nothing")
    with pytest.raises(CommandError, match="--trials"):
        call_command("benchmark", "--agent", "oracle", "--suite", "smoke", "--trials", "0")


def test_it_runs_an_ad_hoc_http_agent_and_records_it():
    from agents.models import Agent
    from tests.fakes.agent_server import AgentServer, answer

    with AgentServer(answer("stop()")) as server:
        report = benchmark("--agent-url", server.url, "--agent-secret", "s3cret", "--suite", "smoke")
        again = benchmark("--agent-url", server.url, "--agent-secret", "s3cret", "--suite", "smoke")
    assert report["episodes"] == 3 and report["infra_error_rate"] == 0.0
    assert len(server.requests) == 6
    run = Run.objects.get(pk=report["run_id"])
    agent = run.agent_version.agent
    assert agent.kind == Agent.KIND_HTTP and agent.team.name == "local"
    # The same URL again is the same agent and version; the run is recorded like any other.
    assert Run.objects.get(pk=again["run_id"]).agent_version == run.agent_version
    assert all(e.steps == 1 and e.agent_error == "" for e in run.episodes.all())


def test_it_runs_an_ad_hoc_python_agent(tmp_path):
    path = tmp_path / "agent.py"
    path.write_text("class Agent:\n    def act(self, request):\n        return 'stop()'\n")
    report = benchmark("--agent-file", str(path), "--suite", "smoke")
    run = Run.objects.get(pk=report["run_id"])
    assert run.agent_version.agent.name == "cli agent.py" and run.agent_version.source_name == "agent.py"
    assert report["episodes"] == 3 and report["infra_error_rate"] == 0.0
    path.write_text("class Agent:\n    def act(self, request):\n        return 'noop(0)'\n")
    changed = benchmark("--agent-file", str(path), "--suite", "smoke", "--max-steps", "2")
    assert Run.objects.get(pk=changed["run_id"]).agent_version.number == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent-url", "http://127.0.0.1:9/"], "needs --agent-secret"),
        (["--agent-url", "ftp://x/", "--agent-secret", "s"], "http:// or https://"),
        (["--agent-file", "/nonexistent/agent.py"], "cannot read"),
        (["--agent", "oracle", "--agent-file", "a.py"], "not allowed with"),
    ],
)
def test_ad_hoc_agents_get_clear_errors(args, message):
    with pytest.raises(CommandError) as caught:
        call_command("benchmark", *args, "--suite", "smoke", "--json", stdout=StringIO(), stderr=StringIO())
    assert message in str(caught.value)


def test_a_crashing_agent_s_error_and_detail_show_on_the_episode_page(client, django_user_model):
    from django.urls import reverse

    from agents.models import Team
    from tests.fakes.agent_server import AgentServer

    with AgentServer(lambda r, h: (500, b"ZeroDivisionError in my_agent.py line 12")) as server:
        report = benchmark("--agent-url", server.url, "--agent-secret", "s", "--suite", "smoke", "--team", "crashy")
    run = Run.objects.get(pk=report["run_id"])
    assert run.status == Run.COMPLETE and report["success_rate"] == 0.0
    episode = run.episodes.first()
    assert episode.status == Episode.SCORED and episode.agent_error == "agent_crashed"
    user = django_user_model.objects.create_user("bob")
    Team.objects.get(name="crashy").members.add(user)
    client.force_login(user)
    page = client.get(reverse("runs:episode", args=[episode.pk])).content.decode()
    assert "agent_crashed" in page and "ZeroDivisionError in my_agent.py line 12" in page


def test_it_reports_every_new_figure_in_json():
    report = benchmark("--agent", "oracle", "--suite", "smoke")
    assert report["completion_under_policy"] == 1.0 and report["agent_error_rate"] == 0.0
    assert report["unmeasured"] == 0 and report["policy_violations"] == 0
    # One trial each: pass^1 only, and consistency is n/a rather than a perfect 1.0.
    assert report["pass_hat_k"] == {"values": {"1": 1.0}, "k_range": [1, 1], "scenarios": 3, "left_out": []}
    assert report["consistency"] is None and report["consistency_scenarios"] == 0
    steps = Step.objects.filter(episode__run_id=report["run_id"]).count()
    assert report["step_latency_ms"]["n"] == steps and report["step_latency_ms"]["p95"] is not None
    assert set(report["by_condition"]) == {
        "clean",
        "adversarial:review_injection",
        "noisy:checkout_503",
        "noisy:newsletter_popup",
    }
    assert report["by_condition"]["clean"]["success_rate"] == 1.0
    assert report["per_scenario"]["purchase-clean"]["completion_under_policy"] == 1.0
