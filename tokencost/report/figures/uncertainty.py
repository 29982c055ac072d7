"""The tornado: which inputs move the cost of an output token most (pure: DataFrame in, Figure out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tokencost.report import theme
from tokencost.report.figures.base import _full_height, _plot, _require
from tokencost.report.figures.plot import Plot, bar
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def tornado_plot(frame: Table | pd.DataFrame) -> Plot:
    """Bars from the cost at capacity at each end of an input's range to the scenario's value.

    ``frame`` is :func:`tokencost.sweep.uncertainty.sensitivity_table` (or the DataFrame of
    ``sensitivity``; its ``attrs`` hold the base value); the widest swing is on top.
    """
    frame = Table.of(frame)
    _require(
        frame,
        [
            "input",
            "usd_per_million_output_tokens_at_capacity_low",
            "usd_per_million_output_tokens_at_capacity_high",
        ],
        "tornado_figure",
    )
    base = float(frame.attrs.get("usd_per_million_output_tokens_at_capacity") or 0.0)
    figure = _plot("What moves the cost of an output token most")
    rows = frame.rows(np.arange(len(frame))[::-1])  # plotly draws the first category at the bottom
    for column, name, colour in (
        ("usd_per_million_output_tokens_at_capacity_low", "pessimistic end", theme.LIMIT),
        ("usd_per_million_output_tokens_at_capacity_high", "optimistic end", theme.GOOD),
    ):
        values = rows[column].astype(float)
        figure.add_trace(
            bar(
                y=rows["input"],
                x=values - base,
                base=base,
                orientation="h",
                name=name,
                marker={"color": colour},
                customdata=rows["range"],
                hovertemplate="%{y}: $%{x:.4g} per M at capacity<br>%{customdata}<extra>" + name + "</extra>",
            )
        )
    _full_height(
        figure,
        {"type": "line", "x0": base, "x1": base, "line": {"color": theme.INK, "dash": "dash", "width": 1}},
    )
    figure.update_layout(barmode="overlay")
    figure.update_xaxes(
        title={"text": "$ per million output tokens at capacity (the scenario's value dashed)"}
    )
    return figure


def tornado_figure(frame: Table | pd.DataFrame) -> go.Figure:
    """:func:`tornado_plot` as a plotly Figure."""
    return tornado_plot(frame).figure()
