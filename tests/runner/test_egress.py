"""The egress policy of agent endpoints, through the HTTP and LLM drivers against real loopback servers.

Refusals must happen before anything is sent: the loopback servers record every request, and addresses
outside loopback are only ever refused (never dialled), so these tests send nothing off this machine.
"""

import contextlib
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner.drivers import AgentFailure, make_driver
from runner.egress import ALLOW_ENV, DEV_ENV, EgressPolicy
from runner.protocol import sample_request
from runner.types import AgentSpec
from tests.fakes.agent_server import AgentServer, answer
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]


async def act_once(spec: AgentSpec) -> dict:
    driver = make_driver(spec, None, 0)
    try:
        return await driver.act(sample_request())
    finally:
        await driver.close()


def http(url: str) -> AgentSpec:
    return AgentSpec(kind="http", config={"url": url}, secret="gsk_egress")


async def refusal(spec: AgentSpec) -> str:
    with pytest.raises(AgentFailure) as caught:
        await act_once(spec)
    # Refused before anything was sent: the agent was never measured.
    assert caught.value.code == "agent_unreachable"
    return caught.value.detail


@pytest.fixture
def no_loopback(monkeypatch):
    """The production policy: nothing internal allowed."""
    monkeypatch.setenv(ALLOW_ENV, "none")


@pytest.fixture
def server():
    with AgentServer(answer("noop(0)")) as running:
        yield running


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "2130706433",
        "0x7f000001",
        "017700000001",
        "127.1",
        "0.0.0.0",
    ],
)
async def test_it_refuses_every_spelling_of_loopback_when_loopback_is_not_allowed(no_loopback, server, host):
    port = server.url.split(":")[2].split("/")[0]
    detail = await refusal(http(f"http://{host}:{port}/act"))
    assert "refused by the egress policy" in detail
    assert server.requests == []


@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://10.0.0.1/act", "private"),
        ("http://172.16.5.4:8080/act", "private"),
        ("https://192.168.1.1/act", "private"),
        ("http://100.64.0.1/act", "non-public"),
        ("http://169.254.1.1/act", "link-local"),
        ("http://[fe80::1]/act", "link-local"),
        ("http://[fc00::1]/act", "private"),
        ("http://224.0.0.1/act", "multicast"),
        ("http://240.0.0.1/act", "reserved"),
        ("http://[64:ff9b::a00:1]/act", "reserved"),
        ("http://[2002:c0a8:101::1]/act", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://168.63.129.16/machine", "cloud metadata"),
        ("http://100.100.100.200/latest/meta-data", "cloud metadata"),
    ],
)
async def test_it_refuses_internal_and_metadata_addresses_in_development_too(url, kind):
    detail = await refusal(http(url))
    assert f"{kind} address" in detail and "refused by the egress policy" in detail


async def test_metadata_addresses_stay_refused_whatever_the_allow_list(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "0.0.0.0/0,::/0")
    assert "cloud metadata" in await refusal(http("http://169.254.169.254/latest/meta-data/"))
    assert "cloud metadata" in await refusal(http("http://[::ffff:169.254.169.254]/"))


async def test_development_allows_loopback_and_production_does_not(monkeypatch, server):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.setenv(DEV_ENV, "1")
    assert await act_once(http(server.url)) == {"action": "noop(0)"}
    monkeypatch.setenv(DEV_ENV, "0")
    assert "loopback address" in await refusal(http(server.url))
    assert len(server.requests) == 1


async def test_an_address_with_a_port_allows_that_port_only(monkeypatch, server):
    with AgentServer(answer("noop(0)")) as other:
        monkeypatch.setenv(ALLOW_ENV, f"127.0.0.1:{server.httpd.server_port}")
        assert await act_once(http(server.url)) == {"action": "noop(0)"}
        assert "loopback address" in await refusal(http(other.url))
    assert other.requests == []


async def test_a_host_name_entry_allows_that_name_only(monkeypatch, server):
    port = server.httpd.server_port
    monkeypatch.setenv(ALLOW_ENV, f"localhost:{port}")
    assert await act_once(http(f"http://localhost:{port}/act")) == {"action": "noop(0)"}
    assert "loopback address" in await refusal(http(f"http://127.0.0.1:{port}/act"))
    assert len(server.requests) == 1


async def test_it_dials_the_checked_address_but_speaks_tls_and_http_to_the_name(server):
    port = server.httpd.server_port
    await act_once(http(f"http://localhost:{port}/act"))
    assert server.requests[0][1]["Host"] == f"localhost:{port}"
    # A TLS listener with no certificate still hears the server name the client asks for, then fails.
    names = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.sni_callback = lambda sock, name, context: names.append(name)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def handshake():
            for _ in range(3):  # the first attempt and the driver's two retries
                connection, _ = listener.accept()
                with connection, contextlib.suppress(ssl.SSLError, OSError):
                    tls.wrap_socket(connection, server_side=True)

        thread = threading.Thread(target=handshake, daemon=True)
        thread.start()
        await refusal(http(f"https://localhost:{listener.getsockname()[1]}/act"))
        thread.join(timeout=5)
    assert names == ["localhost"] * 3


async def test_a_redirect_is_never_followed(server):
    redirect = lambda r, h: (307, b"", {"Location": server.url})  # noqa: E731
    with AgentServer(redirect) as redirecting, pytest.raises(AgentFailure) as caught:
        await act_once(http(redirecting.url))
    assert "HTTP 307" in caught.value.detail
    assert len(redirecting.requests) == 1 and server.requests == []


async def test_proxy_variables_are_ignored(monkeypatch, server):
    with AgentServer(answer("stop()")) as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.httpd.server_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert await act_once(http(server.url)) == {"action": "noop(0)"}
    assert proxy.requests == [] and len(server.requests) == 1


def test_the_llm_agent_is_held_to_the_same_policy(no_loopback):
    import asyncio

    with FakeOpenAI() as fake:
        spec = AgentSpec(kind="builtin", config={"name": "llm", "base_url": fake.base_url, "model": "fake-1"})
        detail = asyncio.run(refusal(spec))
        assert fake.requests == []
    assert "model endpoint refused by the egress policy" in detail and "loopback address" in detail


@pytest.mark.parametrize(
    "value, message",
    [
        ("10.0.0.1/8", "is not a network"),
        ("agents.corp.example", "neither an address"),
        ("10.0.0.1:99999", "no valid port"),
        ("[::1]", "[address]:port"),
        ("bad host:80", "neither an address"),
    ],
)
def test_a_bad_allow_list_is_named(value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EgressPolicy.from_env({ALLOW_ENV: value})


def test_an_unclear_development_flag_is_not_taken_for_either():
    with pytest.raises(ValueError, match=DEV_ENV):
        EgressPolicy.from_env({DEV_ENV: "production"})


def test_a_bad_allow_list_stops_the_dashboard_from_starting():
    env = {"PATH": "/usr/bin:/bin", ALLOW_ENV: "10.0.0.0/33", "DJANGO_SETTINGS_MODULE": "benchmark_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and ALLOW_ENV in result.stderr
