"""Writing an episode's trace (``gauntlet.trace/v2``, docs/trace-format.md): stamped events and their content.

Every event gets the trace version and a wall-clock timestamp (ISO 8601, UTC, milliseconds, ``Z``). Content
an event carries (what the agent was sent: the accessibility tree, the DOM text, the elements, screenshots)
is described by a *content object*: its ``ref`` (``"sha256:<hex>"`` of its bytes), ``size`` and
``media_type``, plus the text itself under ``text`` when it is text of at most :data:`INLINE_LIMIT` bytes.
Anything else is a *blob*: reported once per episode as ``emit("blob", {"sha256", "media_type", "data"})``
for the caller to store under its hash, so a run's blobs are kept (and bundled) once however many steps or
episodes saw the same page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from runner.types import TRACE_VERSION

# Text up to this many UTF-8 bytes is written into the event; longer text, and every image, is a blob.
INLINE_LIMIT = 1024
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
JPEG = "image/jpeg"
# The fields of an observation event that hold content objects (or None).
CONTENT_FIELDS = ("axtree", "dom", "elements", "screenshot", "set_of_marks", "browsergym")


def timestamp() -> str:
    """Now, as the trace writes it: ``2026-12-03T06:37:07.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Tracer:
    """One episode's trace: events go to ``emit("trace", ...)``, new blobs to ``emit("blob", ...)``."""

    def __init__(self, emit: Callable[[str, Any], None]):
        self._emit = emit
        self._blobs: set[str] = set()  # the hashes this episode has reported already

    def event(self, kind: str, fields: dict) -> None:
        self._emit("trace", {"v": TRACE_VERSION, "ts": timestamp(), "type": kind, **fields})

    def content(self, value: str | bytes | None, media_type: str = TEXT) -> dict | None:
        """The content object of ``value`` (None stays None), reporting its blob the first time it is seen."""
        if value is None:
            return None
        data = value.encode() if isinstance(value, str) else value
        digest = hashlib.sha256(data).hexdigest()
        described = {"ref": f"sha256:{digest}", "size": len(data), "media_type": media_type}
        if isinstance(value, str) and len(data) <= INLINE_LIMIT:
            described["text"] = value
        elif digest not in self._blobs:
            self._blobs.add(digest)
            self._emit("blob", {"sha256": digest, "media_type": media_type, "data": data})
        return described

    def observation(self, sent: dict, fields: frozenset[str]) -> dict:
        """The content of an agent request's ``observation`` (runner.observation.agent_observation): the
        fields it sent, each a content object or None when the agent version did not ask for it."""
        image = sent.get("screenshot"), sent.get("set_of_marks")
        elements = json.dumps(sent["elements"], ensure_ascii=False, separators=(",", ":"))
        browsergym = sent.get("browsergym")
        if browsergym is not None:
            browsergym = json.dumps(browsergym, ensure_ascii=False, separators=(",", ":"))
        return {
            "fields": sorted(fields),
            "axtree": self.content(sent.get("axtree")),
            "dom": self.content(sent.get("dom")),
            "elements": self.content(elements, JSON),
            "screenshot": self.content(base64.b64decode(image[0]) if image[0] else None, JPEG),
            "set_of_marks": self.content(base64.b64decode(image[1]) if image[1] else None, JPEG),
            "browsergym": self.content(browsergym, JSON),
        }


def blob_refs(event: dict) -> list[str]:
    """The hashes of the blobs a trace event refers to (its content objects without inline text)."""
    if event.get("type") != "observation":
        return []
    found = (event.get(name) for name in CONTENT_FIELDS)
    return [c["ref"].removeprefix("sha256:") for c in found if isinstance(c, dict) and "text" not in c]
