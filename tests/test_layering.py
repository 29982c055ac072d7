"""The architecture holds: a light import, the model free of I/O libraries, a stable API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tokencost

PACKAGE = Path(tokencost.__file__).parent

PUBLIC = {
    "EfficiencySpec",
    "Evaluation",
    "HardwareSpec",
    "ModelSpec",
    "ParallelismSpec",
    "PrecisionSpec",
    "PresetNotFoundError",
    "Scenario",
    "ScenarioError",
    "SloSpec",
    "TokenCostError",
    "TokenCostWarning",
    "WorkloadSpec",
    "__version__",
    "deployment",
    "evaluate",
    "load_hf_config",
    "load_scenario",
    "plan",
    "simulate",
    "to_frame",
}


def test_public_names_do_not_drift():
    # Adding or removing a public name is a decision: change PUBLIC with it.
    assert set(tokencost.__all__) == PUBLIC
    assert len(tokencost.__all__) == len(PUBLIC)  # no name listed twice
    for name in tokencost.__all__:
        assert hasattr(tokencost, name), name


def test_import_tokencost_stays_light():
    code = (
        "import sys, tokencost; print(sorted(m for m in ('plotly', 'typer', 'pandas', 'pyarrow', 'rich', "
        "'dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0] if node.level == 0 else node.module)
    return names


def test_model_layer_does_no_io_and_imports_no_outer_layer():
    forbidden = {"pandas", "plotly", "typer", "yaml", "os", "pathlib", "io"}
    for path in (PACKAGE / "model").glob("*.py"):
        imports = imported_modules(path)
        assert not imports & forbidden, (path.name, imports & forbidden)
        source = path.read_text()
        for outer in ("tokencost.api", "tokencost.report", "tokencost.cli", "tokencost.results"):
            assert outer not in source, (path.name, outer)
        assert "print(" not in source, path.name


# The import graph ----------------------------------------------------------------------------------
# Rank of each top-level part of the package: a module may import only modules of a lower or equal
# rank (equal: inside one domain, or between the peers of one rank). The arrow of the data is
# scenario -> model -> sim / plan -> results -> report -> cli; the imports follow what each layer
# needs: the model is pure numbers and imports nothing of the package; results.py is the typed
# records every computing layer fills; api.py composes scenario and model into an Evaluation, and
# the simulator, planner, sweeps and machine checks build on it.
LAYERS: dict[str, int] = {
    "_version": 0,
    "errors": 0,
    "units": 0,
    "model": 1,
    "scenario": 2,
    "results": 3,
    "api": 4,
    "disaggregated_view": 4,
    "economics_view": 4,
    "prefix_view": 4,
    "records": 4,
    "vectorised": 4,
    "vectorised_view": 4,
    "vectorised_texts": 4,
    "loop": 5,
    "sim": 5,
    "plan": 6,
    "sweep": 6,
    "machine": 6,
    "accuracy": 6,
    "report": 7,
    "cli": 8,
    "": 9,  # tokencost/__init__.py: the curated public names
    "__main__": 9,
}

# The lead-owned modules that may exceed the size limit until they are split (see README).
LONG_MODULES_ALLOWED: frozenset[str] = frozenset()
MAX_MODULE_LINES = 420


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def import_edges(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules ``name`` imports at run time (in functions too; ``if TYPE_CHECKING`` not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node)
        for statement in node.body
        for child in ast.walk(statement)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from pkg import submodule` is an edge to the submodule
                if f"{module}.{alias.name}" in known:
                    edges.add(f"{module}.{alias.name}")
                elif module in known:
                    edges.add(module)
    edges.discard(name)
    return edges


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    known = set(paths)
    return {name: import_edges(path, name, known) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer(module: str) -> int:
    parts = module.split(".")
    assert parts[0] == "tokencost", module
    key = parts[1] if len(parts) > 1 else ""
    assert key in LAYERS, f"{module}: add its package to LAYERS in tests/test_layering.py"
    return LAYERS[key]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if layer(target) > layer(source)
    )


def test_the_checker_finds_a_cycle_and_an_upward_import(tmp_path):
    root = tmp_path / "tokencost"
    (root / "model").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "model" / "__init__.py").write_text("")
    (root / "model" / "a.py").write_text("def f():\n    from tokencost.model import b\n")
    (root / "model" / "b.py").write_text("from tokencost.model.a import f\n")
    (root / "api.py").write_text("from tokencost.model import a\n")
    (root / "units.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import tokencost.api\n")
    graph = import_graph(root)
    assert find_cycle(graph) in (
        ["tokencost.model.a", "tokencost.model.b", "tokencost.model.a"],
        ["tokencost.model.b", "tokencost.model.a", "tokencost.model.b"],
    )
    assert upward_imports(graph) == []  # api -> model points down; a TYPE_CHECKING import is not an edge
    (root / "model" / "b.py").write_text("import tokencost.api\n")  # the model importing the API
    graph = import_graph(root)
    assert upward_imports(graph) == ["tokencost.model.b -> tokencost.api"]
    assert find_cycle(graph) == ["tokencost.api", "tokencost.model.a", "tokencost.model.b", "tokencost.api"]


def test_no_import_cycle_between_modules():
    assert find_cycle(import_graph(PACKAGE)) is None


def test_imports_point_down_the_layers():
    assert upward_imports(import_graph(PACKAGE)) == []


def test_every_package_has_a_layer():
    for name in import_graph(PACKAGE):
        layer(name)


def test_no_module_is_over_the_size_limit():
    long = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {path: lines for path, lines in long.items() if lines > MAX_MODULE_LINES}
    assert set(over) <= LONG_MODULES_ALLOWED, over
