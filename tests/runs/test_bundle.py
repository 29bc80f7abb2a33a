"""The run bundle: one zip per run, streamed, that reads back to what the database and the stored artifacts hold."""

import hashlib
import io
import json
import zipfile

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse

from agents.models import Team
from runner.trace import blob_refs
from runs import bundle, selectors
from runs.models import Episode, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def download(client, run) -> tuple[object, bytes]:
    response = client.get(reverse("runs:bundle", args=[run.pk]))
    return response, b"".join(response.streaming_content) if response.status_code == 200 else b""


def stored(path: str) -> bytes:
    with default_storage.open(path, "rb") as f:
        return f.read()


def test_the_bundle_reads_back_to_the_database_and_the_artifacts(client, played_run):
    run, user = played_run
    client.force_login(user)
    assert reverse("runs:bundle", args=[run.pk]).encode() in client.get(reverse("runs:detail", args=[run.pk])).content

    response, body = download(client, run)

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert f'filename="run-{run.pk}-bundle.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    names = set(archive.namelist())

    document = json.loads(archive.read("run.json"))
    assert document["run"]["id"] == run.pk and document["run"]["settings"] == run.config
    assert document["agent"] == {
        "name": "gullible",
        "kind": run.agent_version.agent.kind,
        "version": run.agent_version.number,
        "config": run.agent_version.config,
        "source_name": "",
        "source_sha256": None,
    }
    assert document["suite"] == {"name": "smoke", "version": run.suite.version, "content_hash": run.suite_hash}
    summary = selectors.run_summary(run)
    assert document["counts"] == summary["counts"] and document["episodes"] == 6
    assert document["metrics"]["success_rate"] == json.loads(json.dumps(summary["metrics"]["success_rate"]))

    assert archive.read("episodes.csv").decode() == selectors.episodes_csv(run)

    steps = pd.read_parquet(io.BytesIO(archive.read("steps.parquet")))
    rows = list(Step.objects.filter(run=run).order_by("episode_id", "index"))
    assert len(steps) == len(rows) > 3
    assert list(steps.columns) == bundle.STEP_COLUMNS
    for got, step in zip(steps.to_dict("records"), rows, strict=True):
        assert (got["episode_id"], got["index"], got["action"], got["error"]) == (
            step.episode_id,
            step.index,
            step.action,
            step.error,
        )
        assert got["url"] == step.url and got["step_ms"] == pytest.approx(step.step_ms)
        assert json.loads(got["data"]) == json.loads(json.dumps(step.data, default=str))
        assert json.loads(got["milestones"]) == step.data.get("milestones", [])
        if step.screenshot_path:
            assert archive.read(got["screenshot"]) == stored(step.screenshot_path)
        else:
            assert got["screenshot"] == ""
    assert sum(1 for name in names if name.endswith(".jpg")) == sum(1 for s in rows if s.screenshot_path) > 0

    played = Episode.objects.filter(run=run).exclude(trace_path="")
    assert played.count() == 3
    for episode in played:
        assert archive.read(f"episodes/{episode.pk}/trace.jsonl") == stored(episode.trace_path)
    # What the agent was sent: every blob the traces refer to, once, under its hash.
    refs = {
        ref
        for episode in played
        for line in archive.read(f"episodes/{episode.pk}/trace.jsonl").splitlines()
        for ref in blob_refs(json.loads(line))
    }
    assert refs and {name.removeprefix("blobs/") for name in names if name.startswith("blobs/")} == refs
    for ref in refs:
        assert hashlib.sha256(archive.read(f"blobs/{ref}")).hexdigest() == ref
    # The queued episodes have no trace yet, and nothing stands in for one.
    for episode in Episode.objects.filter(run=run, trace_path=""):
        assert not any(name.startswith(f"episodes/{episode.pk}/") for name in names)


def test_the_bundle_is_sent_in_pieces_as_it_is_made(played_run, monkeypatch):
    run, _ = played_run
    monkeypatch.setattr(bundle, "CHUNK", 4096)
    chunks = [chunk for chunk in bundle.stream(run) if chunk]
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) < sum(len(chunk) for chunk in chunks) / 4
    assert zipfile.ZipFile(io.BytesIO(b"".join(chunks))).testzip() is None


def test_other_teams_get_no_bundle(client, played_run, django_user_model):
    run, _ = played_run
    stranger = django_user_model.objects.create_user("mallory", password="correct horse battery")
    Team.objects.create(name="other").members.add(stranger)
    client.force_login(stranger)
    assert download(client, run)[0].status_code == 404
    client.logout()
    assert download(client, run)[0].status_code == 302  # to the login page


def test_export_run_writes_the_same_bundle(played_run, tmp_path, client):
    run, user = played_run
    call_command("export_run", str(run.pk), str(tmp_path))
    written = zipfile.ZipFile(tmp_path / f"run-{run.pk}-bundle.zip")
    client.force_login(user)
    downloaded = zipfile.ZipFile(io.BytesIO(download(client, run)[1]))
    assert written.namelist() == downloaded.namelist()
    for name in written.namelist():
        if name != "run.json":  # it says when it was exported
            assert written.read(name) == downloaded.read(name), name

    with pytest.raises(CommandError, match="exists"):
        call_command("export_run", str(run.pk), str(tmp_path / f"run-{run.pk}-bundle.zip"))
    with pytest.raises(CommandError, match="no run"):
        call_command("export_run", "999999", str(tmp_path))
    with pytest.raises(CommandError, match="no folder"):
        call_command("export_run", str(run.pk), str(tmp_path / "missing" / "x.zip"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"run-{run.pk}-bundle.zip"]


async def test_under_asgi_the_bundle_is_sent_as_it_is_made(async_client, played_run, recwarn, monkeypatch):
    """Through Django's ASGI handler (as Daphne serves it), chunk by chunk: Django would otherwise read a
    synchronous iterator to its end, the whole zip in memory, before sending a byte."""
    from asgiref.sync import sync_to_async

    run, user = played_run
    monkeypatch.setattr(bundle, "CHUNK", 4096)
    await sync_to_async(async_client.force_login)(user)
    response = await async_client.get(reverse("runs:bundle", args=[run.pk]))
    assert response.status_code == 200 and response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) > 10
    assert zipfile.ZipFile(io.BytesIO(b"".join(chunks))).testzip() is None
    assert not [w for w in recwarn if "consume synchronous iterators" in str(w.message)]
