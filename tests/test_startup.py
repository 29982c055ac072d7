"""Start-up stays light without changing what is computed or drawn.

The timings themselves are measured by ``benchmarks/bench_startup.py`` (never asserted here); these
tests check the means: what ``import tokencost`` and ``tokencost --help`` leave unimported, that the
lazily imported public names are the real objects, that the fast YAML loader reads every shipped
preset as the Python loader does, and that the cached report template draws the same figure.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest
import yaml
from plotly.subplots import make_subplots

import tokencost
from tokencost.report import theme
from tokencost.report.figures import base
from tokencost.report.figures.plot import Plot, attach_theme
from tokencost.scenario.catalog import read_preset_yaml

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pydantic", "yaml", "pandas", "plotly", "typer", "rich", "pyarrow")


def _imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_import_tokencost_imports_none_of_the_heavy_libraries():
    assert _imported_after("import tokencost") == []


def test_first_use_of_a_public_name_imports_its_module():
    assert "numpy" in _imported_after("import tokencost; tokencost.evaluate")


def test_help_imports_only_typer():
    code = (
        "import contextlib, io, runpy\nsys.argv = ['tokencost', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_path('_tokencost_entry.py', run_name='__main__')"
    )
    # typer itself may load rich to format the help (typer 0.16 does, newer ones load it lazily)
    assert [name for name in _imported_after(code) if name != "rich"] == ["typer"]


def test_the_quick_start_run_writes_its_report_without_pandas(tmp_path):
    # the run page's curves are numpy Tables (tokencost.sweep.table); pandas (and pyarrow with it)
    # is for library users and the sweep, so the README's quick start never imports it
    report = tmp_path / "report.html"
    code = (
        "import contextlib, io, runpy\n"
        f"sys.argv = ['tokencost', 'run', 'scenarios/chat-llama3-8b-h100.yaml', '-o', {str(report)!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_path('_tokencost_entry.py', run_name='__main__')"
    )
    imported = _imported_after(code)
    assert report.stat().st_size > 100_000  # the page was written (plotly.js inline), and with it
    assert "plotly" in imported  # the figures: the probe sees what the run imported
    assert "pandas" not in imported and "pyarrow" not in imported


LAZY = sorted(set(tokencost.__all__) - {"__version__", "PresetNotFoundError", "ScenarioError"})


@pytest.mark.parametrize("name", LAZY)
def test_each_public_name_is_the_object_of_its_module(name):
    where = {**tokencost._LAZY, "plan": "tokencost.plan.planner"}
    module = importlib.import_module(where.get(name, "tokencost.errors"))
    assert getattr(tokencost, name) is getattr(module, name)


def test_plan_stays_the_function_once_its_subpackage_is_imported():
    # the import system binds a loaded subpackage on its parent: tokencost.plan is also a package
    code = "import tokencost, tokencost.plan.records; print(tokencost.plan.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "tokencost.plan.planner"


def test_public_names_are_listed_by_dir_and_an_unknown_name_raises():
    assert set(tokencost.__all__) <= set(dir(tokencost))
    with pytest.raises(AttributeError, match="no_such_name"):
        tokencost.no_such_name  # noqa: B018


def _preset_texts() -> list[tuple[str, str]]:
    folder = resources.files("tokencost.scenario") / "presets"
    texts = []
    for entry in folder.iterdir():
        items = list(entry.iterdir()) if entry.is_dir() else [entry]
        texts += [
            (item.name, item.read_text(encoding="utf-8")) for item in items if item.name.endswith(".yaml")
        ]
    return texts


def test_fast_loader_reads_every_preset_as_the_python_loader_does():
    texts = _preset_texts()
    assert len(texts) > 50  # hardware, models, engines, prices, rental, calibration
    for name, text in texts:
        assert read_preset_yaml(text) == yaml.safe_load(text), name


def test_cached_template_draws_the_figure_update_layout_draws():
    expected = go.Figure()
    expected.update_layout(template=theme.TEMPLATE, title={"text": "t"}, height=470)
    for _ in range(2):  # the second figure comes from the cache
        assert base._base("t", height=470).to_plotly_json() == expected.to_plotly_json()


def test_a_figure_cannot_change_the_cached_template():
    figure = base._base("t")
    figure.layout.template.layout.font.size = 99  # any size the theme does not use
    assert base._base("t").layout.template.layout.font.size == theme.TEMPLATE["layout"]["font"]["size"]


def test_the_pair_of_panels_has_the_template_update_layout_gives_it():
    expected = make_subplots(rows=1, cols=2, subplot_titles=("l", "r"), horizontal_spacing=0.12)
    expected.update_layout(template=theme.TEMPLATE)
    assert (
        base._pairs("t", "l", "r").layout.template.to_plotly_json()
        == expected.layout.template.to_plotly_json()
    )


@pytest.mark.parametrize("default", [None, "plotly_white", "none", "plotly_white+presentation"])
def test_another_default_template_is_merged_as_plotly_merges_it(monkeypatch, default):
    monkeypatch.setattr(pio.templates, "default", default)
    expected = go.Figure()
    expected.update_layout(template=theme.TEMPLATE, title={"text": "t"}, height=470)
    assert base._base("t", height=470).to_plotly_json() == expected.to_plotly_json()


def _pairs_as_first_written(title: str, left: str, right: str) -> go.Figure:
    """The pair of panels the way plotly's own calls draw it (subplot titles, then restyled)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left, right), horizontal_spacing=0.12)
    attach_theme(figure)
    figure.update_layout(title={"text": title}, height=theme.FIGURE_HEIGHT_PX, margin={"t": 96})
    figure.update_annotations(font={"size": 13, "color": theme.MUTED}, xanchor="left", x=None)
    for index, annotation in enumerate(figure.layout.annotations):
        annotation.x = 0.0 if index == 0 else 0.56
    return figure


@pytest.mark.parametrize(("left", "right"), [("l", "r"), ("", "r"), ("l", ""), ("", "")])
def test_the_pair_of_panels_is_the_figure_plotlys_subplot_titles_draw(left, right):
    assert (
        base._pairs("t", left, right).to_plotly_json()
        == _pairs_as_first_written("t", left, right).to_plotly_json()
    )


def _with_a_trace_on_the_left(figure: go.Figure) -> go.Figure:
    figure.add_trace(go.Scatter(x=[1, 10], y=[1, 2]), row=1, col=1)
    return figure


def test_full_height_shapes_are_what_add_vline_and_add_vrect_draw():
    line = {"color": "red", "dash": "dot", "width": 1}
    expected, drawn = base._base("t"), base._base("t")
    expected.add_vline(x=3.0, line=line)
    base._full_height(drawn, {"type": "line", "x0": 3.0, "x1": 3.0, "line": line})
    assert drawn.to_plotly_json() == expected.to_plotly_json()
    # panels: the right one has no trace, so add_vline and add_vrect skip it (exclude_empty_subplots)
    expected = _with_a_trace_on_the_left(base._pairs("t", "l", "r"))
    drawn = _with_a_trace_on_the_left(base._pairs("t", "l", "r"))
    for col in (1, 2):
        expected.add_vrect(x0=2, x1=5, fillcolor="pink", line_width=0, row=1, col=col)
        expected.add_vline(x=2, line=line, row=1, col=col)
        rect = {"type": "rect", "x0": 2, "x1": 5, "fillcolor": "pink", "line_width": 0}
        base._full_height(drawn, rect, row=1, col=col)
        base._full_height(drawn, {"type": "line", "x0": 2, "x1": 2, "line": line}, row=1, col=col)
    assert drawn.to_plotly_json() == expected.to_plotly_json()
    assert [shape.xref for shape in drawn.layout.shapes] == ["x", "x"]


@pytest.mark.parametrize("default", ["none", "plotly_white+presentation", "registered-here"])
def test_a_default_template_plotly_does_not_ship_as_a_file_still_themes_the_plot(monkeypatch, default):
    # "none", combinations and registered templates are not JSON files in plotly's package data:
    # the plain-dict Plot reads them from plotly.io.templates, as a validated Figure does.
    if default == "registered-here":
        pio.templates[default] = go.layout.Template(layout={"font": {"size": 9}})
    monkeypatch.setattr(pio.templates, "default", default)
    try:
        expected = go.Figure()
        expected.update_layout(template=theme.TEMPLATE)
        assert Plot().to_dict()["layout"]["template"] == expected.to_plotly_json()["layout"]["template"]
    finally:
        if default == "registered-here":
            del pio.templates[default]
