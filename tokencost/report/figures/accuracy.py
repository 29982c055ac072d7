"""The accuracy figure: predicted against measured for every row of the measurements table."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

BAND_FRACTION = 0.35  # the p90 target of issue 9
COLOURS = {
    "decode batch 1": "#d9822b",
    "throughput": "#2f6fba",
    "TTFT / prefill": "#2f8a5f",
    "TPOT": "#8e44ad",
}


def accuracy_scatter(rows: list[dict[str, Any]], *, predicted_key: str = "predicted_loso") -> Any:
    """Measured / predicted ratio is what matters, so both axes are log: one marker per row,
    coloured by family, with y = x and a ±35 % band. ``rows`` are ``Accuracy.to_dict()["rows"]``."""
    import plotly.graph_objects as go

    pairs = [(r["measured"], r[predicted_key]) for r in rows if r[predicted_key]]
    values = [v for pair in pairs for v in pair if v and v > 0]
    low, high = (min(values), max(values)) if values else (0.01, 1.0)
    span = np.geomspace(low / 2, high * 2, 50)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=np.concatenate([span, span[::-1]]),
            y=np.concatenate([span * (1 + BAND_FRACTION), span[::-1] * (1 - BAND_FRACTION)]),
            fill="toself",
            fillcolor="rgba(47, 138, 95, 0.10)",
            line={"width": 0},
            name=f"±{BAND_FRACTION:.0%}",
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(x=span, y=span, mode="lines", line={"color": "#3e4c59", "dash": "dash"}, name="y = x")
    )
    for family, colour in COLOURS.items():
        chosen = [r for r in rows if r["family"] == family and r[predicted_key]]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=[r["measured"] for r in chosen],
                y=[r[predicted_key] for r in chosen],
                mode="markers",
                marker={"size": 9, "color": colour, "opacity": 0.8},
                name=family,
                text=[
                    html.escape(f"{r['id']} {r['engine']} {r['metric']}: error {r['error_loso']:.0%}")
                    for r in chosen
                ],
                hovertemplate="%{text}<br>measured %{x:.4s}<br>predicted %{y:.4s}<extra></extra>",
            )
        )
    figure.update_layout(
        title="Public measurements: predicted (leave one source out) vs measured",
        xaxis={"type": "log", "title": "measured (tokens/s or s, as the row's metric)"},
        yaxis={"type": "log", "title": "predicted"},
        height=560,
        template="plotly_white",
    )
    return figure
