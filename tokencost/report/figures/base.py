"""What every figure shares: the themed empty figure, unit constants, column checks."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from tokencost.report import theme

TERA = 1e12
MILLI = 1e-3
PER_THOUSAND_REQUESTS = 1000.0

PHASE_COLOURS = {"prefill": theme.PREFILL, "decode": theme.DECODE, "communication": theme.COMM}


@functools.lru_cache(maxsize=4)
def _merged_template(default: str | None) -> go.layout.Template:
    """Plotly's default template (named ``default``) with :data:`theme.TEMPLATE` merged in, built once."""
    figure = go.Figure()  # carries the default template, which update_layout merges the theme into
    figure.update_layout(template=theme.TEMPLATE)
    return figure.layout.template


def _apply_theme(figure: go.Figure) -> None:
    """Give ``figure`` the report's template without validating it again (tens of ms a figure).

    The template was validated once, in :func:`_merged_template`; it is attached the way plotly
    attaches its own default template (layout validation off for this one assignment, which stores a
    deep copy). The figure is the same as ``update_layout(template=theme.TEMPLATE)`` would make it.
    """
    default = pio.templates.default
    if not isinstance(default, str):  # a Template object as the default: merge it each time
        figure.update_layout(template=theme.TEMPLATE)
        return
    layout = figure.layout
    validate = layout._validate
    layout._validate = False
    try:
        layout.template = _merged_template(default)
    finally:
        layout._validate = validate


def _base(title: str, *, height: int = theme.FIGURE_HEIGHT_PX) -> go.Figure:
    figure = go.Figure()
    _apply_theme(figure)
    figure.update_layout(title={"text": title}, height=height)
    return figure


def _pairs(title: str, left: str, right: str) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left, right), horizontal_spacing=0.12)
    _apply_theme(figure)
    figure.update_layout(title={"text": title}, height=theme.FIGURE_HEIGHT_PX, margin={"t": 96})
    figure.update_annotations(font={"size": 13, "color": theme.MUTED}, xanchor="left", x=None)
    for index, annotation in enumerate(figure.layout.annotations):
        annotation.x = 0.0 if index == 0 else 0.56
    return figure


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; got {list(frame.columns)}")
