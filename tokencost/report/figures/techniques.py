"""A conversation's turns: each turn's prompt (cached and new tokens) and its time to first token,
with the prefix cache and without it (pure figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokencost.report import theme
from tokencost.report.figures.base import MILLI, _plot_pairs, _require
from tokencost.report.figures.plot import Plot, bar, scatter
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def turns_plot(turns: Table | pd.DataFrame) -> Plot:
    """Left: each turn's prompt tokens, cached and new, stacked. Right: its mean TTFT in ms.

    ``turns`` has ``turn``, ``prompt_tokens``, ``cached_tokens`` and ``ttft_s`` (the scenario as
    written), and optionally ``ttft_without_cache_s`` (the same with the cache off).
    """
    turns = Table.of(turns)
    _require(turns, ["turn", "prompt_tokens", "cached_tokens", "ttft_s"], "turns_figure")
    figure = _plot_pairs(
        "Each turn resends the task so far: what the cache saves, turn by turn",
        "prompt tokens of each turn",
        "time to first token of each turn",
    )
    new = turns["prompt_tokens"] - turns["cached_tokens"]
    for name, values, colour in (
        ("cached (no prefill)", turns["cached_tokens"], theme.GOOD),
        ("new (prefilled)", new, theme.PREFILL),
    ):
        figure.add_trace(
            bar(
                x=turns["turn"],
                y=values,
                name=name,
                marker={"color": colour},
                hovertemplate="turn %{x}: %{y:,.0f} tokens<extra>" + name + "</extra>",
            ),
            row=1,
            col=1,
        )
    lines = [("with the cache", "ttft_s", theme.PREFILL, "solid")]
    if "ttft_without_cache_s" in turns.columns:
        lines.append(("without the cache", "ttft_without_cache_s", theme.MUTED, "dash"))
    for name, column, colour, dash in lines:
        figure.add_trace(
            scatter(
                x=turns["turn"],
                y=turns[column] / MILLI,
                mode="lines+markers",
                name=name,
                line={"color": colour, "dash": dash, "width": 2},
                hovertemplate="turn %{x}: %{y:.4g} ms<extra>" + name + "</extra>",
            ),
            row=1,
            col=2,
        )
    figure.update_layout(barmode="stack")
    figure.update_xaxes(title={"text": "turn"}, dtick=1)
    figure.update_yaxes(title={"text": "tokens"}, row=1, col=1)
    figure.update_yaxes(title={"text": "TTFT (ms)"}, row=1, col=2)
    return figure


def turns_figure(turns: Table | pd.DataFrame) -> go.Figure:
    """:func:`turns_plot` as a plotly Figure."""
    return turns_plot(turns).figure()
