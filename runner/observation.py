"""What an agent version sees each step: its observation options and the views they add to the snapshot.

An agent version's config key ``observation`` lists the fields it wants, out of :data:`OBSERVATION_FIELDS`;
without the key it gets ``["axtree"]``. Whatever it asks for, the runner always takes the ARIA snapshot (the
refs, ``elements`` and the observation digest come from it); the options only decide what is sent:

- ``axtree``: Playwright's AI-mode ARIA snapshot, with ``[ref=…]`` on every element it names.
- ``dom``: a pruned, indented text of the visible document, with ``[ref=…]`` on elements the snapshot named.
- ``screenshot``: a JPEG of the viewport, base64.
- ``set_of_marks``: the same JPEG with a box and the ref drawn on every visible element worth acting on.
- ``browsergym``: BrowserGym's observation keys in BrowserGym's shapes, refs as bids (:mod:`runner.browsergym`).

Neither view changes the page. ``dom`` resolves each ref to an element handle (concurrently) and walks the
document in one ``evaluate``; ``set_of_marks`` takes the snapshot again with Playwright's ``boxes`` option
and draws those boxes on the screenshot with Pillow. Both use the main frame's refs only: elements inside
iframes keep their refs in ``axtree`` and ``elements`` but are not marked in ``dom`` or on the image.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from playwright.async_api import ElementHandle, Page

from runner.axtree import parse_snapshot

OBSERVATION_FIELDS = ("axtree", "dom", "screenshot", "set_of_marks", "browsergym")
DEFAULT_OBSERVATION = frozenset({"axtree"})
DOM_TEXT_LIMIT = 40_000
DOM_REF_LIMIT = 500
MARKS_JPEG_QUALITY = 70

# Roles an agent acts on or navigates by; structural ones (generic, list, paragraph…) would bury the image.
MARK_ROLES = frozenset(
    {
        "button",
        "checkbox",
        "combobox",
        "heading",
        "link",
        "listbox",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "option",
        "radio",
        "searchbox",
        "slider",
        "spinbutton",
        "switch",
        "tab",
        "textbox",
        "treeitem",
    }
)
_REF = re.compile(r"(f\d+|)e\d+")
_BOX = re.compile(r" \[box=(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)\]")
_PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_FIELDS_TEXT = ", ".join(OBSERVATION_FIELDS)


def validate_observation_options(value: Any) -> list[str]:
    """The problems with a version's ``observation`` value, as messages for a form; ``[]`` when it is valid.

    Valid is a non-empty list of distinct fields out of :data:`OBSERVATION_FIELDS`.
    """
    if not isinstance(value, list):
        return [f"observation must be a list of fields out of {_FIELDS_TEXT}, not {type(value).__name__}"]
    if not value:
        return [f"observation must list at least one field out of {_FIELDS_TEXT}"]
    problems, seen = [], set()
    for item in value:
        if item not in OBSERVATION_FIELDS:
            problems.append(f"unknown observation field {item!r}; choose from {_FIELDS_TEXT}")
        elif item in seen:
            problems.append(f"observation field {item!r} is listed twice")
        else:
            seen.add(item)
    return problems


def observation_options(config: dict) -> frozenset[str]:
    """The fields the version asked for: its ``observation`` list, or ``{"axtree"}`` when absent or null.

    Raises ValueError on an invalid list: the dashboard validates versions, so one here is a bug to see.
    """
    value = config.get("observation")
    if value is None:
        return DEFAULT_OBSERVATION
    problems = validate_observation_options(value)
    if problems:
        raise ValueError("; ".join(problems))
    return frozenset(value)


def agent_observation(observation: dict, options: frozenset[str]) -> dict:
    """The request's ``observation`` object: every key of the contract, null for the fields not asked for.

    ``observation`` is what :func:`runner.browser.observe` returned plus ``last_action``,
    ``last_action_error`` and ``notices`` (and, with ``browsergym``, the whole view in its place:
    :func:`runner.browsergym.browsergym_view`).
    """
    return {
        "url": observation["url"],
        "title": observation["title"],
        "tabs": observation["tabs"],
        "axtree": observation["axtree"] if "axtree" in options else None,
        "dom": observation.get("dom") if "dom" in options else None,
        "elements": observation["elements"],
        "screenshot": observation.get("screenshot") if "screenshot" in options else None,
        "set_of_marks": observation.get("set_of_marks") if "set_of_marks" in options else None,
        "browsergym": observation.get("browsergym") if "browsergym" in options else None,
        "last_action": observation.get("last_action"),
        "last_action_error": observation.get("last_action_error"),
        "notices": observation.get("notices", []),
    }


async def read_dom(page: Page, elements: list[dict]) -> str:
    """The pruned text of the visible document, with ``[ref=…]`` on the elements of the snapshot.

    ``elements`` come from the snapshot just taken, so their refs are the page's current ones. Each ref of
    the main frame, up to :data:`DOM_REF_LIMIT`, is resolved to an element handle (concurrently; a ref that
    no longer resolves is left unmarked), one evaluate walks the document, and the handles are released.
    The text is at most about :data:`DOM_TEXT_LIMIT` characters. Never changes the page. Raises
    PlaywrightError when the document goes away meanwhile.
    """
    roles = {e["ref"]: e["role"] for e in elements}
    # One handle per ref is what this view costs; past the limit, refs an agent acts on come first.
    refs = sorted(main_frame_refs(elements), key=lambda ref: roles[ref] not in MARK_ROLES)[:DOM_REF_LIMIT]
    found = await asyncio.gather(*(page.query_selector(f"aria-ref={ref}") for ref in refs), return_exceptions=True)
    pairs = [[handle, ref] for handle, ref in zip(found, refs, strict=True) if isinstance(handle, ElementHandle)]
    try:
        return await page.evaluate(_DOM_JS, {"pairs": pairs, "limit": DOM_TEXT_LIMIT})
    finally:
        await asyncio.gather(*(handle.dispose() for handle, _ in pairs), return_exceptions=True)


def mark_boxes(axtree: str, boxed: str) -> list[tuple[str, float, float, float, float]]:
    """``(ref, x, y, width, height)`` of the elements worth marking, in snapshot order.

    ``boxed`` is the same snapshot taken again with ``boxes=True``: each of its item lines is the line of
    ``axtree`` with `` [box=x,y,w,h]`` (viewport CSS pixels) inserted where the key ends. Reading the box at
    exactly that place, instead of searching the line for it, keeps text on the page from posing as a box.
    A line that changed between the two snapshots gets no box. Only main-frame elements of
    :data:`MARK_ROLES` are kept: boxes inside an iframe are relative to the iframe.
    """
    snapshot = parse_snapshot(axtree)
    main = set(main_frame_refs(snapshot.elements))
    boxes = []
    for line, line_boxed in zip(snapshot.lines, boxed.splitlines(), strict=False):
        element, line = line.element, line.raw
        if element is None or line == line_boxed:
            continue
        cut = len(os.path.commonprefix([line, line_boxed]))
        match = _BOX.match(line_boxed, cut)
        if not match or line_boxed[match.end() :] != line[cut:]:
            continue
        if element["ref"] in main and element["role"] in MARK_ROLES:
            boxes.append((element["ref"], *(float(value) for value in match.groups())))
    return boxes


def main_frame_refs(elements: list[dict] | tuple[dict, ...]) -> list[str]:
    # A ref is "e<n>", prefixed with "f<seq>" of its frame when that frame's number is not 0 (the main frame
    # can have one too). The snapshot starts with the main frame, so its first ref carries the main prefix;
    # an aria-ref of another frame would resolve in that frame.
    prefixes = [_REF.fullmatch(e["ref"]) for e in elements]
    main = prefixes[0].group(1) if prefixes and prefixes[0] else None
    return [e["ref"] for e, m in zip(elements, prefixes, strict=True) if m and m.group(1) == main]


def draw_marks(jpeg: bytes, boxes: list[tuple[str, float, float, float, float]], css_width: float) -> bytes:
    """The screenshot with a box and a ref label drawn for each of ``boxes`` that is on screen.

    ``css_width`` is the viewport's width in CSS pixels, to scale boxes to the image's pixels.
    """
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    scale = image.width / css_width if css_width else 1.0
    draw = ImageDraw.Draw(image)
    font = _label_font()
    placed = []
    for ref, x, y, width, height in boxes:
        x0, y0 = max(round(x * scale), 0), max(round(y * scale), 0)
        x1, y1 = min(round((x + width) * scale), image.width) - 1, min(round((y + height) * scale), image.height) - 1
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue  # off screen, or too small to see
        color = _PALETTE[len(placed) % len(_PALETTE)]
        draw.rectangle((x0, y0, x1, y1), outline=color, width=2)
        placed.append((ref, color, x0, y0))
    # Labels after every box, so no box is drawn across a label.
    for ref, color, x0, y0 in placed:
        left, top, right, bottom = font.getbbox(ref)
        label_w, label_h = right - left + 4, bottom - top + 4
        label_y = y0 - label_h if y0 >= label_h else y0
        draw.rectangle((x0, label_y, x0 + label_w, label_y + label_h), fill=color)
        draw.text((x0 + 2 - left, label_y + 2 - top), ref, fill="white", font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=MARKS_JPEG_QUALITY)
    return out.getvalue()


@functools.cache
def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=12)


# Runs in the page's main world on the resolved (element, ref) pairs; reads the document, changes nothing.
_DOM_JS = r"""
({pairs, limit}) => {
  const refOf = new Map(pairs);
  const SKIPPED = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "META", "LINK", "BASE", "BR", "HR"]);
  const OPAQUE = new Set(["svg", "iframe", "frame", "object", "embed", "canvas", "video", "audio", "math"]);
  const CONTROLS = new Set(["input", "textarea", "select", "button", "iframe"]);
  const WRAPPERS = new Set(["div", "span"]);
  const ATTRIBUTES = ["id", "name", "type", "role", "aria-label", "placeholder", "href", "alt", "title"];
  let size = 0, truncated = false;
  const clip = (text, n) => text.length > n ? text.slice(0, n) + "…" : text;
  const quote = (text) => JSON.stringify(clip(text, 200));

  const hidden = (element) => {
    if (element.hasAttribute("hidden") || element.getAttribute("aria-hidden") === "true") return true;
    if (element.tagName === "INPUT" && element.type === "hidden") return true;
    const style = getComputedStyle(element);
    return style.display === "none" || style.visibility === "hidden" || style.visibility === "collapse";
  };
  // The rendered (flat) tree: a shadow host shows its shadow root, a slot what is assigned to it.
  const children = (element) => {
    if (element.shadowRoot) return element.shadowRoot.childNodes;
    if (element.tagName === "SLOT") {
      const assigned = element.assignedNodes();
      if (assigned.length) return assigned;
    }
    return element.childNodes;
  };
  const describe = (element, tag) => {
    let line = tag;
    for (const name of ATTRIBUTES) {
      const value = element.getAttribute(name);
      if (value) line += ` ${name}=${quote(value)}`;
    }
    // The live value, not the attribute: what the agent or the user typed is what matters.
    const field = tag === "input" || tag === "textarea" || tag === "select";
    if (field && element.type !== "password" && element.value) line += ` value=${quote(element.value)}`;
    else if (tag === "option" && element.hasAttribute("value")) line += ` value=${quote(element.value)}`;
    if (element.checked === true) line += " checked";
    if (tag === "option" && element.selected) line += " selected";
    if (element.disabled === true || element.hasAttribute("disabled")) line += " disabled";
    return line;
  };

  // [depth, text] lines relative to the element. An element with nothing of its own and nothing inside is
  // left out; a div or span with nothing of its own gives its place to its children.
  const walk = (element) => {
    if (truncated || SKIPPED.has(element.tagName) || hidden(element)) return [];
    if (size > limit) { truncated = true; return []; }
    const tag = element.tagName.toLowerCase();
    const ref = refOf.get(element);
    const inner = [], texts = [];
    if (!OPAQUE.has(tag)) {
      for (const child of children(element)) {
        if (child.nodeType === Node.TEXT_NODE) {
          const text = clip((child.nodeValue || "").replace(/\s+/g, " ").trim(), 500);
          if (!text) continue;
          texts.push(text);
          inner.push([0, "text: " + text]);
          size += text.length + 8;
        } else if (child.nodeType === Node.ELEMENT_NODE) {
          for (const line of walk(child)) inner.push(line);
        }
      }
    }
    if (!ref && !inner.length && !CONTROLS.has(tag)) return [];
    let line = describe(element, tag);
    if (!ref && line === tag && !texts.length && WRAPPERS.has(tag)) return inner;
    if (ref) line += ` [ref=${ref}]`;
    const onlyText = texts.length > 0 && texts.length === inner.length;
    if (onlyText) line += ": " + texts.join(" ");
    size += line.length + 1;
    const lines = [[0, line]];
    if (!onlyText) for (const [depth, text] of inner) lines.push([depth + 1, text]);
    return lines;
  };
  const root = document.body || document.documentElement;
  let text = (root ? walk(root) : []).map(([depth, line]) => "  ".repeat(depth) + line).join("\n");
  if (truncated || text.length > limit) text = text.slice(0, limit) + "\n… (truncated)";
  return text;
}
"""
