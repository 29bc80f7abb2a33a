"""The locust users of bench/load.py (run by it in a locust process of their own; gevent stays out of the
bench's process). Configuration comes from the environment: GAUNTLET_LOAD_RUN (the run's id),
GAUNTLET_LOAD_SESSION (a session cookie of a team member) and GAUNTLET_LOAD_RESULTS (a file that each
websocket appends one JSON line to when it stops)."""

from __future__ import annotations

import json
import os
import time

import gevent
import websocket
from locust import User, between, constant, task
from locust.contrib.fasthttp import FastHttpUser

RUN = os.environ.get("GAUNTLET_LOAD_RUN", "0")
SESSION = os.environ.get("GAUNTLET_LOAD_SESSION", "")
RESULTS = os.environ.get("GAUNTLET_LOAD_RESULTS", "")
EVENT_TYPES = ("step", "episode", "run")


class RunPageReader(FastHttpUser):
    """A person with the run page open: loads it, and now and then reads what changed (as a page does on a gap).

    FastHttpUser (geventhttpclient) rather than HttpUser (requests): the load generator shares the server's two
    cores, and requests' client costs several times more CPU per request, which the server then lacks."""

    weight = 1
    wait_time = between(0.5, 1.5)
    headers = {"Cookie": f"sessionid={SESSION}"}

    @task(3)
    def run_page(self):
        self.client.get(f"/runs/{RUN}/", name="run page", headers=self.headers)

    @task(1)
    def delta(self):
        self.client.get(f"/runs/{RUN}/state.json?since=0", name="state.json?since", headers=self.headers)


class RunWatcher(User):
    """A run page's websocket: connects once, then records every frame until the test ends."""

    weight = 1
    wait_time = constant(1)

    def on_start(self):
        self.seqs: set[int] = set()
        self.heartbeat_seq = 0
        self.snapshot_seq = None
        self.error = ""
        started = time.perf_counter()
        url = self.host.replace("http://", "ws://") + f"/ws/runs/{RUN}/"
        try:
            self.socket = websocket.create_connection(
                url, header=[f"Cookie: sessionid={SESSION}"], origin=self.host, timeout=30
            )
            first = json.loads(self.socket.recv())
            self.snapshot_seq = first.get("seq", (first.get("data") or {}).get("seq"))
        except Exception as exc:
            self.socket = None
            self.error = f"{type(exc).__name__}: {exc}"
        self.environment.events.request.fire(
            request_type="WS",
            name="handshake",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=Exception(self.error) if self.error else None,
            context={},
        )
        if self.socket is not None:
            self.reader = gevent.spawn(self.read)

    def read(self):
        try:
            while True:
                frame = json.loads(self.socket.recv())
                if frame.get("type") in EVENT_TYPES:
                    self.seqs.add(frame["seq"])
                elif frame.get("type") == "heartbeat":
                    self.heartbeat_seq = max(self.heartbeat_seq, frame["seq"])
        except Exception:
            return

    @task
    def watch(self):
        pass

    def on_stop(self):
        if self.socket is not None:
            self.socket.close()
        if RESULTS:
            result = {
                "connected": self.socket is not None,
                "error": self.error,
                "snapshot_seq": self.snapshot_seq,
                "seqs": sorted(self.seqs),
                "heartbeat_seq": self.heartbeat_seq,
            }
            with open(RESULTS, "a") as out:
                out.write(json.dumps(result) + "\n")
