"""A small cluster of real processes for fault injection: a private redis-server on a free port, Celery
workers, beat and management commands, all reading the test database, every one of them killable.

The machine's shared Redis is never touched: each scenario has its own redis-server, which it may kill and
restart empty. Leases, the reaper interval and the re-send bound are a few seconds, so a scenario recovers in
seconds rather than minutes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs.models import Episode, Run, Step
from tests.conftest import ROOT, _child_env, _free_port

FAST_RECOVERY = {
    "GAUNTLET_LEASE_S": "3",
    "GAUNTLET_REAPER_INTERVAL_S": "1",
    "GAUNTLET_REQUEUE_AFTER_S": "3",
    # Kills land at random, sometimes on the same episode again: an episode errored after three attempts
    # would be a lost result here, and what is measured is that none is lost or counted twice.
    "GAUNTLET_MAX_ATTEMPTS": "50",
    # As deployed: each worker process plays several episodes at once in its one Chromium.
    "GAUNTLET_EPISODES_PER_WORKER": "2",
}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Cluster:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.redis_port = _free_port()
        self.env = {**_child_env(), **FAST_RECOVERY, "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0"}
        self.redis: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.processes: list[subprocess.Popen] = []
        self.kills = 0

    # -- processes -----------------------------------------------------------------------------------------

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = self.tmp_path / log_name
        # A session of its own, so the process and everything it started (Chromium) can be killed together.
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True
        )
        proc.log_path = log
        self.processes.append(proc)
        return proc

    def start_redis(self) -> None:
        """Start an empty redis-server on this cluster's port (again, after a kill)."""
        self.redis = self._spawn(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            "redis.log",
        )
        wait_until(self.redis_answers, 10, "redis-server to answer", interval=0.05)

    def redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill_redis(self) -> None:
        self.redis.kill()
        self.redis.wait()

    def start_worker(self, wait: bool = True) -> subprocess.Popen:
        """A Celery worker as deployed: one process playing two episodes at once in one Chromium (threads
        pool, acks late, prefetch no more than its threads)."""
        n = len(self.workers)
        worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "benchmark_site",
                "worker",
                "-n",
                f"fault{n}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            f"worker-{n}.log",
        )
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: subprocess.Popen) -> None:
        wait_until(
            lambda: "ready." in worker.log_path.read_text() or worker.poll() is not None, 60, "a worker to start"
        )
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]

    def start_beat(self) -> subprocess.Popen:
        return self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "benchmark_site",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(self.tmp_path / "beat-schedule"),
            ],
            "beat.log",
        )

    def manage(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def start_run(self, trials: int, max_steps: int = 25) -> int:
        """Queue an oracle run of the smoke suite through the command line, as a user would; its id."""
        proc = self.manage(
            "start_demo_run",
            "--agent",
            "oracle",
            "--suite",
            "smoke",
            "--team",
            "faults",
            "--trials",
            str(trials),
            "--max-steps",
            str(max_steps),
        )
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return int(out.strip().splitlines()[-1])

    def kill(self, pid: int) -> bool:
        """SIGKILL ``pid``; whether it was still there to be killed."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills += 1
        return True

    def close(self) -> None:
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.log_path.name}\n{p.log_path.read_text()[-2000:]}" for p in self.processes if hasattr(p, "log_path")
        )


@pytest.fixture
def cluster(transactional_db, builtins, tmp_path):
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def wait_for_runs(run_ids: list[int], timeout: float, cluster: Cluster) -> float:
    """Wait until every run is final; returns the seconds it took."""
    start = time.monotonic()
    try:
        wait_until(
            lambda: Run.objects.filter(pk__in=run_ids, status__in=Run.FINAL).count() == len(run_ids),
            timeout,
            "the runs to finish",
            interval=0.25,
        )
    except AssertionError:
        states = list(Episode.objects.filter(run__in=run_ids).values_list("pk", "status", "attempts", "worker"))
        raise AssertionError(f"runs not finished: {states}\n{cluster.logs()}")
    return time.monotonic() - start


def audit(run_ids: list[int]) -> dict:
    """Every episode scored exactly once: none lost, no duplicate or leftover steps, no run stuck."""
    episodes = list(Episode.objects.filter(run__in=run_ids))
    lost = [e.pk for e in episodes if e.status != Episode.SCORED or e.finished is None]
    duplicated = []
    for episode in episodes:
        indexes = list(Step.objects.filter(episode=episode).order_by("index").values_list("index", flat=True))
        if indexes != list(range(1, episode.steps + 1)):
            duplicated.append(episode.pk)
    stuck = list(Run.objects.filter(pk__in=run_ids).exclude(status=Run.COMPLETE).values_list("pk", flat=True))
    counted = sum(Run.objects.get(pk=pk).metrics["success_rate"]["n"] for pk in run_ids)
    return {
        "episodes": len(episodes),
        "lost": len(lost),
        "duplicated": len(duplicated) + abs(counted - len(episodes)),
        "stuck": len(stuck),
        "attempts": sum(e.attempts for e in episodes),
    }


def report(scenario: str, figures: dict) -> None:
    """One line per scenario for the closing note; shown with ``-s`` or ``-rP``."""
    print(
        f"\nFAULTS {scenario}: "
        + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    )
