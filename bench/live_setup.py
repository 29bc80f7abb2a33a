"""What bench/live_latency.py and bench/load.py share: a fresh PostgreSQL database, a web server on the real
ASGI app (as deployed, benchmark_site.serve, or Daphne), a logged-in user, a run of the ``random`` baseline, and
threads that play its episodes the way a runner host does (``services.execute_episode``, one thread per
concurrent episode, one Chromium).

Environment: ``DATABASE_URL`` names the PostgreSQL server and database to (re)create (default
``postgres://postgres@127.0.0.1:5432/gauntlet_live_bench``), ``REDIS_URL`` the Redis database for the
channel layer (default database 6); each run uses its own ``GAUNTLET_PREFIX``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(default_db: str) -> None:
    """Point this process at a fresh database and a private prefix, migrate, load the built-ins.

    The database is ``BENCH_DATABASE_URL``'s, or ``default_db`` on ``DATABASE_URL``'s server (the local one if
    unset): it is dropped and created again, so never the database ``DATABASE_URL`` itself names."""
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        server = urlparse(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
        if not server.scheme.startswith("postgres"):
            raise SystemExit("the benches need PostgreSQL: set DATABASE_URL or BENCH_DATABASE_URL to a postgres:// URL")
        url = server._replace(path=f"/{default_db}").geturl()
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
    os.environ["GAUNTLET_PREFIX"] = f"gauntlet-live-bench-{os.getpid()}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from runs import services

    call_command("migrate", verbosity=0)
    services.load_builtins()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds process ``pid`` and its living children have used so far."""
    total = process_cpu_s(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        try:
            total += tree_cpu_s(int(child))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


SERVERS = ("daphne", "uvicorn")


class WebServer:
    """The real ASGI app (benchmark_site.asgi) on a free loopback port, with this process's environment: as
    deployed (``uvicorn``: benchmark_site.serve with ``processes`` processes, None for its default), or one
    Daphne process (``daphne``, the server before)."""

    def __init__(self, log: Path, server: str = "uvicorn", processes: int | None = None):
        from benchmark_site.serve import default_processes

        self.port = free_port()
        self.processes = processes = default_processes() if processes is None else processes
        if server == "daphne":
            if processes != 1:
                raise SystemExit("Daphne serves from one process here: --web-processes 1")
            argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "benchmark_site.asgi:application"]
        elif server == "uvicorn":
            argv = ["-m", "benchmark_site.serve", "--port", str(self.port), "--processes", str(processes)]
            argv += ["--no-access-log"]
        else:
            raise SystemExit(f"unknown server {server!r}: {', '.join(SERVERS)}")
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{server} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        if processes > 1:
            time.sleep(3)  # every worker process up, not only the first to listen
        self.url = f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server's processes have used so far."""
        return tree_cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def add_server_arguments(parser) -> None:
    parser.add_argument(
        "--server", choices=SERVERS, default="uvicorn", help="uvicorn (benchmark_site.serve, as deployed) or daphne"
    )
    parser.add_argument(
        "--web-processes", type=int, default=None, help="the web server's processes (default: benchmark_site.serve's)"
    )


def logged_in_user():
    """A team member and their session cookie value."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from agents.models import Team

    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    team = Team.objects.create(name="bench")
    team.members.add(user)
    client = Client()
    client.force_login(user)
    return team, user, client.cookies["sessionid"].value


def random_run(team, user, episodes: int, steps: int):
    """A queued run of the ``random`` baseline on the smoke suite with exactly ``episodes`` episodes."""
    from agents.models import Agent
    from runs import services
    from runs.models import Episode, Suite

    suite = Suite.objects.get(name="smoke", team__isnull=True)
    trials = -(-episodes // suite.scenarios.count())
    run = services.queue_run(
        agent_version=Agent.objects.get(name="random", team__isnull=True).latest_version(),
        suite=suite,
        team=team,
        user=user,
        trials=trials,
        max_steps=steps,
        enqueue=False,
    )
    keep = list(run.episodes.order_by("pk").values_list("pk", flat=True)[:episodes])
    Episode.objects.filter(run=run).exclude(pk__in=keep).delete()
    return run, keep


def play_concurrently(episode_ids: list[int], nice: int | None = None) -> list[threading.Thread]:
    """Start one thread per episode, each playing it through the real service; returns the threads.

    Each thread runs at the CPU priority a deployed worker gives itself (``nice``, default
    GAUNTLET_WORKER_NICE), and so do the runner host and the Chromium it starts; the bench's other threads
    (its viewers, its probe) and processes (Daphne, locust) keep theirs."""
    from django.conf import settings
    from django.db import connections

    from runner.priority import lower_priority
    from runs import services

    nice = settings.GAUNTLET_WORKER_NICE if nice is None else nice

    def play(episode_id: int) -> None:
        try:
            if nice:
                lower_priority(nice, thread_only=True)
            services.execute_episode(episode_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=play, args=(i,), daemon=True) for i in episode_ids]
    for thread in threads:
        thread.start()
    return threads


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)
