"""The run page's "How sure are we?" section: P10–P90 bands and the tornado."""

from __future__ import annotations

from html import escape

from tokencost.report import figures
from tokencost.report import format as fmt
from tokencost.report.page import _Figures
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario

BANDS = (
    ("ttft_s", "Time to first token", fmt.seconds),
    ("tpot_s", "Time per output token", fmt.seconds),
    ("throughput_output_tokens_per_s", "Output tokens / s (fleet)", fmt.number),
    ("usd_per_million_output_tokens", "$ / M output tokens", fmt.usd),
)


def _bands_table(ev: Evaluation) -> str:
    bands = ev.uncertainty or {}
    rows = []
    for key, label, show in BANDS:
        band = bands.get(key) or {}
        cells = "".join(f"<td>{escape(show(band.get(name)))}</td>" for name in ("p10", "p50", "p90"))
        rows.append(f"<tr><td>{escape(label)}</td><td>{escape(show(getattr(ev, key)))}</td>{cells}</tr>")
    head = "<tr><th></th><th>point estimate</th><th>P10</th><th>P50</th><th>P90</th></tr>"
    return f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def uncertainty_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    from tokencost.sweep.uncertainty import sensitivity_table

    bands = ev.uncertainty or {}
    caption = (
        "Every efficiency default is the median of public measurements, and the measurements spread "
        "around it. Drawn across that spread (" + str(bands.get("method", "")) + "), the headline "
        "figures fall in these bands; "
        f"{bands.get('infeasible_samples', 0)} of {bands.get('samples', 0)} draws did not fit."
    )
    tornado = (
        "One input at a time swung across its measured range, the others held: the longer the "
        "bar, the more that input's uncertainty moves the cost of an output token (at capacity, "
        "where an efficiency acts continuously; at a fixed load the fleet's bill moves only "
        "when a replica is added or removed)."
    )
    return (
        f'<h2>How sure are we?</h2><p class="caption">{escape(caption)}</p>{_bands_table(ev)}'
        f'<h3>What moves the cost most</h3><p class="caption">{escape(tornado)}</p>'
        + embed.embed(figures.tornado_plot(sensitivity_table(scenario, ev)), "fig-tornado")
    )
