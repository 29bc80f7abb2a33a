"""Try it yourself: a scenario's sandbox opened in a person's own browser, through the dashboard.

The dashboard forwards ``/play/<token>/<host>/<path>`` to :func:`sandbox.server.dispatch` against the
session's World, and rewrites the sites' URLs (absolute ``http://*.gauntlet.test/…`` and root-relative
``/…``) so every link and form stays inside ``/play/<token>/``. The person sees the same pages, overlays
included, that an agent sees.

A session outlives any one web process: :func:`freeze` turns what a session changed into bytes the dashboard
stores, and :func:`thaw` rebuilds the World from a fresh ``build_scenario`` of the same (scenario, seed) plus
those bytes, in any process. Keeping sessions (who owns them, for how long, how many) is the dashboard's.
"""

from __future__ import annotations

import pickle
import re

from sandbox.scenarios import ScenarioInstance
from sandbox.server import SANDBOX_DOMAIN, dispatch
from sandbox.sites.base import Request, Response
from sandbox.world import WalRecord, World, WorldError

_ABSOLUTE = re.compile(r"http://([a-z0-9.-]+\." + re.escape(SANDBOX_DOMAIN) + r")(?=[/\"'?#\s<]|$)", re.I)
_ROOT_RELATIVE = re.compile(r"""(\b(?:href|action|src)=["'])/(?!/)""", re.I)


class PlaygroundLost(Exception):
    """A frozen session that does not rebuild into the World it was (the sites' seed or code changed)."""


def start_url(token: str, instance: ScenarioInstance) -> str:
    return f"/play/{token}/{instance.site.host}{instance.task.start_path}"


def freeze(world: World) -> bytes:
    """What the World's session changed since it was built, as bytes for :func:`thaw`.

    That is the WAL, and the episode's bookkeeping that is not site state: the overlays' flags and events,
    and each overlay's own attributes that can be pickled (its random generator, a cached stale page). The
    unpicklable ones (callables made at construction) are rebuilt identically from the scenario. The bytes
    are pickles: store them only where nobody but the dashboard writes.
    """
    overlays = []
    for overlay in world.overlays:
        kept = {}
        for name, value in vars(overlay).items():
            try:
                kept[name] = pickle.dumps(value)
            except (pickle.PicklingError, TypeError, AttributeError):
                continue
        overlays.append(kept)
    return pickle.dumps(
        {
            "wal": [record.as_dict() for record in world.wal],
            "flags": world.flags,
            "events": world.events,
            "overlays": overlays,
            "digest": world.digest(),
        }
    )


def thaw(instance: ScenarioInstance, frozen: bytes) -> World:
    """The session's World, rebuilt on a fresh instance of its scenario; PlaygroundLost if it rebuilds differently."""
    data = pickle.loads(frozen)
    world = instance.world
    try:
        world.redo([WalRecord.from_dict(record) for record in data["wal"]])
    except WorldError as exc:
        raise PlaygroundLost(str(exc))
    if world.digest() != data["digest"] or len(data["overlays"]) != len(world.overlays):
        raise PlaygroundLost("the World rebuilt from its scenario is not the one the session saved")
    world.flags = data["flags"]
    world.events = data["events"]
    for overlay, kept in zip(world.overlays, data["overlays"], strict=True):
        for name, value in kept.items():
            setattr(overlay, name, pickle.loads(value))
    return world


def serve(world: World, token: str, request: Request) -> Response:
    """Serve one request of the person's browser against the session's World, its URLs kept in the playground."""
    return rewrite(dispatch(world, request), token, request.host)


def rewrite(response: Response, token: str, host: str) -> Response:
    """Keep links, forms and redirects inside ``/play/<token>/``."""
    prefix = f"/play/{token}/"
    headers = []
    for name, value in response.headers:
        if name.lower() == "location":
            value = _ABSOLUTE.sub(lambda m: prefix + m[1], value)
            if value.startswith("/") and not value.startswith(prefix):
                value = f"{prefix}{host}{value}"
        headers.append((name, value))
    body = response.body
    if isinstance(body, str) and response.content_type.startswith("text/html"):
        # Root-relative first: the absolute rewrite produces root-relative URLs that are already final.
        body = _ROOT_RELATIVE.sub(lambda m: f"{m[1]}{prefix}{host}/", body)
        body = _ABSOLUTE.sub(lambda m: prefix + m[1], body)
    return Response(body, status=response.status, headers=headers, content_type=response.content_type)
