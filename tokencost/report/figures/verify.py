"""The verify figure: predicted against measured, log-log, with the y = x line and the error band."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from tokencost.machine.verify import ERROR_BAND_FRACTION, Verification


def scatter_figure(result: Verification) -> Any:
    """Predicted vs measured, log-log, with the y = x line and the ±15 % band."""
    import plotly.graph_objects as go

    measured = [c.measured_s for c in result.cases]
    low, high = (
        min(measured + [c.prediction.predicted_s for c in result.cases]),
        max(measured + [c.prediction.predicted_s for c in result.cases]),
    )
    span = np.geomspace(low / 1.5, high * 1.5, 50)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=np.concatenate([span, span[::-1]]),
            y=np.concatenate([span * (1 + ERROR_BAND_FRACTION), span[::-1] * (1 - ERROR_BAND_FRACTION)]),
            fill="toself",
            fillcolor="rgba(47, 138, 95, 0.12)",
            line={"width": 0},
            name=f"±{ERROR_BAND_FRACTION:.0%}",
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=span,
            y=span,
            mode="lines",
            line={"color": "#3e4c59", "dash": "dash"},
            name="predicted = measured",
            hoverinfo="skip",
        )
    )
    for phase, colour in (("prefill", "#2f6fba"), ("decode", "#d9822b")):
        chosen = [c for c in result.cases if c.case.phase == phase]
        figure.add_trace(
            go.Scatter(
                x=[c.measured_s for c in chosen],
                y=[c.prediction.predicted_s for c in chosen],
                mode="markers",
                marker={"size": 11, "color": colour},
                name=phase,
                text=[html.escape(f"{c.case.name}: error {c.error:+.1%}") for c in chosen],
                hovertemplate="%{text}<br>measured %{x:.4s}s<br>predicted %{y:.4s}s<extra></extra>",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [c.measured.maximum - c.measured_s for c in chosen],
                    "arrayminus": [c.measured_s - c.measured.minimum for c in chosen],
                },
            )
        )
    figure.update_layout(
        title="Reference transformer on this machine: predicted vs measured",
        xaxis={"type": "log", "title": "measured (s, median; bars min–max)"},
        yaxis={"type": "log", "title": "predicted (s)"},
        height=520,
        template="plotly_white",
    )
    return figure
