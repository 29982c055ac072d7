"""Serving curves: output length, batch size, and the latency–throughput Pareto front."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tokencost.report import format as fmt
from tokencost.report import theme
from tokencost.report.figures.base import (
    MILLI,
    PER_THOUSAND_REQUESTS,
    _full_height,
    _plot,
    _plot_pairs,
    _require,
)
from tokencost.report.figures.plot import Plot, scatter
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

PARETO_LABELS = 6  # batch sizes labelled along the latency–throughput curve


# ----------------------------------------------------------------------------- output length


def _split_by_fit(frame: Table) -> tuple[Table, Table]:
    """(rows that fit, rows that do not plus the last that does, so the lines join)."""
    fits = frame["fits_in_memory"].astype(bool)
    inside = frame.rows(fits)
    outside = frame.rows(~fits)
    if len(outside) and len(inside):
        outside = Table.concat([inside.rows([-1]), outside])
    return inside, outside


def output_length_plot(
    sweep: Table | pd.DataFrame, *, scenario_output_tokens: int | None = None, ttft_slo_s: float | None = None
) -> Plot:
    """Latency and cost against output tokens: the sequential decode loop made visible.

    ``sweep`` is :func:`tokencost.sweep.curves.output_length_table` (or the DataFrame of
    ``output_length_sweep``). Dashed where the batch's KV cache no longer fits at that length.
    """
    sweep = Table.of(sweep)
    _require(
        sweep,
        ["output_tokens", "ttft_s", "e2e_latency_s", "usd_per_request", "fits_in_memory"],
        "output_length_figure",
    )
    figure = _plot_pairs(
        "Every output token is another forward pass", "Latency (s)", "Cost (USD per 1,000 requests)"
    )
    figure.add_trace(
        scatter(
            x=sweep["output_tokens"],
            y=sweep["ttft_s"],
            name="time to first token",
            mode="lines",
            line={"color": theme.PREFILL, "width": 2},
            hovertemplate="%{x} tokens: first token after %{y:.3g} s<extra></extra>",
        ),
        row=1,
        col=1,
    )
    _add_length_curves(figure, sweep)
    if ttft_slo_s is not None:
        figure.add_hline(
            ttft_slo_s,
            {"color": theme.LIMIT, "dash": "dash", "width": 1.5},
            col=1,
            annotation={
                "text": f"TTFT target {fmt.seconds(ttft_slo_s)}",
                "font": {"color": theme.LIMIT, "size": 12},
            },
        )
    if scenario_output_tokens is not None:
        _mark_scenario_length(figure, scenario_output_tokens)
    figure.update_xaxes(title={"text": "Output tokens per request"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "seconds"}, rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title={"text": "USD per 1,000 requests"}, rangemode="tozero", row=1, col=2)
    figure.update_layout(
        legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"}, margin={"b": 96}, height=460
    )
    return figure


def output_length_figure(
    sweep: Table | pd.DataFrame, *, scenario_output_tokens: int | None = None, ttft_slo_s: float | None = None
) -> go.Figure:
    """:func:`output_length_plot` as a plotly Figure."""
    return output_length_plot(
        sweep, scenario_output_tokens=scenario_output_tokens, ttft_slo_s=ttft_slo_s
    ).figure()


def _add_length_curves(figure: Plot, sweep: Table) -> None:
    """Whole-response latency (left) and cost per 1,000 requests (right): solid while the KV cache
    fits, dashed beyond."""
    inside, outside = _split_by_fit(sweep)
    for part, dash, suffix in ((inside, "solid", ""), (outside, "dash", " (KV cache overflows memory)")):
        if not len(part):
            continue
        figure.add_trace(
            scatter(
                x=part["output_tokens"],
                y=part["e2e_latency_s"],
                name="whole response" + suffix,
                mode="lines",
                line={"color": theme.DECODE, "width": 2.5, "dash": dash},
                legendgroup="e2e" + dash,
                hovertemplate="%{x} tokens: done after %{y:.3g} s<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            scatter(
                x=part["output_tokens"],
                y=part["usd_per_request"] * PER_THOUSAND_REQUESTS,
                mode="lines",
                name="cost" + suffix,
                showlegend=False,
                line={"color": theme.DECODE, "width": 2.5, "dash": dash},
                hovertemplate="%{x} tokens: $%{y:.4g} per 1,000 requests<extra></extra>",
            ),
            row=1,
            col=2,
        )


def _mark_scenario_length(figure: Plot, output_tokens: int) -> None:
    """A dotted line at the scenario's output length on both panels, labelled on the right."""
    for col in (1, 2):
        line = {"color": theme.MUTED, "dash": "dot", "width": 1}
        _full_height(
            figure, {"type": "line", "x0": output_tokens, "x1": output_tokens, "line": line}, row=1, col=col
        )
    figure.add_annotation(
        x=output_tokens,
        y=1.0,
        xref="x2",
        yref="y2 domain",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        text=" this scenario",
        font={"size": 12, "color": theme.MUTED},
    )


# -------------------------------------------------------------------------------- batch size


def batch_plot(sweep: Table | pd.DataFrame) -> Plot:
    """Throughput per accelerator and $/M output tokens against batch, memory limit marked.

    ``sweep`` is :func:`tokencost.sweep.curves.batch_table` (or the DataFrame of ``batch_sweep``);
    log batch axis.
    """
    sweep = Table.of(sweep)
    _require(
        sweep,
        [
            "batch_size",
            "output_tokens_per_s_per_accelerator",
            "usd_per_million_output_tokens",
            "fits_in_memory",
            "max_batch",
            "chosen",
        ],
        "batch_figure",
    )
    figure = _plot_pairs(
        "Batching: more sequences per weight read, until memory runs out",
        "Throughput (output tokens/s per accelerator)",
        "Cost (USD per million output tokens)",
    )
    inside, outside = _split_by_fit(sweep)
    series = (
        ("output_tokens_per_s_per_accelerator", 1, "%{y:,.0f} tokens/s"),
        ("usd_per_million_output_tokens", 2, "$%{y:.4g} per M tokens"),
    )
    for column, col, hover in series:
        _add_batch_curves(figure, inside, outside, column, col, hover)
        _add_chosen_batch(figure, sweep.rows(sweep["chosen"].astype(bool)), column, col, hover)
    _mark_memory_limit(figure, int(sweep["max_batch"][0]), float(sweep["batch_size"].max()))
    figure.update_xaxes(type="log", dtick=1, title={"text": "Batch size (sequences decoded together)"})
    figure.update_yaxes(title={"text": "tokens/s per accelerator"}, rangemode="tozero", row=1, col=1)
    figure.update_yaxes(type="log", dtick=1, title={"text": "USD per million output tokens"}, row=1, col=2)
    figure.update_layout(
        legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"}, margin={"b": 96}, height=460
    )
    return figure


def batch_figure(sweep: Table | pd.DataFrame) -> go.Figure:
    """:func:`batch_plot` as a plotly Figure."""
    return batch_plot(sweep).figure()


# (colour, dash, name) of a curve where the KV cache fits, and where it would not
_MEMORY_STYLES = ((theme.DECODE, "solid", "fits in memory"), (theme.COMM, "dash", "KV cache would not fit"))


def _add_batch_curves(figure: Plot, inside: Table, outside: Table, column: str, col: int, hover: str) -> None:
    """``column`` against batch on panel ``col``: solid where the KV cache fits, dashed beyond."""
    for part, (colour, dash, name) in zip((inside, outside), _MEMORY_STYLES, strict=True):
        if not len(part):
            continue
        figure.add_trace(
            scatter(
                x=part["batch_size"],
                y=part[column],
                mode="lines",
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                line={"color": colour, "width": 2.5, "dash": dash},
                hovertemplate=f"batch %{{x}}: {hover}<extra></extra>",
            ),
            row=1,
            col=col,
        )


def _add_chosen_batch(figure: Plot, chosen: Table, column: str, col: int, hover: str) -> None:
    """The scenario's own batch as a marker on panel ``col`` (when the sweep holds it)."""
    if len(chosen):
        figure.add_trace(
            scatter(
                x=chosen["batch_size"],
                y=chosen[column],
                mode="markers",
                name="this scenario's batch",
                legendgroup="chosen",
                showlegend=col == 1,
                marker={"size": 12, "color": theme.DECODE, "line": {"color": theme.INK, "width": 1.5}},
                hovertemplate=f"this scenario: batch %{{x}}, {hover}<extra></extra>",
            ),
            row=1,
            col=col,
        )


def _mark_memory_limit(figure: Plot, max_batch: int, top: float) -> None:
    """Shade the batches from ``max_batch`` (sequences) to ``top`` that memory cannot hold."""
    if 1 <= max_batch < top:
        for col in (1, 2):
            rect = {
                "type": "rect",
                "x0": max_batch,
                "x1": top,
                "fillcolor": theme.SOFT_LIMIT,
                "line": {"width": 0},
            }
            _full_height(figure, rect, row=1, col=col)
            line = {"color": theme.LIMIT, "dash": "dash", "width": 1.5}
            _full_height(
                figure, {"type": "line", "x0": max_batch, "x1": max_batch, "line": line}, row=1, col=col
            )
        figure.add_annotation(
            x=math.log10(max_batch),
            y=0.02,
            xref="x",
            yref="y domain",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            text=f" memory limit: {max_batch:,} sequences",
            font={"color": theme.LIMIT, "size": 12},
        )


def pareto_plot(sweep: Table | pd.DataFrame, *, tpot_slo_s: float | None = None) -> Plot:
    """Latency–throughput trade-off: time per output token against throughput per accelerator,
    one point per batch size, with the TPOT target. ``sweep`` is a batch sweep."""
    sweep = Table.of(sweep)
    _require(
        sweep,
        ["batch_size", "tpot_s", "output_tokens_per_s_per_accelerator", "fits_in_memory", "chosen"],
        "pareto_figure",
    )
    figure = _plot("Latency against throughput: each point is a batch size")
    inside, outside = _split_by_fit(sweep)
    _add_pareto_curves(figure, inside, outside)
    if len(inside):
        _label_batches(figure, _spaced(inside, "output_tokens_per_s_per_accelerator", PARETO_LABELS))
    chosen = sweep.rows(sweep["chosen"].astype(bool))
    if len(chosen):
        figure.add_trace(
            scatter(
                x=chosen["output_tokens_per_s_per_accelerator"],
                y=chosen["tpot_s"] / MILLI,
                mode="markers",
                name=f"this scenario (batch {int(chosen['batch_size'][0])})",
                marker={"size": 13, "color": theme.DECODE, "line": {"color": theme.INK, "width": 1.5}},
                hovertemplate="this scenario: %{x:,.0f} tokens/s, %{y:.3g} ms/token<extra></extra>",
            )
        )
    if tpot_slo_s is not None:
        figure.add_hline(
            tpot_slo_s / MILLI,
            {"color": theme.LIMIT, "dash": "dash", "width": 1.5},
            annotation={
                "text": f"TPOT target {fmt.seconds(tpot_slo_s)}: slower is too slow",
                "font": {"color": theme.LIMIT, "size": 12},
            },
        )
    figure.update_xaxes(title={"text": "Throughput (output tokens/s per accelerator)"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "Time per output token (ms)"}, rangemode="tozero")
    figure.update_layout(legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top"})
    return figure


def pareto_figure(sweep: Table | pd.DataFrame, *, tpot_slo_s: float | None = None) -> go.Figure:
    """:func:`pareto_plot` as a plotly Figure."""
    return pareto_plot(sweep, tpot_slo_s=tpot_slo_s).figure()


def _add_pareto_curves(figure: Plot, inside: Table, outside: Table) -> None:
    """TPOT (ms) against throughput: solid where the KV cache fits, dashed beyond."""
    for part, (colour, dash, name) in zip((inside, outside), _MEMORY_STYLES, strict=True):
        if not len(part):
            continue
        figure.add_trace(
            scatter(
                x=part["output_tokens_per_s_per_accelerator"],
                y=part["tpot_s"] / MILLI,
                customdata=part["batch_size"],
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 2, "dash": dash},
                marker={"size": 5, "color": colour},
                hovertemplate="batch %{customdata}: %{x:,.0f} tokens/s, %{y:.3g} ms/token<extra></extra>",
            )
        )


def _label_batches(figure: Plot, labelled: Table) -> None:
    """Text labels "B=<batch>" at the given points of the curve."""
    figure.add_trace(
        scatter(
            x=labelled["output_tokens_per_s_per_accelerator"],
            y=labelled["tpot_s"] / MILLI,
            mode="text",
            text=[f"B={int(b)}" for b in labelled["batch_size"]],
            textposition="top left",
            showlegend=False,
            textfont={"size": 11, "color": theme.MUTED},
            hoverinfo="skip",
        )
    )


def _spaced(frame: Table, column: str, count: int) -> Table:
    """Rows whose ``column`` values are at least 1/count of the range apart (first row kept)."""
    values = np.asarray(frame[column], dtype=float)
    gap = (values.max() - values.min()) / max(count, 1)
    keep, last = [], -math.inf
    for index, value in enumerate(values):
        if value - last >= gap:
            keep.append(index)
            last = value
    return frame.rows(keep)
