"""The registry of sites, tasks and overlays, and the one-way imports it relies on.

The import graph is read from the source with ``ast``, imports inside functions included: a cycle that only a
lazy import hides still ties the modules together, and breaks when the lazy import is made eagerly.
"""

import ast
import subprocess
import sys
from pathlib import Path

import sandbox
from sandbox import attacks, concurrency, overlays, registry
from sandbox.sites import bank, forum, mail, shop, shop_tasks

ROOT = Path(sandbox.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each sandbox module and the sandbox modules it imports, with the packages importing one runs first."""
    modules = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import"
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
                targets.add(node.module)
        edges = set()
        for target in targets:
            parts = target.split(".")
            edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        graph[name] = {m for m in edges if m in modules and m != name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_sandbox_modules_import_each_other_without_a_cycle():
    graph = _import_graph()
    cycles = sorted(name for name in graph if name in _reachable(graph, name))
    assert cycles == [], f"modules on an import cycle: {cycles}"


def test_imports_point_one_way_from_the_types_to_the_sites_and_overlays_to_the_registry_to_the_scenarios():
    graph = _import_graph()
    offering = [name for name in graph if name.startswith("sandbox.sites.")] + [
        attacks.__name__,
        overlays.__name__,
        concurrency.__name__,
    ]
    for name in offering:
        assert not {"sandbox.registry", "sandbox.scenarios"} & _reachable(graph, name), name
    assert "sandbox.scenarios" not in _reachable(graph, "sandbox.registry")
    from_types = _reachable(graph, "sandbox.spec")
    assert not (set(offering) - {"sandbox.sites.base"}) & from_types, from_types
    assert {"sandbox.registry", "sandbox.scenarios"}.isdisjoint(from_types)


def test_importing_the_scenarios_alone_gives_every_site_task_and_overlay():
    """Nothing to load first: a fresh interpreter that imports only ``sandbox.scenarios`` can build any scenario."""
    script = (
        "from sandbox import scenarios\n"
        "print(len(scenarios.SITES), len(scenarios.TASKS), len(scenarios.OVERLAYS))\n"
        "scenarios.build_scenario(key='k', task='forum.reply_thread', overlays=['concurrent:two_editors'])\n"
    )
    counts = subprocess.run([sys.executable, "-c", script], cwd=ROOT.parent, capture_output=True, text=True, check=True)
    assert counts.stdout.split() == [str(len(d)) for d in (registry.SITES, registry.TASKS, registry.OVERLAYS)]
    assert len(registry.SITES) == 5 and len(registry.TASKS) > 40 and len(registry.OVERLAYS) >= 20


def test_the_registry_keeps_each_module_s_order():
    """Site by site, then each module's tasks and overlays in the order it defines them, as suite errors and
    listings have always shown them."""
    assert list(registry.TASKS.values()) == [*bank.TASKS, *forum.TASKS, *mail.TASKS, *shop.TASKS, *shop_tasks.TASKS]
    assert list(registry.OVERLAYS) == [
        o.name for o in (*shop.OVERLAYS, *attacks.OVERLAYS, *overlays.OVERLAYS, *concurrency.OVERLAYS)
    ]
    assert list(registry.TASKS)[:2] == ["bank.pay_invoice", "bank.transfer_to_savings"]
    assert list(registry.OVERLAYS)[:4] == [
        "adversarial:review_injection",
        "noisy:checkout_503",
        "noisy:newsletter_popup",
        "adversarial:visible_injection",
    ]
    assert registry.OVERLAY_PARAMS["noisy:latency"].keys() == {"latency_ms", "latency_share"}
