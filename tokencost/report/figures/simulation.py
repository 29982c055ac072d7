"""A simulation's figures: latency CDFs, fleet time series, SLO attainment over time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


MAX_SERIES_POINTS = 4000
SLO_WINDOWS = 40


# figures ---------------------------------------------------------------------------------------
def _figure(title: str) -> go.Figure:
    import plotly.graph_objects as go

    from tokencost.report import theme

    figure = go.Figure()
    figure.update_layout(template={"layout": theme.TEMPLATE["layout"]}, title=title)
    return figure


def _cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.sort(values[np.isfinite(values)])
    return values, np.arange(1, len(values) + 1) / max(len(values), 1)


def latency_cdf_figure(
    requests: pd.DataFrame, *, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None
) -> go.Figure:
    """CDFs of TTFT, TPOT and end-to-end latency (log seconds), SLO targets as dashed lines."""
    from tokencost.report import theme

    figure = _figure("Latency distributions")
    colours = {"ttft_s": theme.PREFILL, "tpot_s": theme.DECODE, "e2e_latency_s": theme.INK}
    names = {
        "ttft_s": "time to first token",
        "tpot_s": "time per output token",
        "e2e_latency_s": "end to end",
    }
    for column, colour in colours.items():
        x, y = _cdf(requests[column].to_numpy(dtype=float))
        figure.add_scatter(x=x, y=y, mode="lines", name=names[column], line={"color": colour, "shape": "hv"})
    for target, colour, label in (
        (slo_ttft_s, theme.PREFILL, "TTFT target"),
        (slo_tpot_s, theme.DECODE, "TPOT target"),
    ):
        if target is not None:  # a trace, not a shape: annotations of shapes on a log axis misplace
            figure.add_scatter(
                x=[target, target],
                y=[0.0, 1.0],
                mode="lines",
                name=f"{label} ({target:.3g} s)",
                line={"color": colour, "dash": "dash", "width": 1},
                hovertemplate=label + ": %{x:.3g} s<extra></extra>",
            )
    figure.update_xaxes(type="log", title="seconds")
    figure.update_yaxes(title="share of completed requests", range=[0, 1.02], tickformat=".0%")
    return figure


def _thin(table: pd.DataFrame) -> pd.DataFrame:
    if len(table) <= MAX_SERIES_POINTS:
        return table
    keep = np.unique(np.linspace(0, len(table) - 1, MAX_SERIES_POINTS).astype(np.int64))
    return table.iloc[keep]


def series_figure(series: pd.DataFrame) -> go.Figure:
    """Queue length, batch size per replica and KV-cache use over time (step functions)."""
    from plotly.subplots import make_subplots

    from tokencost.report import theme

    shown = _thin(series)
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("requests waiting", "sequences per replica", "KV cache used"),
    )
    figure.update_layout(
        template={"layout": theme.TEMPLATE["layout"]},
        title="Fleet over time",
        height=2 * theme.FIGURE_HEIGHT_PX,
        showlegend=False,
    )
    rows = (("queued", theme.LIMIT), ("batch_size_per_replica", theme.DECODE), ("kv_fraction", theme.PREFILL))
    for row, (column, colour) in enumerate(rows, start=1):
        figure.add_scatter(
            x=shown["time_s"],
            y=shown[column],
            mode="lines",
            line={"color": colour, "shape": "hv"},
            name=column,
            row=row,
            col=1,
        )
    figure.update_yaxes(tickformat=".0%", range=[0, 1.02], row=3, col=1)
    figure.update_xaxes(title="simulated time (s)", row=3, col=1)
    return figure


def slo_attainment(
    requests: pd.DataFrame, *, slo_ttft_s: float | None, slo_tpot_s: float | None, windows: int = SLO_WINDOWS
) -> pd.DataFrame:
    """Share of requests meeting each target, by window of arrival time (dropped: missed)."""
    import pandas as pd

    arrival = requests["arrival_s"].to_numpy(dtype=float)
    completed = requests["completed"].to_numpy(dtype=bool)
    ttft_ok = completed & (requests["ttft_s"].to_numpy(dtype=float) <= (slo_ttft_s or np.inf))
    tpot = np.nan_to_num(requests["tpot_s"].to_numpy(dtype=float), nan=0.0)
    tpot_ok = completed & (tpot <= (slo_tpot_s or np.inf))
    if not len(arrival):
        return pd.DataFrame(columns=["window_start_s", "requests", "ttft_met", "tpot_met", "both_met"])
    edges = np.linspace(arrival.min(), arrival.max() + 1e-9, windows + 1)
    index = np.clip(np.searchsorted(edges, arrival, side="right") - 1, 0, windows - 1)
    count = np.bincount(index, minlength=windows).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = {
            name: np.bincount(index, weights=ok.astype(float), minlength=windows) / count
            for name, ok in (("ttft_met", ttft_ok), ("tpot_met", tpot_ok), ("both_met", ttft_ok & tpot_ok))
        }
    return pd.DataFrame({"window_start_s": edges[:-1], "requests": count.astype(np.int64), **shares})


def slo_figure(attainment: pd.DataFrame, *, percentile: float = 99.0) -> go.Figure:
    """SLO attainment by arrival window, with the percentile the SLO asks for."""
    from tokencost.report import theme

    figure = _figure("SLO attainment by arrival time")
    for column, colour, name in (
        ("ttft_met", theme.PREFILL, "TTFT met"),
        ("tpot_met", theme.DECODE, "TPOT met"),
        ("both_met", theme.GOOD, "both met (goodput)"),
    ):
        figure.add_scatter(
            x=attainment["window_start_s"],
            y=attainment[column],
            mode="lines+markers",
            name=name,
            line={"color": colour, "shape": "hv"},
        )
    figure.add_hline(
        y=percentile / 100.0,
        line={"color": theme.LIMIT, "dash": "dash", "width": 1},
        annotation_text=f"p{percentile:g} target",
        annotation_position="bottom right",
    )
    figure.update_xaxes(title="arrival time (s)")
    figure.update_yaxes(title="share of requests", tickformat=".0%", range=[0, 1.02])
    return figure
