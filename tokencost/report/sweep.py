"""The sweep page: the cost–latency Pareto front across configurations, and the best ones."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import TYPE_CHECKING, Any

from tokencost.report import figures
from tokencost.report import format as fmt
from tokencost.report.figures.sweep import deployment_label
from tokencost.report.page import PlotlyJs, _Figures, _footer, _page
from tokencost.sweep.spec import INDEX_COLUMN, SweepSpec

if TYPE_CHECKING:  # the summary's frames are pandas (sweep.pareto imports it); this module does not
    import pandas as pd

    from tokencost.sweep.pareto import SweepSummary

BEST_ROWS = 25


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return fmt.DASH
    if isinstance(value, float):
        return fmt.number(value)
    return str(value)


def _best_table(spec: SweepSpec, front: pd.DataFrame) -> str:
    """The front from cheapest to fastest (at most :data:`BEST_ROWS` rows)."""
    import pandas as pd

    axes = [axis for axis in spec.axes if axis in front.columns]
    head = "".join(
        f"<th>{escape(title)}</th>"
        for title in ("#", "$ / M output", "TPOT", "TTFT", "deployment", "accelerators", "meets SLO", *axes)
    )
    rows = []
    for _, row in front.head(BEST_ROWS).iterrows():
        cells = [
            str(int(row[INDEX_COLUMN])),
            fmt.usd(row["usd_per_million_output_tokens"]),
            fmt.seconds(row["tpot_s"]),
            fmt.seconds(row.get("ttft_s")),
            deployment_label(pd.DataFrame([row])).iloc[0],
            fmt.count(row.get("gpus_required")),
            {True: "yes", False: "no"}.get(row.get("meets_slo"), fmt.DASH),
            *(_value(row[axis]) for axis in axes),
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>")
    return (
        '<h2>The best configurations</h2><p class="caption">The Pareto front from the cheapest to the '
        f"fastest (first {BEST_ROWS} shown); # is the configuration's config_index in the table.</p>"
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table></div>"
    )


def _on_front(front: pd.DataFrame) -> str:
    """Which hardware, precision and parallelism the front is made of."""
    groups = (
        ("hardware", front["hardware"].astype(str)),
        (
            "precision (weights/KV)",
            front["precision_weights"].astype(str) + "/" + front["precision_kv_cache"].astype(str),
        ),
        (
            "parallelism",
            "TP "
            + front["tensor_parallel"].astype("Int64").astype(str)
            + " × PP "
            + front["pipeline_parallel"].astype("Int64").astype(str),
        ),
    )
    items = "".join(
        f"<li><strong>{escape(title)}</strong>: "
        + ", ".join(f"{escape(name)} ({count})" for name, count in Counter(values).most_common())
        + "</li>"
        for title, values in groups
    )
    return f'<h3>On the front</h3><ul class="sources">{items}</ul>'


def render_sweep_report(spec: SweepSpec, summary: SweepSummary, *, plotlyjs: PlotlyJs = "inline") -> str:
    """The sweep report's HTML (what :func:`~tokencost.report.writer.write_sweep_report` writes)."""
    embed = _Figures(plotlyjs)
    axes = "".join(
        f"<li><code>{escape(axis)}</code>: {len(values)} values, "
        f"{escape(_value(values[0]))} … {escape(_value(values[-1]))}</li>"
        for axis, values in spec.axes.items()
    )
    sampled = (
        f"; a {escape(spec.sample.method)} sample of {spec.sample.n:,} (seed {spec.sample.seed})"
        if spec.sample
        else ""
    )
    reasons = "".join(
        f"<li>{escape(kind)}: {count:,}</li>" for kind, count in sorted(summary.infeasible_reasons.items())
    )
    overview = (
        f"<h2>The sweep</h2><p>{summary.rows:,} configurations ({escape(spec.mode)} of the axes{sampled}); "
        f"{summary.feasible:,} feasible, {len(summary.front):,} on the Pareto front.</p>"
        f'<ul class="sources">{axes}</ul>'
        + (f'<h3>Not feasible</h3><ul class="sources">{reasons}</ul>' if reasons else "")
    )
    sections = [("sweep", "The sweep", overview)]
    if len(summary.front):
        chart = (
            '<h2>Cost against latency</h2><p class="caption">Mean time per output token against $ per '
            "million output tokens at the workload's load, both on log axes. Colour: hardware; shape: "
            "weight precision. Points below and left of the line do not exist.</p>"
            + embed.embed(figures.sweep_pareto_figure(summary.cloud, summary.front), "fig-sweep-pareto")
            + _on_front(summary.front)
        )
        sections += [("front", "Pareto front", chart), ("best", "Best", _best_table(spec, summary.front))]
    else:
        sections.append(
            ("front", "Pareto front", "<h2>Pareto front</h2><p>No configuration is feasible.</p>")
        )
    header = (
        f'<p class="eyebrow">tokencost sweep</p><h1>{escape(spec.name)}: {summary.rows:,} configurations</h1>'
        f'<p class="subtitle">{escape(" × ".join(spec.axes))}</p>'
    )
    return _page(
        title=f"Sweep {spec.name} · tokencost", header=header, sections=sections, footer=_footer(None)
    )
