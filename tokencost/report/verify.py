"""The verify page: predicted against measured times, as one HTML file's text."""

from __future__ import annotations

import html

from tokencost.machine.verify import ERROR_BAND_FRACTION, TERM_LABELS, Verification, _case_cells, drift_text
from tokencost.report.figures.verify import scatter_figure


def _html_table(result: Verification) -> str:
    head = [
        "case",
        "measured (ms)",
        "min–max (ms)",
        "predicted (ms)",
        "error",
        "model (ms)",
        "bound",
        *(f"{label} (ms)" for label in TERM_LABELS.values()),
    ]
    body = []
    for case in result.cases:
        cells = _case_cells(case)
        body.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(cell)}</th>" for cell in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


PAGE_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2933;"
    "max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;font-size:14px}"
    "td,th{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}footer{color:#616e7c;font-size:13px;margin-top:2em}"
)


def render_html(result: Verification) -> str:
    """A self-contained page (plotly.js embedded): the scatter and the table. Strings escaped."""
    from tokencost._version import __version__

    figure = scatter_figure(result).to_html(full_html=False, include_plotlyjs=True, div_id="verify-scatter")
    hardware = result.hardware
    c = result.config
    facts = (
        f"median |error| {result.median_abs_error:.1%} over {len(result.cases)} cases "
        f"(target ≤ {ERROR_BAND_FRACTION:.0%}); {result.repeats} repetitions each; "
        f"wall {result.wall_s:.1f} s; load average {result.load_average[0]} → {result.load_average[1]}"
    )
    facts += f". Machine now vs profile (reported, not used): {drift_text(result.drift)}"
    source = f"{hardware.get('name', '?')}: {hardware.get('source', '?')} (profile {result.profile_source})"
    config = (
        f"reference: {c.layers} layer, d_model {c.d_model}, heads {c.heads}, kv_heads {c.kv_heads}, "
        f"ffn {c.ffn_dim}, vocab {c.vocab}, {c.dtype}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tokencost verify</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>tokencost verify</h1><p>{html.escape(facts)}</p>{figure}{_html_table(result)}"
        "<p>model = the roofline of tokencost.model (size-dependent compute efficiency and per-pass "
        "fixed cost from the calibration); the last two columns are work the numpy reference does "
        "beyond a serving engine, counted from its code and timed at calibrated rates.</p>"
        f"<footer>{html.escape(config)}<br>{html.escape(source)}<br>tokencost {html.escape(__version__)}"
        "</footer></body></html>"
    )
