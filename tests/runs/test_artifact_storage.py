"""Artifacts through Django's storage API, on a real S3-compatible server: written by a worker on its own host,
served by the dashboard only to the run's team, streamed or by a short-lived presigned link."""

import json
import time

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from agents.models import Agent, Team
from benchmark_site.settings import artifact_storage
from runner.trace import blob_refs
from runs import services
from runs.models import Episode, Run, Step, Suite
from sandbox.suites import parse_suite
from tests.conftest import _free_port

pytestmark = pytest.mark.services

ONE_PURCHASE = """
name: one-purchase
trials: 1
max_steps: 25
scenarios:
  - key: purchase-clean
    task: shop.purchase
    overlays: [clean]
"""
TRACE = b'{"v": "gauntlet.trace/v1", "type": "episode_start"}\n'
JPEG = b"\xff\xd8\xff\xe0 not really a picture"


def oracle_version():
    return Agent.objects.get(name="oracle").latest_version()


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def stored_episode(team) -> tuple[Episode, Step]:
    """A run's episode with a trace and one step's screenshot saved in the configured storage."""
    run = services.queue_run(
        agent_version=oracle_version(), suite=Suite.objects.get(name="smoke"), team=team, enqueue=False
    )
    episode = run.episodes.first()
    episode.trace_path = default_storage.save(f"traces/run-{run.pk}/episode-{episode.pk}.jsonl", ContentFile(TRACE))
    episode.save(update_fields=["trace_path"])
    step = Step.objects.create(
        episode=episode, run=run, index=1, screenshot_path=default_storage.save("traces/step-1.jpg", ContentFile(JPEG))
    )
    return episode, step


def test_a_workers_trace_and_screenshots_land_in_s3_and_the_dashboard_serves_them(
    s3_storage, s3_server, hosts, builtins, team_user, client
):
    worker = hosts("worker-host")
    worker.start_worker()
    team, user = team_user
    suite = services.register_suite(parse_suite(ONE_PURCHASE), team=team)
    run = services.queue_run(agent_version=oracle_version(), suite=suite, team=team, user=user)
    deadline = time.monotonic() + 120
    while not Run.objects.get(pk=run.pk).is_final:
        assert time.monotonic() < deadline, worker.procs[0].log_path.read_text()[-3000:]
        time.sleep(0.5)
    episode = run.episodes.get()
    steps = list(episode.step_set.all())
    assert episode.status == Episode.SCORED and steps and all(step.screenshot_path for step in steps)

    client.force_login(user)
    trace = client.get(reverse("runs:trace", args=[episode.pk]))
    assert trace.status_code == 200 and trace["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body(trace).decode().splitlines()]
    assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"
    screenshot = client.get(reverse("runs:screenshot", args=[steps[-1].pk]))
    assert screenshot.status_code == 200 and body(screenshot).startswith(b"\xff\xd8")
    # Everything is in the bucket, the trace's blobs too, and nothing stayed on the worker's disk.
    blobs = {services.blob_name(run.pk, digest) for line in lines for digest in blob_refs(line)}
    assert blobs and s3_server.keys(s3_storage) == {episode.trace_path, *(s.screenshot_path for s in steps), *blobs}
    assert worker.local_files() == []


def test_a_download_can_be_a_short_lived_link_to_the_private_object(s3_storage, s3_server, settings, client, team_user):
    team, user = team_user
    services.load_builtins()
    episode, step = stored_episode(team)
    settings.GAUNTLET_ARTIFACT_REDIRECT = True
    client.force_login(user)

    response = client.get(reverse("runs:trace", args=[episode.pk]))
    assert response.status_code == 302 and "no-store" in response["Cache-Control"]
    link = response["Location"]
    assert link.startswith(f"{s3_server.endpoint}/{s3_storage}/") and "X-Amz-Expires=60" in link
    download = httpx.get(link)
    assert download.status_code == 200 and download.content == TRACE
    assert (
        download.headers["Content-Disposition"]
        == f'attachment; filename="run-{episode.run_id}-episode-{episode.pk}-trace.jsonl"'
    )
    # The object itself is private: without the signature the store refuses it.
    assert httpx.get(link.split("?")[0]).status_code == 403

    image = httpx.get(client.get(reverse("runs:screenshot", args=[step.pk]))["Location"])
    assert image.content == JPEG and image.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("redirect", [False, True], ids=["streamed", "presigned"])
def test_another_team_cannot_fetch_stored_artifacts(
    redirect, s3_storage, settings, client, team_user, django_user_model
):
    team, owner = team_user
    services.load_builtins()
    episode, step = stored_episode(team)
    settings.GAUNTLET_ARTIFACT_REDIRECT = redirect
    urls = [reverse("runs:trace", args=[episode.pk]), reverse("runs:screenshot", args=[step.pk])]

    client.force_login(owner)
    assert [client.get(url).status_code for url in urls] == [302 if redirect else 200] * 2
    outsider = django_user_model.objects.create_user("mallory", password="another horse battery")
    Team.objects.create(name="beta").members.add(outsider)
    client.force_login(outsider)
    assert [client.get(url).status_code for url in urls] == [404, 404]


@pytest.mark.browser
def test_an_unreachable_artifact_store_is_an_infrastructure_error_not_a_score(
    s3_storage, monkeypatch, settings, builtins, team_user, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("GAUNTLET_S3_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    settings.STORAGES = {**settings.STORAGES, "default": artifact_storage()}
    team, user = team_user
    suite = services.register_suite(parse_suite(ONE_PURCHASE), team=team)
    run = services.queue_run(agent_version=oracle_version(), suite=suite, team=team, user=user, enqueue=False)
    episode = run.episodes.get()

    with django_capture_on_commit_callbacks():  # the retry's enqueue is captured, not sent
        assert services.execute_episode(episode.pk) == "retry"
    episode.refresh_from_db()
    assert episode.status == Episode.QUEUED and episode.attempts == 1 and episode.success is None
    assert "Could not connect to the endpoint URL" in episode.infra_error
