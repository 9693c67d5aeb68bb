"""The layout's rules, checked on the source: no import cycle, Beam only where the layout says.

DESIGN (README, Development): everything outside transforms/beam/ and the
file helpers in transforms/io/files.py is pure functions over Arrow
batches, testable without Beam; pipelines/ are the drivers.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGES = ("pipelines", "transforms", "configs")
# Where `import apache_beam` may appear: the Beam wrappers, the one file-system module, the drivers.
BEAM_ALLOWED = ("transforms/beam/", "transforms/io/files.py", "pipelines/")
# The one module that must run code before winnow's own imports: the command's entry point sets the garbage
# collector's thresholds, then imports the CLI (every other module imports winnow at the top).
LATE_IMPORT_ALLOWED = ("pipelines/entry.py",)


def _modules() -> dict[str, Path]:
    out = {}
    for top in PACKAGES:
        for path in (REPO_ROOT / top).rglob("*.py"):
            rel = path.relative_to(REPO_ROOT).with_suffix("")
            name = "winnow." + ".".join(rel.parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at function level) for every import in a file, TYPE_CHECKING blocks aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in nested) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, id(node) in nested))
            found += [(f"{node.module}.{a.name}", id(node) in nested) for a in node.names]
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def test_no_import_cycle_among_winnow_modules():
    modules = _modules()
    graph = {m: {r for imp, _ in _imports(p) if (r := _resolve(imp, modules)) and r != m} for m, p in modules.items()}
    # Tarjan's strongly connected components: a component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert len(modules) > 40 and sum(map(len, graph.values())) > 100  # the walk saw the package
    assert cycles == []


def test_no_function_level_import_of_winnow_modules():
    """Function-level imports are for optional heavy dependencies, never for winnow's own modules."""
    late = [
        f"{path.relative_to(REPO_ROOT)}: {imp}"
        for path in _modules().values()
        if path.relative_to(REPO_ROOT).as_posix() not in LATE_IMPORT_ALLOWED
        for imp, nested in _imports(path)
        if nested and imp.startswith("winnow")
    ]
    assert late == []
    (entry,) = [REPO_ROOT / p for p in LATE_IMPORT_ALLOWED]
    assert {imp for imp, _ in _imports(entry) if imp.startswith("winnow")} == {
        "winnow.pipelines.cli",
        "winnow.pipelines.cli.main",
    }


def test_apache_beam_is_imported_only_where_the_layout_says():
    offenders = []
    for path in _modules().values():
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith(BEAM_ALLOWED):
            continue
        if any(imp == "apache_beam" or imp.startswith("apache_beam.") for imp, _ in _imports(path)):
            offenders.append(rel)
    assert offenders == []


def test_the_checkout_links_the_top_level_folders_into_the_winnow_package():
    for top in PACKAGES:
        link = REPO_ROOT / "winnow" / top
        assert link.is_symlink() and link.resolve() == (REPO_ROOT / top).resolve()
