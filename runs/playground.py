"""Playground sessions ("Open sandbox"): opened, capped and served through the database.

A session's World is rebuilt from its row (see sandbox.play), so any web process serves any session; each
process keeps the Worlds it served last, valid while the row's version has not moved.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from runs.models import PlaygroundSession, Scenario
from sandbox import play
from sandbox.scenarios import ScenarioInstance, build_scenario
from sandbox.sites.base import Request, Response
from sandbox.world import World

log = logging.getLogger(__name__)

_KEPT_WORLDS = 32
_SAVE_ATTEMPTS = 3


class PlaygroundFull(Exception):
    """Too many sessions are open: nothing was opened, and nobody's session was closed."""


class PlaygroundConflict(Exception):
    """The session kept changing in other processes during this request; nothing of the request was saved."""


@dataclass
class _Loaded:
    version: int
    world: World
    frozen: bytes


# One request at a time per process: a World must not be served twice at once, and the check-and-save of a
# version must see no other request of this process in between. Daphne runs sync views on one thread anyway.
_serving = threading.Lock()
_worlds: OrderedDict[str, _Loaded] = OrderedDict()


def _remember(token: str, loaded: _Loaded) -> None:
    _worlds[token] = loaded
    _worlds.move_to_end(token)
    while len(_worlds) > _KEPT_WORLDS:
        _worlds.popitem(last=False)


def _instance(scenario: Scenario, seed: int) -> ScenarioInstance:
    return build_scenario(
        key=scenario.key, task=scenario.task, overlays=list(scenario.overlays), params=dict(scenario.params), seed=seed
    )


def open_playground(user, scenario: Scenario, seed: int) -> str:
    """Open a fresh World of the scenario for the user; return the URL its sandbox starts at.

    The user keeps their newest ``GAUNTLET_PLAYGROUND_PER_USER`` sessions: opening one more closes their
    oldest. When ``GAUNTLET_PLAYGROUND_MAX`` sessions would be live, raises PlaygroundFull instead, having
    closed nothing. Raises ScenarioError when the scenario cannot be built.
    """
    instance = _instance(scenario, seed)
    token = secrets.token_urlsafe(18)
    now = timezone.now()
    PlaygroundSession.objects.filter(expires__lte=now).delete()
    session = PlaygroundSession.objects.create(
        token=token,
        owner=user,
        scenario=scenario,
        seed=seed,
        start_url=play.start_url(token, instance),
        expires=now + timedelta(seconds=settings.GAUNTLET_PLAYGROUND_TTL_S),
        state=play.freeze(instance.world),
    )
    # Insert first, then count: two opens at the same moment can only both be refused, never both exceed a cap.
    mine = PlaygroundSession.objects.filter(owner=user).order_by("-created", "-pk").values_list("pk", flat=True)
    closing = list(mine[settings.GAUNTLET_PLAYGROUND_PER_USER :])
    live = PlaygroundSession.objects.filter(expires__gt=now).count()
    if live - len(closing) > settings.GAUNTLET_PLAYGROUND_MAX:
        session.delete()
        soonest = PlaygroundSession.objects.order_by("expires").values_list("expires", flat=True).first() or now
        minutes = max(1, round((soonest - now).total_seconds() / 60))
        raise PlaygroundFull(
            f"All {settings.GAUNTLET_PLAYGROUND_MAX} sandboxes are in use. "
            f"One frees up within {minutes} minute{'s' if minutes != 1 else ''}; try again then."
        )
    PlaygroundSession.objects.filter(pk__in=closing).delete()
    with _serving:
        _remember(token, _Loaded(0, instance.world, session.state))
    return session.start_url


def serve_playground(user, token: str, request: Request) -> Response | None:
    """Serve a request of the user's browser in their session; None when it is unknown, expired or not theirs.

    The request's changes to the World are saved over the version it was served from; when another process
    saved first, the request is served again on the newer World (the stale copy is thrown away), so no change
    is lost or applied twice. Raises PlaygroundConflict after a few such races in a row.
    """
    with _serving:
        for _ in range(_SAVE_ATTEMPTS):
            session = (
                PlaygroundSession.objects.filter(token=token, owner=user, expires__gt=timezone.now())
                .select_related("scenario")
                .defer("state")
                .first()
            )
            if session is None:
                _worlds.pop(token, None)
                return None
            loaded = _worlds.get(token)
            if loaded is None or loaded.version != session.version:
                loaded = _load(session)
                if loaded is None:
                    return None
            try:
                response = play.serve(loaded.world, token, request)
                frozen = play.freeze(loaded.world)
            except BaseException:
                _worlds.pop(token, None)  # the World may be half-changed
                raise
            if frozen == loaded.frozen:
                _remember(token, loaded)
                return response
            saved = PlaygroundSession.objects.filter(pk=session.pk, version=loaded.version).update(
                version=F("version") + 1, state=frozen
            )
            if saved:
                _remember(token, _Loaded(loaded.version + 1, loaded.world, frozen))
                return response
            _worlds.pop(token, None)
        raise PlaygroundConflict("This sandbox is changing in another tab. Reload the page.")


def _load(session: PlaygroundSession) -> _Loaded | None:
    """The session's World as its row has it now, or None (session closed) when it no longer rebuilds."""
    row = PlaygroundSession.objects.filter(pk=session.pk).values_list("version", "state").first()
    if row is None:
        return None
    version, state = row[0], bytes(row[1])
    try:
        world = play.thaw(_instance(session.scenario, session.seed), state)
    except play.PlaygroundLost:
        log.warning("playground %s no longer rebuilds from its scenario; closing it", session.pk, exc_info=True)
        PlaygroundSession.objects.filter(pk=session.pk).delete()
        return None
    return _Loaded(version, world, state)
