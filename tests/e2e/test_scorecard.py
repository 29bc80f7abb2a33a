"""The run page's scorecard in a real browser: breakdown tables, three charts, updated live as episodes finish."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from agents.models import Agent
from runs import services
from runs.models import Suite
from sandbox import scenarios

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

CHARTS = ("chart-pass-hat-k", "chart-conditions", "chart-success-harm")


@pytest.fixture
def scorecard_page(asgi_server, played_run, browser_page):
    run, user = played_run
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    browser_page.set_viewport_size({"width": 1300, "height": 900})
    browser_page.goto(f"{asgi_server}/runs/{run.pk}/")
    expect(browser_page.locator("#live")).to_have_text("live", timeout=10000)
    return browser_page, run


def chart_traces(page, chart_id: str) -> int:
    return page.evaluate(f"() => document.getElementById('{chart_id}').data.length")


def success_bar_counts(page) -> list[str]:
    """The n of each condition's success bar, as the chart holds it."""
    return page.evaluate("() => document.getElementById('chart-conditions').data[0].customdata")


def test_it_shows_the_breakdowns_and_charts_and_updates_them_when_an_episode_finishes(scorecard_page):
    page, run = scorecard_page
    conditions = page.locator("#sc-conditions")
    for label in ("clean", "adversarial:review_injection", "noisy:checkout_503"):
        expect(conditions).to_contain_text(label)
    flaky = page.locator("#sc-scenarios tr", has_text="purchase-flaky-checkout")
    expect(flaky.locator("td").nth(1)).to_have_text("1")
    expect(page.locator(".js-plotly-plot")).to_have_count(3)
    assert all(chart_traces(page, chart) > 0 for chart in CHARTS)
    assert success_bar_counts(page) == ["n=1"] * 4

    page.evaluate("window.__marker = 'same page'")
    episode = run.episodes.get(scenario__key="purchase-flaky-checkout", trial=1)
    assert services.execute_episode(episode.pk) == "scored"
    expect(flaky.locator("td").nth(1)).to_have_text("2", timeout=10000)
    assert page.evaluate("window.__marker") == "same page"
    # clean, adversarial:review_injection, then the flaky checkout's two noisy overlays, now with two episodes.
    assert success_bar_counts(page) == ["n=1", "n=1", "n=2", "n=2"]


def test_it_shows_every_condition_of_a_full_run(asgi_server, builtins, team_user, browser_page):
    # The `full` suite's scenarios with outcomes written directly (playing them all would take many minutes):
    # the page must lay out every condition family, harmful requests and benign twins, and draw its charts.
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="full"),
        team=team,
        user=user,
        enqueue=False,
    )
    for index, episode in enumerate(run.episodes.select_related("scenario")):
        episode.status, episode.success, episode.steps = "scored", index % 3 != 0, 5
        episode.committed_harms = 1 if index % 7 == 0 else 0
        episode.task_kind = scenarios.TASKS[episode.scenario.task].kind
        episode.save()
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    errors = []
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_page.goto(f"{asgi_server}/runs/{run.pk}/")
    conditions = browser_page.locator("#sc-conditions")
    for family in ("clean", "adversarial:", "noisy:", "concurrent:", "harmful request", "benign twin"):
        expect(conditions).to_contain_text(family)
    expect(browser_page.locator("#sc-scenarios tbody tr")).to_have_count(run.episodes.count())
    expect(browser_page.locator(".js-plotly-plot")).to_have_count(3)
    assert all(chart_traces(browser_page, chart) > 0 for chart in CHARTS)
    assert errors == []
