"""The accessibility-tree snapshot an observation carries, read once for every reader.

The runner builds each step's observation from Playwright's ``aria_snapshot(mode="ai")``; this module turns
that snapshot into the flat ``elements`` list of the agent contract (:func:`parse_elements`) and into the
line-by-line :class:`Snapshot` every reader of one observation shares (:func:`snapshot_of`, parsed once): the
runner's ref checks and observation views, and the built-in baselines (:mod:`sandbox.baselines`).

Standard library only: no Django, no Playwright, so the baselines and the runner's light modules can import it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

# One snapshot item: a role (or "text", "/url", ...) and the rest of the line.
_ITEM = re.compile(r"^(?P<role>[A-Za-z/][\w/-]*)(?P<rest>.*)$", re.S)
_ATTRIBUTE = re.compile(r"\s*\[(?P<key>[\w-]+)(?:=(?P<value>[^\]]*))?\]")


def _read_quoted(text: str) -> tuple[str, str]:
    """Split a leading double-quoted (JSON-style escaped) string off ``text``: (value, remainder)."""
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            literal = text[: index + 1]
            try:
                return json.loads(literal), text[index + 1 :]
            except ValueError:
                return literal[1:-1], text[index + 1 :]
        index += 1
    return text[1:], ""


def _unquote_value(value: str) -> str:
    """A YAML scalar as the snapshot writes it: plain, "double-quoted" or 'single-quoted'."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _split_single_quoted(text: str) -> tuple[str, str]:
    """Split a leading YAML 'single-quoted' scalar (``''`` is a quote) off ``text``: (value, remainder)."""
    index = 1
    while index < len(text):
        if text[index] == "'":
            if text[index + 1 : index + 2] == "'":
                index += 2
                continue
            return text[1:index].replace("''", "'"), text[index + 1 :]
        index += 1
    return text[1:], ""


def _parse_line(line: str) -> dict | None:
    """Parse one snapshot line into ``{role, name, attrs, text}``, or None if it is not an item line.

    The snapshot is YAML: an item whose key holds YAML-special characters (``#``, ``: ``) is written as a
    single-quoted key, e.g. ``- 'heading "Order #1" [level=1] [ref=e5]'``, with any value after it.
    """
    stripped = line.lstrip()
    if not stripped.startswith("- "):
        return None
    body = stripped[2:]
    if body.startswith("'"):
        key, suffix = _split_single_quoted(body)
        match = _ITEM.match(key)
        if not match:
            return None
        role, rest = match["role"], match["rest"] + suffix
    else:
        match = _ITEM.match(body)
        if not match:
            return None
        role, rest = match["role"], match["rest"]
    name = ""
    if rest.startswith(' "'):
        name, rest = _read_quoted(rest[1:])
    attrs: dict[str, str] = {}
    while attribute := _ATTRIBUTE.match(rest):
        attrs[attribute["key"]] = attribute["value"] if attribute["value"] is not None else ""
        rest = rest[attribute.end() :]
    text = ""
    if rest.startswith(":"):
        text = _unquote_value(rest[1:])
    return {"role": role, "name": name, "attrs": attrs, "text": text}


@dataclass(frozen=True, slots=True)
class SnapshotLine:
    """One line of a snapshot: its text, its indentation, and what it says if it is an item line."""

    raw: str
    indent: int
    item: dict | None  # {role, name, attrs, text}, or None for a line that is not an item
    element: dict | None  # the line's entry of ``elements`` when the item carries a ref, else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An ``aria_snapshot(mode="ai")`` string read once: its lines, its ref'd elements, its texts and refs.

    Shared by every reader of one observation (the runner's ref checks, the built-in baselines and their
    solutions), so nothing may change it: the element dicts are handed out as they are.
    """

    lines: tuple[SnapshotLine, ...]
    elements: tuple[dict, ...]
    texts: tuple[str, ...]  # every name and value, in page order, URLs left out (see page_texts)
    refs: frozenset[str]

    def nested(self, index: int) -> tuple[SnapshotLine, ...]:
        """The lines nested under line ``index``: those after it that are indented deeper."""
        indent, end = self.lines[index].indent, index + 1
        while end < len(self.lines) and self.lines[end].indent > indent:
            end += 1
        return self.lines[index + 1 : end]


@functools.lru_cache(maxsize=128)
def parse_snapshot(axtree: str) -> Snapshot:
    """The :class:`Snapshot` of ``axtree``, parsed once per distinct string: every later call for the same
    text (the other readers of the same step's observation, however many) returns the same object.

    ``parse_snapshot.cache_info().misses`` counts the parses. Never raises on odd input.
    """
    lines, elements, texts = [], [], []
    for raw in axtree.splitlines():
        item = _parse_line(raw)
        element = None
        if item is not None:
            if "ref" in item["attrs"]:
                element = {"ref": item["attrs"]["ref"], "role": item["role"], "name": item["name"]}
                element["text"] = item["text"]
                elements.append(element)
            if item["role"] != "/url":
                texts.extend(value for value in (item["name"], item["text"]) if value)
        lines.append(SnapshotLine(raw, len(raw) - len(raw.lstrip()), item, element))
    refs = frozenset(e["ref"] for e in elements)
    return Snapshot(tuple(lines), tuple(elements), tuple(texts), refs)


def snapshot_of(observation: dict) -> Snapshot:
    """The parsed snapshot of an observation (of its ``axtree``; empty when it has none)."""
    return parse_snapshot(observation.get("axtree") or "")


def parse_elements(axtree: str) -> list[dict]:
    """The elements of an ``aria_snapshot(mode="ai")`` string that carry a ``[ref=...]``, in page order.

    Each is ``{"ref": "e12", "role": "button", "name": "No thanks", "text": ""}``: ``name`` is the quoted
    accessible name (unescaped) or ""; ``text`` is the value after the line's trailing ``: `` (unquoted), or
    "" when the line has children instead. Lines without a ref (``- text: ...``, ``- /url: ...``) are left
    out. Never raises on odd input: a line it cannot read is skipped. The list and its dicts are the
    caller's own; readers of a whole observation use :func:`snapshot_of`, which parses it once for all.
    """
    return [dict(element) for element in parse_snapshot(axtree or "").elements]
