"""The run page's scorecard in a real browser: breakdown tables, three charts, updated live as episodes finish."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from agents.models import Agent
from runs import services
from runs.models import Suite

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

CHARTS = ("chart-pass-hat-k", "chart-conditions", "chart-success-harm")


@pytest.fixture
def played_run(builtins, team_user):
    """A two-trial run of the smoke suite (clean, adversarial, noisy) by ``gullible``, first trials played."""
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="gullible").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=2,
        enqueue=False,
    )
    for episode in run.episodes.filter(trial=0):
        assert services.execute_episode(episode.pk) == "scored"
    return run, user


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
