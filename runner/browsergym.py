"""The ``browsergym`` observation option: BrowserGym's observation keys, in BrowserGym's shapes, with refs as bids.

An agent built on BrowserGym or AgentLab reads ``obs["axtree_object"]``, ``obs["extra_element_properties"]``,
``obs["focused_element_bid"]``, ``obs["chat_messages"]`` and the rest. With this option the request's
``observation.browsergym`` holds those keys (JSON, so BrowserGym's one-element arrays are one-element lists),
and every element BrowserGym would give a ``bid`` carries Gauntlet's ``ref`` instead: the ``browsergym_id``
of an accessibility-tree node, the keys of ``extra_element_properties``, ``focused_element_bid``.

BrowserGym marks the document (``bid`` attributes, ARIA roledescriptions) before it reads it; Gauntlet never
changes a page it observes. So the page is read as it is, in one pass over a CDP session: one evaluate, in
the isolated world where Playwright keeps each element's ref, walks the main frame's document and reads each
ref'd element's box, visibility and path in the document; the path finds the element's node in CDP's DOM
tree, whose backend node id is what the accessibility tree's nodes and the DOM snapshot's nodes name.
``dom_object`` is CDP's DOM snapshot, as BrowserGym takes it, with BrowserGym's marking attributes (``bid``
and the rest) added to the snapshot's copy of each ref'd element, never to the page. Elements inside
iframes keep their refs in ``axtree`` and ``elements`` but are not in this view (their nodes are not in the
main frame's tree). ``screenshot`` (an RGB array there) is left out: the ``screenshot`` option sends the JPEG.
"""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from runner.observation import MARK_ROLES, main_frame_refs

# The name Playwright gives the isolated world where it keeps each element's ref (an ``_ariaRef`` property
# of the element in that world). Resolving refs one by one (``aria-ref=``) costs a round trip each, about
# 1 ms; reading them there costs one evaluate for the whole page.
_PLAYWRIGHT_WORLD = "__playwright_utility_world_"
# BrowserGym's DOM snapshot request, and the attributes its marking leaves on elements.
_DOM_SNAPSHOT = {"computedStyles": [], "includeDOMRects": True, "includePaintOrder": True}
BID_ATTRIBUTE = "bid"
VISIBILITY_ATTRIBUTE = "browsergym_visibility_ratio"
SET_OF_MARKS_ATTRIBUTE = "browsergym_set_of_marks"


async def read_browsergym(page: Page, elements: list[dict]) -> dict:
    """The page's part of the ``browsergym`` view: ``axtree_object``, ``extra_element_properties`` and
    ``focused_element_bid``, for the snapshot's ``elements`` just taken.

    Never changes the page. Raises PlaywrightError when the document goes away meanwhile (Playwright's world
    of the main frame missing is taken for that: the snapshot was just taken there).
    """
    refs = main_frame_refs(elements)
    marked = [e["ref"] for e in elements if e["role"] in MARK_ROLES]
    session = await page.context.new_cdp_session(page)
    try:
        contexts: list[dict] = []
        session.on("Runtime.executionContextCreated", lambda event: contexts.append(event["context"]))
        # Existing contexts are announced before this returns.
        frames, _ = await asyncio.gather(session.send("Page.getFrameTree"), session.send("Runtime.enable"))
        main = frames["frameTree"]["frame"]["id"]
        world = next(
            (
                c["id"]
                for c in contexts
                if c.get("auxData", {}).get("frameId") == main and c.get("name", "").startswith(_PLAYWRIGHT_WORLD)
            ),
            None,
        )
        if world is None:
            raise PlaywrightError("the main frame's Playwright world is gone: navigated meanwhile")
        arguments = json.dumps({"refs": refs, "marked": marked})
        read, tree, document, dom = await asyncio.gather(
            session.send(
                "Runtime.evaluate",
                {"expression": f"({_PROPERTIES_JS})({arguments})", "contextId": world, "returnByValue": True},
            ),
            session.send("Accessibility.getFullAXTree"),
            session.send("DOM.getDocument", {"depth": -1, "pierce": True}),
            session.send("DOMSnapshot.captureSnapshot", _DOM_SNAPSHOT),
        )
    finally:
        await asyncio.gather(session.detach(), return_exceptions=True)
    if "exceptionDetails" in read:
        details = read["exceptionDetails"]
        raise PlaywrightError(details.get("exception", {}).get("description") or details.get("text", "evaluate failed"))
    read = read["result"]["value"]
    backend_ids = _backend_ids(document["root"])
    ref_of = {backend_ids[tuple(path)]: ref for ref, path in read["paths"].items() if tuple(path) in backend_ids}
    nodes = tree["nodes"]
    for node in nodes:
        ref = ref_of.get(node.get("backendDOMNodeId"))
        if ref is not None:
            node["browsergym_id"] = ref
    properties = read["properties"]
    _mark_snapshot(dom, ref_of, properties)
    return {
        "dom_object": dom,
        "axtree_object": {"nodes": nodes},
        "extra_element_properties": properties,
        "focused_element_bid": read["focused"],
    }


def _mark_snapshot(dom: dict, ref_of: dict[int, str], properties: dict[str, dict]) -> None:
    """Give the DOM snapshot's ref'd elements BrowserGym's marking attributes, as if the page had carried them
    (BrowserGym writes them into the page before its snapshot; here they go into the snapshot only), and set
    each ref's ``clickable`` from Chromium's own ``isClickable`` (click listeners included), as BrowserGym
    does; a ref whose element the snapshot does not have stays not clickable."""
    strings = dom["strings"]
    index: dict[str, int] = {}

    def string(value: str) -> int:
        if value not in index:
            index[value] = len(strings)
            strings.append(value)
        return index[value]

    for document in dom["documents"]:
        nodes = document["nodes"]
        clickable = set(nodes.get("isClickable", {}).get("index", []))
        for position, (backend, attributes) in enumerate(zip(nodes["backendNodeId"], nodes["attributes"], strict=True)):
            ref = ref_of.get(backend)
            if ref is None or ref not in properties:
                continue
            found = properties[ref]
            found["clickable"] = position in clickable
            attributes += [string(BID_ATTRIBUTE), string(ref)]
            attributes += [string(VISIBILITY_ATTRIBUTE), string(f"{found['visibility']:g}")]
            attributes += [string(SET_OF_MARKS_ATTRIBUTE), string("1" if found["set_of_marks"] else "0")]


def _backend_ids(root: dict) -> dict[tuple, int]:
    """The backend node id of every element of CDP's document tree, by its path: the element's index among
    its parent's element children at each level, ``"s"`` for a step into a page's (not the browser's own)
    shadow root. The same path :data:`_PROPERTIES_JS` writes for an element, so the two meet on it."""
    found: dict[tuple, int] = {}
    stack: list[tuple[tuple, dict]] = [((), root)]
    while stack:
        path, node = stack.pop()
        for shadow in node.get("shadowRoots", []):
            if shadow.get("shadowRootType") != "user-agent":
                stack.append(((*path, "s"), shadow))
        children = [child for child in node.get("children", []) if child.get("nodeType") == 1]
        for index, child in enumerate(children):
            found[(*path, index)] = child["backendNodeId"]
            stack.append(((*path, index), child))
    return found


def browsergym_view(observation: dict) -> dict:
    """The request's ``observation.browsergym`` object, in the order of BrowserGym's observation.

    ``observation`` is what :func:`runner.browser.observe` returned (with ``browsergym`` read) plus what the
    episode adds: ``goal``, ``chat_messages`` (the goal as the user's first message, then the agent's
    messages), ``elapsed_time`` (seconds since the episode began), ``last_action``, ``last_action_error``.
    """
    tabs, page = observation["tabs"], observation["browsergym"]
    return {
        "chat_messages": observation["chat_messages"],
        "goal_object": [{"type": "text", "text": observation["goal"]}],
        "open_pages_urls": [tab["url"] for tab in tabs],
        "open_pages_titles": [tab["title"] for tab in tabs],
        "active_page_index": [next((i for i, tab in enumerate(tabs) if tab["active"]), 0)],
        "url": observation["url"],
        "dom_object": page["dom_object"],
        "axtree_object": page["axtree_object"],
        "extra_element_properties": page["extra_element_properties"],
        "focused_element_bid": page["focused_element_bid"],
        "last_action": observation.get("last_action") or "",
        "last_action_error": observation.get("last_action_error") or "",
        "elapsed_time": [round(observation["elapsed_time"], 3)],
    }


# Runs in Playwright's isolated world of the main frame, where page scripts cannot see it; reads the document,
# changes nothing. Only elements whose ref is one of the snapshot's own (``refs``) are read.
# BrowserGym's meanings: visibility is the share of the element's box inside the viewport (an
# IntersectionObserver's ratio there), bbox is [x, y, width, height] in viewport CSS pixels or null for an
# element that is not rendered, set_of_marks whether the element is marked on the set-of-marks image.
# clickable is left to the DOM snapshot (_mark_snapshot), which sees click listeners.
_PROPERTIES_JS = r"""
({refs, marked}) => {
  const wanted = new Set(refs);
  const marks = new Set(marked);
  const width = window.innerWidth, height = window.innerHeight;
  const properties = {}, paths = {}, refOf = new Map();
  // Depth first through the document and its open shadow roots, with each element's path ("s": into a
  // shadow root; a number: the index among the parent's element children).
  const stack = [[document, []]];
  while (stack.length) {
    const [node, path] = stack.pop();
    if (node.shadowRoot) stack.push([node.shadowRoot, [...path, "s"]]);
    const children = node.children;
    for (let index = 0; index < children.length; index++) {
      const element = children[index], at = [...path, index];
      stack.push([element, at]);
      const ref = element._ariaRef && element._ariaRef.ref;
      if (!ref || !wanted.has(ref)) continue;
      const rendered = element.getClientRects().length > 0;
      const rect = element.getBoundingClientRect();
      const shown = rendered && element.checkVisibility({visibilityProperty: true});
      const area = rect.width * rect.height;
      const inside = Math.max(0, Math.min(rect.right, width) - Math.max(rect.left, 0))
        * Math.max(0, Math.min(rect.bottom, height) - Math.max(rect.top, 0));
      const visibility = shown && area > 0 ? Math.round(inside / area * 100) / 100 : 0;
      properties[ref] = {
        visibility,
        bbox: rendered ? [rect.x, rect.y, rect.width, rect.height] : null,
        clickable: false,
        set_of_marks: marks.has(ref) && visibility > 0,
      };
      paths[ref] = at;
      refOf.set(element, ref);
    }
  }
  let focused = document.activeElement;
  while (focused && focused.shadowRoot && focused.shadowRoot.activeElement) focused = focused.shadowRoot.activeElement;
  return {properties, paths, focused: (focused && refOf.get(focused)) || ""};
}
"""
