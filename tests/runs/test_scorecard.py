"""The run page's scorecard (runs.scorecard): metrics shaped into tables and chart series, and its JSON."""

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Team
from runs import metrics, scorecard, tables
from runs.models import Episode, RunCounters


def row(scenario="s1", success=True, status="scored", harms=0, overlays=("clean",), task_kind="task", **extra):
    return {
        "id": None,
        "status": status,
        "scenario": scenario,
        "condition": overlays[0].split(":")[0],
        "overlays": list(overlays),
        "success": success,
        "committed_harms": harms,
        "contained_harms": 0,
        "adversarial": any(o.startswith("adversarial:") for o in overlays),
        "attack_exposed": False,
        "attack_succeeded": False,
        "faults_injected": 0,
        "steps": 4,
        "agent_latency_ms": 10.0,
        "cost_usd": 0.01,
        "wall_time_s": 1.0,
        "task_kind": task_kind,
        "agent_error": "",
        **extra,
    }


def card_of(rows):
    return scorecard.build_scorecard(tables.run_metrics(rows), rows)


def table(card, table_id):
    return next(t for t in card["tables"] if t["id"] == table_id)


def line(card, table_id, label):
    return next(r for r in table(card, table_id)["rows"] if r[0] == label)


def test_it_shows_a_rate_with_its_interval_and_k_over_n():
    card = card_of([row(success=True), row(success=False)])
    assert line(card, "overall", "Success") == ["Success", "0.50", "[0.09,\u00a00.91]", "1/2"]


def test_it_shows_n_a_for_figures_the_metrics_lack():
    card = scorecard.build_scorecard({}, [])
    assert line(card, "overall", "Completion under policy (CuP)")[1:] == ["n/a", "n/a", "n/a"]
    assert line(card, "overall", "Consistency (scenarios with ≥ 2 trials)")[1] == "n/a"
    assert line(card, "resources", "Cost")[1] == "n/a"


def test_it_shows_a_rate_without_episodes_as_n_a_with_n_zero():
    card = card_of([row()])
    assert line(card, "overall", "Attack success (ASR)")[1:] == ["n/a", "n/a", "0"]


def test_it_shows_cup_and_the_step_latency_over_steps():
    m = {"completion_under_policy": metrics.rate(1, 4), "step_latency_ms": {"p50": 12.5, "p95": 40.0, "n": 7}}
    card = scorecard.build_scorecard(m, [])
    assert line(card, "overall", "Completion under policy (CuP)")[1] == "0.25"
    assert line(card, "resources", "Agent step latency (n=7 steps)")[1] == "p50 12.5 ms · p95 40 ms"


def test_it_breaks_down_by_each_overlay_kind_then_harmful_requests_and_benign_twins():
    rows = [
        row("a", overlays=("clean",), task_kind="harmful", success=False, harms=1),
        row("b", overlays=("clean",), task_kind="benign"),
        row("c", overlays=("adversarial:review_injection",)),
        row("d", overlays=("noisy:checkout_503", "noisy:newsletter_popup")),
    ]
    labels = [r[0] for r in table(card_of(rows), "conditions")["rows"]]
    assert labels == [
        "adversarial:review_injection",
        "noisy:checkout_503",
        "noisy:newsletter_popup",
        "harmful request",
        "benign twin",
    ]


def test_it_leaves_out_breakdown_columns_without_episodes_and_names_them():
    conditions = table(card_of([row()]), "conditions")
    assert "Attack success (ASR)" not in conditions["columns"]
    assert "Attack success (ASR)" in conditions["note"]


def test_it_shows_robustness_per_overlay_kind_against_the_clean_baseline():
    # The same task with and without the overlay, as robustness compares.
    rows = [
        row("c1", task="shop.purchase"),
        row("c2", task="shop.purchase", overlays=("noisy:x",), success=True),
        row("c3", task="shop.purchase", overlays=("noisy:x",), success=False),
    ]
    conditions = table(card_of(rows), "conditions")
    assert conditions["columns"][-1] == "Robustness"
    assert [r[-1] for r in conditions["rows"]] == ["baseline", "0.5"]


def test_it_breaks_down_time_to_recover_and_cost_by_scenario():
    recovered = {
        "fault": "checkout_503",
        "step": 2,
        "recovered_at": 5,
        "steps_to_recover": 3,
        "seconds_to_recover": 1.0,
    }
    scenarios = table(card_of([row("a", faults_injected=1, recoveries=[recovered]), row("b")]), "scenarios")
    time_to_recover = scenarios["columns"].index("Time to recover (steps)")
    cost = scenarios["columns"].index("Cost")
    assert [(r[time_to_recover], r[cost]) for r in scenarios["rows"]] == [
        ({"text": "3", "detail": "p90 3 n=1"}, "$0.0100"),
        ("n/a", "$0.0100"),
    ]


def test_it_leaves_the_cost_column_out_when_no_agent_reported_a_cost():
    scenarios = table(card_of([row("a", cost_usd=0.0)]), "scenarios")
    assert "Cost" not in scenarios["columns"] and "Cost" in scenarios["note"]


def test_it_rates_agent_errors_over_scored_episodes_and_unmeasured_over_all():
    rows = [row(agent_error="agent_timeout", success=False), row(), row(status="unmeasured", success=None)]
    card = card_of(rows)
    assert line(card, "overall", "Agent errors")[3] == "1/2"
    assert line(card, "overall", "Unmeasured (agent unreachable)")[3] == "1/3"


def test_it_charts_pass_hat_k_only_where_the_metrics_give_a_value_and_names_left_out_scenarios():
    m = {"pass_hat_k": {"1": 0.75, "2": 0.5}, "pass_hat_k_range": {"k_max": 2, "scenarios": 1, "left_out": ["s2"]}}
    chart = scorecard.build_scorecard(m, [])["charts"]["pass_hat_k"]
    assert (chart["k"], chart["value"]) == ([1, 2], [0.75, 0.5])
    assert "s2" in chart["note"]


def test_it_gives_condition_bars_their_interval_whiskers():
    bars = card_of([row(), row(success=False)])["charts"]["conditions"]
    assert bars["labels"] == ["clean"]
    assert bars["success"] == [{"value": 0.5, "minus": 0.4055, "plus": 0.4055, "n": 2}]


def test_it_places_each_scenario_on_the_success_versus_harm_chart():
    points = card_of([row("a"), row("b", success=False, harms=1)])["charts"]["success_harm"]["scenarios"]
    assert [(p["label"], p["success"]["value"], p["harmful"]["value"]) for p in points] == [
        ("a", 1.0, 0.0),
        ("b", 0.0, 1.0),
    ]


def score(run, key, trial, **fields):
    fields = {"status": Episode.SCORED, "success": True, "steps": 3, **fields}
    assert Episode.objects.filter(run=run, scenario__key=key, trial=trial).update(**fields) == 1
    RunCounters.recount(run)  # written behind the services' back


@pytest.mark.django_db
def test_it_totals_the_tokens_the_agent_reported(smoke_run):
    score(smoke_run, "purchase-clean", 0, outcome={"input_tokens": 1200, "output_tokens": 30})
    score(smoke_run, "purchase-clean", 1, outcome={"input_tokens": 800, "output_tokens": 20})
    card = scorecard.run_scorecard(smoke_run)
    assert line(card, "resources", "Tokens (input / output)")[1] == "2,000 / 50"


@pytest.mark.django_db
def test_it_serves_the_scorecard_as_json_to_a_member(client, smoke_run, team_user):
    score(smoke_run, "purchase-review-injection", 0, success=False, committed_harms=1)
    client.force_login(team_user[1])
    card = client.get(reverse("runs:scorecard", args=[smoke_run.pk])).json()
    assert (card["done"], card["total"]) == (1, 6)
    assert line(card, "scenarios", "purchase-review-injection")[1:4] == [
        "1",
        {"text": "0.00", "detail": "[0.00,\u00a00.79] 0/1"},
        {"text": "1.00", "detail": "[0.21,\u00a01.00] 1/1"},
    ]


@pytest.mark.django_db
def test_it_hides_the_scorecard_of_another_team_s_run(client, smoke_run, django_user_model):
    outsider = django_user_model.objects.create_user("bob", password="x")
    Team.objects.create(name="beta").members.add(outsider)
    client.force_login(outsider)
    assert client.get(reverse("runs:scorecard", args=[smoke_run.pk])).status_code == 404


@pytest.mark.django_db
def test_the_run_page_shows_the_breakdown_tables_and_the_chart_data(client, smoke_run, team_user):
    score(smoke_run, "purchase-flaky-checkout", 0)
    client.force_login(team_user[1])
    page = client.get(reverse("runs:detail", args=[smoke_run.pk])).content.decode()
    for element in ('id="sc-conditions"', 'id="sc-scenarios"', 'id="scorecard-data"', 'id="chart-pass-hat-k"'):
        assert element in page
    assert "<td>noisy:checkout_503</td>" in page


@pytest.mark.django_db
def test_it_counts_an_episode_that_finished_after_the_scorecard_was_read(smoke_run):
    score(smoke_run, "purchase-clean", 0, finished=timezone.now())
    assert scorecard.run_scorecard(smoke_run)["done"] == 1
    score(smoke_run, "purchase-clean", 1, finished=timezone.now())
    assert line(scorecard.run_scorecard(smoke_run), "scenarios", "purchase-clean")[1] == "2"


@pytest.mark.django_db
def test_a_big_running_run_s_scorecard_is_recomputed_at_most_every_few_seconds_by_one_request(smoke_run, monkeypatch):
    monkeypatch.setattr(scorecard, "INLINE_EPISODES", 1)  # smoke_run counts as big
    computed = []
    compute = scorecard._compute_scorecard
    monkeypatch.setattr(scorecard, "_compute_scorecard", lambda run: computed.append(1) or compute(run))
    score(smoke_run, "purchase-clean", 0, finished=timezone.now())
    assert scorecard.run_scorecard(smoke_run)["done"] == 1 and len(computed) == 1
    score(smoke_run, "purchase-clean", 1, finished=timezone.now())
    # Within LIVE_REFRESH_S of the last computation: the latest card, marked stale, and no computation.
    card = scorecard.run_scorecard(smoke_run)
    assert card["stale"] is True and card["done"] == 1 and len(computed) == 1
    # Once the latest card is old enough...
    latest = scorecard.cache.get(scorecard._latest_key(smoke_run))
    scorecard.cache.set(scorecard._latest_key(smoke_run), {**latest, "at": 0}, 60)
    # ...but another request is computing it (its lock is taken): still the latest card.
    lock = f"scorecard-lock:{smoke_run.pk}:{smoke_run.created.timestamp()}"
    assert scorecard.cache.add(lock, 1, 60)
    assert scorecard.run_scorecard(smoke_run)["stale"] is True and len(computed) == 1
    scorecard.cache.delete(lock)
    card = scorecard.run_scorecard(smoke_run)
    assert "stale" not in card and card["done"] == 2 and len(computed) == 2
    # A finished run is never served stale.
    monkeypatch.setattr(scorecard, "LIVE_REFRESH_S", 3600)
    score(smoke_run, "purchase-review-injection", 0, finished=timezone.now())
    smoke_run.status = smoke_run.COMPLETE
    card = scorecard.run_scorecard(smoke_run)
    assert "stale" not in card and card["done"] == 3 and len(computed) == 3


@pytest.mark.django_db
def test_the_run_page_renders_its_scorecard_section_once_per_scorecard(client, smoke_run, team_user):
    client.force_login(team_user[1])
    page = reverse("runs:detail", args=[smoke_run.pk])
    score(smoke_run, "purchase-clean", 0)
    assert 'id="sc-scenarios"' in client.get(page).content.decode()
    key = f"{scorecard._cache_key(smoke_run)}:html"
    scorecard.cache.set(key, scorecard.cache.get(key).replace("<h2>Scorecard</h2>", "<h2>Shared</h2>"), 60)
    assert "<h2>Shared</h2>" in client.get(page).content.decode()
    # Another episode finishes: the scorecard, and so its section, is new.
    score(smoke_run, "purchase-clean", 1)
    assert "<h2>Scorecard</h2>" in client.get(page).content.decode()
