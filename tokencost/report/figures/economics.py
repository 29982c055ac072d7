"""Does the factory pay? The cost waterfall, margin against load, build vs buy (pure figures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokencost.report import theme
from tokencost.report.figures.base import _plot, _require
from tokencost.report.figures.plot import Plot, bar, scatter
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def waterfall_plot(parts: Table | pd.DataFrame) -> Plot:
    """$ per million output tokens by part, stacked to the total at this load.

    ``parts`` has columns ``part`` and ``usd_per_million_output_tokens`` (one row per part, in
    order: capex, financing, power, cooling, hosting, maintenance or rental, then idle capacity).
    """
    parts = Table.of(parts)
    _require(parts, ["part", "usd_per_million_output_tokens"], "waterfall_figure")
    values = parts["usd_per_million_output_tokens"].astype(float)
    figure = _plot("What a million output tokens cost, part by part")
    figure.add_trace(
        dict(
            type="waterfall",
            x=[*parts["part"], "total at this load"],
            y=[*values, float(values.sum())],
            measure=["relative"] * len(parts) + ["total"],
            text=[f"${value:.3g}" for value in [*values, float(values.sum())]],
            textposition="outside",
            increasing={"marker": {"color": theme.DECODE}},
            decreasing={"marker": {"color": theme.GOOD}},
            totals={"marker": {"color": theme.ROOF}},
            connector={"line": {"color": theme.GRID}},
            hovertemplate="%{x}: $%{y:.4g} per million output tokens<extra></extra>",
        )
    )
    figure.update_yaxes(title={"text": "USD per million output tokens"})
    figure.update_layout(showlegend=False)
    return figure


def waterfall_figure(parts: Table | pd.DataFrame) -> go.Figure:
    """:func:`waterfall_plot` as a plotly Figure."""
    return waterfall_plot(parts).figure()


def margin_plot(curve: Table | pd.DataFrame, *, break_even: float | None, operating: float | None) -> Plot:
    """Margin per day against the load (fraction of the fleet's capacity), break-even marked.

    ``curve`` has ``load_fraction`` and ``margin_usd_per_day``; ``break_even`` and ``operating`` are
    load fractions (None: not drawn).
    """
    curve = Table.of(curve)
    _require(curve, ["load_fraction", "margin_usd_per_day"], "margin_figure")
    figure = _plot("Margin against load: the fleet is paid for, busy or idle")
    figure.add_trace(
        scatter(
            x=curve["load_fraction"] * 100.0,
            y=curve["margin_usd_per_day"],
            mode="lines",
            name="margin per day",
            line={"color": theme.PREFILL, "width": 2},
            hovertemplate="%{x:.0f} % of capacity: $%{y:,.0f} a day<extra></extra>",
        )
    )
    figure.add_hline(0.0, {"color": theme.MUTED, "width": 1})
    if break_even is not None and 0.0 <= break_even <= 1.0:
        figure.add_vline(
            break_even * 100.0,
            {"color": theme.LIMIT, "dash": "dash"},
            annotation={"text": f"break-even {break_even:.0%}"},
        )
    if operating is not None:
        figure.add_vline(
            operating * 100.0, {"color": theme.GOOD}, annotation={"text": f"this load {operating:.0%}"}
        )
    figure.update_xaxes(title={"text": "Load (% of the fleet's capacity)"}, range=[0, 100])
    figure.update_yaxes(title={"text": "Margin (USD per day)"})
    return figure


def margin_figure(
    curve: Table | pd.DataFrame, *, break_even: float | None, operating: float | None
) -> go.Figure:
    """:func:`margin_plot` as a plotly Figure."""
    return margin_plot(curve, break_even=break_even, operating=operating).figure()


def build_vs_buy_plot(bars: Table | pd.DataFrame) -> Plot:
    """USD per day for the same tokens: serving them yourself against buying them from APIs.

    ``bars`` has ``option`` (label, already HTML-safe), ``usd_per_day`` and ``kind`` (``"own"``,
    ``"api"`` or ``"revenue"``).
    """
    bars = Table.of(bars)
    _require(bars, ["option", "usd_per_day", "kind"], "build_vs_buy_figure")
    colours = {"own": theme.DECODE, "api": theme.PREFILL, "revenue": theme.GOOD}
    figure = _plot("Build or buy: the same tokens, a day")
    figure.add_trace(
        bar(
            x=bars["usd_per_day"],
            y=bars["option"],
            orientation="h",
            marker={"color": [colours.get(kind, theme.COMM) for kind in bars["kind"]]},
            text=[f"${value:,.0f}" for value in bars["usd_per_day"]],
            textposition="auto",
            hovertemplate="%{y}: $%{x:,.0f} a day<extra></extra>",
        )
    )
    figure.update_xaxes(title={"text": "USD per day"})
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(showlegend=False)
    return figure


def build_vs_buy_figure(bars: Table | pd.DataFrame) -> go.Figure:
    """:func:`build_vs_buy_plot` as a plotly Figure."""
    return build_vs_buy_plot(bars).figure()
