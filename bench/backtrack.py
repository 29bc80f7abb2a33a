"""Full backtrack time: World rollback + browser re-open + feasibility check, in real episodes. Prints JSON.

An agent explores each built-in site's task (follows links and buttons, fills fields, seeded) and every
few steps answers ``backtrack`` to a random checkpoint it may go back to. The runner's own ``backtrack``
trace events give the World part (``world_ms``) and the whole (``total_ms``); every successful backtrack's
World digest is checked against its checkpoint's. Target: full backtrack p95 ≤ 400 ms (World restore
p95 ≤ 10 ms; bench/world_reset.py measures restores in isolation too).

    .venv/bin/python bench/backtrack.py [--episodes 12] [--steps 24]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.host import get_host  # noqa: E402
from runner.types import AgentSpec, EpisodeSpec  # noqa: E402

EXPLORER = """
import random

class Agent:
    def __init__(self):
        self.rng = random.Random(SEED)

    def act(self, request):
        checkpoints = request["checkpoints"]
        if checkpoints and request["step"] % 3 == 0:
            return "backtrack(%r)" % self.rng.choice(checkpoints)["id"]
        elements = [e for e in request["observation"]["elements"] if e["role"] in ("link", "button", "textbox")]
        if not elements:
            return "go_back()"
        e = self.rng.choice(elements)
        if e["role"] == "textbox":
            return "fill(%r, %r)" % (e["ref"], self.rng.choice(["1", "Jordan", "hello"]))
        return "click(%r)" % e["ref"]
"""
TASKS = ["shop.purchase", "mail.reply_to_message", "bank.pay_payee", "forum.reply_thread"]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()
    events = []
    for i in range(args.episodes):
        spec = EpisodeSpec(
            episode_id=i,
            run_id=0,
            scenario_key="bench",
            task=TASKS[i % len(TASKS)],
            overlays=[],
            params={},
            seed=i,
            trial=0,
            agent=AgentSpec(kind="python", source=EXPLORER.replace("SEED", str(i))),
            max_steps=args.steps,
            screenshots=True,
            backtracking=True,
        )
        get_host().run_episode(
            spec, lambda kind, p: events.append(p) if kind == "trace" and p["type"] == "backtrack" else None
        )
    restored = [e for e in events if not e["error"].startswith("irreversible_barrier")]
    ok = [e for e in restored if e["ok"]]
    mismatched = [e for e in restored if e["world_digest"] != e["checkpoint_digest"]]
    report = {
        "backtracks": len(events),
        "ok": len(ok),
        "infeasible": sum(1 for e in restored if not e["ok"]),
        "refused_irreversible": len(events) - len(restored),
        "world_digest_mismatches": len(mismatched),
        "world_ms_p50": pct([e["world_ms"] for e in restored], 0.5),
        "world_ms_p95": pct([e["world_ms"] for e in restored], 0.95),
        "total_ms_p50": pct([e["total_ms"] for e in restored], 0.5),
        "total_ms_p95": pct([e["total_ms"] for e in restored], 0.95),
        "total_ms_max": max((e["total_ms"] for e in restored), default=None),
    }
    print(json.dumps(report, indent=2))
    get_host().close()


if __name__ == "__main__":
    main()
