"""Does the factory pay? The cost waterfall, margin against load, build vs buy (pure figures)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tokencost.report import theme
from tokencost.report.figures.base import _base, _require


def waterfall_figure(parts: pd.DataFrame) -> go.Figure:
    """$ per million output tokens by part, stacked to the total at this load.

    ``parts`` has columns ``part`` and ``usd_per_million_output_tokens`` (one row per part, in
    order: capex, financing, power, cooling, hosting, maintenance or rental, then idle capacity).
    """
    _require(parts, ["part", "usd_per_million_output_tokens"], "waterfall_figure")
    values = parts["usd_per_million_output_tokens"].astype(float)
    figure = _base("What a million output tokens cost, part by part")
    figure.add_trace(
        go.Waterfall(
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
    figure.update_yaxes(title_text="USD per million output tokens")
    figure.update_layout(showlegend=False)
    return figure


def margin_figure(curve: pd.DataFrame, *, break_even: float | None, operating: float | None) -> go.Figure:
    """Margin per day against the load (fraction of the fleet's capacity), break-even marked.

    ``curve`` has ``load_fraction`` and ``margin_usd_per_day``; ``break_even`` and ``operating`` are
    load fractions (None: not drawn).
    """
    _require(curve, ["load_fraction", "margin_usd_per_day"], "margin_figure")
    figure = _base("Margin against load: the fleet is paid for, busy or idle")
    figure.add_trace(
        go.Scatter(
            x=curve["load_fraction"] * 100.0,
            y=curve["margin_usd_per_day"],
            mode="lines",
            name="margin per day",
            line={"color": theme.PREFILL, "width": 2},
            hovertemplate="%{x:.0f} % of capacity: $%{y:,.0f} a day<extra></extra>",
        )
    )
    figure.add_hline(y=0.0, line={"color": theme.MUTED, "width": 1})
    if break_even is not None and 0.0 <= break_even <= 1.0:
        figure.add_vline(
            x=break_even * 100.0,
            line={"color": theme.LIMIT, "dash": "dash"},
            annotation_text=f"break-even {break_even:.0%}",
        )
    if operating is not None:
        figure.add_vline(
            x=operating * 100.0, line={"color": theme.GOOD}, annotation_text=f"this load {operating:.0%}"
        )
    figure.update_xaxes(title_text="Load (% of the fleet's capacity)", range=[0, 100])
    figure.update_yaxes(title_text="Margin (USD per day)")
    return figure


def build_vs_buy_figure(bars: pd.DataFrame) -> go.Figure:
    """USD per day for the same tokens: serving them yourself against buying them from APIs.

    ``bars`` has ``option`` (label, already HTML-safe), ``usd_per_day`` and ``kind`` (``"own"``,
    ``"api"`` or ``"revenue"``).
    """
    _require(bars, ["option", "usd_per_day", "kind"], "build_vs_buy_figure")
    colours = {"own": theme.DECODE, "api": theme.PREFILL, "revenue": theme.GOOD}
    figure = _base("Build or buy: the same tokens, a day")
    figure.add_trace(
        go.Bar(
            x=bars["usd_per_day"],
            y=bars["option"],
            orientation="h",
            marker={"color": [colours.get(kind, theme.COMM) for kind in bars["kind"]]},
            text=[f"${value:,.0f}" for value in bars["usd_per_day"]],
            textposition="auto",
            hovertemplate="%{y}: $%{x:,.0f} a day<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="USD per day")
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(showlegend=False)
    return figure
