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
    "to_frame",
}


def test_public_names_do_not_drift():
    assert PUBLIC <= set(tokencost.__all__)
    for name in tokencost.__all__:
        assert hasattr(tokencost, name), name


def test_import_tokencost_stays_light():
    code = (
        "import sys, tokencost; print(sorted(m for m in ('plotly', 'typer', 'pandas') if m in sys.modules))"
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
