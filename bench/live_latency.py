"""Live latency with 8 episodes streaming: from a step's write to a websocket client receiving its event.

Plays ``--episodes`` episodes of the ``random`` baseline at once (``services.execute_episode`` in one thread each,
one Chromium, as a runner host does) against a fresh PostgreSQL database, while ``--viewers`` websocket clients
watch the run through the web server as deployed (benchmark_site.serve; ``--server daphne`` for one Daphne
process) and the real Redis channel layer, from a process of their own, as browsers would. Next to it, in the
same run, a bare ``group_send`` probe from the episodes' process (one persistent channel-layer connection, every
50 ms) to the same sockets measures what the layer and the web server alone cost on this machine at this moment.

A step's latency is its event's arrival minus the moment its transaction committed (``CommitClock``: the
first commit, after the step's row was inserted, of the connection that inserted it); ``write_to_websocket``
measures from ``Step.created`` instead (when the row was built, so it includes the step's transaction).
Per viewer it also counts the events that arrived out of order, those never received, and how many
re-reads two page policies would make on the stream it got: the old page (re-read the whole state on any
gap and on every episode event) and the current one (a 250 ms / 8-event reorder window, then one delta).
The episodes play at a deployed worker's CPU priority (``GAUNTLET_WORKER_NICE``; ``--worker-nice 0`` plays
them at the bench's own). Prints one JSON object.

``--trace`` splits each step's latency into stages (through ``runs.events.trace``): commit → handed over
(the code that sends the event to Redis has it) → sent (Redis took the PUBLISH) → the websocket client
received it. Handed over → received is what the probe measures for its own frames (stamped just before its
``group_send``), so commit → handed over is the part of the gap to the probe that publishing adds.

Target: p95 ≤ 150 ms on an idle machine and ≤ 1.5 × the probe's p95.

    .venv/bin/python bench/live_latency.py [--episodes 8] [--steps 15] [--viewers 2] [--trace] [--worker-nice N]
        [--server uvicorn|daphne] [--web-processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import tempfile
import threading
import time
from pathlib import Path

import live_setup
import websocket

REORDER_S = 0.25
REORDER_MAX = 8
TRACE_STAGES = ("commit_to_handed_over", "handed_over_to_sent", "sent_to_websocket", "handed_over_to_websocket")


class CommitClock:
    """When each step's transaction committed, read off Django's connections (the code under test is unchanged).

    Every new connection gets an execute wrapper that notes the (episode, index) of each Step row it inserts,
    and a commit that stamps the noted steps with the time it returned.
    """

    def __init__(self):
        self.pending: dict[int, list[tuple[int, int]]] = {}
        self.committed: dict[tuple[int, int], float] = {}
        self.lock = threading.Lock()

    def install(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(self.watch, weak=False)

    def watch(self, sender, connection, **kwargs) -> None:
        connection.execute_wrappers.append(self.note_step)
        commit = connection._commit

        def timed_commit():
            commit()
            now = time.time()
            with self.lock:
                for key in self.pending.pop(id(connection), []):
                    self.committed[key] = now

        connection._commit = timed_commit

    def note_step(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "runs_step"'):
            columns = [c.strip().strip('"') for c in re.search(r"\((.*?)\) VALUES", sql).group(1).split(",")]
            key = (params[columns.index("episode_id")], params[columns.index("index")])
            with self.lock:
                self.pending.setdefault(id(context["connection"]), []).append(key)
        return result


class StageClock:
    """When each step's event reached each stage of publishing, as ``runs.events.trace`` reports it."""

    def __init__(self):
        self.stages: dict[str, dict[tuple[int, int], float]] = {"handed_over": {}, "sent": {}}

    def __call__(self, stage: str, message: dict) -> None:
        now = time.time()
        event = message.get("event", {})
        if event.get("type") == "step":
            self.stages[stage].setdefault((event["data"].get("episode_id"), event["data"].get("index")), now)


class Viewer(threading.Thread):
    """A websocket client of the run page's socket, recording each frame with its arrival time."""

    def __init__(self, url: str, run_id: int, session: str):
        super().__init__(daemon=True)
        self.socket = websocket.create_connection(
            url.replace("http://", "ws://") + f"/ws/runs/{run_id}/",
            header=[f"Cookie: sessionid={session}"],
            origin=url,
            timeout=30,
        )
        self.frames: list[tuple[float, dict]] = []

    def run(self) -> None:
        try:
            while True:
                text = self.socket.recv()
                if not text:
                    return
                self.frames.append((time.time(), json.loads(text)))
        except Exception:
            return

    def close(self) -> None:
        self.socket.close()


def watch(url: str, run_id: int, session: str, count: int, pipe) -> None:
    """In a process of its own: ``count`` viewers of the run; says "ready", and on "stop" sends their frames.

    A browser watching a run is a process of its own. Viewers inside the process that plays the episodes
    would wait for that process's GIL to stamp each frame, and the episodes hold it hardest just after a step
    commits, when its event arrives: they would time the bench's own contention, not the event's trip."""
    viewers = [Viewer(url, run_id, session) for _ in range(count)]
    for viewer in viewers:
        viewer.start()
    pipe.send("ready")
    pipe.recv()
    for viewer in viewers:
        viewer.close()
        viewer.join(5)
    pipe.send([viewer.frames for viewer in viewers])


class ViewerProcess:
    """The viewers, in a process of their own (:func:`watch`)."""

    def __init__(self, url: str, run_id: int, session: str, count: int):
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=watch, args=(url, run_id, session, count, child), daemon=True)
        self.process.start()
        if not self.pipe.poll(60) or self.pipe.recv() != "ready":
            raise SystemExit("the viewers did not connect")

    def stop(self) -> list[list[tuple[float, dict]]]:
        """Close the sockets; each viewer's frames (arrival time, frame)."""
        self.pipe.send("stop")
        if not self.pipe.poll(30):
            raise SystemExit("the viewers did not stop")
        frames = self.pipe.recv()
        self.process.join(10)
        return frames


class Probe(threading.Thread):
    """Bare channel-layer group_send of timestamped frames to the run's group, from its own loop."""

    def __init__(self, group: str):
        super().__init__(daemon=True)
        self.group = group
        self.stopping = threading.Event()

    def run(self) -> None:
        from channels.layers import get_channel_layer

        async def send_all():
            layer = get_channel_layer()
            n = 0
            while not self.stopping.is_set():
                probe = {"type": "probe", "n": n, "sent": time.time()}
                await layer.group_send(self.group, {"type": "run.event", "event": probe})
                n += 1
                await asyncio.sleep(0.05)

        asyncio.run(send_all())


def old_page_resyncs(events: list[tuple[float, dict]]) -> dict:
    """Re-reads of the page before the delta: on any gap, and on every episode or run event."""
    seq = seen = gaps = on_events = 0
    for _, event in events:
        seen = max(seen, event["seq"])
        if event["seq"] <= seq:
            continue
        if event["seq"] != seq + 1:
            gaps += 1
            seq = seen
            continue
        seq = event["seq"]
        if event["type"] != "step":
            on_events += 1
            seq = seen
    return {"gap_resyncs": gaps, "event_resyncs": on_events}


def new_page_resyncs(events: list[tuple[float, dict]]) -> dict:
    """Deltas read by the current page: an event ahead of a missing one waits REORDER_S or REORDER_MAX events."""
    state = {"seq": 0, "seen": 0, "deltas": 0, "deadline": None}
    waiting: set[int] = set()

    def catch_up():
        state["deltas"] += 1
        state["seq"] = max(state["seq"], state["seen"])
        state["deadline"] = None
        drain(None)

    def drain(now):
        while state["seq"] + 1 in waiting:
            state["seq"] += 1
            waiting.discard(state["seq"])
        waiting.difference_update({s for s in waiting if s <= state["seq"]})
        if not waiting:
            state["deadline"] = None
        elif len(waiting) >= REORDER_MAX:
            catch_up()
        elif state["deadline"] is None and now is not None:
            state["deadline"] = now + REORDER_S

    for arrived, event in events:
        if state["deadline"] is not None and arrived >= state["deadline"]:
            catch_up()
        state["seen"] = max(state["seen"], event["seq"])
        if event["seq"] > state["seq"]:
            waiting.add(event["seq"])
            drain(arrived)
    if waiting:
        catch_up()
    return {"gap_resyncs": state["deltas"], "event_resyncs": 0}


def summarise(values: list[float]) -> dict:
    return {
        "p50_ms": live_setup.percentile(values, 0.5),
        "p95_ms": live_setup.percentile(values, 0.95),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--trace", action="store_true", help="split each step's latency into publishing stages")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="the episodes' CPU niceness (default GAUNTLET_WORKER_NICE, as a deployed worker lowers its own)",
    )
    live_setup.add_server_arguments(parser)
    args = parser.parse_args()
    live_setup.setup_django("gauntlet_live_bench")
    from runs import events as live_events
    from runs.models import Run, Step

    clock = CommitClock()
    clock.install()
    stages = StageClock()
    if args.trace:
        live_events.trace = stages
    team, user, session = live_setup.logged_in_user()
    run, episode_ids = live_setup.random_run(team, user, args.episodes, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        server = live_setup.WebServer(Path(tmp) / "web.log", args.server, args.web_processes)
        try:
            viewers = ViewerProcess(server.url, run.pk, session, args.viewers)
            probe = Probe(live_events.run_group(run.pk))
            probe.start()
            started = time.monotonic()
            for thread in live_setup.play_concurrently(episode_ids, args.worker_nice):
                thread.join()
            wall_s = time.monotonic() - started
            time.sleep(2)  # the last events and probes in flight
            probe.stopping.set()
            probe.join()
            received = viewers.stop()
        finally:
            server.stop()

    written = {(s.episode_id, s.index): s.created.timestamp() for s in Step.objects.filter(episode__run=run)}
    final_seq = Run.objects.get(pk=run.pk).event_seq
    step_ms, write_ms, probe_ms, per_viewer = [], [], [], []
    handed, sent = stages.stages["handed_over"], stages.stages["sent"]
    trace_ms = {stage: [] for stage in TRACE_STAGES}
    for frames in received:
        stream = [(t, f) for t, f in frames if f.get("type") in live_events.EVENT_TYPES]
        for arrived, frame in stream:
            key = (frame["data"].get("episode_id"), frame["data"].get("index"))
            if frame["type"] == live_events.STEP and key in clock.committed:
                step_ms.append((arrived - clock.committed[key]) * 1000)
                write_ms.append((arrived - written[key]) * 1000)
                if key in handed and key in sent:
                    trace_ms["commit_to_handed_over"].append((handed[key] - clock.committed[key]) * 1000)
                    trace_ms["handed_over_to_sent"].append((sent[key] - handed[key]) * 1000)
                    trace_ms["sent_to_websocket"].append((arrived - sent[key]) * 1000)
                    trace_ms["handed_over_to_websocket"].append((arrived - handed[key]) * 1000)
        probe_ms += [(t - f["sent"]) * 1000 for t, f in frames if f.get("type") == "probe"]
        seqs = [f["seq"] for _, f in stream]
        per_viewer.append(
            {
                "events": len(stream),
                "never_received": final_seq - len(set(seqs)),
                "out_of_order": sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a),
                "old_page": old_page_resyncs(stream),
                "current_page": new_page_resyncs(stream),
            }
        )
    steps, probes = summarise(step_ms), summarise(probe_ms)
    report = {
        "episodes": args.episodes,
        "viewers": args.viewers,
        "events": final_seq,
        "steps_written": len(written),
        "wall_s": round(wall_s, 1),
        "commit_to_websocket": steps,
        "probe_group_send_to_websocket": probes,
        "write_to_websocket": summarise(write_ms),
        "p95_ratio_to_probe": round(steps["p95_ms"] / probes["p95_ms"], 2) if steps["n"] and probes["n"] else None,
        "per_viewer": per_viewer,
        "targets": {"p95_ms": 150, "p95_ratio_to_probe": 1.5},
    }
    if args.trace:
        report["trace"] = {stage: summarise(values) for stage, values in trace_ms.items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
