"""Two worker hosts and a web host with no disk in common share one run and one S3-compatible artifact store."""

import json
import re
import time

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from runner.trace import blob_refs
from runs import services
from runs.models import Episode, Run, Suite
from tests.hosts import wait_for_worker

pytestmark = [pytest.mark.browser, pytest.mark.services]


def test_two_worker_hosts_share_a_run_and_the_web_host_serves_every_artifact(
    s3_storage, s3_server, hosts, builtins, team_user
):
    workers = [hosts("worker-a"), hosts("worker-b")]
    web = hosts("web")
    # Started side by side; both ready before the run, so that each can take its share.
    started = [host.start_worker(wait=False) for host in workers]
    base_url = web.start_web()
    for proc in started:
        wait_for_worker(proc)
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
    )
    deadline = time.monotonic() + 120
    while not Run.objects.get(pk=run.pk).is_final:
        assert time.monotonic() < deadline, "\n".join(h.procs[0].log_path.read_text()[-1500:] for h in workers)
        time.sleep(0.5)
    run.refresh_from_db()
    episodes = list(run.episodes.prefetch_related("step_set"))
    assert run.status == Run.COMPLETE and len(episodes) == 3
    assert all(e.status == Episode.SCORED and e.attempts == 1 for e in episodes)
    for host in workers:
        scored = re.findall(
            r"runs\.tasks\.run_episode\[[^\]]+\] succeeded in [\d.]+s: 'scored'", host.procs[0].log_path.read_text()
        )
        assert scored, f"{host.name} took no episode"

    session = Client()
    session.force_login(user)
    cookies = {settings.SESSION_COOKIE_NAME: session.cookies[settings.SESSION_COOKIE_NAME].value}
    artifacts = set()
    with httpx.Client(base_url=base_url, cookies=cookies, timeout=30) as web_client:
        for episode in episodes:
            trace = web_client.get(reverse("runs:trace", args=[episode.pk]))
            assert trace.status_code == 200, trace.text
            lines = [json.loads(line) for line in trace.text.splitlines()]
            assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"
            artifacts.add(episode.trace_path)
            artifacts |= {services.blob_name(run.pk, digest) for line in lines for digest in blob_refs(line)}
            steps = list(episode.step_set.all())
            assert steps
            for step in steps:
                screenshot = web_client.get(reverse("runs:screenshot", args=[step.pk]))
                assert screenshot.status_code == 200 and screenshot.content.startswith(b"\xff\xd8")
                artifacts.add(step.screenshot_path)
    assert s3_server.keys(s3_storage) == artifacts
    assert [host.local_files() for host in (*workers, web)] == [[], [], []]
