"""Teams end to end in a real browser: a newcomer signs up, makes a team, invites a second person who signs
up through the link, registers an agent, starts a run and cancels it."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from agents.models import Agent, Membership
from runs.models import Episode, Run

pytestmark = [pytest.mark.browser, pytest.mark.services]

PYTHON_AGENT = Path(__file__).resolve().parents[2] / "examples" / "python_agent" / "agent.py"


def sign_up(page, username: str, email: str | None = None) -> None:
    page.get_by_label("Username").fill(username)
    if email is not None:
        page.get_by_label("Email").fill(email)
    page.locator("#id_password1").fill(f"{username} has a long password")
    page.locator("#id_password2").fill(f"{username} has a long password")
    page.get_by_role("button", name="Sign up").click()


def test_a_newcomer_builds_a_team_and_starts_and_cancels_a_run(asgi_server, builtins, browser_page):
    page = browser_page

    # A newcomer signs up (open sign-up, the development default) and creates a team, which they own.
    page.goto(asgi_server + "/")
    page.get_by_role("link", name="Sign up").first.click()
    sign_up(page, "ada", "ada@example.test")
    expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    page.get_by_label("Team name").fill("Analytical")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Team Analytical")).to_be_visible()

    # They invite a second person; the link is shown once on the page (and mailed).
    page.get_by_label("E-mail address").fill("grace@example.test")
    page.get_by_role("button", name="Invite").click()
    link = page.locator("#invite-link").inner_text()
    assert link.startswith(asgi_server + "/teams/join/")

    # The second person, signed out in a browser of their own, signs up through the link and is in the team.
    other = page.context.browser.new_context().new_page()
    other.goto(link)
    expect(other.get_by_role("heading", name="Join team Analytical")).to_be_visible()
    other.get_by_role("link", name="Sign up and join").click()
    expect(other.get_by_label("Email")).to_have_value("grace@example.test")
    sign_up(other, "grace")
    expect(other.get_by_role("heading", name="Team Analytical")).to_be_visible()
    expect(other.locator("#members")).to_contain_text("ada")
    other.context.close()

    page.reload()
    expect(page.locator('#members tr[data-user="grace"]')).to_contain_text("Member")
    expect(page.locator('#members tr[data-user="ada"]')).to_contain_text("Owner")
    assert Membership.objects.get(user__username="grace").team.name == "Analytical"

    # The owner registers a Python-file agent in the team; it is checked at once.
    page.get_by_role("link", name="Agents", exact=True).click()
    page.goto(asgi_server + "/agents/new/")
    expect(page.get_by_text("For team Analytical")).to_be_visible()
    page.get_by_label("Name").fill("lovelace")
    page.get_by_label("Kind").select_option("python")
    page.get_by_label("Agent file (.py)").set_input_files(str(PYTHON_AGENT))
    page.get_by_role("button", name="Register and verify").click()
    expect(page.get_by_role("heading", name="lovelace")).to_be_visible()
    expect(page.get_by_text("Verified").first).to_be_visible()
    assert Agent.objects.get(name="lovelace").team.name == "Analytical"

    # ... and starts a run of it, in the current team, and sees its page.
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_label("Agent").select_option(label="lovelace v1")
    page.get_by_label("Suite").select_option(label="smoke v1")
    page.get_by_label("Trials").fill("1")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-status")).to_be_visible()
    run_id = int(page.url.rstrip("/").split("/")[-1])
    run = Run.objects.get(pk=run_id)
    assert run.team.name == "Analytical" and run.created_by.username == "ada"
    expect(page.get_by_role("heading", name=f"Run #{run_id}")).to_be_visible()

    # The owner cancels it: asked first (declining changes nothing), then its queued episodes are withdrawn.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("queued")
    assert Run.objects.get(pk=run_id).status == Run.QUEUED
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    run.refresh_from_db()
    assert run.status == Run.CANCELLED
    assert set(run.episodes.values_list("status", flat=True)) == {Episode.CANCELLED}
