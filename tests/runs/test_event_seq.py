"""Live-event sequence numbers: allocated last in each transaction, distinct across concurrent episodes, and
stamped on the episode they changed so a delta finds every changed row."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from runner.types import StepRecord
from runs import events, selectors, services
from runs.models import Episode, Run

pytestmark = [pytest.mark.django_db(transaction=True)]


def step_record(index: int) -> StepRecord:
    return StepRecord(
        index=index,
        action="noop()",
        thought="",
        error="",
        url="http://shop.gauntlet.test/",
        title="Shop",
        observation_digest="d",
        agent_latency_ms=1.0,
        step_ms=2.0,
        usage={},
        wal=[],
        events=[],
        milestones=[],
        harms=[],
    )


def test_it_records_a_step_in_three_statements_the_seq_one_last(smoke_run):
    episode = smoke_run.episodes.select_related("run", "scenario").first()
    assert episode.claim("test", 60)
    assert episode.run and episode.scenario  # loaded once per episode (for its spec), not per step
    recorder = services._EpisodeRecorder(episode, 60)

    with CaptureQueriesContext(connection) as queries:
        recorder.record_step(step_record(1))

    sql = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] not in ("BEGIN", "COMMIT")]
    if connection.vendor == "postgresql":
        assert [s.split()[0] for s in sql] == ["INSERT", "UPDATE", "WITH"] and '"runs_run"' in sql[2]
    else:
        assert [s.split()[0] for s in sql] == ["INSERT", "UPDATE", "UPDATE", "UPDATE"] and '"runs_run"' in sql[2]
    assert '"runs_run"' not in sql[1]  # the episode's row is locked before the run's
    episode.refresh_from_db()
    assert episode.seq == Run.objects.get(pk=smoke_run.pk).event_seq == 1 and episode.steps == 1


def test_it_rolls_the_step_and_its_seq_back_when_the_lease_is_lost(smoke_run):
    episode = smoke_run.episodes.select_related("run", "scenario").first()
    assert episode.claim("test", 60)
    recorder = services._EpisodeRecorder(episode, 60)
    Episode.objects.filter(pk=episode.pk).update(attempts=episode.attempts + 1)  # another attempt took it

    with pytest.raises(services.LeaseLost):
        recorder.record_step(step_record(1))

    assert Run.objects.get(pk=smoke_run.pk).event_seq == 0 and not episode.step_set.exists()


def play(episode_ids: list[int]) -> None:
    try:
        for episode_id in episode_ids:
            services.execute_episode(episode_id)
    finally:
        connections.close_all()


@pytest.mark.browser
async def test_concurrent_episodes_get_distinct_seqs_and_the_delta_finds_every_changed_row(smoke_run):
    run = smoke_run
    ids = await sync_to_async(lambda: list(run.episodes.values_list("pk", flat=True)))()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.run_group(run.pk), channel)

    # Every episode of the run at once, as workers (or one runner host) play them.
    threads = [threading.Thread(target=play, args=([i],)) for i in ids]
    for thread in threads:
        thread.start()
    await asyncio.to_thread(lambda: [t.join() for t in threads])

    final_seq = await sync_to_async(lambda: Run.objects.get(pk=run.pk).event_seq)()
    received = [(await asyncio.wait_for(layer.receive(channel), 10))["event"] for _ in range(final_seq)]
    seqs = [e["seq"] for e in received]
    # No duplicate, none missing. They need not arrive in order: two threads' commits can publish in either
    # order, which is what the page's reorder window is for.
    assert sorted(seqs) == list(range(1, final_seq + 1))
    received.sort(key=lambda e: e["seq"])
    by_episode: dict[int, list[dict]] = {}
    for event in received:
        if event["type"] in (events.STEP, events.EPISODE):
            by_episode.setdefault(event["data"]["row"]["id"], []).append(event)
    assert set(by_episode) == set(ids)
    for evs in by_episode.values():
        steps = [e["data"]["index"] for e in evs if e["type"] == events.STEP]
        assert steps == list(range(1, len(steps) + 1))
        assert evs[-1]["data"]["row"]["status"] == Episode.SCORED

    def delta_rows(since):
        return {row["id"]: row for row in selectors.run_delta(Run.objects.get(pk=run.pk), since)["episodes"]}

    last_seq = {episode_id: evs[-1]["seq"] for episode_id, evs in by_episode.items()}
    for since in range(final_seq + 1):
        rows = await sync_to_async(delta_rows)(since)
        assert set(rows) == {i for i, seq in last_seq.items() if seq > since}
        for episode_id, row in rows.items():
            assert row == by_episode[episode_id][-1]["data"]["row"]
    await layer.group_discard(events.run_group(run.pk), channel)
