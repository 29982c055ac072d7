"""What every figure shares: the themed empty figure, unit constants, column checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tokencost.report import theme
from tokencost.report.figures.plot import PANEL_GAP, Plot, attach_theme

if TYPE_CHECKING:  # plotly's Figure machinery is imported where a Figure is built, not for a Plot
    import plotly.graph_objects as go

TERA = 1e12
MILLI = 1e-3
PER_THOUSAND_REQUESTS = 1000.0

PHASE_COLOURS = {"prefill": theme.PREFILL, "decode": theme.DECODE, "communication": theme.COMM}


def _base(title: str, *, height: int = theme.FIGURE_HEIGHT_PX) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    attach_theme(figure)
    figure.update_layout(title={"text": title}, height=height)
    return figure


def _plot(title: str, *, height: int = theme.FIGURE_HEIGHT_PX) -> Plot:
    """An empty :class:`Plot` with its title and height (the theme comes with ``to_dict``)."""
    plot = Plot()
    plot.update_layout(title={"text": title}, height=height)
    return plot


def _panel_titles(left: str, right: str) -> list[dict[str, Any]]:
    """The panel titles: the annotations ``make_subplots(subplot_titles=...)`` would place (at the
    top of the panels' common domain, y = 1; an empty title has none), restyled (13 px, muted,
    left-anchored at x = 0 and 0.56)."""
    font = {"size": 13, "color": theme.MUTED}
    return [
        {"y": 1.0, "xref": "paper", "x": 0.0 if index == 0 else 0.56, "yref": "paper", "text": text}
        | {"showarrow": False, "font": font, "xanchor": "left", "yanchor": "bottom"}
        for index, text in enumerate(text for text in (left, right) if text)
    ]


def _plot_pairs(title: str, left: str, right: str) -> Plot:
    """Two panels side by side, each titled at its left edge (see :func:`_pairs`), as a Plot."""
    plot = Plot(panels=2)
    plot.update_layout(annotations=_panel_titles(left, right))
    plot.update_layout(title={"text": title}, height=theme.FIGURE_HEIGHT_PX, margin={"t": 96})
    return plot


def _pairs(title: str, left: str, right: str) -> go.Figure:
    """Two panels side by side, each titled at its left edge.

    The panel titles are the annotations ``make_subplots(subplot_titles=...)`` would place (at the
    top of the panels' common domain, y = 1; an empty title has none), restyled (13 px, muted,
    left-anchored at x = 0 and 0.56), given in one ``update_layout``: each restyling of plotly's
    own would validate every annotation again.
    """
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, horizontal_spacing=PANEL_GAP)
    figure.update_layout(
        annotations=_panel_titles(left, right)
    )  # where make_subplots puts them: the same JSON
    attach_theme(figure)
    figure.update_layout(title={"text": title}, height=theme.FIGURE_HEIGHT_PX, margin={"t": 96})
    return figure


def _full_height(
    figure: go.Figure | Plot, shape: dict[str, Any], *, row: int | None = None, col: int | None = None
) -> None:
    """``shape`` (a line or rectangle from x0 to x1) across the whole height of a panel: what
    ``add_vline`` / ``add_vrect`` draw without an annotation (y from 0 to 1 of the panel's domain;
    a panel given by ``row`` and ``col``, empty panels skipped, as plotly does), added in one
    ``add_shape``: plotly's own assigns the figure's shapes and annotations again after adding
    it, each assignment validating all of them."""
    if isinstance(figure, Plot):
        figure.add_shape({**shape, "y0": 0, "y1": 1, "yref": "y domain", "xref": "x"}, col=col)
        return
    panel: dict[str, Any] = (
        {"row": row, "col": col, "exclude_empty_subplots": True} if row is not None else {"xref": "x"}
    )
    figure.add_shape(**shape, y0=0, y1=1, yref="y domain", **panel)


def _require(frame: Any, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError naming the ``columns`` a figure (``what``) needs that ``frame`` (a
    :class:`~tokencost.sweep.table.Table` or a DataFrame) lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; got {list(frame.columns)}")
