"""A run started while the broker is down is kept, and runs by itself once the broker is back."""

import time

import pytest

from runs.models import Episode, Run
from tests.faults.conftest import audit, report, wait_for_runs

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.faults]


def test_it_runs_a_run_started_while_the_broker_was_down(cluster):
    proc = cluster.manage(
        "start_demo_run",
        "--agent",
        "oracle",
        "--suite",
        "smoke",
        "--team",
        "faults",
        "--trials",
        "1",
        "--max-steps",
        "3",
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "cannot be reached" in err
    run_id = int(out.strip().splitlines()[-1])
    assert set(Episode.objects.filter(run=run_id).values_list("status", flat=True)) == {Episode.QUEUED}
    cluster.start_redis()
    back = time.monotonic()
    cluster.start_beat()
    cluster.start_worker()
    wait_for_runs([run_id], 180, cluster)
    figures = audit([run_id])
    report("broker down at start", {**figures, "done_after_broker_back_s": time.monotonic() - back})
    assert Run.objects.get(pk=run_id).status == Run.COMPLETE
    assert (figures["lost"], figures["duplicated"], figures["stuck"]) == (0, 0, 0)
