"""The python agent kind: an uploaded file run under bubblewrap, driven directly and in real episodes.

The sandbox tests upload real agent files whose ``act`` tries something forbidden and reports, in its
``thought``, what each attempt raised; the test then checks every attempt failed (or, for the private
directory, worked).
"""

import asyncio
import gc
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from runner.actions import parse_action
from runner.drivers import AgentFailure
from runner.drivers.python import PythonAgent, check_source
from runner.host import get_host
from runner.types import AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_TIMEOUT, AgentSpec, InfraError
from tests import episodes

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "examples" / "python_agent" / "agent.py").read_text()

REQUEST = {
    "protocol": "gauntlet.agent/v1",
    "episode_id": 1,
    "step": 1,
    "agent_index": 0,
    "task": {"goal": "Buy 1 × Trail Running Shoes and ship it home.", "start_url": "http://shop.gauntlet.test/"},
    "observation": {
        "url": "http://shop.gauntlet.test/",
        "title": "Catalogue — Gauntlet Shop",
        "tabs": [{"url": "http://shop.gauntlet.test/", "title": "", "active": True}],
        "axtree": '- link "Trail Running Shoes" [ref=e40]',
        "elements": [
            {"ref": "e20", "role": "searchbox", "name": "Search products", "text": ""},
            {"ref": "e21", "role": "button", "name": "Search", "text": ""},
            {"ref": "e40", "role": "link", "name": "Trail Running Shoes", "text": ""},
        ],
        "screenshot": None,
        "last_action": None,
        "last_action_error": None,
        "notices": [],
    },
    "history": [],
    "checkpoints": [],
}

# An agent that runs PROBES (a dict of name -> zero-argument callable, appended by each test) and answers
# with what each one returned or raised.
PROBE_AGENT = """
import json, os, socket

def attempt(probe):
    try:
        return "ok: " + str(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

class Agent:
    def act(self, request):
        return {"action": "noop(0)", "thought": json.dumps({name: attempt(p) for name, p in PROBES.items()})}
"""


def agent(source: str, **config) -> PythonAgent:
    return PythonAgent(AgentSpec(kind="python", source=source, config=config), None, 0)


async def _ask(driver: PythonAgent, steps: int, timeout: float) -> list[dict]:
    try:
        return [await asyncio.wait_for(driver.act({**REQUEST, "step": n}), timeout) for n in range(1, steps + 1)]
    finally:
        await driver.close()


def ask(source: str, steps: int = 1, timeout: float = 20, **config) -> list[dict]:
    """The responses of a fresh sandboxed agent to ``steps`` requests; the driver is closed afterwards."""
    return asyncio.run(_ask(agent(source, **config), steps, timeout))


def failure(source: str, steps: int = 1, **config) -> AgentFailure:
    with pytest.raises(AgentFailure) as info:
        ask(source, steps, **config)
    return info.value


def probe(probes: str, **config) -> dict[str, str]:
    """Run a probe agent with ``probes`` (source defining PROBES) and return its report."""
    (response,) = ask(PROBE_AGENT + probes, **config)
    return json.loads(response["thought"])


# --- the interface ------------------------------------------------------------------------------------


def test_it_answers_a_request_with_the_example_agent():
    (response,) = ask(EXAMPLE)
    assert parse_action(response["action"]).name == "fill"
    assert set(response) == {"action", "thought", "usage"}


def test_it_keeps_the_agent_object_between_steps_and_wraps_plain_action_strings():
    source = """
class Agent:
    def __init__(self):
        self.calls = 0
    def act(self, request):
        self.calls += 1
        return f"scroll(0, {self.calls})"
"""
    responses = ask(source, steps=3)
    assert [r["action"] for r in responses] == ["scroll(0, 1)", "scroll(0, 2)", "scroll(0, 3)"]
    assert responses[0] == {"action": "scroll(0, 1)", "thought": "", "usage": {}}


def test_it_finds_the_only_class_with_act_and_awaits_an_async_act():
    source = """
class Helper:
    pass

class MyBot:
    async def act(self, request):
        return {"action": "noop(0)", "thought": request["task"]["goal"]}
"""
    (response,) = ask(source)
    assert response["thought"] == REQUEST["task"]["goal"]


def test_print_and_writes_to_stdout_do_not_break_the_protocol():
    source = """
import os, sys
class Agent:
    def act(self, request):
        print("debugging", request["step"])
        print("x" * 1_000_000)  # far more than a pipe holds: stderr must be drained
        sys.__stdout__.write("not json\\n")
        sys.__stdout__.flush()
        os.write(1, b"neither\\n")
        sys.stderr.write("warning\\n")
        return "noop(0)"
"""
    assert [r["action"] for r in ask(source, steps=2)] == ["noop(0)", "noop(0)"]


# --- the sandbox --------------------------------------------------------------------------------------


def test_it_cannot_open_a_socket_or_reach_any_service_on_this_machine():
    # Reachable from the test process: a listener of our own, the sandbox proxy, an abstract Unix socket.
    listener = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0gauntlet-test-{uuid.uuid4().hex}")
    abstract.listen()
    proxy_host, proxy_port = get_host().sandbox.address.removeprefix("http://").split(":")
    socket.create_connection((proxy_host, int(proxy_port)), timeout=2).close()
    targets = {
        "redis": ("127.0.0.1", 6379),
        "proxy": (proxy_host, int(proxy_port)),
        "listener": listener.getsockname(),
    }
    try:
        report = probe(
            f"""
TARGETS = {targets!r}
PROBES = {{name: (lambda a=address: socket.create_connection(a, timeout=1)) for name, address in TARGETS.items()}}
PROBES["ipv6"] = lambda: socket.create_connection(("::1", 6379), timeout=1)
PROBES["udp"] = lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 53))
PROBES["raw"] = lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
PROBES["abstract_unix"] = lambda: socket.socket(socket.AF_UNIX).connect({abstract.getsockname()!r})
PROBES["interfaces"] = lambda: [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]]
"""
        )
    finally:
        listener.close()
        abstract.close()
    for name in ("redis", "proxy", "listener", "ipv6", "udp", "raw"):
        assert report[name].startswith("PermissionError"), (name, report[name])
    # Even Unix sockets, which it may create, reach nothing outside: it has a network namespace of its own.
    assert report["abstract_unix"].startswith("ConnectionRefusedError"), report["abstract_unix"]
    assert report["interfaces"] == "ok: ['lo']"


def test_it_cannot_read_the_repository_the_project_data_or_the_worker_process():
    paths = {
        "repository": str(REPO),
        "this_test_file": __file__,
        "var": str(settings.VAR_DIR),
        "database": str(settings.VAR_DIR / "gauntlet.sqlite3"),
        "test_database": str(settings.DATABASES["default"]["NAME"]),
        "media": str(settings.MEDIA_ROOT),
        "worker_environ": f"/proc/{os.getpid()}/environ",
        "worker_memory": f"/proc/{os.getpid()}/mem",
        "worker_root": f"/proc/{os.getpid()}/root/etc/hostname",
        "host_tmp": tempfile.gettempdir() + "/",
        "etc_passwd": "/etc/passwd",
    }
    report = probe(
        f"""
PATHS = {paths!r}
def read(path):
    return os.listdir(path) if os.path.isdir(path) or path.endswith("/") else open(path, "rb").read(10)
PROBES = {{name: (lambda p=path: read(p)) for name, path in PATHS.items()}}
PROBES["root"] = lambda: " ".join(sorted(os.listdir("/")))
PROBES["tmp"] = lambda: os.listdir("/tmp")
PROBES["processes"] = lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
"""
    )
    assert Path(__file__).exists() and settings.VAR_DIR.is_dir()
    for name in paths:
        if name != "host_tmp":
            assert report[name].startswith("FileNotFoundError"), (name, report[name])
    # The host's /tmp is not what it sees at /tmp: there is only its own directory there.
    assert report["host_tmp"] == "ok: ['agent']" and report["tmp"] == "ok: ['agent']"
    # At its root: the system directories, /proc, /dev, /tmp and the top of the Python installation's path.
    system = {"bin", "dev", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    assert set(report["root"].removeprefix("ok: ").split()) <= system | {Path(sys.base_prefix).parts[1]}
    # Its own PID namespace, in which it is alone: nothing of the host.
    assert report["processes"] == "ok: [1]", report["processes"]


def _agent_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("gauntlet-agent-*"))


def test_it_can_write_only_in_its_private_tmpfs_which_the_host_never_sees():
    marker = f"gauntlet-test-{uuid.uuid4().hex}"
    host_tmp_file = Path(tempfile.gettempdir(), marker)
    repo_file = REPO / marker
    targets = {
        "root": f"/{marker}",
        "usr": f"/usr/{marker}",
        "repository": str(repo_file),
        "tmp": f"/tmp/{marker}",
        "host_tmp": str(host_tmp_file),
        "dev": f"/dev/{marker}",
        "dev_shm": f"/dev/shm/{marker}",
        "python": f"{sys.base_prefix}/{marker}",
    }
    source = (
        PROBE_AGENT
        + f"""
TARGETS = {targets!r}
def write(path):
    with open(path, "w") as f:
        f.write("escaped")
PROBES = {{name: (lambda p=path: write(p)) for name, path in TARGETS.items()}}
PROBES["cwd"] = os.getcwd
PROBES["private"] = lambda: (write({marker!r}), open({marker!r}).read())[1]
PROBES["home"] = lambda: (write(os.path.join(os.environ["HOME"], "notes")), os.environ["HOME"])[1]
"""
    )

    async def scenario():
        before = _agent_dirs()
        driver = agent(source)
        try:
            response = await driver.act(REQUEST)
            # What it wrote is in its tmpfs, not on the host's disk under its mount point.
            on_host = [p for d in _agent_dirs() - before for p in d.rglob(marker)]
            workdirs = _agent_dirs() - before
        finally:
            await driver.close()
        await driver.close()  # idempotent
        return json.loads(response["thought"]), on_host, workdirs

    report, on_host, workdirs = asyncio.run(scenario())
    for name in targets:
        assert report[name].startswith(("OSError", "PermissionError", "FileNotFoundError")), (name, report[name])
        assert "Read-only file system" in report[name] or "No such file" in report[name], (name, report[name])
    assert not host_tmp_file.exists() and not repo_file.exists()
    assert report["cwd"] == "ok: /tmp/agent" and report["home"] == "ok: /tmp/agent"
    assert report["private"] == "ok: escaped"
    assert on_host == []
    assert len(workdirs) == 1 and not any(d.exists() for d in workdirs)


def test_its_private_tmpfs_is_capped_in_total():
    report = probe(
        """
def fill():
    written = 0
    for n in range(8):
        with open(f"chunk{n}", "wb") as f:
            for _ in range(1024):
                f.write(b"x" * 1024)
                written += 1024
    return written
PROBES = {"size": lambda: os.statvfs(".").f_blocks * os.statvfs(".").f_frsize, "fill": fill}
""",
        tmp_mb=2,
    )
    # 2 MiB in all, however it is split into files (each far below the per-file limit).
    assert report["size"] == f"ok: {2 * 1024 * 1024}"
    assert report["fill"].startswith("OSError") and "No space left on device" in report["fill"], report["fill"]


def test_it_sees_nothing_of_the_worker_environment_processes_or_descriptors(tmp_path):
    canary = f"gauntlet-canary-{uuid.uuid4().hex}"
    os.environ["GAUNTLET_TEST_CANARY"] = canary
    # A descriptor the worker leaves inheritable must not reach the sandbox either.
    inheritable = (tmp_path / canary).open("w")
    os.set_inheritable(inheritable.fileno(), True)
    try:
        report = probe(
            """
def links(pid):
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass  # the descriptor listdir itself used, closed by now
    return found
def every(name):
    out = {}
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if name == "fd":
                out[pid] = links(pid)
            else:
                out[pid] = open(f"/proc/{pid}/{name}", "rb").read().decode("utf-8", "replace")
        except OSError as exc:
            out[pid] = f"{type(exc).__name__}: {exc}"
    return json.dumps(out)
PROBES = {name: (lambda n=name: every(n)) for name in ("environ", "cmdline", "fd")}
PROBES["pids"] = lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
PROBES["mounts"] = lambda: [line.split()[1] for line in open("/proc/self/mounts") if "rw" in line.split()[3].split(",")]
PROBES["parent"] = os.getppid
"""
        )
    finally:
        inheritable.close()
        del os.environ["GAUNTLET_TEST_CANARY"]
    # One process in its PID namespace, the agent itself, whose parent is outside it.
    assert report["pids"] == "ok: [1]" and report["parent"] == "ok: 0"
    environ = json.loads(report["environ"].removeprefix("ok: "))
    assert list(environ) == ["1"]
    assert sorted(environ["1"].rstrip("\0").split("\0")) == [
        "HOME=/tmp/agent",
        "LANG=C.UTF-8",
        "PATH=/usr/bin:/bin",
        "PWD=/tmp/agent",
    ]
    cmdline = json.loads(report["cmdline"].removeprefix("ok: "))
    assert canary not in cmdline["1"] and "gauntlet-agent-" not in cmdline["1"], cmdline
    # Descriptors: the three pipes of the protocol and the harness's copy of stdout; no file, socket or
    # seccomp pipe of the host's.
    fds = json.loads(report["fd"].removeprefix("ok: "))["1"]
    assert len(fds) == 4 and all(target.startswith("pipe:") for target in fds.values()), fds
    assert canary not in json.dumps(report)
    # Writable: only its tmpfs, besides its own /proc (which the kernel guards) and bubblewrap's device nodes.
    devices = {"/dev/full", "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts"}
    writable = set(json.loads(report["mounts"].removeprefix("ok: ").replace("'", '"')))
    assert writable - devices == {"/proc", "/tmp/agent"}, writable


def test_it_cannot_start_processes_but_can_use_threads():
    report = probe(
        """
import subprocess, threading
def thread():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    return "joined"
PROBES = {
    "fork": os.fork,
    "subprocess": lambda: subprocess.run(["true"]),
    "thread": thread,
}
"""
    )
    assert report["fork"].startswith("PermissionError")
    assert report["subprocess"].startswith("PermissionError")
    assert report["thread"] == "ok: joined"


# --- failures -----------------------------------------------------------------------------------------


def test_an_exception_in_act_is_agent_crashed_with_the_traceback():
    source = """
class Agent:
    def act(self, request):
        return self.think(request)

    def think(self, request):
        return {"action": str(1 / 0)}
"""
    exc = failure(source)
    assert exc.code == AGENT_CRASHED
    assert exc.detail.startswith("ZeroDivisionError: division by zero")
    assert 'agent.py", line 7, in think' in exc.detail and "line 4, in act" in exc.detail
    assert "harness" not in exc.detail


def test_a_file_that_fails_to_load_is_agent_crashed():
    exc = failure("import json\nraise RuntimeError('no config')\n")
    assert exc.code == AGENT_CRASHED
    assert "RuntimeError: no config" in exc.detail and "while loading" in exc.detail and "line 2" in exc.detail
    exc = failure("def act(request):\n    return 'noop(0)'\n")
    assert exc.code == AGENT_CRASHED and "no class named Agent" in exc.detail


def test_a_memory_hog_is_agent_crashed_on_its_memory_limit():
    source = """
class Agent:
    def act(self, request):
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
"""
    exc = failure(source, memory_mb=128)
    assert exc.code == AGENT_CRASHED
    assert "memory limit of 128 MiB" in exc.detail and "MemoryError" in exc.detail


def test_a_busy_loop_is_agent_crashed_on_its_cpu_limit():
    exc = failure("class Agent:\n    def act(self, request):\n        while True:\n            pass\n", cpu_s=1)
    assert exc.code == AGENT_CRASHED
    assert "CPU limit of 1 s" in exc.detail


def test_answers_that_are_not_responses_are_agent_bad_response():
    exc = failure("class Agent:\n    def act(self, request):\n        return 42\n")
    assert exc.code == AGENT_BAD_RESPONSE and "act() returned int" in exc.detail
    exc = failure("class Agent:\n    def act(self, request):\n        return {'action': 'noop(0)', 'x': {1, 2}}\n")
    assert exc.code == AGENT_BAD_RESPONSE and "not JSON" in exc.detail
    exc = failure("class Agent:\n    def act(self, request):\n        return {'thought': 'x' * 300000}\n")
    assert exc.code == AGENT_BAD_RESPONSE and "longer than 256 KiB" in exc.detail


def test_garbage_written_on_the_protocol_channel_is_agent_bad_response():
    # The protocol channel is the original stdout, kept by the harness on a descriptor of its own; an agent
    # that goes looking for it can write there, and its garbage is then a bad response.
    source = """
import os
class Agent:
    def act(self, request):
        links = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                links[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass  # the descriptor listdir itself used
        known = {links.get("0"), links.get("2")}
        for fd, link in links.items():
            if link.startswith("pipe:") and link not in known:
                os.write(int(fd), b"<html>garbage</html>\\n")
        return "noop(0)"
"""
    exc = failure(source)
    assert exc.code == AGENT_BAD_RESPONSE
    assert "not JSON" in exc.detail and "<html>garbage</html>" in exc.detail


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _gone(pids: set[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_a_cancelled_step_kills_the_agent_and_later_calls_cope():
    source = """
class Agent:
    def act(self, request):
        while request["step"] > 1:
            pass
        return "noop(0)"
"""

    async def scenario():
        driver = agent(source)
        await driver.act(REQUEST)
        pids = {driver.pid} | _descendants(driver.pid)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(driver.act({**REQUEST, "step": 2}), 1.0)
        gone = await asyncio.to_thread(_gone, pids)
        with pytest.raises(AgentFailure) as info:
            await driver.act({**REQUEST, "step": 3})
        await driver.close()
        await driver.close()
        return pids, gone, info.value

    pids, gone, exc = asyncio.run(scenario())
    assert len(pids) >= 2, pids  # bubblewrap (exec'd by the namespace set-up) and the agent
    assert gone, "the agent's processes outlived the cancelled step"
    assert exc.code == AGENT_CRASHED and "stopped earlier" in exc.detail and "cancelled" in exc.detail


def sleeper(seconds: float) -> str:
    """An agent that answers each step after ``seconds``."""
    body = f"        time.sleep({seconds})\n        return 'noop(0)'"
    return "import time\n\nclass Agent:\n    def act(self, request):\n" + body


def test_a_step_past_the_versions_timeout_is_agent_timeout_in_the_drivers_own_words():
    # The version's timeout_s, kept by the driver itself: the episode loop's backstop comes later.
    exc = failure(sleeper(4), timeout_s=2)
    assert exc.code == AGENT_TIMEOUT and exc.detail == "no answer within 2 s"


def test_a_step_within_the_versions_timeout_is_answered():
    (response,) = ask(sleeper(1.5), timeout_s=3)
    assert response["action"] == "noop(0)"


def test_a_driver_that_is_never_closed_leaves_nothing_behind_once_collected():
    marker = f"gauntlet-test-{uuid.uuid4().hex}"
    source = (
        f"class Agent:\n    def act(self, request):\n        open({marker!r}, 'w').close()\n        return 'noop(0)'\n"
    )

    async def scenario():
        before = _agent_dirs()
        driver = agent(source)
        await driver.act(REQUEST)
        pids = {driver.pid} | _descendants(driver.pid)
        (workdir,) = _agent_dirs() - before
        del driver
        gc.collect()
        return pids, workdir, await asyncio.to_thread(_gone, pids)

    pids, workdir, gone = asyncio.run(scenario())
    assert gone and not workdir.exists()


def test_a_missing_bubblewrap_is_an_infrastructure_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    async def scenario():
        driver = agent(EXAMPLE)
        try:
            await driver.act(REQUEST)
        finally:
            await driver.close()

    with pytest.raises(InfraError, match="bubblewrap"):
        asyncio.run(scenario())


# --- the upload check ---------------------------------------------------------------------------------


def test_check_source_accepts_the_example_and_the_interface_variants():
    assert check_source(EXAMPLE) is None
    assert check_source(EXAMPLE.encode()) is None
    assert check_source("class Bot:\n    async def act(self, request):\n        return 'noop(0)'\n") is None
    base = "class Base:\n    def act(self, request):\n        return 'noop(0)'\n"
    assert check_source(base + "class Agent(Base):\n    pass\n") is None


def test_check_source_explains_what_is_wrong():
    assert check_source("class Agent:\n    def act(self, request)\n        pass\n") == (
        "Syntax error on line 2: expected ':'."
    )
    assert "no agent class" in check_source("def act(request):\n    return 'noop(0)'\n")
    assert "Class Agent has no act" in check_source("class Agent:\n    def step(self, request):\n        pass\n")
    two = "class A:\n    def act(self, r): pass\nclass B:\n    def act(self, r): pass\n"
    assert "Several classes define act() (A, B)" in check_source(two)
    assert "larger than 256 KiB" in check_source("#" * (256 * 1024 + 1))
    assert "not UTF-8" in check_source(b"class Agent:\n    pass # \xff\n")
    assert "NUL" in check_source("class Agent:\n    def act(self, r): pass\n\x00")


# --- episodes -----------------------------------------------------------------------------------------


def play(source: str, key: str = "purchase-flaky-checkout", **options):
    spec = AgentSpec(kind="python", source=source, label="upload")
    return episodes.play(episodes.smoke(spec, key, **options))


def _harness_processes() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"/tmp/agent/harness.py" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.browser
def test_the_example_agent_plays_a_smoke_episode():
    outcome, events = play(EXAMPLE, max_steps=12)
    assert outcome.agent_error == "", outcome.agent_error_detail
    assert outcome.end_reason in ("stop", "step_budget")
    actions = [p for k, p in events if k == "trace" and p["type"] == "action"]
    assert len(actions) == outcome.steps >= 3
    # The newsletter pop-up of this scenario is dismissed by the example's first rule.
    assert any("pop-up" in a["thought"] for a in actions)
    results = [p for k, p in events if k == "trace" and p["type"] == "action_result"]
    assert not any(r["error"] for r in results), results


FAILING = {
    AGENT_TIMEOUT: ("class Agent:\n    def act(self, request):\n        while True:\n            pass\n", "no answer"),
    AGENT_CRASHED: ("class Agent:\n    def act(self, request):\n        raise KeyError('goal')\n", "KeyError"),
    AGENT_BAD_RESPONSE: ("class Agent:\n    def act(self, request):\n        return None\n", "returned NoneType"),
}


@pytest.mark.browser
@pytest.mark.parametrize("code", sorted(FAILING))
def test_a_failing_agent_is_scored_with_its_named_error(code):
    source, expected = FAILING[code]
    before = _harness_processes()
    outcome, events = play(source, key="purchase-clean", step_timeout_s=2.0, max_steps=5)
    assert outcome.agent_error == code
    assert outcome.end_reason == "agent_error"
    assert expected in outcome.agent_error_detail
    assert outcome.steps == 1 and not outcome.success
    (result,) = [p for k, p in events if k == "trace" and p["type"] == "action_result"]
    assert result["error"] == code and expected in result["agent_error_detail"]
    # Whatever the failure, nothing of the agent is left running once the episode is over.
    assert _gone(_harness_processes() - before)
