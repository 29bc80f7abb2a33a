"""Per-step cost of the run's Playwright trace setting: off, on_failure, always. Prints JSON.

Plays the same episodes (the ``random`` baseline, seeded, on each built-in site's task) on the runner host
with each setting, the settings alternating round by round so the machine's noise falls on all three. Per
setting: the median of the episodes' mean step time (``step_ms``, observation to result), its ratio to
``off`` measured in the same run, the episode's wall time (which holds the end of tracing: writing the zip
when it is kept) and the kept trace.zip's size per step. ``random`` rarely succeeds, so ``on_failure`` keeps
about every trace here: its figure is the setting's worst case; when an episode succeeds, tracing costs
what ``always`` costs during the steps and nothing to keep.

    .venv/bin/python bench/playwright_trace.py [--rounds 3] [--steps 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from random_spec import TASKS, random_spec  # noqa: E402

from runner.host import get_host  # noqa: E402
from runner.types import PLAYWRIGHT_TRACE_MODES  # noqa: E402


def episode(i: int, steps: int, mode: str) -> dict:
    spec = random_spec(i, steps, playwright_trace=mode)
    step_ms, kept = [], []

    def on_event(kind, payload):
        if kind == "step":
            step_ms.append(payload.step_ms)
        elif kind == "playwright_trace":
            kept.append(len(payload["data"]))

    started = time.perf_counter()
    get_host().run_episode(spec, on_event)
    return {
        "step_ms": statistics.mean(step_ms),
        "steps": len(step_ms),
        "wall_s": time.perf_counter() - started,
        "trace_bytes": sum(kept),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {mode: [] for mode in PLAYWRIGHT_TRACE_MODES}
    episode(0, 3, "off")  # warm the host: browser, sandbox, driver
    for _ in range(args.rounds):
        for i in range(len(TASKS)):
            for mode in PLAYWRIGHT_TRACE_MODES:
                results[mode].append(episode(i, args.steps, mode))
    off = statistics.median(r["step_ms"] for r in results["off"])
    report = {}
    for mode, rows in results.items():
        step_ms = statistics.median(r["step_ms"] for r in rows)
        steps = sum(r["steps"] for r in rows)
        report[mode] = {
            "episodes": len(rows),
            "step_ms_median": round(step_ms, 1),
            "ratio_to_off": round(step_ms / off, 3),
            "episode_wall_s_median": round(statistics.median(r["wall_s"] for r in rows), 2),
            "kept": sum(1 for r in rows if r["trace_bytes"]),
            "trace_kib_per_step": round(sum(r["trace_bytes"] for r in rows) / steps / 1024, 1),
        }
    print(json.dumps(report, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
