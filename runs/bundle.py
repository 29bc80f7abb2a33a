"""The run bundle: a whole run in one zip, to take home and debug offline.

``run.json`` (the run's settings, agent version, suite and its content hash, counters and metrics),
``episodes.csv`` (one line per episode, as the run page's download), ``steps.parquet`` (one row per step with
every field the step was scored with, built with pandas), and per episode ``episodes/<id>/trace.jsonl``, its
screenshots (``episodes/<id>/screenshots/step-<index>.jpg``) and, when the run recorded them, Playwright's
traces (``episodes/<id>/playwright-trace-attempt-<a>-agent-<n>.zip``); and once each, the blobs the traces
refer to (``blobs/<sha256>``: what the agent was sent, docs/trace-format.md). The zip is made as a stream of chunks
(:func:`stream`): an artifact is copied through in pieces and nothing holds the whole archive, so a big
run's bundle costs its largest table in memory, not its size.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control

from runner.trace import blob_refs
from runs import selectors, services
from runs.models import Episode, Run, Step

FORMAT = 1
CHUNK = 256 * 1024
# Steps read per query when building steps.parquet.
STEP_BATCH = 5000

STEP_COLUMNS = [
    "episode_id",
    "scenario",
    "trial",
    "agent_index",
    "index",
    "action",
    "thought",
    "error",
    "url",
    "title",
    "observation_digest",
    "agent_latency_ms",
    "step_ms",
    "milestones",
    "harms",
    "faults",
    "screenshot",
    "created",
    "data",
]


class _Sink:
    """A write-only file for zipfile that keeps what was written until :meth:`take` hands it on.

    It has no ``tell`` or ``seek``, so zipfile writes each member's sizes after its data (a data descriptor)
    instead of seeking back: the archive can be sent as it is made."""

    def __init__(self):
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def filename(run: Run) -> str:
    return f"run-{run.pk}-bundle.zip"


def run_document(run: Run) -> dict:
    """run.json: what the run was (settings, agent version, suite) and what it measured."""
    version = run.agent_version
    summary = selectors.run_summary(run)
    return {
        "format": FORMAT,
        "exported": timezone.now().isoformat(),
        "run": {
            "id": run.pk,
            "status": run.status,
            "created": run.created.isoformat(),
            "started": run.started.isoformat() if run.started else None,
            "finished": run.finished.isoformat() if run.finished else None,
            "team": run.team.name if run.team_id else None,
            "published": run.published,
            "settings": run.config,
        },
        "agent": {
            "name": version.agent.name,
            "kind": version.agent.kind,
            "version": version.number,
            "config": version.config,
            "source_name": version.source_name,
            "source_sha256": hashlib.sha256(version.source.encode()).hexdigest() if version.source else None,
        },
        "suite": {"name": run.suite.name, "version": run.suite.version, "content_hash": run.suite_hash},
        "counts": summary["counts"],
        "outcomes": summary["outcomes"],
        # A finished run's stored metrics (every figure, breakdowns included); while it runs, the live ones.
        "metrics": run.metrics or summary["metrics"],
        "episodes": summary["total"],
    }


def _step_row(step: Step, episode: dict, screenshot: str) -> dict:
    data = step.data or {}
    return {
        "episode_id": step.episode_id,
        "scenario": episode["scenario"],
        "trial": episode["trial"],
        "agent_index": data.get("agent_index"),
        "index": step.index,
        "action": step.action,
        "thought": step.thought,
        "error": step.error,
        "url": step.url,
        "title": step.title,
        "observation_digest": step.observation_digest,
        "agent_latency_ms": step.agent_latency_ms,
        "step_ms": step.step_ms,
        "milestones": json.dumps(data.get("milestones", [])),
        "harms": json.dumps(data.get("harms", [])),
        "faults": json.dumps([e.get("name") for e in data.get("events", []) if e.get("kind") == "fault"]),
        "screenshot": screenshot,
        "created": step.created,
        "data": json.dumps(data, sort_keys=True, default=str),
    }


def screenshot_name(step_episode_id: int, index: int) -> str:
    return f"episodes/{step_episode_id}/screenshots/step-{index}.jpg"


def steps_parquet(run: Run, episodes: dict[int, dict]) -> bytes:
    """steps.parquet: one row per step of the run (episode, then index order)."""
    import pandas as pd  # here, not at import: workers load this module (through the URLs) and make no table

    rows = []
    last = 0
    while True:
        batch = list(Step.objects.filter(run=run, id__gt=last).order_by("id")[:STEP_BATCH])
        if not batch:
            break
        last = batch[-1].id
        for step in batch:
            screenshot = screenshot_name(step.episode_id, step.index) if step.screenshot_path else ""
            rows.append(_step_row(step, episodes[step.episode_id], screenshot))
    frame = pd.DataFrame(rows, columns=STEP_COLUMNS)
    frame = frame.sort_values(["episode_id", "index"], kind="stable").reset_index(drop=True)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def stream(run: Run) -> Iterator[bytes]:
    """The run's bundle as a zip, chunk by chunk."""
    sink = _Sink()
    episodes = {
        row["pk"]: {
            "scenario": row["scenario__key"],
            "trial": row["trial"],
            "trace": row["trace_path"],
            "playwright": row["playwright_traces"] or [],
        }
        for row in Episode.objects.filter(run=run)
        .order_by("pk")
        .values("pk", "scenario__key", "trial", "trace_path", "playwright_traces")
    }
    blobs: set[str] = set()  # what the traces refer to, each stored once per run (docs/trace-format.md)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("run.json", json.dumps(run_document(run), indent=2, default=str) + "\n")
        yield sink.take()
        archive.writestr("episodes.csv", selectors.episodes_csv(run))
        yield sink.take()
        archive.writestr("steps.parquet", steps_parquet(run, episodes), compress_type=zipfile.ZIP_STORED)
        yield sink.take()
        for pk, episode in episodes.items():
            if episode["trace"]:
                yield from _copy_trace(archive, sink, episode["trace"], f"episodes/{pk}/trace.jsonl", blobs)
            for trace in episode["playwright"]:
                name = f"episodes/{pk}/playwright-trace-attempt-{trace['attempt']}-agent-{trace['agent']}.zip"
                yield from _copy(archive, sink, trace["path"], name, zipfile.ZIP_STORED)
        for digest in sorted(blobs):
            yield from _copy(archive, sink, services.blob_name(run.pk, digest), f"blobs/{digest}", zipfile.ZIP_DEFLATED)
        shots = Step.objects.filter(run=run).exclude(screenshot_path="").order_by("episode_id", "index")
        for episode_id, index, path in shots.values_list("episode_id", "index", "screenshot_path").iterator():
            # JPEG is compressed already.
            yield from _copy(archive, sink, path, screenshot_name(episode_id, index), zipfile.ZIP_STORED)
    yield sink.take()


async def _sent_as_made(chunks):
    """``chunks`` (a synchronous generator that reads the database) as an asynchronous iterator, each chunk
    made by the request's thread (thread-sensitive), so nothing holds more than a chunk."""
    done = object()
    take = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    while (chunk := await take()) is not done:
        yield chunk


def response(request, run: Run) -> StreamingHttpResponse:
    """The run's bundle as a download streamed as it is made, for a caller that checked the user may see it."""
    chunks = stream(run)
    if isinstance(request, ASGIRequest):
        # Under ASGI Django would read a synchronous iterator to its end before sending anything: the whole
        # zip in memory. Each chunk is made in the request's own thread instead, and sent as it comes.
        chunks = _sent_as_made(chunks)
    http = StreamingHttpResponse(chunks, content_type="application/zip")
    http["Content-Disposition"] = f'attachment; filename="{filename(run)}"'
    patch_cache_control(http, private=True, no_store=True)
    return http


def _copy_trace(archive: zipfile.ZipFile, sink: _Sink, path: str, name: str, blobs: set[str]) -> Iterator[bytes]:
    """An episode's trace.jsonl into the archive, noting the blobs its lines refer to."""
    try:
        with default_storage.open(path, "rb") as source:
            data = source.read()
    except (FileNotFoundError, OSError):
        return
    for line in data.splitlines():
        try:
            blobs.update(blob_refs(json.loads(line)))
        except ValueError:
            continue  # not ours to judge here: the trace goes in as it is
    info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)
    yield sink.take()


def _copy(archive: zipfile.ZipFile, sink: _Sink, path: str, name: str, compression: int) -> Iterator[bytes]:
    """The stored artifact ``path`` into the archive as ``name``, a chunk at a time; skipped if it is gone."""
    try:
        source = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError):
        return
    info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
    info.compress_type = compression
    with source, archive.open(info, "w", force_zip64=True) as target:
        while chunk := source.read(CHUNK):
            target.write(chunk)
            yield sink.take()
    yield sink.take()
