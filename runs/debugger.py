"""What the episode page shows beyond the episode's rows: its checkpoint tree, drawn compactly, its neighbours
in the run, and what the agent saw at a step (read back from the episode's trace and its blobs)."""

from __future__ import annotations

import difflib
import json

from django.core.files.storage import default_storage

from runs.models import Episode
from runs.selectors import STATUS_FILTERS
from runs.services import blob_name


def tree_branches(roots: list[dict]) -> list[dict]:
    """checkpoint_tree's nodes as branches, for drawing compactly: ``[{"nodes": [node, ...], "forks":
    [branch, ...]}]``. A branch is a chain of checkpoints each with one child, drawn as one column; where a
    checkpoint has several children (a backtrack started another path) its children's branches are drawn side
    by side. A linear episode is one column however many steps it has."""

    def branch(node: dict) -> dict:
        chain = [node]
        while len(chain[-1]["children"]) == 1:
            chain.append(chain[-1]["children"][0])
        return {"nodes": chain, "forks": [branch(child) for child in chain[-1]["children"]]}

    return [branch(root) for root in roots]


# Diff lines shown between two observations at most (a whole new page is summed up beyond that).
DIFF_MAX_LINES = 400


def _trace_content(run_id: int, content: dict | None) -> str | None:
    """The text of a trace v2 content object (inline, or its blob), None when it is absent or gone."""
    if not content:
        return None
    if "text" in content:
        return content["text"]
    try:
        with default_storage.open(blob_name(run_id, content["ref"].removeprefix("sha256:")), "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, OSError):
        return None


def step_observation(episode: Episode, index: int) -> dict | None:
    """What the agent was sent at step ``index`` (from the episode's stored trace.jsonl v2 and its blobs) and
    how the page changed since its previous step: ``{"step", "agent", "url", "title", "fields", "axtree",
    "dom", "elements", "diff": [unified diff lines of the accessibility tree], "previous_step"}``. None when
    the episode has no trace (yet: it is written when the episode ends) or the trace has no such step (v1)."""
    if not episode.trace_path:
        return None
    try:
        with default_storage.open(episode.trace_path, "rb") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, OSError):
        return None
    observations = {}
    for line in lines:
        if b'"observation"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "observation":
            observations[event.get("step")] = event
    event = observations.get(index)
    if event is None or "fields" not in event:
        return None
    agent = event.get("agent", 0)
    previous = max((i for i, e in observations.items() if i < index and e.get("agent", 0) == agent), default=None)
    axtree = _trace_content(episode.run_id, event.get("axtree"))
    elements = _trace_content(episode.run_id, event.get("elements"))
    before = _trace_content(episode.run_id, observations[previous].get("axtree")) if previous is not None else None
    diff = []
    if before is not None and axtree is not None:
        diff = list(difflib.unified_diff(before.splitlines(), axtree.splitlines(), "before", "after", n=1, lineterm=""))
        if len(diff) > DIFF_MAX_LINES:
            diff = diff[:DIFF_MAX_LINES] + [f"… {len(diff) - DIFF_MAX_LINES} more lines of difference"]
    return {
        "step": index,
        "agent": agent,
        "url": event.get("url"),
        "title": event.get("title"),
        "fields": event.get("fields", []),
        "axtree": axtree,
        "dom": _trace_content(episode.run_id, event.get("dom")),
        "elements": json.loads(elements) if elements else None,
        # The images as sent, by hash (runs:blob serves them).
        "images": {
            name: event[name]["ref"].removeprefix("sha256:")
            for name in ("screenshot", "set_of_marks")
            if isinstance(event.get(name), dict)
        },
        "previous_step": previous,
        "diff": diff,
    }


def episode_neighbours(episode: Episode, status: str | None = None) -> dict:
    """The run's previous and next episode (by id, as the run's table lists them), among those ``status``
    (a key of STATUS_FILTERS, e.g. failed) if given: ``{"prev": id or None, "next": id or None}``."""
    episodes = Episode.objects.filter(run_id=episode.run_id)
    if status in STATUS_FILTERS:
        episodes = episodes.filter(STATUS_FILTERS[status][0])
    prev = episodes.filter(pk__lt=episode.pk).order_by("-pk").values_list("pk", flat=True).first()
    following = episodes.filter(pk__gt=episode.pk).order_by("pk").values_list("pk", flat=True).first()
    return {"prev": prev, "next": following}


def checkpoint_tree(steps) -> list[dict]:
    """The episode's checkpoints as a tree (roots first): one node per step's checkpoint, each under the
    checkpoint the agent was at when it took the action that led there. A node records the action that
    led to it and whether the step it started went back (a backtrack or an auto-rollback) and where to.
    """
    nodes: dict[str, dict] = {}
    roots: list[dict] = []
    previous_by_agent: dict[int, dict] = {}
    for step in steps:
        tree = step.data.get("tree") or {}
        if not tree.get("checkpoint"):
            continue
        agent = step.data.get("agent_index", 0)
        before = previous_by_agent.get(agent)
        node = {
            "id": tree["checkpoint"],
            "step": step.index,
            "title": step.title,
            "url": step.url,
            "action": step.action,
            "error": step.error,
            "restore": tree.get("restore", ""),
            "to": tree.get("to"),
            "ok": tree.get("ok"),
            "reason": tree.get("reason", ""),
            "restored": tree.get("restored", False),
            "via": "",
            "back_from": "",
            "children": [],
        }
        if before is not None and before["restore"] and before["restored"]:
            node["back_from"] = before["id"]  # it hangs under the checkpoint the agent went back to
        elif before is not None:
            node["via"] = before["action"]
        nodes[node["id"]] = node
        parent = nodes.get(tree.get("parent") or "")
        (parent["children"] if parent is not None else roots).append(node)
        previous_by_agent[agent] = node
    return roots
