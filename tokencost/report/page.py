"""The page shell every report shares: head, footer, headline cards, badges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Literal

import plotly
import plotly.graph_objects as go
import plotly.io as pio

from tokencost._version import __version__
from tokencost.report import format as fmt
from tokencost.report import theme
from tokencost.report.figures.plot import Plot
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario

PlotlyJs = Literal["inline", "cdn"]
Timestamp = dt.datetime | dt.date | str | None


# ------------------------------------------------------------------------------- figures


class _Figures:
    """Turns figures into ``<div>``s: plotly.js with the first only, fixed div ids.

    A :class:`Plot` is written from its dicts with validation off (built to serialise as its
    validated ``Figure`` does); a plotly ``Figure`` as it is."""

    def __init__(self, plotlyjs: str) -> None:
        if plotlyjs not in ("inline", "cdn"):
            raise ValueError(f"plotlyjs must be 'inline' or 'cdn', got {plotlyjs!r}")
        self._include: bool | str = True if plotlyjs == "inline" else "cdn"
        self.ids: list[str] = []

    def embed(self, figure: go.Figure | Plot, div_id: str) -> str:
        if div_id in self.ids:
            raise ValueError(f"duplicate figure id {div_id!r}")
        self.ids.append(div_id)
        markup = pio.to_html(
            figure.to_dict() if isinstance(figure, Plot) else figure,
            include_plotlyjs=self._include,
            full_html=False,
            div_id=div_id,
            config=theme.CONFIG,
            validate=False,
            default_height=f"{theme.FIGURE_HEIGHT_PX}px",
        )
        self._include = False
        return f'<div class="figure">{markup}</div>'


def _subtitle(scenario: Scenario, evaluation: Evaluation) -> str:
    count = evaluation.accelerators_per_replica
    layout = f"{count}× {evaluation.hardware}"
    if evaluation.tensor_parallel > 1 or evaluation.pipeline_parallel > 1:
        layout += f" (tensor {evaluation.tensor_parallel} × pipeline {evaluation.pipeline_parallel})"
    return (
        f"{evaluation.model} on {layout} per replica · weights {evaluation.precision_weights}, "
        f"KV {evaluation.precision_kv_cache} · {fmt.count(evaluation.input_tokens)} input → "
        f"{fmt.count(evaluation.output_tokens)} output tokens per request"
    )


def _page(*, title: str, header: str, sections: list[tuple[str, str, str]], footer: str) -> str:
    toc = "".join(f'<a href="#{key}">{escape(label)}</a>' for key, label, _ in sections)
    body = "\n".join(f'<section id="{key}">{content}</section>' for key, _, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="tokencost {escape(__version__)}">\n'
        f"<title>{escape(title)}</title>\n<style>{theme.CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header class="top">{header}<nav class="toc">{toc}</nav></header>\n'
        f"{body}\n<footer>{footer}</footer>\n</main>\n</body>\n</html>\n"
    )


def _footer(timestamp: Timestamp) -> str:
    generated = ""
    if timestamp is not None:
        when = timestamp.isoformat() if isinstance(timestamp, dt.date) else str(timestamp)
        generated = f" · generated {escape(when)}"
    return (
        f"<p>Made with tokencost {escape(__version__)} (plotly {escape(plotly.__version__)})"
        f"{generated}. An analytic roofline model: estimates, not measurements.</p>"
        "<p>Figures are interactive: hover for values, drag to zoom, double-click to reset.</p>"
    )


def _card(label: str, value: str, note: str = "", kind: str = "", badge: str = "") -> str:
    """A headline card; ``note`` and ``badge`` are HTML already escaped by the caller."""
    note_html = f'<div class="note">{badge}{" " if badge else ""}{note}</div>' if note or badge else ""
    return (
        f'<div class="card {kind}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{note_html}</div>'
    )


def _plural(number: int, word: str) -> str:
    return f"{fmt.count(number)} {word}{'' if number == 1 else 's'}"


def _slo_badge(value: float | None, target: float | None) -> str:
    if target is None or value is None:
        return ""
    met = value <= target
    word = "✓ meets" if met else "✗ misses"
    return f'<span class="badge {"ok" if met else "miss"}">{word} {escape(fmt.seconds(target))}</span>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain table of text cells (escaped here)."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
