"""The report's look: one restrained palette, a plotly template and the page's CSS.

Colours carry meaning and are the same in every figure: prefill is blue (compute-bound, one
parallel pass), decode is amber (memory-bound, one pass per token), communication is grey,
limits (memory, SLOs) are red. Fonts are the reader's system fonts: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"
PAPER = "#ffffff"
PREFILL = "#2f6fba"
DECODE = "#d9822b"
COMM = "#9aa5b1"
LIMIT = "#c0392b"
GOOD = "#2f8a5f"
ROOF = "#3e4c59"
SOFT_LIMIT = "rgba(192, 57, 43, 0.07)"
QUALITATIVE = (PREFILL, DECODE, "#2f8a5f", "#7b5ea7", "#b44b73", "#4f9aa8", COMM)

FONT_STACK = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", '
    '"Liberation Sans", sans-serif'
)
MONO_STACK = 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace'

FIGURE_HEIGHT_PX = 420
CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}


def _axis() -> dict[str, Any]:
    return {
        "gridcolor": GRID,
        "linecolor": "#9aa5b1",
        "zerolinecolor": GRID,
        "ticks": "outside",
        "tickcolor": "#cbd2d9",
        "ticklen": 4,
        "showline": True,
        "automargin": True,
        "title": {"font": {"size": 13, "color": MUTED}, "standoff": 10},
        "tickfont": {"size": 12, "color": MUTED},
    }


TEMPLATE: dict[str, Any] = {
    "layout": {
        "font": {"family": FONT_STACK, "size": 13, "color": INK},
        "title": {"x": 0.0, "xanchor": "left", "xref": "paper", "font": {"size": 16, "color": INK}},
        "paper_bgcolor": PAPER,
        "plot_bgcolor": PAPER,
        "colorway": list(QUALITATIVE),
        "xaxis": _axis(),
        "yaxis": _axis(),
        "legend": {"bgcolor": "rgba(255,255,255,0.8)", "font": {"size": 12, "color": INK}},
        "hoverlabel": {"font": {"family": FONT_STACK, "size": 12}},
        "margin": {"l": 64, "r": 24, "t": 64, "b": 56},
        "height": FIGURE_HEIGHT_PX,
    }
}

_RULES = """
:root {
  --ink: #1f2933; --muted: #616e7c; --faint: #9aa5b1; --line: #e4e7eb; --bg: #f7f8fa;
  --card: #ffffff; --accent: #2f6fba; --decode: #d9822b; --bad: #c0392b; --good: #2f8a5f;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.6 var(--sans); }
main { max-width: 1120px; margin: 0 auto; padding: 40px 32px 24px; }
header.top { margin-bottom: 28px; }
.eyebrow { font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: var(--muted);
  font-weight: 600; margin: 0 0 6px; }
h1 { font-size: 30px; line-height: 1.2; margin: 0 0 8px; font-weight: 700; letter-spacing: -.01em;
  overflow-wrap: anywhere; }
.subtitle { color: var(--muted); margin: 0; font-size: 15px; }
.description { margin: 10px 0 0; max-width: 80ch; }
nav.toc { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 18px 0 0; padding: 10px 0 0;
  border-top: 1px solid var(--line); font-size: 13px; }
nav.toc a { color: var(--muted); text-decoration: none; }
nav.toc a:hover { color: var(--accent); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 24px 28px; margin: 0 0 20px; }
h2 { font-size: 19px; margin: 0 0 6px; letter-spacing: -.005em; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.caption { color: #3e4c59; margin: 0 0 14px; max-width: 88ch; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin: 0 0 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.card .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em;
  font-weight: 600; }
.card .value { font-size: 26px; font-weight: 650; margin: 2px 0 0; font-variant-numeric: tabular-nums;
  letter-spacing: -.01em; }
.card .note { font-size: 12.5px; color: var(--muted); margin-top: 2px; }
.card.prefill { border-top: 3px solid var(--accent); }
.card.decode { border-top: 3px solid var(--decode); }
.card.fleet { border-top: 3px solid var(--faint); }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 7px; border-radius: 99px;
  white-space: nowrap; margin-right: 2px; }
.badge.ok { background: #e3f4ea; color: var(--good); }
.badge.miss { background: #fbe9e7; color: var(--bad); }
.callout { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--decode);
  border-radius: 10px; padding: 14px 18px; margin: 0 0 20px; }
.callout p { margin: 0; }
.callout.bad { border-left-color: var(--bad); }
.infeasible h2 { color: var(--bad); }
.figure { margin: 4px 0 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12.5px; text-transform: uppercase;
  letter-spacing: .04em; }
td.num, th.num { text-align: right; white-space: nowrap; }
.scroll { overflow-x: auto; }
.muted { color: var(--muted); font-size: 13px; }
td.key { white-space: nowrap; font-family: var(--mono); font-size: 13px; color: #3e4c59; }
.formulas { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px; }
.inputs { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px 20px;
  align-items: start; }
.inputs table { font-size: 13px; }
.inputs th { background: #f7f8fa; }
.formula { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.formula .what { font-weight: 600; margin-bottom: 4px; }
.formula .general { font-family: var(--mono); font-size: 13px; color: var(--muted); }
.formula .numbers { font-family: var(--mono); font-size: 13.5px; margin-top: 4px; overflow-wrap: anywhere; }
.formula .numbers b { color: var(--ink); }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
ul.sources { padding-left: 18px; margin: 6px 0; }
ul.sources li { margin: 3px 0; overflow-wrap: anywhere; }
a { color: var(--accent); }
footer { color: var(--muted); font-size: 13px; padding: 8px 4px 32px; }
footer p { margin: 4px 0; }
@media (max-width: 860px) {
  .cards, .inputs, .formulas { grid-template-columns: repeat(2, minmax(0, 1fr)); } .two { display: block; }
}
@media print { body { background: #fff; } section, .card { break-inside: avoid; } nav.toc { display: none; } }
"""
CSS = f":root {{ --sans: {FONT_STACK}; --mono: {MONO_STACK}; }}" + _RULES
