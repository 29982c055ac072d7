"""The load curve: cost and latency of one replica as its load goes from near zero to saturation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tokencost.report import theme
from tokencost.report.figures.base import MILLI, _full_height, _plot_pairs, _require
from tokencost.report.figures.plot import Plot, scatter
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def load_curve_plot(
    curve: Table | pd.DataFrame, *, ttft_slo_s: float | None = None, tpot_slo_s: float | None = None
) -> Plot:
    """$ per million output tokens (left) and p99 TTFT and TPOT (right) against the load.

    ``curve`` is :func:`tokencost.sweep.curves.load_table` (or the DataFrame of ``load_curve``);
    the row flagged ``scenario`` is marked.
    A replica's hour costs the same at any load, so the cost per token falls as the load rises
    (fewer idle and under-batched seconds per token), while the queue and the interference of
    prefills make the tail latencies climb towards saturation.
    """
    curve = Table.of(curve)
    _require(
        curve,
        ["load_fraction", "usd_per_million_output_tokens", "ttft_p99_s", "tpot_p99_s", "scenario"],
        "load_curve_figure",
    )
    figure = _plot_pairs("Cost and latency against load", "$ per million output tokens", "p99 latency (ms)")
    load = curve["load_fraction"] * 100.0
    figure.add_trace(
        scatter(
            x=load,
            y=curve["usd_per_million_output_tokens"],
            name="$ / M output tokens",
            mode="lines",
            line={"color": theme.DECODE, "width": 2},
            hovertemplate="%{x:.0f} % of capacity: $%{y:.4g} per M output tokens<extra></extra>",
        ),
        row=1,
        col=1,
    )
    _add_latency_curves(figure, curve, load)
    _add_latency_targets(figure, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
    own = curve.rows(curve["scenario"].astype(bool))
    if len(own):
        _mark_scenario_load(figure, own)
    figure.update_xaxes(title={"text": "load (% of one replica's capacity at its batch cap)"}, range=[0, 100])
    figure.update_yaxes(type="log", row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=2)
    return figure


def load_curve_figure(
    curve: Table | pd.DataFrame, *, ttft_slo_s: float | None = None, tpot_slo_s: float | None = None
) -> go.Figure:
    """:func:`load_curve_plot` as a plotly Figure."""
    return load_curve_plot(curve, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s).figure()


def _add_latency_curves(figure: Plot, curve: Table, load: np.ndarray) -> None:
    """p99 TTFT and p99 TPOT (ms) against ``load`` (% of capacity) on the right panel."""
    for column, name, color in (
        ("ttft_p99_s", "p99 time to first token", theme.PREFILL),
        ("tpot_p99_s", "p99 time per output token", theme.DECODE),
    ):
        figure.add_trace(
            scatter(
                x=load,
                y=curve[column] / MILLI,
                name=name,
                mode="lines",
                line={"color": color, "width": 2},
                hovertemplate="%{x:.0f} % of capacity: %{y:.3g} ms<extra>" + name + "</extra>",
            ),
            row=1,
            col=2,
        )


def _add_latency_targets(figure: Plot, *, ttft_slo_s: float | None, tpot_slo_s: float | None) -> None:
    """The SLO targets (s) as dotted horizontal traces on the right panel, where given."""
    for target, name, color in (
        (ttft_slo_s, "TTFT target", theme.PREFILL),
        (tpot_slo_s, "TPOT target", theme.DECODE),
    ):
        if target is not None:  # a line trace, not a shape: shapes on a log axis take log10 units
            figure.add_trace(
                scatter(
                    x=[0.0, 100.0],
                    y=[target / MILLI, target / MILLI],
                    name=name,
                    mode="lines",
                    line={"color": color, "dash": "dot", "width": 1},
                    hovertemplate=name + ": %{y:.3g} ms<extra></extra>",
                ),
                row=1,
                col=2,
            )


def _mark_scenario_load(figure: Plot, own: Table) -> None:
    """A dashed line at the scenario's own load on both panels and a marker on its cost."""
    at = float(own["load_fraction"][0]) * 100.0
    for col in (1, 2):
        _full_height(
            figure,
            {"type": "line", "x0": at, "x1": at, "line": {"color": theme.INK, "dash": "dash", "width": 1}},
            row=1,
            col=col,
        )
    figure.add_trace(
        scatter(
            x=[at],
            y=own["usd_per_million_output_tokens"],
            name="this scenario's load",
            mode="markers",
            marker={"color": theme.INK, "size": 10, "symbol": "diamond"},
            hovertemplate="this scenario: %{x:.0f} % of capacity, $%{y:.4g}<extra></extra>",
        ),
        row=1,
        col=1,
    )
