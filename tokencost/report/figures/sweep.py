"""The sweep figure: cost against latency across configurations, and the Pareto front."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from tokencost.report import theme
from tokencost.report.figures.base import MILLI, _base, _require

if TYPE_CHECKING:  # the sweep report's frames come from pandas; plotly is imported where used
    import pandas as pd
    import plotly.graph_objects as go

SYMBOLS = ("circle", "diamond", "square", "triangle-up", "x", "star", "cross", "hexagon")


def deployment_label(frame: pd.DataFrame) -> pd.Series:
    """``h200 · fp8/fp8 · TP 2 × PP 1`` per row: hardware, weight/KV precision, parallelism."""
    return (
        frame["hardware"].astype(str)
        + " · "
        + frame["precision_weights"].astype(str)
        + "/"
        + frame["precision_kv_cache"].astype(str)
        + " · TP "
        + frame["tensor_parallel"].astype("Int64").astype(str)
        + " × PP "
        + frame["pipeline_parallel"].astype("Int64").astype(str)
    )


def sweep_pareto_figure(cloud: pd.DataFrame, front: pd.DataFrame) -> go.Figure:
    """Every feasible configuration (``cloud``, thinned) as a point, coloured by hardware and
    shaped by weight precision; the Pareto front (``front``) as a line through the points that no
    other configuration beats on both time per output token and $ per million output tokens."""
    import plotly.graph_objects as go

    needed = ["tpot_s", "usd_per_million_output_tokens", "hardware", "precision_weights"]
    _require(cloud, needed, "sweep_pareto_figure")
    _require(front, needed, "sweep_pareto_figure")
    figure = _base("Cost against latency: each point a configuration, the line the Pareto front")
    hardware = sorted(map(str, cloud["hardware"].unique()))
    precisions = sorted(map(str, cloud["precision_weights"].unique()))
    for colour_index, name in enumerate(hardware):
        part = cloud[cloud["hardware"].astype(str) == name]
        figure.add_trace(
            go.Scattergl(
                x=part["tpot_s"] / MILLI,
                y=part["usd_per_million_output_tokens"],
                mode="markers",
                name=html.escape(name, quote=False),
                text=[html.escape(label, quote=False) for label in deployment_label(part)],
                marker={
                    "size": 6,
                    "opacity": 0.55,
                    "color": theme.QUALITATIVE[colour_index % len(theme.QUALITATIVE)],
                    "symbol": [
                        SYMBOLS[precisions.index(str(p)) % len(SYMBOLS)] for p in part["precision_weights"]
                    ],
                },
                hovertemplate="%{text}<br>%{x:.3g} ms/token, $%{y:.3g}/M output<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=front["tpot_s"] / MILLI,
            y=front["usd_per_million_output_tokens"],
            mode="lines+markers",
            name="Pareto front",
            line={"color": theme.INK, "width": 2, "shape": "hv"},
            marker={"size": 9, "color": theme.INK, "symbol": "circle-open"},
            text=[html.escape(label, quote=False) for label in deployment_label(front)],
            hovertemplate="front: %{text}<br>%{x:.3g} ms/token, $%{y:.3g}/M output<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="time per output token (ms)", type="log")
    figure.update_yaxes(title_text="$ per million output tokens", type="log")
    return figure
