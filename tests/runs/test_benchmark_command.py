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
