"""The report's figures: pure functions from DataFrames (see :mod:`tokencost.sweep.curves`) to plotly
Figures. They read no files, write none and hold no state, so each can be tested alone.

Every figure has a title and axis titles with units. Text that came from a user (scenario names
in the comparison) is HTML-escaped before it reaches plotly, which renders a subset of HTML in
labels.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tokencost.report import format as fmt
from tokencost.report import theme

TERA = 1e12
MILLI = 1e-3
PER_THOUSAND_REQUESTS = 1000.0
DEFAULT_TEMPERATURE = 1.0
PARETO_LABELS = 6  # batch sizes labelled along the latency–throughput curve

PHASE_COLOURS = {"prefill": theme.PREFILL, "decode": theme.DECODE, "communication": theme.COMM}


def _base(title: str, *, height: int = theme.FIGURE_HEIGHT_PX) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(template=theme.TEMPLATE, title={"text": title}, height=height)
    return figure


def _pairs(title: str, left: str, right: str) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left, right), horizontal_spacing=0.12)
    figure.update_layout(
        template=theme.TEMPLATE, title={"text": title}, height=theme.FIGURE_HEIGHT_PX, margin={"t": 96}
    )
    figure.update_annotations(font={"size": 13, "color": theme.MUTED}, xanchor="left", x=None)
    for index, annotation in enumerate(figure.layout.annotations):
        annotation.x = 0.0 if index == 0 else 0.56
    return figure


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; got {list(frame.columns)}")


# ------------------------------------------------------------------------------------- roofline


def roofline_figure(roof: pd.DataFrame, points: pd.DataFrame) -> go.Figure:
    """Log-log roofline: achievable and datasheet roofs, the ridge point, prefill and decode.

    ``roof`` is :func:`tokencost.sweep.curves.roofline_frame`, ``points``
    :func:`tokencost.sweep.curves.roofline_points`. Y in TFLOP/s per accelerator.
    """
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
    figure = _base("Roofline of one accelerator: where prefill and decode sit", height=470)
    x = roof["arithmetic_intensity_flop_per_byte"]
    figure.add_trace(
        go.Scatter(
            x=x,
            y=roof["peak_attainable_flop_per_s"] / TERA,
            name="datasheet peak",
            mode="lines",
            line={"color": theme.COMM, "dash": "dash", "width": 1.5},
            hovertemplate="%{x:.3g} FLOP/B → %{y:.4g} TFLOP/s (datasheet)<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=roof["attainable_flop_per_s"] / TERA,
            name="achievable roof (peak × efficiency)",
            mode="lines",
            line={"color": theme.ROOF, "width": 2.5},
            hovertemplate="%{x:.3g} FLOP/B → %{y:.4g} TFLOP/s<extra></extra>",
        )
    )
    sweep = points[points["phase"] == "decode sweep"]
    if len(sweep) > 1:
        figure.add_trace(
            go.Scatter(
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
    for phase, colour, symbol in (("decode", theme.DECODE, "circle"), ("prefill", theme.PREFILL, "diamond")):
        row = points[points["phase"] == phase]
        if not len(row):
            continue
        label = (
            "prefill (one prompt)"
            if phase == "prefill"
            else f"decode (batch {int(row['batch_size'].iloc[0])})"
        )
        figure.add_trace(
            go.Scatter(
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
    ridge = float(roof["ridge_point_flop_per_byte"].iloc[0])
    figure.add_vline(x=ridge, line={"color": theme.MUTED, "dash": "dot", "width": 1})
    figure.add_annotation(
        x=math.log10(ridge),
        y=1.0,
        yref="paper",
        yanchor="bottom",
        showarrow=False,
        text=f"ridge point {fmt.number(ridge)} FLOP/B",
        font={"size": 12, "color": theme.MUTED},
    )
    figure.add_annotation(
        x=math.log10(ridge),
        y=0.03,
        yref="paper",
        xanchor="right",
        showarrow=False,
        text="memory-bound ←  ",
        font={"size": 12, "color": theme.MUTED},
    )
    figure.add_annotation(
        x=math.log10(ridge),
        y=0.03,
        yref="paper",
        xanchor="left",
        showarrow=False,
        text="  → compute-bound",
        font={"size": 12, "color": theme.MUTED},
    )
    figure.update_xaxes(type="log", dtick=1, title={"text": "Arithmetic intensity (FLOP per byte moved)"})
    figure.update_yaxes(type="log", dtick=1, title={"text": "Achieved TFLOP/s per accelerator"})
    figure.update_layout(legend={"x": 0.01, "xanchor": "left", "y": 0.99, "yanchor": "top"}, margin={"t": 80})
    return figure


# ---------------------------------------------------------------------------- time and money


def phase_figure(phases: pd.DataFrame) -> go.Figure:
    """Bars of prefill, decode and communication: seconds a user waits, dollars per 1,000
    requests. ``phases`` is :func:`tokencost.sweep.curves.phase_breakdown`."""
    _require(phases, ["phase", "latency_s", "usd"], "phase_figure")
    figure = _pairs(
        "Where one request's time and money go", "Seconds the user waits (s)", "Cost (USD per 1,000 requests)"
    )
    colours = [PHASE_COLOURS.get(str(phase), theme.COMM) for phase in phases["phase"]]
    for column, col, scale, render in (
        ("latency_s", 1, 1.0, fmt.seconds),
        ("usd", 2, PER_THOUSAND_REQUESTS, fmt.usd),
    ):
        values = phases[column].to_numpy(dtype=float) * scale
        total = float(values.sum())
        shares = values / total if total > 0 else np.zeros_like(values)
        labels = [
            f"{render(value)} ({fmt.percent(share)})" for value, share in zip(values, shares, strict=True)
        ]
        figure.add_trace(
            go.Bar(
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


# ----------------------------------------------------------------------------- output length


def _split_by_fit(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows that fit, rows that do not plus the last that does, so the lines join)."""
    fits = frame["fits_in_memory"].astype(bool)
    inside = frame[fits]
    outside = frame[~fits]
    if len(outside) and len(inside):
        outside = pd.concat([inside.iloc[[-1]], outside])
    return inside, outside


def output_length_figure(
    sweep: pd.DataFrame, *, scenario_output_tokens: int | None = None, ttft_slo_s: float | None = None
) -> go.Figure:
    """Latency and cost against output tokens: the sequential decode loop made visible.

    ``sweep`` is :func:`tokencost.sweep.curves.output_length_sweep`. Dashed where the batch's KV cache
    no longer fits at that length.
    """
    _require(
        sweep,
        ["output_tokens", "ttft_s", "e2e_latency_s", "usd_per_request", "fits_in_memory"],
        "output_length_figure",
    )
    figure = _pairs(
        "Every output token is another forward pass", "Latency (s)", "Cost (USD per 1,000 requests)"
    )
    inside, outside = _split_by_fit(sweep)
    figure.add_trace(
        go.Scatter(
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
    for part, dash, suffix in ((inside, "solid", ""), (outside, "dash", " (KV cache overflows memory)")):
        if not len(part):
            continue
        figure.add_trace(
            go.Scatter(
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
            go.Scatter(
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
    if ttft_slo_s is not None:
        figure.add_hline(
            y=ttft_slo_s,
            line={"color": theme.LIMIT, "dash": "dash", "width": 1.5},
            row=1,
            col=1,
            annotation_text=f"TTFT target {fmt.seconds(ttft_slo_s)}",
            annotation_font={"color": theme.LIMIT, "size": 12},
            annotation_position="top left",
        )
    if scenario_output_tokens is not None:
        for col in (1, 2):
            figure.add_vline(
                x=scenario_output_tokens,
                line={"color": theme.MUTED, "dash": "dot", "width": 1},
                row=1,
                col=col,
            )
        figure.add_annotation(
            x=scenario_output_tokens,
            y=1.0,
            xref="x2",
            yref="y2 domain",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            text=" this scenario",
            font={"size": 12, "color": theme.MUTED},
        )
    figure.update_xaxes(title={"text": "Output tokens per request"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "seconds"}, rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title={"text": "USD per 1,000 requests"}, rangemode="tozero", row=1, col=2)
    figure.update_layout(
        legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"}, margin={"b": 96}, height=460
    )
    return figure


# -------------------------------------------------------------------------------- batch size


def batch_figure(sweep: pd.DataFrame) -> go.Figure:
    """Throughput per accelerator and $/M output tokens against batch, memory limit marked.

    ``sweep`` is :func:`tokencost.sweep.curves.batch_sweep`; log batch axis.
    """
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
    figure = _pairs(
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
        for part, colour, dash, name in (
            (inside, theme.DECODE, "solid", "fits in memory"),
            (outside, theme.COMM, "dash", "KV cache would not fit"),
        ):
            if not len(part):
                continue
            figure.add_trace(
                go.Scatter(
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
        chosen = sweep[sweep["chosen"].astype(bool)]
        if len(chosen):
            figure.add_trace(
                go.Scatter(
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
    max_batch = int(sweep["max_batch"].iloc[0])
    top = float(sweep["batch_size"].max())
    if 1 <= max_batch < top:
        for col in (1, 2):
            figure.add_vrect(x0=max_batch, x1=top, fillcolor=theme.SOFT_LIMIT, line_width=0, row=1, col=col)
            figure.add_vline(
                x=max_batch, line={"color": theme.LIMIT, "dash": "dash", "width": 1.5}, row=1, col=col
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
    figure.update_xaxes(type="log", dtick=1, title={"text": "Batch size (sequences decoded together)"})
    figure.update_yaxes(title={"text": "tokens/s per accelerator"}, rangemode="tozero", row=1, col=1)
    figure.update_yaxes(type="log", dtick=1, title={"text": "USD per million output tokens"}, row=1, col=2)
    figure.update_layout(
        legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"}, margin={"b": 96}, height=460
    )
    return figure


def pareto_figure(sweep: pd.DataFrame, *, tpot_slo_s: float | None = None) -> go.Figure:
    """Latency–throughput trade-off: time per output token against throughput per accelerator,
    one point per batch size, with the TPOT target. ``sweep`` is a batch sweep."""
    _require(
        sweep,
        ["batch_size", "tpot_s", "output_tokens_per_s_per_accelerator", "fits_in_memory", "chosen"],
        "pareto_figure",
    )
    figure = _base("Latency against throughput: each point is a batch size")
    inside, outside = _split_by_fit(sweep)
    for part, colour, dash, name in (
        (inside, theme.DECODE, "solid", "fits in memory"),
        (outside, theme.COMM, "dash", "KV cache would not fit"),
    ):
        if not len(part):
            continue
        figure.add_trace(
            go.Scatter(
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
    if len(inside):
        labelled = _spaced(inside, "output_tokens_per_s_per_accelerator", PARETO_LABELS)
        figure.add_trace(
            go.Scatter(
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
    chosen = sweep[sweep["chosen"].astype(bool)]
    if len(chosen):
        figure.add_trace(
            go.Scatter(
                x=chosen["output_tokens_per_s_per_accelerator"],
                y=chosen["tpot_s"] / MILLI,
                mode="markers",
                name=f"this scenario (batch {int(chosen['batch_size'].iloc[0])})",
                marker={"size": 13, "color": theme.DECODE, "line": {"color": theme.INK, "width": 1.5}},
                hovertemplate="this scenario: %{x:,.0f} tokens/s, %{y:.3g} ms/token<extra></extra>",
            )
        )
    if tpot_slo_s is not None:
        figure.add_hline(
            y=tpot_slo_s / MILLI,
            line={"color": theme.LIMIT, "dash": "dash", "width": 1.5},
            annotation_text=f"TPOT target {fmt.seconds(tpot_slo_s)}: slower is too slow",
            annotation_position="top left",
            annotation_font={"color": theme.LIMIT, "size": 12},
        )
    figure.update_xaxes(title={"text": "Throughput (output tokens/s per accelerator)"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "Time per output token (ms)"}, rangemode="tozero")
    figure.update_layout(legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top"})
    return figure


def _spaced(frame: pd.DataFrame, column: str, count: int) -> pd.DataFrame:
    """Rows whose ``column`` values are at least 1/count of the range apart (first row kept)."""
    values = frame[column].to_numpy(dtype=float)
    gap = (values.max() - values.min()) / max(count, 1)
    keep, last = [], -math.inf
    for index, value in enumerate(values):
        if value - last >= gap:
            keep.append(index)
            last = value
    return frame.iloc[keep]


# ------------------------------------------------------------------------------- temperature


def _temperature_title(prompt: str, temperature: float, entropy_bits: float) -> str:
    return (
        f"Next-token probabilities after “{prompt} …” at temperature T = {temperature:.1f}"
        f"<br><span style='font-size:12px;color:{theme.MUTED}'>entropy {entropy_bits:.2f} bits</span>"
    )


def temperature_figure(
    sweep: pd.DataFrame, *, prompt: str = "The sky is", initial_temperature: float = DEFAULT_TEMPERATURE
) -> go.Figure:
    """Bars of next-token probabilities with a slider over temperature.

    ``sweep`` is :func:`tokencost.sweep.curves.temperature_sweep` (tidy rows of temperature, token,
    probability, entropy_bits). The slider restyles the bars in the browser; no server.
    """
    _require(sweep, ["temperature", "token", "probability", "entropy_bits"], "temperature_figure")
    prompt = html.escape(prompt)
    temperatures = sorted({float(t) for t in sweep["temperature"]})
    start = min(range(len(temperatures)), key=lambda i: abs(temperatures[i] - initial_temperature))

    def row(temperature: float) -> pd.DataFrame:
        return sweep[sweep["temperature"] == temperature]

    first = row(temperatures[start])
    tokens = [html.escape(str(token)) for token in first["token"]]
    figure = _base(
        _temperature_title(prompt, temperatures[start], float(first["entropy_bits"].iloc[0])), height=480
    )
    figure.add_trace(
        go.Bar(
            x=tokens,
            y=first["probability"].tolist(),  # a list, as the slider steps write
            marker={"color": theme.DECODE},
            text=[fmt.percent(p, 1) for p in first["probability"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="“%{x}”: p = %{y:.3f}<extra></extra>",
            name="probability",
        )
    )
    steps = []
    for temperature in temperatures:
        part = row(temperature)
        steps.append(
            {
                "method": "update",
                "label": f"{temperature:.1f}",
                "args": [
                    {
                        "y": [part["probability"].tolist()],
                        "text": [[fmt.percent(p, 1) for p in part["probability"]]],
                    },
                    {
                        "title.text": _temperature_title(
                            prompt, temperature, float(part["entropy_bits"].iloc[0])
                        )
                    },
                ],
            }
        )
    figure.update_layout(
        sliders=[
            {
                "active": start,
                "steps": steps,
                "pad": {"t": 56},
                "len": 1.0,
                "x": 0.0,
                "currentvalue": {"prefix": "temperature T = ", "font": {"size": 13, "color": theme.INK}},
                "font": {"size": 11, "color": theme.MUTED},
                "bgcolor": "#e4e7eb",
                "activebgcolor": theme.DECODE,
                "bordercolor": "#cbd2d9",
                "tickcolor": "#cbd2d9",
            }
        ],
        margin={"t": 90, "b": 40},
        showlegend=False,
    )
    figure.update_xaxes(title={"text": "Candidate next token"})
    figure.update_yaxes(title={"text": "Probability (0 to 1)"}, range=[0, 1.12], tickformat=".0%")
    return figure


# -------------------------------------------------------------------------------- comparison

COMPARISON_METRICS: tuple[tuple[str, str, str], ...] = (
    ("usd_per_million_input_tokens", "$/M input tokens", "USD per million"),
    ("usd_per_million_output_tokens", "$/M output tokens", "USD per million"),
    ("ttft_s", "Time to first token", "seconds"),
    ("tpot_s", "Time per output token", "seconds"),
    ("gpus_required", "Accelerators needed", "accelerators"),
    ("usd_per_day", "Fleet cost per day", "USD per day"),
)


def _plotly_text(text: str) -> str:
    """User text for plotly labels: ``<``, ``>`` and ``&`` escaped, so plotly's own small HTML
    subset (``<a>``, ``<b>`` ...) cannot be injected; quotes are left, plotly shows them as-is."""
    return html.escape(text, quote=False)


def comparison_figure(frame: pd.DataFrame) -> go.Figure:
    """Bars per scenario for six headline metrics (2 × 3 panels); infeasible ones are marked.

    ``frame`` has a ``label`` column (plain text, escaped here) and the metric columns of
    :data:`COMPARISON_METRICS` (None/NaN where infeasible). Bars are keyed ``#1``, ``#2`` ... in
    the order of the rows; the legend names them.
    """
    _require(frame, ["label"] + [column for column, _, _ in COMPARISON_METRICS], "comparison_figure")
    keys = [f"#{index + 1}" for index in range(len(frame))]
    names = [_plotly_text(_shorten(str(label))) for label in frame["label"]]
    figure = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=[f"{title} ({unit})" for _, title, unit in COMPARISON_METRICS],
        vertical_spacing=0.2,
        horizontal_spacing=0.09,
    )
    legend_rows = math.ceil(len(keys) / LEGEND_COLUMNS)
    figure.update_layout(
        template=theme.TEMPLATE,
        height=COMPARISON_HEIGHT_PX + LEGEND_ROW_PX * legend_rows,
        margin={"t": 96, "b": 80 + LEGEND_ROW_PX * legend_rows},
        barmode="overlay",
        title={"text": "Six headline numbers, scenario by scenario"},
        legend={
            "orientation": "h",
            "x": 0,
            "y": -0.12,
            "yanchor": "top",
            "entrywidth": 1 / LEGEND_COLUMNS,
            "entrywidthmode": "fraction",
        },
    )
    figure.update_annotations(font={"size": 13, "color": theme.MUTED})
    for index, (column, title, unit) in enumerate(COMPARISON_METRICS):
        row, col = index // 3 + 1, index % 3 + 1
        values = pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()
        for position, (key, name, value) in enumerate(zip(keys, names, values, strict=True)):
            missing = math.isnan(value)
            figure.add_trace(
                go.Bar(
                    x=[key],
                    y=[0.0 if missing else value],
                    name=f"{key} {name}",
                    legendgroup=key,
                    showlegend=index == 0,
                    marker={"color": theme.QUALITATIVE[position % len(theme.QUALITATIVE)]},
                    text=["infeasible" if missing else _metric_text(column, value)],
                    textposition="outside",
                    textfont={"color": theme.LIMIT if missing else theme.INK},
                    cliponaxis=False,
                    hovertemplate=f"{key} {name}<br>{title}: %{{text}}<extra></extra>",
                ),
                row=row,
                col=col,
            )
        finite = values[~np.isnan(values)]
        top = float(finite.max()) if finite.size else 1.0
        figure.update_yaxes(title={"text": unit}, range=[0, (top or 1.0) * 1.22], row=row, col=col)
    figure.update_xaxes(title={"text": "scenario"}, categoryorder="array", categoryarray=keys)
    return figure


LABEL_CHARACTERS = 48
LEGEND_COLUMNS = 3
LEGEND_ROW_PX = 22
COMPARISON_HEIGHT_PX = 640


def _shorten(text: str) -> str:
    return text if len(text) <= LABEL_CHARACTERS else text[: LABEL_CHARACTERS - 1] + "…"


def _metric_text(column: str, value: float) -> str:
    if column.endswith("_s"):
        return fmt.seconds(value)
    if column.startswith("usd"):
        return fmt.usd(value)
    return fmt.count(value)
