"""Imports point down: models import no services, and no module or service subpackage imports its importers.

Read from the source (every import, also those inside functions), so a
circle that Python happens to survive at start-up fails here too.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "backups_app"
# The entry points above the services (and the admin's template tags); nothing below them may import them.
ENTRY_POINTS = ("backups_app.admin", "backups_app.api", "backups_app.console_site", "backups_app.management",
                "backups_app.forms",
                "backups_app.views", "backups_app.tasks", "backups_app.templatetags")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in APP.rglob("*.py") if "migrations" not in p.parts}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("backups_app"):
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("backups_app")}
        graph[name] = found - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of nodes that reach each other (Tarjan's strongly connected components, without recursion)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next((w for w in edges if w in graph), None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[:2] == ["backups_app", "services"] and len(parts) > 2 else None


def test_no_module_imports_a_module_that_imports_it():
    assert circles(import_graph()) == []


def test_no_service_subpackage_imports_one_that_imports_it():
    graph = {}
    for module, imported in import_graph().items():
        if subpackage(module):
            graph.setdefault(subpackage(module), set()).update(
                subpackage(m) for m in imported if subpackage(m) not in (None, subpackage(module)))
    assert circles(graph) == []


def test_models_import_no_services():
    upward = {(m, i) for m, imported in import_graph().items() if m.startswith("backups_app.models")
              for i in imported if i.startswith("backups_app.services")}
    assert upward == set()


def test_nothing_below_the_entry_points_imports_them():
    upward = {(m, i) for m, imported in import_graph().items() if not m.startswith(ENTRY_POINTS)
              for i in imported if i.startswith(ENTRY_POINTS)}
    assert upward == set()
