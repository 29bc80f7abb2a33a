"""Fixtures shared by the sandbox tests."""

import pytest

from sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def server():
    """A real sandbox server, one per test module."""
    sandbox = SandboxServer().start()
    yield sandbox
    sandbox.stop()
