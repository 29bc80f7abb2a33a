import pytest

from benchmark_site.settings import artifact_storage
from tests.hosts import Host, S3Server, stop_hosts


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_storage(s3_server, monkeypatch, settings):
    """A fresh bucket as the artifact storage of this process and of every process the test starts."""
    env = s3_server.new_bucket()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": artifact_storage()}
    return env["GAUNTLET_S3_BUCKET"]


@pytest.fixture
def hosts(transactional_db, tmp_path):
    """``hosts(name)`` makes a Host under this test's directory; their processes stop with the test."""
    made = []

    def make(name: str) -> Host:
        made.append(Host(tmp_path, name))
        return made[-1]

    yield make
    stop_hosts(made)
