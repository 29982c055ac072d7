"""Plot: the run page's figures as plain dicts serialise as their validated plotly Figures do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.subplots import make_subplots

from tokencost import evaluate
from tokencost.report import figures, theme
from tokencost.report.figures.plot import Plot, bar, default_template, scatter
from tokencost.scenario.loading import load_scenario
from tokencost.sweep import curves as sweeps
from tokencost.sweep.uncertainty import sensitivity

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("chat-llama3-8b-h100", "llama3-70b-h100x8-tp8", "local-rtx4090-llama3-8b-int4")


def _json(figure: go.Figure | dict) -> object:
    """What the report's script holds of a figure (key order aside)."""
    return json.loads(pio.to_json(figure, validate=False))


def _plots(name: str) -> dict[str, Plot]:
    scenario = load_scenario(ROOT / f"scenarios/{name}.yaml")
    ev = evaluate(scenario)
    points = sweeps.roofline_points(scenario, ev)
    batch = sweeps.batch_sweep(scenario)
    return {
        "roofline": figures.roofline_plot(sweeps.roofline_frame(scenario, points=points), points),
        "phases": figures.phase_plot(sweeps.phase_breakdown(scenario, ev)),
        "load": figures.load_curve_plot(sweeps.load_curve(scenario), ttft_slo_s=0.5, tpot_slo_s=0.05),
        "output": figures.output_length_plot(
            sweeps.output_length_sweep(scenario), scenario_output_tokens=ev.output_tokens, ttft_slo_s=0.5
        ),
        "batch": figures.batch_plot(batch),
        "pareto": figures.pareto_plot(batch, tpot_slo_s=0.03),
        "temperature": figures.temperature_plot(sweeps.temperature_sweep()),
        "tornado": figures.tornado_plot(sensitivity(scenario)),
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_plot_serialises_as_its_validated_figure(name: str) -> None:
    """Plotly validates the Figure built from the dicts (a misspelt property raises) and
    serialises it with its own conversions (typed arrays, the default template): the dicts the
    report writes unvalidated must give the same JSON."""
    for label, plot in _plots(name).items():
        figure = plot.figure()
        assert isinstance(figure, go.Figure)
        assert _json(plot.to_dict()) == _json(figure), label


def test_the_plot_of_two_panels_is_what_make_subplots_and_plotly_methods_make() -> None:
    """Each Plot method against the plotly method it stands for, on a two-panel figure."""
    plot = Plot(panels=2)
    expected = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    plot.add_shape({"type": "line", "x0": 1, "x1": 1, "y0": 0, "y1": 1, "yref": "y domain"}, row=1, col=2)
    expected.add_shape(
        type="line", x0=1, x1=1, y0=0, y1=1, yref="y domain", row=1, col=2, exclude_empty_subplots=True
    )  # an empty panel: no shape
    for col in (1, 2):
        plot.add_trace(scatter(x=np.arange(3), y=[1.0, 2.0, 3.0]), row=1, col=col)
        expected.add_trace(go.Scatter(x=np.arange(3), y=[1.0, 2.0, 3.0]), row=1, col=col)
    plot.add_shape({"type": "rect", "x0": 1, "x1": 2, "y0": 0, "y1": 1, "yref": "y domain"}, row=1, col=2)
    expected.add_shape(
        type="rect", x0=1, x1=2, y0=0, y1=1, yref="y domain", row=1, col=2, exclude_empty_subplots=True
    )
    plot.add_hline(0.5, {"color": "red"}, col=2, annotation={"text": "T", "font": {"size": 12}})
    expected.add_hline(
        y=0.5, line={"color": "red"}, row=1, col=2, annotation_text="T", annotation_font={"size": 12},
        annotation_position="top left",
    )  # fmt: skip
    plot.update_xaxes(title={"text": "x"})
    expected.update_xaxes(title_text="x")
    plot.update_yaxes(type="log", row=1, col=1)
    expected.update_yaxes(type="log", row=1, col=1)
    expected.update_layout(template=theme.TEMPLATE)
    assert _json(plot.to_dict()) == _json(expected)


def test_a_plot_of_one_panel_with_bars_and_a_line() -> None:
    plot = Plot()
    expected = go.Figure()
    frame = pd.DataFrame({"name": ["a", "b"], "value": [1, 70000]})
    plot.add_trace(bar(x=frame["name"], y=frame["value"], marker={"color": theme.DECODE}))
    expected.add_trace(go.Bar(x=frame["name"], y=frame["value"], marker={"color": theme.DECODE}))
    plot.add_hline(2.0, {"dash": "dot"})
    expected.add_hline(y=2.0, line={"dash": "dot"})
    plot.update_layout(title={"text": "t"}, height=300)
    expected.update_layout(title_text="t", height=300, template=theme.TEMPLATE)
    assert _json(plot.to_dict()) == _json(expected)
    assert _json(plot.to_dict())["data"][0]["y"] == {"dtype": "i4", "bdata": "AQAAAHARAQA="}  # 1, 70000


def test_the_template_read_from_plotly_package_data_is_plotlys_own() -> None:
    template = go.Figure().update_layout(template=theme.TEMPLATE).layout.template.to_plotly_json()
    assert default_template(pio.templates.default) == template


def test_a_plot_has_one_or_two_panels() -> None:
    with pytest.raises(ValueError, match="one or two panels"):
        Plot(panels=3)
    with pytest.raises(ValueError, match="no panel 2"):
        Plot().add_trace(scatter(x=[1], y=[1]), row=1, col=2)
