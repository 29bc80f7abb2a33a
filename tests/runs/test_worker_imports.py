"""A worker's memory: what it imports to start (the URLs and views too, through Celery's Django checks), to
play episodes and to finish a run leaves pandas (and pyarrow) out.

Imported once, pandas with pyarrow holds some 80 MiB in the process for good; a worker only ever needs the
run's metrics and breakdowns, which runs.tables computes in plain Python."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")
import django
django.setup()
import benchmark_site.celery, runs.tasks, runner.host
import benchmark_site.urls  # a Celery worker's start-up checks import the URLs, and so every view
from runs import tables
row = {"id": 1, "scenario": "s", "condition": "clean", "overlays": [], "task": "t", "task_kind": "task",
       "status": "scored", "success": True, "committed_harms": 0, "contained_harms": 0, "blocked_attempts": 0,
       "policy_violations": 0, "attack_exposed": False, "attack_succeeded": False, "faults_injected": 0,
       "faults_recovered": 0, "steps": 3, "backtracks": 0, "rollbacks": 0, "agent_error": "", "refused": False,
       "agent_latency_ms": 1.0, "cost_usd": 0.0, "wall_time_s": 1.0, "recoveries": [], "infra_error": "",
       "progress": 1.0, "adversarial": False, "trial": 0}
tables.run_metrics([row, {**row, "id": 2, "overlays": ["popup"], "success": False}])
print(sorted(name for name in ("pandas", "pyarrow", "numpy") if name in sys.modules))
"""


def test_playing_episodes_and_finishing_a_run_import_no_pandas():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
