"""The web server as deployed (benchmark_site.serve): uvicorn in several processes serves pages, and every
websocket, whichever process took it, gets the run's live events through the channel layer."""

import json
import time
import urllib.request

import pytest
import websocket
from django.conf import settings
from django.test import Client

from benchmark_site.serve import default_processes
from runs import services
from runs.models import Episode
from tests.conftest import serving_asgi
from tests.processes import command_line, descendants

pytestmark = pytest.mark.services


def serving_processes(supervisor: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing's spawned children; its resource tracker is not one)."""
    return [pid for pid in descendants(supervisor) if "spawn_main" in " ".join(command_line(pid))]


def test_processes_come_from_the_setting_and_a_bad_one_is_refused(monkeypatch):
    monkeypatch.setenv("GAUNTLET_WEB_PROCESSES", "3")
    assert default_processes() == 3
    for bad, reason in (("many", "whole number"), ("0", "at least 1")):
        monkeypatch.setenv("GAUNTLET_WEB_PROCESSES", bad)
        with pytest.raises(SystemExit, match=reason):
            default_processes()
    monkeypatch.delenv("GAUNTLET_WEB_PROCESSES")
    assert 1 <= default_processes() <= 8


def test_several_processes_serve_pages_and_every_socket_gets_the_run_s_events(transactional_db, smoke_run, tmp_path):
    run = smoke_run
    client = Client()
    client.force_login(run.created_by)
    session = client.cookies["sessionid"].value
    with serving_asgi(tmp_path / "web.log", processes=2) as (url, supervisor):
        deadline = time.monotonic() + 30
        while len(serving_processes(supervisor.pid)) != 2:
            assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.2)
        for _ in range(6):
            request = urllib.request.Request(f"{url}/runs/{run.pk}/", headers={"Cookie": f"sessionid={session}"})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a loopback test server
                assert response.status == 200 and f"Run #{run.pk}" in response.read().decode()

        # The kernel hands each connection to one of the processes; with eight sockets, both are all but sure
        # to hold some, and each socket must get the event whichever holds it.
        sockets = []
        for _ in range(8):
            ws = websocket.create_connection(
                url.replace("http://", "ws://") + f"/ws/runs/{run.pk}/",
                header=[f"Cookie: sessionid={session}"],
                origin=url,
                timeout=30,
            )
            assert json.loads(ws.recv())["type"] == "snapshot"
            sockets.append(ws)
        time.sleep(0.5)  # every socket in the run's group

        episode = run.episodes.order_by("pk").first()
        Episode.objects.filter(pk=episode.pk).update(attempts=settings.GAUNTLET_MAX_ATTEMPTS - 1)
        assert episode.claim("test-worker", 60)
        assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"

        for ws in sockets:
            seen = []
            while not any(e.get("type") == "episode" and e["data"]["row"]["status"] == "errored" for e in seen):
                seen.append(json.loads(ws.recv()))  # a socket that never gets it times out (30 s)
            ws.close()
