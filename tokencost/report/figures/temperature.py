"""The sampling-temperature figure: next-token probabilities as the temperature turns."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from tokencost.report import format as fmt
from tokencost.report import theme
from tokencost.report.figures.base import _plot, _require
from tokencost.report.figures.plot import Plot, bar
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

DEFAULT_TEMPERATURE = 1.0


# ------------------------------------------------------------------------------- temperature


def _temperature_title(prompt: str, temperature: float, entropy_bits: float) -> str:
    return (
        f"Next-token probabilities after “{prompt} …” at temperature T = {temperature:.1f}"
        f"<br><span style='font-size:12px;color:{theme.MUTED}'>entropy {entropy_bits:.2f} bits</span>"
    )


def temperature_plot(
    sweep: Table | pd.DataFrame,
    *,
    prompt: str = "The sky is",
    initial_temperature: float = DEFAULT_TEMPERATURE,
) -> Plot:
    """Bars of next-token probabilities with a slider over temperature.

    ``sweep`` is :func:`tokencost.sweep.temperature.temperature_table` (or the DataFrame of
    ``temperature_sweep``: tidy rows of temperature, token, probability, entropy_bits). The
    slider restyles the bars in the browser; no server.
    """
    sweep = Table.of(sweep)
    _require(sweep, ["temperature", "token", "probability", "entropy_bits"], "temperature_figure")
    prompt = html.escape(prompt)
    temperatures = sorted({float(t) for t in sweep["temperature"]})
    start = min(range(len(temperatures)), key=lambda i: abs(temperatures[i] - initial_temperature))
    first = sweep.rows(sweep["temperature"] == temperatures[start])
    tokens = [html.escape(str(token)) for token in first["token"]]
    figure = _plot(
        _temperature_title(prompt, temperatures[start], float(first["entropy_bits"][0])), height=480
    )
    figure.add_trace(
        bar(
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
    steps = [_slider_step(sweep.rows(sweep["temperature"] == t), prompt, t) for t in temperatures]
    figure.update_layout(
        sliders=[_temperature_slider(steps, start)],
        margin={"t": 90, "b": 40},
        showlegend=False,
    )
    figure.update_xaxes(title={"text": "Candidate next token"})
    figure.update_yaxes(title={"text": "Probability (0 to 1)"}, range=[0, 1.12], tickformat=".0%")
    return figure


def temperature_figure(
    sweep: Table | pd.DataFrame,
    *,
    prompt: str = "The sky is",
    initial_temperature: float = DEFAULT_TEMPERATURE,
) -> go.Figure:
    """:func:`temperature_plot` as a plotly Figure."""
    return temperature_plot(sweep, prompt=prompt, initial_temperature=initial_temperature).figure()


def _slider_step(part: Table, prompt: str, temperature: float) -> dict[str, Any]:
    """One slider step: restyle the bars to ``part``'s probabilities and retitle (escaped prompt)."""
    return {
        "method": "update",
        "label": f"{temperature:.1f}",
        "args": [
            {
                "y": [part["probability"].tolist()],
                "text": [[fmt.percent(p, 1) for p in part["probability"]]],
            },
            {"title.text": _temperature_title(prompt, temperature, float(part["entropy_bits"][0]))},
        ],
    }


def _temperature_slider(steps: list[dict[str, Any]], start: int) -> dict[str, Any]:
    """The slider over temperature, themed, starting at step ``start``."""
    return {
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
