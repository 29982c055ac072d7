"""The comparison figure: several scenarios side by side, names escaped."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np

from tokencost.report import format as fmt
from tokencost.report import theme
from tokencost.report.figures.base import _require

if TYPE_CHECKING:  # pandas and plotly's Figure are imported where a comparison is drawn
    import pandas as pd
    import plotly.graph_objects as go

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
    import pandas as pd

    _require(frame, ["label"] + [column for column, _, _ in COMPARISON_METRICS], "comparison_figure")
    keys = [f"#{index + 1}" for index in range(len(frame))]
    names = [_plotly_text(_shorten(str(label))) for label in frame["label"]]
    figure = _comparison_grid(len(keys))
    for index, (column, title, unit) in enumerate(COMPARISON_METRICS):
        row, col = index // 3 + 1, index % 3 + 1
        values = pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()
        for position, (key, name, value) in enumerate(zip(keys, names, values, strict=True)):
            figure.add_trace(
                _metric_bar(
                    key, name, value, column=column, title=title, position=position, legend=index == 0
                ),
                row=row,
                col=col,
            )
        finite = values[~np.isnan(values)]
        top = float(finite.max()) if finite.size else 1.0
        figure.update_yaxes(title={"text": unit}, range=[0, (top or 1.0) * 1.22], row=row, col=col)
    figure.update_xaxes(title={"text": "scenario"}, categoryorder="array", categoryarray=keys)
    return figure


def _comparison_grid(scenario_count: int) -> go.Figure:
    """The empty 2 × 3 panels, titled, with room below for a legend of ``scenario_count`` entries."""
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=[f"{title} ({unit})" for _, title, unit in COMPARISON_METRICS],
        vertical_spacing=0.2,
        horizontal_spacing=0.09,
    )
    legend_rows = math.ceil(scenario_count / LEGEND_COLUMNS)
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
    return figure


def _metric_bar(
    key: str, name: str, value: float, *, column: str, title: str, position: int, legend: bool
) -> go.Bar:
    """One scenario's bar of one metric; a NaN ``value`` (infeasible) is a zero bar so labelled."""
    import plotly.graph_objects as go

    missing = math.isnan(value)
    return go.Bar(
        x=[key],
        y=[0.0 if missing else value],
        name=f"{key} {name}",
        legendgroup=key,
        showlegend=legend,
        marker={"color": theme.QUALITATIVE[position % len(theme.QUALITATIVE)]},
        text=["infeasible" if missing else _metric_text(column, value)],
        textposition="outside",
        textfont={"color": theme.LIMIT if missing else theme.INK},
        cliponaxis=False,
        hovertemplate=f"{key} {name}<br>{title}: %{{text}}<extra></extra>",
    )


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
