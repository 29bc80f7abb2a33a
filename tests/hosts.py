"""A deployment spread over "hosts" on one machine, for tests.

Each host is a working directory of its own with its own ``GAUNTLET_VAR_DIR`` and media root: hosts share
only what a real deployment shares (the database, Redis and the S3-compatible artifact store), so a test
passes only if nothing travels between them through local disk. The S3-compatible store is moto's server,
a real HTTP server speaking the S3 protocol, in its own process on a loopback port.
"""

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3

from tests.conftest import ROOT, _child_env, _free_port, _stop

S3_KEYS = {"GAUNTLET_S3_ACCESS_KEY_ID": "gauntlet-test", "GAUNTLET_S3_SECRET_ACCESS_KEY": "gauntlet-test"}


class Host:
    """A directory standing for one machine; processes started here see only its own disk."""

    def __init__(self, root: Path, name: str):
        self.name = name
        self.home = root / name
        self.var = self.home / "var"
        self.media = self.home / "media"
        self.var.mkdir(parents=True)
        self.media.mkdir()
        self.env = {**_child_env(), "GAUNTLET_VAR_DIR": str(self.var), "GAUNTLET_MEDIA_ROOT": str(self.media)}
        self.procs: list[subprocess.Popen] = []

    def local_files(self) -> list[Path]:
        """Every file this host wrote under its media root (artifacts that never reached shared storage)."""
        return [path for path in self.media.rglob("*") if path.is_file()]

    def _start(self, argv: list[str], log: Path) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=self.home, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        proc.log_path = log
        self.procs.append(proc)
        return proc

    def start_worker(self, wait: bool = True) -> subprocess.Popen:
        """A Celery worker (prefork, one child) named after the host; ``wait``: return once it is ready."""
        proc = self._start(
            [sys.executable, "-m", "celery", "-A", "benchmark_site", "worker", "-n", f"{self.name}@%h",
             "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            self.home / "worker.log",
        )  # fmt: skip
        if wait:
            wait_for_worker(proc)
        return proc

    def start_web(self) -> str:
        """The dashboard's web server (benchmark_site.serve, one process) on a free loopback port; returns its
        base URL once it answers."""
        port = _free_port()
        proc = self._start(
            [sys.executable, "-m", "benchmark_site.serve", "--port", str(port), "--processes", "1"],
            self.home / "web.log",
        )
        wait_until(lambda: _answers(port), proc, 30, "the web server")
        return f"http://127.0.0.1:{port}"


def stop_hosts(hosts: list[Host]) -> None:
    """Stop every process of ``hosts``, side by side: each may take seconds to shut its browser down."""
    procs = [proc for host in hosts for proc in host.procs]
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        _stop(proc)


class S3Server:
    """moto's S3-compatible server in its own process on a free loopback port."""

    def __init__(self, log: Path):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.proc.log_path = log
        wait_until(lambda: _answers(self.port), self.proc, 30, "the S3 server")

    def new_bucket(self) -> dict:
        """Create an empty bucket; returns the environment that points Gauntlet's storage at it."""
        bucket = f"gauntlet-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return {
            "GAUNTLET_STORAGE": "s3",
            "GAUNTLET_S3_BUCKET": bucket,
            "GAUNTLET_S3_ENDPOINT_URL": self.endpoint,
            "GAUNTLET_S3_REGION": "us-east-1",
            "GAUNTLET_S3_ADDRESSING_STYLE": "path",
            **S3_KEYS,
        }

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEYS["GAUNTLET_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_KEYS["GAUNTLET_S3_SECRET_ACCESS_KEY"],
        )

    def keys(self, bucket: str) -> set[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def stop(self) -> None:
        _stop(self.proc)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for_worker(proc: subprocess.Popen) -> None:
    wait_until(lambda: "ready." in proc.log_path.read_text(), proc, 60, "the Celery worker")


def wait_until(predicate, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail with ``proc``'s log if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            log = proc.log_path.read_text()[-3000:] if proc is not None else ""
            if proc is not None:
                _stop(proc)
            raise AssertionError(f"timed out waiting for {what}:\n{log}")
        time.sleep(0.2)
