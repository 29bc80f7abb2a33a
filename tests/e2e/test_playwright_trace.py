"""Playwright's own traces: a run setting (off, on failure, always); the episode's trace.zip downloads from its
page and opens in Playwright's trace viewer (``playwright show-trace``), which lists the episode's actions."""

import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from runs import bundle, services
from runs.models import Episode, Suite
from tests.conftest import _free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAYWRIGHT = Path(sys.executable).with_name("playwright")


def viewer_gone(group: int, timeout: float = 10) -> bool:
    """Whether every process of the viewer's process group has ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
    return False


def played(team_user, agent: str, mode: str) -> list[Episode]:
    """The smoke suite (clean, adversarial, noisy) played once by ``agent`` with Playwright traces ``mode``."""
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name=agent).latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=1,
        playwright_trace=mode,
        enqueue=False,
    )
    for episode in run.episodes.all():
        assert services.execute_episode(episode.pk) == "scored"
    return list(run.episodes.order_by("pk"))


def test_the_trace_zip_downloads_from_the_episode_page_and_opens_in_playwrights_viewer(
    builtins, team_user, browser_page, tmp_path
):
    episode = played(team_user, "oracle", "always")[0]
    client = Client()
    client.force_login(team_user[1])
    page = client.get(reverse("runs:episode", args=[episode.pk])).content.decode()
    link = reverse("runs:playwright_trace", args=[episode.pk, 1])
    assert f'href="{link}"' in page

    response = client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    trace = tmp_path / "trace.zip"
    trace.write_bytes(b"".join(response.streaming_content))
    assert zipfile.ZipFile(trace).testzip() is None

    port = _free_port()
    viewer = subprocess.Popen(
        [str(PLAYWRIGHT), "show-trace", "--host", "127.0.0.1", "--port", str(port), str(trace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The playwright command starts the viewer as a child (node): stop them together, or it outlives the test.
        start_new_session=True,
    )
    try:
        assert "Listening on" in viewer.stdout.readline() + viewer.stdout.readline()
        browser_page.goto(f"http://127.0.0.1:{port}/")
        browser_page.locator(".action-title").first.wait_for(timeout=30_000)
        time.sleep(0.5)  # the list renders at once, but let it settle
        listed = browser_page.locator(".action-title").all_inner_texts()
    finally:
        os.killpg(viewer.pid, signal.SIGTERM)
        viewer.wait(timeout=10)
        assert viewer_gone(viewer.pid)
    # The start page, then every ref the agent clicked or filled, as the runner addressed it.
    assert any(title.startswith("Navigate") for title in listed)
    refs = [
        m.group(1)
        for action in episode.step_set.order_by("index").values_list("action", flat=True)
        if (m := re.match(r"(?:click|fill|select_option)\('([^']+)'", action))
    ]
    assert refs
    for ref in refs:
        assert any(f"aria-ref={ref}" in title for title in listed), (ref, listed)


def test_on_failure_keeps_the_traces_of_failed_and_harmed_episodes_only(builtins, team_user):
    episodes = played(team_user, "gullible", "on_failure")
    kept = {e.pk for e in episodes if e.playwright_traces}
    assert kept == {e.pk for e in episodes if not e.success or e.committed_harms}
    assert kept and len(kept) < len(episodes)  # gullible succeeds on the clean scenario
    for episode in episodes:
        for trace in episode.playwright_traces:
            assert trace["attempt"] == 1 and trace["agent"] == 0 and trace["path"].endswith(".zip")
    # The run bundle carries them.
    names = zipfile.ZipFile(io.BytesIO(b"".join(bundle.stream(episodes[0].run)))).namelist()
    assert sorted(n for n in names if "playwright-trace" in n) == sorted(
        f"episodes/{pk}/playwright-trace-attempt-1-agent-0.zip" for pk in kept
    )


def test_off_records_nothing_and_the_setting_is_checked(builtins, team_user):
    assert all(e.playwright_traces == [] for e in played(team_user, "oracle", "off"))
    with pytest.raises(ValueError, match="playwright_trace must be one of off, on_failure, always"):
        played(team_user, "oracle", "sometimes")


@pytest.mark.parametrize(
    "success, harms, agent_error, on_failure",
    [(True, [], "", False), (False, [], "", True), (True, ["paid"], "", True), (True, [], "agent_timeout", True)],
)
def test_on_failure_keeps_what_did_not_succeed_cleanly(success, harms, agent_error, on_failure):
    from types import SimpleNamespace

    from runner.episode import _keeps_trace

    outcome = SimpleNamespace(success=success, committed_harms=harms, agent_error=agent_error)
    assert _keeps_trace("on_failure", outcome) is on_failure
    assert _keeps_trace("always", outcome) is True
    assert _keeps_trace("on_failure", None) is True  # an error ended the episode
