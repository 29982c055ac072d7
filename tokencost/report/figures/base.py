"""What every figure shares: the themed empty figure, unit constants, column checks."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tokencost.report import theme

TERA = 1e12
MILLI = 1e-3
PER_THOUSAND_REQUESTS = 1000.0

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
