"""The ``python`` agent kind: an uploaded file run in a bubblewrap sandbox, speaking JSON lines.

The file defines an agent class (named ``Agent``, or else the only class with an ``act`` method) that is
instantiated once per agent per episode and called with each request of the contract. It runs under
:mod:`runner.drivers.python_harness` in a subprocess that

- has no network: its own network namespace holds only a loopback that nothing listens on, and a seccomp
  filter refuses ``socket()`` for any family but AF_UNIX;
- cannot start processes (the filter also refuses ``fork``, ``vfork``, ``clone3`` and ``clone`` without
  ``CLONE_THREAD``; threads work), so the per-process limits below hold for the whole agent;
- sees a read-only view of the Python runtime and ``/usr`` only, its own ``/proc`` (its own PID namespace, in
  which the agent is PID 1: no process of bubblewrap's, whose environment would be the worker's) and a
  minimal ``/dev``: not the repository, the project's data, other episodes or the host's ``/tmp``;
- starts from an empty environment, from bubblewrap down: nothing of the worker's (secrets, database and
  storage credentials) reaches any process of the sandbox, and no descriptor but stdin, stdout and stderr;
- may write only in a private tmpfs of ``tmp_mb`` MiB, mounted at ``/tmp/agent`` (its cwd and ``HOME``):
  the host's disk is never written, and the directory is gone with the sandbox's mount namespace;
- runs as an unprivileged user without capabilities, with the standard library only (``python -I -S``);
- is limited by rlimits: address space (``memory_mb``), CPU time for the whole episode (``cpu_s``), file
  size and open files; the wall limit of a step is the version's per-step timeout (``timeout_s``), the
  start of the sandbox included: past it the process is killed and the step fails with ``agent_timeout``.

The size-capped tmpfs is mounted by ``unshare`` in a user and mount namespace of its own, around bubblewrap:
bubblewrap before 0.10 cannot size a tmpfs.

Config keys of the agent version: ``memory_mb`` (default 512), ``cpu_s`` (default 120) and ``tmp_mb``
(default 64).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import struct
import sys
import tempfile
import weakref
from pathlib import Path

from runner.drivers import AgentDriver, AgentFailure
from runner.types import AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_TIMEOUT, AgentSpec, InfraError, step_timeout_s

MAX_SOURCE_BYTES = 256 * 1024
MAX_LINE_BYTES = 256 * 1024
DEFAULT_MEMORY_MB = 512
DEFAULT_CPU_S = 120
DEFAULT_TMP_MB = 64
FILE_SIZE_LIMIT = 64 * 1024 * 1024
OPEN_FILES_LIMIT = 64
STDERR_TAIL_BYTES = 4096
SANDBOX_DIR = "/tmp/agent"
AGENT_FILE = "agent.py"
HARNESS_FILE = "harness.py"
NOBODY = "65534"
_HARNESS_SOURCE = Path(__file__).with_name("python_harness.py")
_SNIPPET_CHARS = 200


def check_source(source: str | bytes) -> str | None:
    """Validate an uploaded agent file without running it: an error message fit to show the user, or None.

    The file must be UTF-8 text of at most 256 KiB that compiles and defines the agent class: a top-level
    class named ``Agent`` with an ``act`` method, or else exactly one top-level class with an ``act`` method.
    """
    if isinstance(source, bytes):
        if len(source) > MAX_SOURCE_BYTES:
            return f"The file is larger than {MAX_SOURCE_BYTES // 1024} KiB."
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"The file is not UTF-8 text (byte {exc.start})."
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        return f"The file is larger than {MAX_SOURCE_BYTES // 1024} KiB."
    if "\x00" in source:
        return "The file is not text: it contains NUL characters."
    try:
        tree = ast.parse(source, filename=AGENT_FILE)
    except SyntaxError as exc:
        return f"Syntax error on line {exc.lineno}: {exc.msg}."
    except (ValueError, RecursionError) as exc:
        return f"The file cannot be parsed: {exc}."
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def defines_act(node: ast.ClassDef, seen: frozenset = frozenset()) -> bool:
        if "act" in _own_methods(node):
            return True
        # act may come from a base class of the same file.
        bases = [b.id for b in node.bases if isinstance(b, ast.Name) and b.id in classes and b.id not in seen]
        return any(defines_act(classes[b], seen | {node.name}) for b in bases)

    if "Agent" in classes:
        if not defines_act(classes["Agent"]):
            return "Class Agent has no act(self, request) method."
        return None
    with_act = [name for name, node in classes.items() if "act" in _own_methods(node)]
    if len(with_act) == 1:
        return None
    if with_act:
        return f"Several classes define act() ({', '.join(sorted(with_act))}): name the agent class Agent."
    return "The file defines no agent class: write a class Agent with an act(self, request) method."


def _own_methods(node: ast.ClassDef) -> set[str]:
    return {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


class PythonAgent(AgentDriver):
    """One sandboxed subprocess per agent per episode, started on the first :meth:`act`.

    The agent object lives as long as the process, so it keeps state between steps. Any failure (a crash,
    a bad response, the step being cancelled on timeout) kills the process; a later ``act`` then fails
    with ``agent_crashed`` rather than silently starting a fresh agent.
    """

    def __init__(self, spec: AgentSpec, instance=None, agent_index: int = 0):
        self.spec = spec
        self.agent_index = agent_index
        self.memory_mb = _int_setting(spec.config, "memory_mb", DEFAULT_MEMORY_MB, 64, 16384)
        self.cpu_s = _int_setting(spec.config, "cpu_s", DEFAULT_CPU_S, 1, 3600)
        self.tmp_mb = _int_setting(spec.config, "tmp_mb", DEFAULT_TMP_MB, 1, 1024)
        self.timeout_s = step_timeout_s(spec.config)
        self._proc: asyncio.subprocess.Process | None = None
        self._workdir: str | None = None
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task | None = None
        self._stopped: str | None = None  # why the process was stopped, once it was
        # Released by close(), or when the driver is garbage-collected if the episode never closed it.
        self._leftovers = _Leftovers()
        self._release = weakref.finalize(self, self._leftovers.release)

    @property
    def pid(self) -> int | None:
        """The host PID of the sandbox's outer bubblewrap process while it runs (its tree dies with it)."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def act(self, request: dict) -> dict:
        if self._stopped is not None:
            raise AgentFailure(AGENT_CRASHED, f"the agent's process was stopped earlier: {self._stopped}")
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._proc is None:
                    await self._start()
                await self._send(request)
                frame = await self._read_frame()
            return self._unwrap(frame)
        except TimeoutError:
            self._kill(f"no answer within {self.timeout_s:g} s")
            raise AgentFailure(AGENT_TIMEOUT, f"no answer within {self.timeout_s:g} s") from None
        except AgentFailure as exc:
            self._kill(f"{exc.code}: {exc.detail.splitlines()[0] if exc.detail else ''}")
            raise
        except asyncio.CancelledError:
            # The episode loop gave up on the step (its backstop to our own deadline, or the episode ended):
            # never leave the agent running past its step.
            self._kill("the step was cancelled (timeout) while the agent was working")
            raise
        except BaseException as exc:
            self._kill(f"the driver failed: {type(exc).__name__}: {exc}")
            raise

    async def close(self) -> None:
        """Kill the process and remove the private directory. Idempotent; never raises."""
        proc, self._proc = self._proc, None
        if self._stopped is None:
            self._stopped = "the driver was closed"
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 5)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(BaseException):
                await self._stderr_task
            self._stderr_task = None
        self._release()
        self._workdir = None

    async def _start(self) -> None:
        tools = {name: shutil.which(name) for name in ("bwrap", "unshare", "mount", "cp")}
        if tools["bwrap"] is None:
            raise InfraError("bubblewrap (bwrap) is not installed: python agents cannot be sandboxed")
        missing = sorted(name for name, path in tools.items() if path is None)
        if missing:
            raise InfraError(f"{', '.join(missing)} (util-linux, coreutils) missing: python agents cannot be sandboxed")
        # The host directory holds the two files to copy in and the empty mount point of the private tmpfs;
        # what the agent writes lives only in that tmpfs.
        self._workdir = self._leftovers.workdir = tempfile.mkdtemp(prefix="gauntlet-agent-")
        code, home = Path(self._workdir, "code"), Path(self._workdir, "home")
        code.mkdir()
        home.mkdir()
        Path(code, AGENT_FILE).write_text(self.spec.source, encoding="utf-8")
        shutil.copyfile(_HARNESS_SOURCE, Path(code, HARNESS_FILE))
        filter_read, filter_write = os.pipe()
        try:
            program = seccomp_program()
            if program is not None:
                # Small enough for the pipe's buffer, so it can be written before bwrap reads it.
                os.write(filter_write, program)
            os.close(filter_write)
            argv = self._command(tools, filter_read if program is not None else None)
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE_BYTES + 2,
                pass_fds=(filter_read,) if program is not None else (),
                # Empty from the first process on: bubblewrap's --clearenv clears only the agent's own
                # environment, and any process of the sandbox that kept the worker's could be read.
                env={},
            )
        except OSError as exc:
            self._kill("the sandbox could not start")
            raise InfraError(f"could not start bubblewrap: {exc}") from exc
        finally:
            os.close(filter_read)
        self._leftovers.proc = self._proc
        self._stderr_task = asyncio.ensure_future(_drain(self._proc.stderr, self._stderr))
        if not _is_ready(await self._proc.stdout.readline()):
            await self._wait_exit()
            self._kill("the sandbox could not start")
            raise InfraError(f"the python agent sandbox did not start: {self._stderr_tail() or 'no output'}")

    def _command(self, tools: dict[str, str], seccomp_fd: int | None) -> list[str]:
        interpreter = os.path.realpath(sys.executable)
        home = str(Path(self._workdir, "home"))
        code = str(Path(self._workdir, "code"))
        # unshare gives the shell a user and mount namespace of its own, where it may mount the size-capped
        # tmpfs (invisible to the host and gone with the namespace) and copy the two files into it before
        # it becomes bubblewrap. $1..$5: mount, cp, the tmpfs's size, the mount point, the code directory.
        setup = '"$1" -t tmpfs -o "size=$3,mode=0700" gauntlet-agent "$4" && "$2" "$5/agent.py" "$5/harness.py" "$4/"'
        argv = [
            tools["unshare"],
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            setup + ' && shift 5 && exec "$@"',
            "sh",
            tools["mount"],
            tools["cp"],
            f"{self.tmp_mb}m",
            home,
            code,
            tools["bwrap"],
            "--unshare-all",
            "--unshare-user",
            "--uid",
            NOBODY,
            "--gid",
            NOBODY,
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            # The agent is the namespace's PID 1: bubblewrap's own init would be a process of the sandbox's
            # user, readable through /proc/1 (its command line names host paths).
            "--as-pid-1",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            SANDBOX_DIR,
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", name)
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        for prefix in sorted({os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(interpreter))}):
            if not (prefix + "/").startswith(("/usr/", "/bin/", "/lib/", "/lib64/")):
                argv += ["--ro-bind", prefix, prefix]
        argv += ["--proc", "/proc", "--dev", "/dev", "--bind", home, SANDBOX_DIR]
        # bwrap's own root and /dev are writable tmpfs until remounted; the agent gets them read-only.
        argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_DIR]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv += [
            "--",
            interpreter,
            "-I",
            "-S",
            "-B",
            "-X",
            "utf8",
            f"{SANDBOX_DIR}/{HARNESS_FILE}",
            f"{SANDBOX_DIR}/{AGENT_FILE}",
            str(self.memory_mb * 1024 * 1024),
            str(self.cpu_s),
            str(FILE_SIZE_LIMIT),
            str(OPEN_FILES_LIMIT),
        ]
        return argv

    async def _send(self, request: dict) -> None:
        line = json.dumps(request, separators=(",", ":")).encode() + b"\n"
        try:
            self._proc.stdin.write(line)
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process is gone; the next read gets its last words or EOF

    async def _read_frame(self) -> dict:
        try:
            raw = await self._proc.stdout.readline()
        except ValueError:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"the agent wrote a line longer than {MAX_LINE_BYTES // 1024} KiB")
        if not raw:
            raise AgentFailure(AGENT_CRASHED, await self._death_detail())
        if len(raw.rstrip(b"\n")) > MAX_LINE_BYTES:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"the agent wrote a line longer than {MAX_LINE_BYTES // 1024} KiB")
        snippet = raw[:_SNIPPET_CHARS].decode("utf-8", "replace").rstrip("\n")
        try:
            frame = json.loads(raw)
        except ValueError:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"the agent wrote a line that is not JSON: {snippet!r}")
        if not isinstance(frame, dict) or len(frame) != 1:
            raise AgentFailure(AGENT_BAD_RESPONSE, f"the agent wrote an unexpected line: {snippet!r}")
        return frame

    def _unwrap(self, frame: dict) -> dict:
        if isinstance(frame.get("response"), dict):
            return frame["response"]
        if isinstance(frame.get("bad_response"), str):
            raise AgentFailure(AGENT_BAD_RESPONSE, frame["bad_response"])
        crash = frame.get("crashed")
        if isinstance(crash, dict):
            raise AgentFailure(AGENT_CRASHED, self._crash_detail(crash))
        snippet = json.dumps(frame)[:_SNIPPET_CHARS]
        raise AgentFailure(AGENT_BAD_RESPONSE, f"the agent wrote an unexpected line: {snippet!r}")

    def _crash_detail(self, crash: dict) -> str:
        kind, message = str(crash.get("type", "Exception")), str(crash.get("message", ""))
        where = "while loading the agent file" if crash.get("where") == "load" else "in act()"
        head = f"{kind}: {message}" if message else kind
        if kind == "MemoryError":
            head = f"memory limit of {self.memory_mb} MiB reached {where} ({head})"
        else:
            head = f"{head} (raised {where})"
        parts = [head, "Traceback (most recent call last):\n" + str(crash.get("traceback", "")).rstrip()]
        tail = self._stderr_tail()
        if tail:
            parts.append(f"stderr:\n{tail}")
        return "\n".join(parts)

    async def _wait_exit(self, timeout: float = 2.0) -> int | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), timeout)
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 1)
        return self._proc.returncode

    async def _death_detail(self) -> str:
        code = await self._wait_exit()
        tail = self._stderr_tail()
        if code is None:
            status = "the agent closed its output but kept running"
        else:
            # bubblewrap exits with 128 + N when the sandboxed process was killed by signal N.
            signum = code - 128 if code > 128 else 0
            if signum == signal.SIGXCPU:
                status = f"the agent process was killed: CPU limit of {self.cpu_s} s reached (SIGXCPU)"
            elif signum == signal.SIGKILL:
                # Nothing else kills it while a step waits for its answer: the CPU hard limit (one second
                # past the soft one, if the agent ignored SIGXCPU) or the system's out-of-memory killer.
                status = f"the agent process was killed by SIGKILL (CPU limit of {self.cpu_s} s, or out of memory)"
            elif signum:
                try:
                    name = signal.Signals(signum).name
                except ValueError:
                    name = f"signal {signum}"
                status = f"the agent process was killed by {name}"
            else:
                status = f"the agent process exited with status {code}"
        if any(m in tail for m in ("MemoryError", "Cannot allocate memory", "out of memory")):
            status += f" (memory limit of {self.memory_mb} MiB reached)"
        return f"{status}\nstderr:\n{tail}" if tail else status

    def _stderr_tail(self) -> str:
        return bytes(self._stderr[-STDERR_TAIL_BYTES:]).decode("utf-8", "replace").strip()

    def _kill(self, reason: str) -> None:
        """Stop the process now (synchronously: this also runs on cancellation) and remember why."""
        if self._stopped is None:
            self._stopped = reason
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()


async def _drain(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Read the agent's stderr until EOF, keeping only its end, so a chatty agent never blocks on a full pipe.

    A plain function (not a method) so that the running task keeps no reference to the driver.
    """
    while chunk := await stream.read(65536):
        tail += chunk
        if len(tail) > 4 * STDERR_TAIL_BYTES:
            del tail[: -STDERR_TAIL_BYTES * 2]


def _is_ready(line: bytes) -> bool:
    try:
        return json.loads(line) == {"ready": True}
    except ValueError:
        return False


class _Leftovers:
    """What a driver must not leave behind: its process and its private directory. Holds no reference to
    the driver, so that it can be released when the driver is garbage-collected."""

    def __init__(self):
        self.proc: asyncio.subprocess.Process | None = None
        self.workdir: str | None = None

    def release(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                self.proc.kill()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _int_setting(config: dict, key: str, default: int, low: int, high: int) -> int:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise AgentFailure(AGENT_CRASHED, f"config {key} must be a number from {low} to {high}, not {value!r}")
    return int(value)


# The seccomp filter (classic BPF over struct seccomp_data). Per architecture: the audit arch and the
# numbers of socket, clone, clone3, io_uring_setup, and the fork/vfork calls where they exist.
_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "clone": 56, "clone3": 435, "io_uring_setup": 425, "fork": 57, "vfork": 58}),
    "aarch64": (0xC00000B7, {"socket": 198, "clone": 220, "clone3": 435, "io_uring_setup": 425}),
}
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO, _KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_EPERM, _EACCES, _ENOSYS = 1, 13, 38
_AF_UNIX, _CLONE_THREAD = 1, 0x00010000
_X32_SYSCALL_BIT = 0x40000000


def seccomp_program() -> bytes | None:
    """The compiled filter for this machine's architecture, or None where none is defined (the network
    namespace still isolates the agent there)."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit_arch, numbers = arch
    # Instructions as (code, jump-if-true label, jump-if-false label, k); labels are resolved below.
    code: list[tuple] = [
        (_LD_W_ABS, None, None, 4),  # seccomp_data.arch
        (_JEQ_K, None, "kill", audit_arch),
        (_LD_W_ABS, None, None, 0),  # seccomp_data.nr
    ]
    if platform.machine() == "x86_64":
        code.append((_JGE_K, "eperm", None, _X32_SYSCALL_BIT))
    code += [
        (_JEQ_K, "socket", None, numbers["socket"]),
        (_JEQ_K, "clone", None, numbers["clone"]),
        (_JEQ_K, "enosys", None, numbers["clone3"]),  # glibc falls back to clone, which is checked
        (_JEQ_K, "eperm", None, numbers["io_uring_setup"]),
    ]
    code += [(_JEQ_K, "eperm", None, numbers[name]) for name in ("fork", "vfork") if name in numbers]
    code.append((_RET_K, None, None, _ALLOW))  # none of the above
    # BPF jumps only forward: the argument checks come before the verdicts they jump to.
    blocks = {
        "socket": [(_LD_W_ABS, None, None, 16), (_JEQ_K, "allow", "eacces", _AF_UNIX)],  # args[0], low half
        "clone": [(_LD_W_ABS, None, None, 16), (_JSET_K, "allow", "eperm", _CLONE_THREAD)],
        "allow": [(_RET_K, None, None, _ALLOW)],
        "eperm": [(_RET_K, None, None, _ERRNO | _EPERM)],
        "eacces": [(_RET_K, None, None, _ERRNO | _EACCES)],
        "enosys": [(_RET_K, None, None, _ERRNO | _ENOSYS)],
        "kill": [(_RET_K, None, None, _KILL_PROCESS)],
    }
    positions = {}
    for name, block in blocks.items():
        positions[name] = len(code)
        code += block
    out = bytearray()
    for index, (op, jt, jf, k) in enumerate(code):
        # Jumps are relative to the next instruction; None means fall through.
        jt_offset = positions[jt] - index - 1 if jt else 0
        jf_offset = positions[jf] - index - 1 if jf else 0
        out += struct.pack("=HBBI", op, jt_offset, jf_offset, k)
    return bytes(out)
