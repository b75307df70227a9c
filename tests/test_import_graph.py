"""The shape of the code, read from its imports (docs/architecture.md draws it).

Every import statement in rmserve/, service/ and models/ counts, wherever it stands (module level, inside a
function, under TYPE_CHECKING): a lazy import is still a dependency. The graph's nodes are modules; an
import of a package's submodule counts as an edge to that submodule, and a module's own parent packages
(which Python imports first anyway) are not edges.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection, Iterator
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rmserve", "service", "models")
# The one sanctioned crossing: the deprecated alias re-exports the client for one release.
CLIENT_ALIAS = "service.client"
# What the client may import outside itself: the standard library and httpx (its only dependency).
CLIENT_THIRD_PARTY = frozenset({"httpx"})
# ... and, inside a function only, what a trainer adapter's caller always has: OpenRLHF's reward function
# returns torch tensors.
CLIENT_LAZY_THIRD_PARTY = {"rmserve.openrlhf": frozenset({"torch"})}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path = REPO_ROOT) -> dict[str, Path]:
    return {_module_name(path, root): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}


def _imported_names(path: Path, modules: Collection[str] = (), module_level_only: bool = False) -> Iterator[str]:
    """Every absolute dotted name an import statement of `path` imports: `import a.b` -> a.b;
    `from a import b` -> a.b when that is one of `modules`, else a. With `module_level_only`, only the
    statements that run when the module is imported (not those inside its functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in _module_level(tree) if module_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (the house uses absolute ones)"
            assert node.module is not None
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in modules else node.module


def _module_level(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes of `tree` that run when the module is imported: all but the bodies of functions."""
    for node in ast.iter_child_nodes(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node
            yield from _module_level(node)


@cache
def import_graph(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """module -> the project modules it imports, for the tree at `root`."""
    modules = _modules(root)
    return {
        name: {
            imported
            for imported in _imported_names(path, modules)
            if imported in modules and imported != name and not name.startswith(imported + ".")
        }
        for name, path in modules.items()
    }


def third_party_imports(module: str, module_level_only: bool = False) -> set[str]:
    """Top-level names of what `module` imports from outside the project and the standard library (with
    `module_level_only`, the imports that run when it is imported, not those inside its functions)."""
    names = _imported_names(_modules()[module], module_level_only=module_level_only)
    tops = {name.partition(".")[0] for name in names}
    return {top for top in tops if top not in sys.stdlib_module_names and top not in PACKAGES and top != "__future__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None when it has none (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step) :], step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph[step])))
    return None


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    # service.cli.serve imports uvicorn and the app inside run(), models.evaluate the torch model inside a
    # function: both must be in the graph, or the checks below would pass on a blind graph.
    assert "service.app" in graph["service.cli.serve"]
    assert "models.torch_model" in graph["models.evaluate"]
    assert "rmserve.sync_client" in graph["rmserve.trl"]
    # rmserve.openrlhf imports torch inside reward_func: seen, and told apart from a module-level import
    assert third_party_imports("rmserve.openrlhf") == {"torch"}
    assert third_party_imports("rmserve.openrlhf", module_level_only=True) == set()
    assert third_party_imports("rmserve.sync_client", module_level_only=True) == {"httpx"}


def test_a_circle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    # The shape of the circle models/ had: default_model -> train -> evaluate -> export -> default_model,
    # closed by an import inside a function.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "evaluate.py").write_text("from models import export\n")
    (tmp_path / "models" / "export.py").write_text("def gate():\n    from models.evaluate import x\n")
    (tmp_path / "models" / "runtime.py").write_text("import numpy\n")
    graph = import_graph(tmp_path)
    assert graph["models.evaluate"] == {"models.export"} and graph["models.runtime"] == set()
    assert find_cycle(graph) == ["models.evaluate", "models.export", "models.evaluate"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_anywhere() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_client_imports_nothing_of_the_server_or_the_model_code() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if _in(module, "rmserve"):
            assert all(_in(t, "rmserve") for t in targets), f"{module} imports {sorted(targets)}"
            allowed = CLIENT_THIRD_PARTY | CLIENT_LAZY_THIRD_PARTY.get(module, frozenset())
            assert third_party_imports(module) <= allowed, f"{module}: {third_party_imports(module)}"
            at_import = third_party_imports(module, module_level_only=True)
            assert at_import <= CLIENT_THIRD_PARTY, f"{module} imports {at_import} when it is imported"


@pytest.mark.parametrize("package", ["service", "models"])
def test_the_server_and_the_model_code_never_import_the_client(package: str) -> None:
    # The CLI (service.cli: `rmserve score` is a client command) and the deprecated alias may; nothing else.
    for module, targets in import_graph().items():
        if _in(module, package) and not _in(module, "service.cli") and module != CLIENT_ALIAS:
            assert not any(_in(t, "rmserve") for t in targets), f"{module} imports the client: {sorted(targets)}"


def test_layers() -> None:
    """models/ knows nothing of the server; nothing of the server imports the command line."""
    for module, targets in import_graph().items():
        if _in(module, "models"):
            assert not any(_in(t, "service") for t in targets), f"{module} imports the server: {sorted(targets)}"
        if _in(module, "service") and not _in(module, "service.cli"):
            assert not any(_in(t, "service.cli") for t in targets), f"{module} imports the CLI: {sorted(targets)}"


def test_the_scoring_runtime_is_torch_free() -> None:
    # models.runtime is what the ONNX serving path scores through: it may import onnxruntime (lazily), never torch.
    graph = import_graph()
    reachable, todo = set(), ["models.runtime"]
    while todo:
        module = todo.pop()
        if module not in reachable:
            reachable.add(module)
            todo.extend(graph[module])
    heavy = {m: third_party_imports(m) & {"torch", "transformers", "onnx"} for m in reachable}
    assert not any(heavy.values()), heavy
