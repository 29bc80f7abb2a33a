"""Runs inside the sandbox: loads the uploaded agent file and serves ``act`` calls, one JSON line each.

Started by :class:`runner.drivers.python.PythonAgent` as ``python -I -S harness.py AGENT_FILE MEMORY_BYTES
CPU_SECONDS FILE_BYTES OPEN_FILES``. Standard library only: the sandbox has nothing else.

Lines written on the protocol channel (the original stdout), one JSON object each:

- ``{"ready": true}`` once the interpreter runs, before the limits are set and the agent file is loaded;
- per request line read from stdin, exactly one of ``{"response": {...}}``, ``{"bad_response": "why"}`` or
  ``{"crashed": {"where", "type", "message", "traceback"}}``; a file that fails to load gets one ``crashed``
  line (``where`` = ``"load"``) and the harness exits.

The agent's ``print()`` (and anything written to file descriptor 1) goes to stderr, so only the harness
writes on the protocol channel.
"""

import gc
import importlib.util
import inspect
import json
import os
import resource
import sys
import traceback

HARNESS = os.path.abspath(__file__)
TRACEBACK_CHARS = 3000
# Memory set aside at start and released on a crash, so that a MemoryError can still be reported.
RESERVE = [bytearray(1 << 20)]


def protocol_channel():
    """Keep the original stdout for the protocol and point fd 1 and ``sys.stdout`` at stderr."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def set_limits(memory_bytes, cpu_seconds, file_bytes, open_files):
    # Hard limits too: without capabilities the agent cannot raise them again. One second of grace past
    # the CPU soft limit (SIGXCPU) before the kernel sends SIGKILL.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def crash_report(where, exc):
    """The exception's type, message and the traceback of the agent's code (harness and import frames dropped)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(f.filename) != HARNESS and not f.filename.startswith("<frozen ")
    ]
    lines = traceback.format_list(frames) if frames else []
    text = "".join(lines)
    if len(text) > TRACEBACK_CHARS:
        text = "...\n" + text[-TRACEBACK_CHARS:]
    return {
        "crashed": {
            "where": where,
            "type": type(exc).__name__,
            "message": str(exc)[:1000],
            "traceback": text,
        }
    }


def find_agent_class(module):
    """A class named ``Agent``; else the only class of the file that defines ``act``."""
    agent = getattr(module, "Agent", None)
    if isinstance(agent, type):
        return agent
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and obj.__module__ == module.__name__ and "act" in vars(obj)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise LookupError(f"several classes define act() ({names}); name the agent class Agent")
    raise LookupError("the file defines no class named Agent and no class with an act() method")


def load_agent(path):
    spec = importlib.util.spec_from_file_location("agent", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent"] = module
    spec.loader.exec_module(module)
    cls = find_agent_class(module)
    if not callable(getattr(cls, "act", None)):
        raise LookupError(f"class {cls.__name__} has no act() method")
    return cls()


def response_line(result):
    """The ``response`` line for what ``act`` returned, or a ``bad_response`` line saying what is wrong."""
    if isinstance(result, str):
        result = {"action": result, "thought": "", "usage": {}}
    if not isinstance(result, dict):
        problem = f"act() returned {type(result).__name__}; return a dict or an action string"
        return json.dumps({"bad_response": problem})
    try:
        return '{"response": ' + json.dumps(result, allow_nan=False) + "}"
    except (TypeError, ValueError, RecursionError) as exc:
        return json.dumps({"bad_response": f"act() returned a dict that is not JSON: {exc}"})


def main():
    agent_path = sys.argv[1]
    memory_bytes, cpu_seconds, file_bytes, open_files = (int(v) for v in sys.argv[2:6])
    channel = protocol_channel()

    def send(line):
        channel.write(line + "\n")
        channel.flush()

    send(json.dumps({"ready": True}))
    set_limits(memory_bytes, cpu_seconds, file_bytes, open_files)
    try:
        agent = load_agent(agent_path)
    except BaseException as exc:
        RESERVE.clear()
        send(json.dumps(crash_report("load", exc)))
        return 1
    loop = None
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError as exc:
            send(json.dumps({"bad_response": f"the harness got a request that is not JSON: {exc}"}))
            continue
        try:
            result = agent.act(request)
            if inspect.isawaitable(result):
                if loop is None:
                    import asyncio

                    loop = asyncio.new_event_loop()
                result = loop.run_until_complete(result)
            answer = response_line(result)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from the agent are crashes too
            RESERVE.clear()
            gc.collect()
            answer = json.dumps(crash_report("act", exc))
            traceback.clear_frames(exc.__traceback__)
            del exc
        send(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
