"""The tree keeps its layers: translation and file formats never import the deployments or Ray, no
two modules import each other (directly or around a loop), and every integration test is marked.

Imports are read from the source (ast), lazy ones inside functions included: a cycle hidden in a
function body still loads two modules in an order nobody chose. Imports under `if TYPE_CHECKING:`
are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "deployments", "cluster")
# Layer -> top-level names it must never import.
PURE = {
    "app.translate": ("deployments", "ray", "app.api", "app.batch"),
    "app.files": ("deployments", "ray", "app.api", "app.batch"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports (a `from pkg import name` of a submodule counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules
            )
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    files = {(_module_name(p)): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    raw = {name: _imports(path, set(files)) for name, path in files.items()}
    internal = {name: {m for m in deps if m in files and m != name} for name, deps in raw.items()}
    return raw, internal


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_translation_and_file_formats_stay_below_the_serving_layers():
    raw, _ = _graph()
    bad = []
    for module, deps in raw.items():
        for layer, banned in PURE.items():
            if module == layer or module.startswith(layer + "."):
                bad += [f"{module} imports {d}" for d in deps if any(d == b or d.startswith(b + ".") for b in banned)]
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    _, internal = _graph()
    # A package's __init__ importing its own submodules is how a package exposes them, not a cycle.
    graph = {m: {d for d in deps if not (m.startswith(d + ".") and _is_package(d))} for m, deps in internal.items()}
    assert _cycles(graph) == []


def _is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file()


def test_the_layers_exist():
    # The test above passes vacuously if a layer is renamed; keep it honest.
    for layer in PURE:
        assert (ROOT / layer.replace(".", "/") / "__init__.py").is_file(), layer


def test_every_integration_test_file_is_marked():
    unmarked = [
        p.name
        for p in (ROOT / "tests" / "integration").glob("test_*.py")
        if "pytestmark = pytest.mark.integration" not in p.read_text(encoding="utf-8")
    ]
    assert unmarked == []
