"""Per-step cost of watching an episode live (the screencast, runner.screencast): target ≤ 10 %. Prints JSON.

Plays the same seeded episodes of the ``random`` baseline on each built-in site's task on the runner host,
alternating unwatched and watched, round by round. Watched, the agent's page is screencast from the first
step and every frame the runner emits is PUBLISHed to Redis from the caller's thread, as a worker sends it
to the episode's watchers. Per mode: the median of the episodes' mean step time (observation to result) and
its ratio to unwatched, and the frames sent per second of episode.

    .venv/bin/python bench/screencast.py [--rounds 3] [--steps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from random_spec import TASKS, random_spec  # noqa: E402

from runner.host import get_host  # noqa: E402


def episode(i: int, steps: int, watched: bool, client: redis.Redis) -> dict:
    spec = random_spec(i, steps)
    step_ms, frames = [], []

    def on_event(kind, payload):
        if kind == "step":
            step_ms.append(payload.step_ms)
        elif kind == "frame":
            frames.append(len(payload["data"]))
            client.publish(f"gauntlet-bench-screencast-{os.getpid()}", json.dumps(payload))

    started = time.perf_counter()
    get_host().run_episode(spec, on_event, watched=(lambda: True) if watched else None)
    wall = time.perf_counter() - started
    return {"step_ms": statistics.mean(step_ms), "frames": len(frames), "wall_s": wall, "frame_bytes": sum(frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    results = {"unwatched": [], "watched": []}
    episode(0, 3, False, client)  # warm the host
    for _ in range(args.rounds):
        for i in range(len(TASKS)):
            for mode in results:
                results[mode].append(episode(i, args.steps, mode == "watched", client))
    base = statistics.median(r["step_ms"] for r in results["unwatched"])
    report = {}
    for mode, rows in results.items():
        step_ms = statistics.median(r["step_ms"] for r in rows)
        report[mode] = {
            "episodes": len(rows),
            "step_ms_median": round(step_ms, 1),
            "ratio_to_unwatched": round(step_ms / base, 3),
            "frames_per_s": round(sum(r["frames"] for r in rows) / sum(r["wall_s"] for r in rows), 1),
            "frame_kib_mean": round(
                sum(r["frame_bytes"] for r in rows) / max(1, sum(r["frames"] for r in rows)) / 1024, 1
            ),
        }
    report["target_ratio"] = 1.10
    print(json.dumps(report, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
