"""Shared fixtures: real worker and server processes against the test database and the real Redis."""

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _test_database_url() -> str:
    """The URL of the database the tests use, for processes the tests start."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _child_env() -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = _test_database_url()
    env["PYTHONPATH"] = str(ROOT)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def worker_env(request) -> dict:
    """Extra environment for ``celery_worker_process``; parametrize it indirectly to change settings."""
    return getattr(request, "param", {})


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, worker_env):
    """A real Celery worker process as deployed (threads, two episodes at once in one Chromium) on the real
    Redis, reading the test database. ``worker_env`` adds to its environment."""
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmark_site",
            "worker",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env={**_child_env(), "GAUNTLET_EPISODES_PER_WORKER": "2", **worker_env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.log_path = log
    yield proc
    _stop(proc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving_asgi(log: Path, processes: int = 1, **env: str):
    """Run the dashboard's web server as deployed (benchmark_site.serve: uvicorn on the real ASGI app, HTTP and
    websockets) on a free loopback port; yield (base URL, process). With one process (the default) that
    process serves; with more, it is their supervisor.

    ``env``: extra environment variables for the server process.
    """
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmark_site.serve", "--port", str(port), "--processes", str(processes)],
        cwd=ROOT,
        env={**_child_env(), **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(f"the web server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        _stop(proc)


@pytest.fixture
def asgi_server(transactional_db, tmp_path):
    """Daphne serving the real ASGI app (HTTP + websockets) on a free loopback port."""
    with serving_asgi(tmp_path / "daphne.log") as (url, _):
        yield url


@pytest.fixture
def builtins(db):
    from runs import services

    services.load_builtins()


@pytest.fixture
def team_user(db, django_user_model):
    """Alice, the owner of team alpha."""
    from agents.models import Team

    user = django_user_model.objects.create_user("alice", password="correct horse battery")
    team = Team.objects.create(name="alpha")
    team.members.add(user, through_defaults={"role": "owner"})
    return team, user


@pytest.fixture
def smoke_run(builtins, team_user):
    """A two-trial run of the oracle on the smoke suite (clean, adversarial, noisy): 6 episodes, still queued."""
    from agents.models import Agent
    from runs import services
    from runs.models import Suite

    team, user = team_user
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=2,
        enqueue=False,
    )


@pytest.fixture
def played_run(builtins, team_user):
    """A two-trial run of the smoke suite (clean, adversarial, noisy) by ``gullible``, first trials played
    (three scored episodes with steps, traces and screenshots, three still queued); and its team member.

    Played in Chromium the first time in a session; later, what the runner reported then is replayed through
    the real services (``_ReplayHost``)."""
    from agents.models import Agent
    from runner.host import get_host
    from runs import services
    from runs.models import Suite

    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="gullible").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=2,
        enqueue=False,
    )
    episodes = list(run.episodes.filter(trial=0).select_related("scenario"))
    host = _ReplayHost() if all(e.scenario.key in _PLAYED for e in episodes) else _RecordingHost(get_host())
    with mock.patch("runner.host.get_host", lambda *args, **kwargs: host):
        for episode in episodes:
            assert services.execute_episode(episode.pk) == "scored"
    return run, user


# What the runner reported for each scenario of ``played_run``, the first time it played it in this session:
# (kind, payload) of every report, and the outcome.
_PLAYED: dict[str, tuple[list, object]] = {}
_REPLAYED_KINDS = ("trace", "blob", "step", "playwright_trace")


class _RecordingHost:
    """The process's real runner host (Chromium, the sandbox), keeping what it reports per scenario."""

    def __init__(self, host):
        self.host = host

    def run_episode(self, spec, on_event, tick_s=None, watched=None):
        reports = []

        def record(kind, payload):
            if kind in _REPLAYED_KINDS:
                reports.append((kind, copy.deepcopy(payload)))
            on_event(kind, payload)

        outcome = self.host.run_episode(spec, record, tick_s=tick_s, watched=watched)
        _PLAYED[spec.scenario_key] = (reports, copy.deepcopy(outcome))
        return outcome


class _ReplayHost:
    """Reports again what the real host reported for the same scenario, with this episode's ids, so each test's
    run goes through the real services (steps, blobs, traces, screenshots, counters, events) without playing
    the same three episodes in Chromium for every test: ``played_run`` plays for real once per session."""

    def run_episode(self, spec, on_event, tick_s=None, watched=None):
        reports, outcome = _PLAYED[spec.scenario_key]
        for kind, payload in reports:
            payload = copy.deepcopy(payload)
            if kind == "trace":
                payload = _with_ids(payload, spec.episode_id, spec.run_id)
            on_event(kind, payload)
        return copy.deepcopy(outcome)


def _with_ids(value, episode_id: int, run_id: int):
    if isinstance(value, dict):
        ids = {"episode_id": episode_id, "run_id": run_id}
        return {k: ids[k] if k in ids else _with_ids(v, episode_id, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_ids(v, episode_id, run_id) for v in value]
    return value
