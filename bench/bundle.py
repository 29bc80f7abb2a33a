"""The run bundle of a 94-episode run of the ``full`` suite: how long it takes to build, against zipping the same
files (target: under 10 s).

Plays one real episode (``gullible`` on ``smoke``, in Chromium) for a real trace and real screenshots, then
fills a throw-away PostgreSQL database with a finished 94-episode run of the ``full`` suite (bulk inserts, as
bench/run_page_scale.py does), each episode with a copy of that trace and each of its steps with a copy of a
screenshot, stored as the product stores artifacts. Then, alternating, ``--repeat`` times each:

- ``bundle``: runs.bundle.stream (run.json, episodes.csv, steps.parquet built with pandas, every trace and
  screenshot) written to a file, as ``manage.py export_run`` does;
- ``zip_only`` (the baseline): the same traces and screenshots, read from storage and written by zipfile with
  the same compression into a file, nothing else.

Prints one JSON object: median seconds of each, their ratio, the bundle's size and member count, and the most
memory the bundle's Python objects held at once while it was made (tracemalloc, in a separate pass).

    .venv/bin/python bench/bundle.py [--episodes 94] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import live_setup
import run_page_scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=94)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["GAUNTLET_MEDIA_ROOT"] = str(tmp / "media")
        live_setup.setup_django("gauntlet_bench_bundle")
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        from agents.models import Agent
        from runs import bundle, services
        from runs.models import Episode, Run, Step, Suite

        team, user, _ = live_setup.logged_in_user()
        sample = services.queue_run(
            agent_version=Agent.objects.get(name="gullible", team__isnull=True).latest_version(),
            suite=Suite.objects.get(name="smoke", team__isnull=True),
            team=team,
            user=user,
            trials=1,
            enqueue=False,
        )
        played = sample.episodes.order_by("pk").first()
        assert services.execute_episode(played.pk) == "scored"
        played.refresh_from_db()
        with default_storage.open(played.trace_path, "rb") as f:
            trace = f.read()
        shots = []
        played_steps = Step.objects.filter(episode=played).exclude(screenshot_path="")
        for path in played_steps.values_list("screenshot_path", flat=True):
            with default_storage.open(path, "rb") as f:
                shots.append(f.read())

        suite = Suite.objects.get(name="full", team__isnull=True)
        run = run_page_scale.make_run(suite, sample.agent_version, team, args.episodes, random.Random(7), finished=True)
        artifacts = []
        for episode in Episode.objects.filter(run=run):
            path = default_storage.save(f"bench/{episode.pk}/trace.jsonl", ContentFile(trace))
            Episode.objects.filter(pk=episode.pk).update(trace_path=path)
            artifacts.append((path, f"episodes/{episode.pk}/trace.jsonl", zipfile.ZIP_DEFLATED))
        for step in Step.objects.filter(run=run):
            shot = shots[step.index % len(shots)]
            path = default_storage.save(f"bench/{step.episode_id}/step-{step.index}.jpg", ContentFile(shot))
            Step.objects.filter(pk=step.pk).update(screenshot_path=path)
            artifacts.append((path, bundle.screenshot_name(step.episode_id, step.index), zipfile.ZIP_STORED))
        run = Run.objects.select_related("agent_version__agent", "suite", "team").get(pk=run.pk)

        out = tmp / "out.zip"

        def build_bundle():
            with out.open("wb") as f:
                for chunk in bundle.stream(run):
                    f.write(chunk)

        def zip_only():
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                for path, name, compression in artifacts:
                    with default_storage.open(path, "rb") as f:
                        archive.writestr(name, f.read(), compress_type=compression)

        times = {"bundle": [], "zip_only": []}
        for _ in range(args.repeat):
            for name, fn in (("bundle", build_bundle), ("zip_only", zip_only)):
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
        build_bundle()
        size = out.stat().st_size
        members = len(zipfile.ZipFile(out).namelist())
        tracemalloc.start()
        build_bundle()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        steps = Step.objects.filter(run=run).count()

    bundle_s = statistics.median(times["bundle"])
    zip_s = statistics.median(times["zip_only"])
    print(
        json.dumps(
            {
                "episodes": args.episodes,
                "steps": steps,
                "trace_bytes": len(trace),
                "screenshot_bytes": round(statistics.mean(len(s) for s in shots)),
                "bundle_s": round(bundle_s, 3),
                "zip_only_s": round(zip_s, 3),
                "ratio_to_zip_only": round(bundle_s / zip_s, 2),
                "bundle_bytes": size,
                "members": members,
                "peak_python_memory_mib": round(peak / 2**20, 1),
                "target_s": 10,
            },
            indent=2,
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
