"""Plot: the run page's figures as plain dicts serialise as their validated plotly Figures do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.subplots import make_subplots

from tokencost import evaluate
from tokencost.report import page, theme
from tokencost.report import run as run_page
from tokencost.report.figures.plot import Plot, bar, default_template, scatter
from tokencost.scenario.loading import load_scenario
from tokencost.sweep.uncertainty import with_uncertainty

PLOTLY_MAJOR = int(plotly.__version__.split(".")[0])

ROOT = Path(__file__).resolve().parents[1]


def _json(figure: go.Figure | dict) -> object:
    """What the report's script holds of a figure (key order aside)."""
    return json.loads(pio.to_json(figure, validate=False))


@pytest.mark.parametrize(
    "name",
    [
        "chat-llama3-8b-h100",  # the quick start: the eight figures of every run page
        "consumer-service-billions-of-tokens",  # priced: the economics figures
        "agent-multi-turn",  # a conversation: the turns figure
        "llama3-70b-h100x8-tp8",
    ],
)
def test_every_plot_of_a_run_page_serialises_as_its_validated_figure(name: str, monkeypatch) -> None:
    """Each figure the run page embeds is a Plot (written unvalidated). Plotly validates the
    Figure built from its dicts (a misspelt property raises) and serialises it with its own
    conversions (typed arrays, the default template): the dicts must give the same JSON."""
    embedded: list[tuple[str, object]] = []
    embed = page._Figures.embed

    def recording(self: page._Figures, figure: Plot, div_id: str) -> str:
        embedded.append((div_id, figure))
        return embed(self, figure, div_id)

    monkeypatch.setattr(page._Figures, "embed", recording)
    scenario = load_scenario(ROOT / f"scenarios/{name}.yaml")
    run_page.render_report(scenario, with_uncertainty(scenario, evaluate(scenario), 8), plotlyjs="cdn")
    assert len(embedded) >= 8
    for div_id, plot in embedded:
        assert isinstance(plot, Plot), div_id
        figure = plot.figure()
        assert isinstance(figure, go.Figure)
        assert _json(plot.to_dict()) == _json(figure), div_id


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
    typed = {"dtype": "i4", "bdata": "AQAAAHARAQA="}  # 1, 70000 as plotly 6 writes arrays; plotly 5 a list
    assert _json(plot.to_dict())["data"][0]["y"] == (typed if PLOTLY_MAJOR >= 6 else [1, 70000])


def test_the_template_read_from_plotly_package_data_is_plotlys_own() -> None:
    template = go.Figure().update_layout(template=theme.TEMPLATE).layout.template.to_plotly_json()
    assert default_template(pio.templates.default) == template


def test_a_plot_has_one_or_two_panels() -> None:
    with pytest.raises(ValueError, match="one or two panels"):
        Plot(panels=3)
    with pytest.raises(ValueError, match="no panel 2"):
        Plot().add_trace(scatter(x=[1], y=[1]), row=1, col=2)


def test_a_vertical_line_with_its_label_is_plotlys() -> None:
    plot = Plot()
    expected = go.Figure()
    plot.add_trace(scatter(x=[0.0, 100.0], y=[1.0, 2.0]))
    expected.add_trace(go.Scatter(x=[0.0, 100.0], y=[1.0, 2.0]))
    plot.add_vline(30.0, {"color": "red", "dash": "dash"}, annotation={"text": "break-even 30%"})
    expected.add_vline(x=30.0, line={"color": "red", "dash": "dash"}, annotation_text="break-even 30%")
    expected.update_layout(template=theme.TEMPLATE)
    assert _json(plot.to_dict()) == _json(expected)
