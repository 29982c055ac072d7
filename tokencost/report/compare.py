"""The compare page: several scenarios side by side, and what differs in their inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from tokencost.report import figures
from tokencost.report import format as fmt
from tokencost.report.inputs import CATALOG_ONLY_INPUTS, _show, _sources, flatten_inputs
from tokencost.report.page import PlotlyJs, _card, _Figures, _footer, _page, _subtitle
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario

# ---------------------------------------------------------------------------- comparison

COMPARISON_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("usd_per_million_input_tokens", "$ / M input tokens", fmt.usd),
    ("usd_per_million_output_tokens", "$ / M output tokens", fmt.usd),
    ("ttft_s", "Time to first token", fmt.seconds),
    ("tpot_s", "Time per output token", fmt.seconds),
    ("throughput_output_tokens_per_s_per_gpu", "Output tokens/s per accelerator", fmt.number),
    ("batch_size", "Batch size", fmt.count),
    ("gpus_required", "Accelerators needed", fmt.count),
    ("usd_per_day", "Fleet cost per day", fmt.usd),
)


def _labels(scenarios: Sequence[Scenario]) -> list[str]:
    """``#1 name``, ``#2 name`` ...: the keys the comparison chart uses."""
    return [f"#{index + 1} {scenario.name}" for index, scenario in enumerate(scenarios)]


def input_differences(scenarios: Sequence[Scenario]) -> list[tuple[str, list[Any]]]:
    """Dotted input keys whose values differ between scenarios, with each scenario's value
    (None where a scenario does not have the key). Names, descriptions and catalog metadata
    (sources, dates, the per-precision FLOP/s table) are left out."""
    flats = [flatten_inputs(scenario) for scenario in scenarios]
    keys: list[str] = []
    for flat in flats:
        keys.extend(key for key in flat if key not in keys)
    rows = []
    for key in keys:
        if key in ("name", "description") or key.rsplit(".", 1)[-1] in CATALOG_ONLY_INPUTS:
            continue
        if ".flops_by_precision." in key:
            continue
        values = [flat.get(key) for flat in flats]
        if any(value != values[0] for value in values[1:]):
            rows.append((key, values))
    return rows


SAME_FRACTION = 0.0005  # below a twentieth of a percent reads as "same"
TIMES_FROM = 2.0  # from twice the first scenario's value, changes read "×3.2" instead of "+220%"


def _relative(value: float | None, base: float | None) -> str:
    if value is None or base is None or not base or not math.isfinite(value):
        return ""
    ratio = value / base
    if abs(ratio - 1.0) < SAME_FRACTION:
        return ""
    if ratio >= TIMES_FROM:
        return f" (×{fmt.number(ratio, 3)})"
    change = ratio - 1.0
    return f" ({'+' if change > 0 else '−'}{abs(change) * 100:.0f}%)"


def render_comparison(
    scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation], *, plotlyjs: PlotlyJs = "inline"
) -> str:
    """The comparison report's HTML as a string (what :func:`write_comparison_report` writes)."""
    if len(scenarios) != len(evaluations) or not scenarios:
        raise ValueError(
            f"need one evaluation per scenario, got {len(scenarios)} scenarios and "
            f"{len(evaluations)} evaluations"
        )
    labels = _labels(scenarios)
    head = "".join(
        f'<th title="{escape(scenario.name)}">#{index + 1}</th>' for index, scenario in enumerate(scenarios)
    )
    legend = "".join(
        f"<li><strong>#{index + 1}</strong> {escape(scenario.name)}"
        + (f" — {escape(scenario.description)}" if scenario.description else "")
        + f'<br><span class="muted">{escape(_subtitle(scenario, ev))}</span></li>'
        for index, (scenario, ev) in enumerate(zip(scenarios, evaluations, strict=True))
    )
    sections = [
        ("headline", "Headline", _headline(scenarios, evaluations)),
        ("scenarios", "Scenarios", f'<h2>The scenarios</h2><ul class="sources">{legend}</ul>'),
        ("changed", "What changed", _changed_inputs(scenarios, labels, head)),
        ("effect", "What it does", _comparison_table(labels, evaluations, head)),
        ("side-by-side", "Side by side", _side_by_side(scenarios, evaluations, _Figures(plotlyjs))),
        ("sources", "Sources", f"<h2>Sources</h2>{_sources(scenarios)}"),
    ]
    header = (
        f'<p class="eyebrow">tokencost comparison</p><h1>{len(scenarios)} scenarios compared</h1>'
        f'<p class="subtitle">{escape(" · ".join(labels))}</p>'
    )
    return _page(
        title=f"Comparison of {len(scenarios)} scenarios · tokencost",
        header=header,
        sections=sections,
        footer=_footer(None),
    )


def _changed_inputs(scenarios: Sequence[Scenario], labels: Sequence[str], head: str) -> str:
    """The "What changed" section: a table of the inputs that differ, one column per scenario."""
    diff_rows = "".join(
        f'<tr><td class="key">{escape(key)}</td>'
        + "".join(f"<td>{escape(fmt.DASH if value is None else _show(value, key))}</td>" for value in values)
        + "</tr>"
        for key, values in input_differences(scenarios)
    )
    if not diff_rows:
        diff_rows = (
            f'<tr><td colspan="{len(labels) + 1}">The inputs are identical apart from the names.</td></tr>'
        )
    return (
        f'<h2>What changed</h2><p class="caption">The inputs that differ between the scenarios '
        f"(dotted scenario fields, SI units). Everything else is the same.</p>"
        f'<div class="scroll"><table><thead><tr><th>input</th>{head}</tr></thead>'
        f"<tbody>{diff_rows}</tbody></table></div>"
    )


def _side_by_side(scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation], embed: _Figures) -> str:
    """The "Side by side" section: the comparison figure (infeasible scenarios as empty bars)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "label": [scenario.name for scenario in scenarios],
            **{
                column: [getattr(ev, column) if ev.feasible else None for ev in evaluations]
                for column, _, _ in figures.COMPARISON_METRICS
            },
        }
    )
    return (
        '<h2>Side by side</h2><p class="caption">The same numbers as bars. Lower is better for every '
        "panel: cheaper tokens, faster first token and stream, fewer accelerators, a smaller bill.</p>"
        + embed.embed(figures.comparison_figure(frame), "fig-comparison")
    )


def _headline(scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation]) -> str:
    """The cheapest output token, the fastest stream and the smallest bill, each with its scenario."""
    feasible = [(index, ev) for index, ev in enumerate(evaluations) if ev.feasible]
    if not feasible:
        return '<h2>Headline</h2><p class="caption">No scenario fits its hardware.</p>'

    def best(attribute: str) -> tuple[int, Evaluation]:
        return min(feasible, key=lambda item: float(getattr(item[1], attribute) or math.inf))

    cards = []
    for attribute, label, show, kind in (
        ("usd_per_million_output_tokens", "Cheapest output token", fmt.usd, "decode"),
        ("ttft_s", "Fastest first token", fmt.seconds, "prefill"),
        ("tpot_s", "Fastest stream", fmt.seconds, "decode"),
        ("usd_per_day", "Smallest bill", fmt.usd, "fleet"),
    ):
        index, ev = best(attribute)
        note = (
            f"#{index + 1} {scenarios[index].name} (per million, at its load)"
            if "usd_per_m" in attribute
            else (f"#{index + 1} {scenarios[index].name}")
        )
        cards.append(_card(label, show(getattr(ev, attribute)), escape(note), kind))
    skipped = len(evaluations) - len(feasible)
    caption = "The best of each headline figure across the scenarios, at each scenario's own load." + (
        f" {skipped} scenario(s) do not fit their hardware and are left out." if skipped else ""
    )
    return (
        f'<h2>Headline</h2><p class="caption">{escape(caption)}</p><div class="cards">{"".join(cards)}</div>'
    )


def _comparison_table(labels: Sequence[str], evaluations: Sequence[Evaluation], head: str) -> str:
    base = evaluations[0]
    rows = []
    for column, title, render in COMPARISON_ROWS:
        cells = []
        for ev in evaluations:
            if not ev.feasible:
                cells.append('<td class="num">infeasible</td>')
                continue
            value = getattr(ev, column)
            reference = getattr(base, column) if base.feasible and ev is not base else None
            cells.append(f'<td class="num">{escape(render(value) + _relative(value, reference))}</td>')
        rows.append(f"<tr><td>{escape(title)}</td>{''.join(cells)}</tr>")
    reasons = "".join(
        f"<li><strong>{escape(label)}</strong>: {escape(ev.infeasible_reason or 'infeasible')}</li>"
        for label, ev in zip(labels, evaluations, strict=True)
        if not ev.feasible
    )
    reasons_html = f'<h3>Infeasible</h3><ul class="sources">{reasons}</ul>' if reasons else ""
    head_num = head.replace("<th ", '<th class="num" ')
    return (
        f'<h2>What it does</h2><p class="caption">Headline numbers of each scenario; in brackets the '
        f'change against the first.</p><div class="scroll"><table><thead><tr><th>metric</th>{head_num}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{reasons_html}"
    )
