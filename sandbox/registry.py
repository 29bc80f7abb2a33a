"""The sandbox's sites, tasks and overlays, named in one place.

Each site or overlay module offers its values (a site object, ``TASKS``, ``OVERLAYS``) and registers nothing:
this module lists them, so what a suite can name is read here rather than discovered by importing a package.
The dicts keep the order the package import gave them before: tasks site by site, the shop's overlays before
the generic and the concurrent ones, and each module's in the order it defines them.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox import attacks, concurrency, overlays
from sandbox.sites import attacker, bank, forum, mail, shop, shop_tasks
from sandbox.sites.base import Site
from sandbox.spec import Overlay, OverlayType, Param, ScenarioError, Task


def _by_key(items, key: Callable, what: str) -> dict:
    found = {}
    for item in items:
        if key(item) in found:
            raise ScenarioError(f"{what} {key(item)!r} listed twice")
        found[key(item)] = item
    return found


SITES: dict[str, Site] = _by_key(
    [attacker.ATTACKER, bank.BANK, forum.FORUM, mail.MAIL, shop.SHOP], lambda s: s.host, "site"
)
TASKS: dict[str, Task] = _by_key(
    [*bank.TASKS, *forum.TASKS, *mail.TASKS, *shop.TASKS, *shop_tasks.TASKS], lambda t: t.id, "task"
)
_OVERLAY_TYPES: dict[str, OverlayType] = _by_key(
    [*shop.OVERLAYS, *attacks.OVERLAYS, *overlays.OVERLAYS, *concurrency.OVERLAYS], lambda o: o.name, "overlay"
)
OVERLAYS: dict[str, Callable[[dict], Overlay]] = {name: o.factory for name, o in _OVERLAY_TYPES.items()}
# The parameters each overlay reads from its own block of the scenario's params.
OVERLAY_PARAMS: dict[str, dict[str, Param]] = {name: o.params for name, o in _OVERLAY_TYPES.items()}
# The overlays that also read them next to the task's (OverlayType.flat).
FLAT_OVERLAYS: frozenset[str] = frozenset(name for name, o in _OVERLAY_TYPES.items() if o.flat)
