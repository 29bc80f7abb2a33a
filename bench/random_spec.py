"""The episode the per-step cost benches play: the ``random`` baseline, seeded, never stopping on its own, on
one of the built-in sites' tasks (``i`` picks the site), with screenshots."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.types import AgentSpec, EpisodeSpec  # noqa: E402

TASKS = ["shop.purchase", "mail.reply_to_message", "bank.pay_payee", "forum.reply_thread"]


def random_spec(i: int, steps: int, **settings) -> EpisodeSpec:
    return EpisodeSpec(
        episode_id=i,
        run_id=0,
        scenario_key="bench",
        task=TASKS[i % len(TASKS)],
        overlays=[],
        params={},
        seed=i,
        trial=0,
        agent=AgentSpec(kind="builtin", config={"name": "random", "stop_probability": 0}),
        max_steps=steps,
        screenshots=True,
        **settings,
    )
