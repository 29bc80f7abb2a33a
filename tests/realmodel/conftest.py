"""The real model, installed once per machine and served once per session (see tests/realmodel/server.py)."""

import pytest

from tests.realmodel import server


@pytest.fixture(scope="session")
def real_model(tmp_path_factory) -> str:
    """The OpenAI base URL of Gemma 3 270M served by llama-cpp-python on loopback; installs both first if the
    cache lacks them (a source build: allow half an hour the first time on two cores)."""
    logs = tmp_path_factory.mktemp("realmodel")
    with (logs / "install.log").open("w") as log:
        root = server.install(log=log)
    with server.serving(root, logs / "server.log") as base_url:
        yield base_url


@pytest.fixture
def worker_env() -> dict:
    # One episode at a time: the model server answers one request at a time anyway, and two episodes waiting on
    # it would each see their steps take twice as long.
    return {"GAUNTLET_EPISODES_PER_WORKER": "1"}
