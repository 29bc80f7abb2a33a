"""The dashboard's web server as deployed: uvicorn serving benchmark_site.asgi (pages and websockets) from
several processes.

    python -m benchmark_site.serve [--host 127.0.0.1] [--port 8000] [--processes N] [--no-access-log]

Why several processes: Django serves each request on a thread of its own, and in one process those threads
take turns on one interpreter lock, so under many readers a request waits behind every other one in flight
(bench/load.py: 50 page readers and 50 websockets during a run, run page p95 1.1 s from one Daphne process,
0.52 s from four uvicorn processes on two cores). A websocket lives in one process; the channel layer (Redis)
brings each run's events to every process, and each process sends its own sockets' heartbeats.

``--processes`` defaults to ``GAUNTLET_WEB_PROCESSES``, else twice the machine's cores (at most 8). Each
process keeps its own pool of database connections (``GAUNTLET_DB_POOL_SIZE``, 16 by default): mind
PostgreSQL's ``max_connections``. uvicorn runs with httptools, wsproto and uvloop; ASGI lifespan is off, as
Channels' router has none.
"""

from __future__ import annotations

import argparse
import os

APP = "benchmark_site.asgi:application"


def default_processes() -> int:
    configured = os.environ.get("GAUNTLET_WEB_PROCESSES", "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise SystemExit(f"GAUNTLET_WEB_PROCESSES must be a whole number, not {configured!r}") from None
        if value < 1:
            raise SystemExit(f"GAUNTLET_WEB_PROCESSES must be at least 1, not {value}")
        return value
    return min(8, 2 * (os.cpu_count() or 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Gauntlet dashboard (pages and websockets).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--processes", type=int, default=None, help="worker processes (default: see above)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    processes = default_processes() if args.processes is None else args.processes
    if processes < 1:
        parser.error("--processes must be at least 1")

    import uvicorn

    uvicorn.run(
        APP,
        host=args.host,
        port=args.port,
        workers=processes,
        http="httptools",
        ws="wsproto",
        loop="uvloop",
        lifespan="off",
        access_log=not args.no_access_log,
        log_level="info",
    )


if __name__ == "__main__":
    main()
