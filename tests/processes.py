"""The processes a worker started, read from /proc: its descendants and which of them are Chromium browsers."""

from __future__ import annotations

from pathlib import Path


def _parents() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def chromium_browsers(pid: int) -> list[int]:
    """Chromium browser processes below ``pid``: a Chromium binary without ``--type=`` (its renderers,
    zygotes and utilities all carry one, some in a command line rewritten into one string)."""
    browsers = []
    for child in descendants(pid):
        argv = command_line(child)
        if argv and Path(argv[0]).name in ("chromium", "chrome") and not any("--type=" in a for a in argv):
            browsers.append(child)
    return browsers


def renderers(pid: int) -> list[int]:
    """Chromium renderer processes below ``pid``: one per page of a context at least."""
    return [child for child in descendants(pid) if any("--type=renderer" in a for a in command_line(child))]


def playwright_drivers(pid: int) -> list[int]:
    """Playwright driver processes (node running Playwright's cli.js) below ``pid``."""
    return [
        child
        for child in descendants(pid)
        if (argv := command_line(child)) and Path(argv[0]).name == "node" and any("playwright" in a for a in argv)
    ]


def niceness(pid: int, tid: int | None = None) -> int | None:
    """The CPU niceness of process ``pid`` (or of its thread ``tid``), None if it is gone."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        return int(Path(path).read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, IndexError, ValueError):
        return None


def thread_niceness(pid: int) -> set[int | None]:
    """The niceness of every thread of process ``pid``."""
    return {niceness(pid, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()}
