"""An episode's trace as the worker stores it: every line follows the schema, every blob is stored once per run."""

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from django.core.files.storage import default_storage

from runner.types import TRACE_VERSION
from runs import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "trace.schema.json").read_text())
CONTENT = ("axtree", "dom", "elements", "screenshot", "set_of_marks")


def test_the_stored_trace_follows_the_schema_and_its_blobs_are_stored_once_per_run(smoke_run):
    played = list(smoke_run.episodes.filter(scenario__key="purchase-clean").order_by("trial"))
    assert len(played) == 2
    check = jsonschema.Draft202012Validator(SCHEMA)
    refs: list[str] = []
    for episode in played:
        assert services.execute_episode(episode.pk) == "scored"
        episode.refresh_from_db()
        with default_storage.open(episode.trace_path) as handle:
            lines = [json.loads(line) for line in handle.read().decode().splitlines()]
        for line in lines:
            check.validate(line)
        assert {line["v"] for line in lines} == {TRACE_VERSION}
        observations = [line for line in lines if line["type"] == "observation"]
        assert len(observations) == episode.steps
        refs += [o[f]["ref"] for o in observations for f in CONTENT if o[f] is not None and "text" not in o[f]]
    assert refs
    for ref in set(refs):
        digest = ref.removeprefix("sha256:")
        with default_storage.open(services.blob_name(smoke_run.pk, digest)) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest
    root = f"traces/run-{smoke_run.pk}/blobs"
    stored = [
        name for folder in default_storage.listdir(root)[0] for name in default_storage.listdir(f"{root}/{folder}")[1]
    ]
    assert sorted(stored) == sorted({ref.removeprefix("sha256:") for ref in refs})
