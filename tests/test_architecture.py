"""House rules that keep the layers apart: cli → flows → tasks → fmnist, one package owns mlflow, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACKING_PACKAGE = ROOT / "fmnist" / "tracking"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_library_never_imports_prefect_flows_or_tasks() -> None:
    # The application (fmnist/cli) sits above flows and tasks and may import them.
    offenders = {
        str(p.relative_to(ROOT)): _imports(p) & {"prefect", "prefect_dask", "flows", "tasks"}
        for p in _sources("fmnist")
        if ROOT / "fmnist" / "cli" not in p.parents
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_tracking_module_imports_mlflow() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources("fmnist")
        if TRACKING_PACKAGE not in p.parents and "mlflow" in _imports(p)
    ]
    offenders += [
        str(p.relative_to(ROOT)) for pkg in ("tasks", "flows") for p in _sources(pkg) if "mlflow" in _imports(p)
    ]
    assert offenders == []


def test_tasks_never_import_flows() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _sources("tasks") if "flows" in _imports(p)]
    assert offenders == []


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, at any depth of the file (lazy imports count: they still cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found |= {name for name in names if name in modules}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (module → modules it imports), or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle_in_the_library() -> None:
    files = {_module(p): p for p in _sources("fmnist")}
    graph = {name: _project_imports(path, set(files)) - {name} for name, path in files.items()}
    # A package imports its own modules through its __init__; that is not a cycle of concepts.
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_the_product_imports_no_private_module_of_a_library() -> None:
    """No ``from typer._click ...`` or ``import prefect.server._x``: a private module changes without notice."""
    offenders = []
    for package in ("fmnist", "flows", "tasks"):
        for path in _sources(package):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                private = [n for n in names if any(part.startswith("_") for part in n.split(".")[1:])]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in private]
    assert offenders == []
