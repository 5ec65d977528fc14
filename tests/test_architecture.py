"""House rules that keep the layers apart: flows → tasks → fmnist, and one module owns mlflow."""

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
