"""The roofline and the prefill/decode phase figures."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tokencost.report import format as fmt
from tokencost.report import theme
from tokencost.report.figures.base import (
    PER_THOUSAND_REQUESTS,
    PHASE_COLOURS,
    TERA,
    _full_height,
    _plot,
    _plot_pairs,
    _require,
)
from tokencost.report.figures.plot import Plot, bar, scatter
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

# ------------------------------------------------------------------------------------- roofline


def roofline_plot(roof: Table | pd.DataFrame, points: Table | pd.DataFrame) -> Plot:
    """Log-log roofline: achievable and datasheet roofs, the ridge point, prefill and decode.

    ``roof`` is :func:`tokencost.sweep.curves.roofline_table`, ``points``
    :func:`tokencost.sweep.curves.roofline_points_table` (or their DataFrames). Y in TFLOP/s per
    accelerator.
    """
    roof, points = Table.of(roof), Table.of(points)
    _require(
        roof,
        [
            "arithmetic_intensity_flop_per_byte",
            "attainable_flop_per_s",
            "peak_attainable_flop_per_s",
            "ridge_point_flop_per_byte",
        ],
        "roofline_figure",
    )
    _require(
        points,
        ["phase", "batch_size", "arithmetic_intensity_flop_per_byte", "achieved_flop_per_s_per_accelerator"],
        "roofline_figure",
    )
    figure = _plot("Roofline of one accelerator: where prefill and decode sit", height=470)
    _add_roofs(figure, roof)
    _add_decode_sweep(figure, points)
    _add_phase_points(figure, points)
    _mark_ridge(figure, float(roof["ridge_point_flop_per_byte"][0]))
    figure.update_xaxes(type="log", dtick=1, title={"text": "Arithmetic intensity (FLOP per byte moved)"})
    figure.update_yaxes(type="log", dtick=1, title={"text": "Achieved TFLOP/s per accelerator"})
    figure.update_layout(legend={"x": 0.01, "xanchor": "left", "y": 0.99, "yanchor": "top"}, margin={"t": 80})
    return figure


def roofline_figure(roof: Table | pd.DataFrame, points: Table | pd.DataFrame) -> go.Figure:
    """:func:`roofline_plot` as a plotly Figure."""
    return roofline_plot(roof, points).figure()


def _add_roofs(figure: Plot, roof: Table) -> None:
    """The datasheet roof (dashed) and the achievable roof, peak × efficiency (solid)."""
    x = roof["arithmetic_intensity_flop_per_byte"]
    figure.add_trace(
        scatter(
            x=x,
            y=roof["peak_attainable_flop_per_s"] / TERA,
            name="datasheet peak",
            mode="lines",
            line={"color": theme.COMM, "dash": "dash", "width": 1.5},
            hovertemplate="%{x:.3g} FLOP/B → %{y:.4g} TFLOP/s (datasheet)<extra></extra>",
        )
    )
    figure.add_trace(
        scatter(
            x=x,
            y=roof["attainable_flop_per_s"] / TERA,
            name="achievable roof (peak × efficiency)",
            mode="lines",
            line={"color": theme.ROOF, "width": 2.5},
            hovertemplate="%{x:.3g} FLOP/B → %{y:.4g} TFLOP/s<extra></extra>",
        )
    )


def _add_decode_sweep(figure: Plot, points: Table) -> None:
    """The dotted path decode takes up the roof as the batch grows (when there is one)."""
    sweep = points.rows(points["phase"] == "decode sweep")
    if len(sweep) > 1:
        figure.add_trace(
            scatter(
                x=sweep["arithmetic_intensity_flop_per_byte"],
                y=sweep["achieved_flop_per_s_per_accelerator"] / TERA,
                name="decode as batch grows",
                mode="lines+markers",
                customdata=sweep["batch_size"],
                line={"color": theme.DECODE, "width": 1, "dash": "dot"},
                marker={"size": 5, "color": theme.DECODE},
                hovertemplate="decode, batch %{customdata}<br>%{x:.3g} FLOP/B, %{y:.4g} TFLOP/s"
                "<extra></extra>",
            )
        )


def _add_phase_points(figure: Plot, points: Table) -> None:
    """One large marker for this scenario's decode step and one for its prefill."""
    for phase, colour, symbol in (("decode", theme.DECODE, "circle"), ("prefill", theme.PREFILL, "diamond")):
        row = points.rows(points["phase"] == phase)
        if not len(row):
            continue
        label = (
            "prefill (one prompt)" if phase == "prefill" else f"decode (batch {int(row['batch_size'][0])})"
        )
        figure.add_trace(
            scatter(
                x=row["arithmetic_intensity_flop_per_byte"],
                y=row["achieved_flop_per_s_per_accelerator"] / TERA,
                name=label,
                mode="markers",
                marker={
                    "size": 14,
                    "color": colour,
                    "symbol": symbol,
                    "line": {"color": "white", "width": 1.5},
                },
                hovertemplate=f"{label}<br>%{{x:.3g}} FLOP/B, %{{y:.4g}} TFLOP/s<extra></extra>",
            )
        )


def _mark_ridge(figure: Plot, ridge: float) -> None:
    """A dotted line at the ridge point (FLOP/byte), labelled, with the two regimes either side."""
    _full_height(
        figure,
        {"type": "line", "x0": ridge, "x1": ridge, "line": {"color": theme.MUTED, "dash": "dot", "width": 1}},
    )
    figure.add_annotation(
        x=math.log10(ridge),
        y=1.0,
        yref="paper",
        yanchor="bottom",
        showarrow=False,
        text=f"ridge point {fmt.number(ridge)} FLOP/B",
        font={"size": 12, "color": theme.MUTED},
    )
    for text, anchor in (("memory-bound ←  ", "right"), ("  → compute-bound", "left")):
        figure.add_annotation(
            x=math.log10(ridge),
            y=0.03,
            yref="paper",
            xanchor=anchor,
            showarrow=False,
            text=text,
            font={"size": 12, "color": theme.MUTED},
        )


# ---------------------------------------------------------------------------- time and money


def phase_plot(phases: Table | pd.DataFrame) -> Plot:
    """Bars of prefill, decode and communication: seconds a user waits, dollars per 1,000
    requests. ``phases`` is :func:`tokencost.sweep.curves.phase_table` (or ``phase_breakdown``)."""
    phases = Table.of(phases)
    _require(phases, ["phase", "latency_s", "usd"], "phase_figure")
    figure = _plot_pairs(
        "Where one request's time and money go", "Seconds the user waits (s)", "Cost (USD per 1,000 requests)"
    )
    colours = [PHASE_COLOURS.get(str(phase), theme.COMM) for phase in phases["phase"]]
    for column, col, scale, render in (
        ("latency_s", 1, 1.0, fmt.seconds),
        ("usd", 2, PER_THOUSAND_REQUESTS, fmt.usd),
    ):
        values = np.asarray(phases[column], dtype=float) * scale
        total = float(values.sum())
        shares = values / total if total > 0 else np.zeros_like(values)
        labels = [
            f"{render(value)} ({fmt.percent(share)})" for value, share in zip(values, shares, strict=True)
        ]
        figure.add_trace(
            bar(
                x=phases["phase"],
                y=values,
                marker={"color": colours},
                text=labels,
                textposition="outside",
                cliponaxis=False,
                showlegend=False,
                hovertemplate="%{x}: %{text}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        figure.update_yaxes(range=[0, max(total, 1e-30) * 1.15], row=1, col=col)
    figure.update_yaxes(title={"text": "seconds"}, row=1, col=1)
    figure.update_yaxes(title={"text": "USD per 1,000 requests"}, row=1, col=2)
    figure.update_xaxes(title={"text": "phase"})
    return figure


def phase_figure(phases: Table | pd.DataFrame) -> go.Figure:
    """:func:`phase_plot` as a plotly Figure."""
    return phase_plot(phases).figure()
