"""Under load during a run: 50 people on the run page and 50 of its websockets, with locust.

Plays ``--episodes`` episodes of the ``random`` baseline (as bench/live_latency.py does) on a fresh PostgreSQL
database behind the web server as deployed (``--server``, ``--web-processes``: benchmark_site.serve), while a
headless locust process (bench/load_users.py) runs ``--clients`` page readers (the run page, and now and then
``state.json?since=0``, what a page reads after a gap) and ``--sockets`` websockets that connect once and record
every frame. Locust stops two heartbeats after the last episode. Prints one JSON object: response times
(p50/p95/p99) per request, handshakes made and failed, and per socket whether it ended knowing the run's final
sequence number (by an event or a heartbeat, from which a page catches up by delta) and how many events it never
received. The episodes play at a deployed worker's lower CPU priority (``GAUNTLET_WORKER_NICE``; ``--worker-nice
0`` plays them at the web server's).

Targets: run page p95 ≤ 500 ms, no handshake dropped, no event lost for good.

    .venv/bin/python bench/load.py [--clients 50] [--sockets 50] [--episodes 8] [--steps 20] [--worker-nice N]
        [--server uvicorn|daphne] [--web-processes N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import live_setup


def locust_stats(path: Path) -> dict:
    stats = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                continue
            stats[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]),
            }
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="the episodes' CPU niceness (default GAUNTLET_WORKER_NICE, as a deployed worker lowers its own)",
    )
    live_setup.add_server_arguments(parser)
    args = parser.parse_args()
    live_setup.setup_django("gauntlet_live_load")
    from django.conf import settings

    worker_nice = settings.GAUNTLET_WORKER_NICE if args.worker_nice is None else args.worker_nice

    from runs.models import Run

    team, user, session = live_setup.logged_in_user()
    run, episode_ids = live_setup.random_run(team, user, args.episodes, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = live_setup.WebServer(tmp / "web.log", args.server, args.web_processes)
        results = tmp / "sockets.jsonl"
        users = args.clients + args.sockets
        env = {
            **os.environ,
            "GAUNTLET_LOAD_RUN": str(run.pk),
            "GAUNTLET_LOAD_SESSION": session,
            "GAUNTLET_LOAD_RESULTS": str(results),
        }
        # Page readers and watchers in equal numbers (weights 1:1), all started within a few seconds.
        command = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("load_users.py"))]
        command += ["--headless", "--only-summary", "-u", str(users), "-r", str(max(1, users // 5))]
        command += ["-t", "900s", "--host", server.url, "--csv", str(tmp / "locust"), "--loglevel", "WARNING"]
        if args.clients != args.sockets:
            raise SystemExit("--clients and --sockets must be equal (locust splits users by weight)")
        try:
            locust = subprocess.Popen(command, env=env, stdout=(tmp / "locust.log").open("w"), stderr=subprocess.STDOUT)
            time.sleep(7)  # every user started
            started = time.monotonic()
            server_cpu = server.cpu_s()
            for thread in live_setup.play_concurrently(episode_ids, worker_nice):
                thread.join()
            run_s = time.monotonic() - started
            server_cpu = server.cpu_s() - server_cpu
            time.sleep(2 * settings.GAUNTLET_LIVE_HEARTBEAT_S + 1)
            locust_cpu = live_setup.process_cpu_s(locust.pid)
            locust.send_signal(signal.SIGTERM)
            locust.wait(timeout=60)
            # Locust warns when its own process is CPU-bound: its response times then include its own delay.
            locust_busy = "CPU usage above" in (tmp / "locust.log").read_text()
            stats = locust_stats(tmp / "locust_stats.csv")
            sockets = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        finally:
            server.stop()

    final_seq = Run.objects.get(pk=run.pk).event_seq
    connected = [s for s in sockets if s["connected"]]
    at_final = [s for s in connected if max([s["heartbeat_seq"], *s["seqs"]]) >= final_seq]
    never_received = [final_seq - len(set(s["seqs"]) | set(range(1, (s["snapshot_seq"] or 0) + 1))) for s in connected]
    report = {
        "clients": args.clients,
        "sockets": args.sockets,
        "episodes": args.episodes,
        "worker_nice": worker_nice,
        "server": args.server,
        "web_processes": server.processes,
        "run_s": round(run_s, 1),
        # Where the machine's two cores went while the episodes played (the web server), and over the whole
        # test (locust, which also warns when it was CPU-bound).
        "server_cpu_share_during_run": round(server_cpu / run_s, 2),
        "locust_cpu_s": round(locust_cpu, 1),
        "locust_was_cpu_bound": locust_busy,
        "events": final_seq,
        "requests": stats,
        "handshakes": {"made": len(connected), "failed": len(sockets) - len(connected), "reported": len(sockets)},
        "sockets_ending_at_final_seq": len(at_final),
        "events_never_received_per_socket": {
            "max": max(never_received, default=None),
            "total": sum(never_received),
        },
        "targets": {"run_page_p95_ms": 500, "handshakes_failed": 0, "sockets_ending_at_final_seq": args.sockets},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
