"""The plan page (``tokencost plan -o``): the deployment chosen, every option tried by cost and
why each cheaper one fails, and for a mixed fleet its pools against the best single type.

Rendered from ``Plan.to_dict()`` only (the JSON ``plan --json`` prints), so the page and the JSON
cannot disagree; every string from the scenario or a reason is escaped here.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tokencost.report import format as fmt
from tokencost.report.figures.plan import STAGE_WORDS, buckets_plot, option_kind, options_plot, pools_plot
from tokencost.report.page import PlotlyJs, _card, _Figures, _footer, _page, _slo_badge, _table

FIGURE_IDS = ("fig-plan-options", "fig-plan-pools", "fig-plan-buckets")
MAX_TABLE_ROWS = 60


def render_plan_report(data: dict[str, Any], name: str, *, plotlyjs: PlotlyJs = "inline") -> str:
    """The page as one HTML string (the same plan gives the same bytes)."""
    embed = _Figures(plotlyjs)
    sections = [("headline", "Headline", _headline(data))]
    if data.get("mixed"):
        sections.append(
            (
                "pools",
                "Pools",
                '<h2>The mixed fleet, pool by pool</h2><p class="caption">Requests routed by prompt '
                "length, each pool sized by simulation on its share of the load.</p>"
                + embed.embed(pools_plot(data["pools"], data.get("single_type")), FIGURE_IDS[1])
                + _pools_table(data["pools"]),
            )
        )
    if data.get("buckets"):
        sections.append(
            (
                "buckets",
                "By length",
                '<h2>Which hardware is cheapest for which requests</h2><p class="caption">Each '
                "hardware's cheapest layout, USD per million output tokens at its analytic capacity "
                "within the SLO, for the requests of each prompt-length bucket (bucket mean lengths; "
                "no bar: the hardware cannot serve them within the SLO).</p>"
                + embed.embed(buckets_plot(data["buckets"]), FIGURE_IDS[2]),
            )
        )
    options = list(data.get("options") or ())
    if options:
        searched = (
            "The single-type search's layouts and fleets" if data.get("mixed") else "Every layout and fleet"
        )
        sections.append(
            (
                "options",
                "Options",
                f'<h2>Options tried</h2><p class="caption">{searched} the planner weighed, '
                "cheapest first, and why each is not the plan. Colours: "
                + escape(", ".join(f"{word}" for word in STAGE_WORDS.values()))
                + ".</p>"
                + embed.embed(options_plot(options), FIGURE_IDS[0])
                + _options_table(options),
            )
        )
    rate = data.get("request_rate_per_s")
    load = f"{rate:.4g} requests/s" if rate is not None else "no load"
    header = (
        f'<p class="eyebrow">tokencost plan</p><h1>{escape(name)}</h1>'
        f'<p class="subtitle">The cheapest deployment that meets the SLO at {escape(load)}</p>'
    )
    return _page(title=f"{name} · tokencost plan", header=header, sections=sections, footer=_footer(None))


def _headline(data: dict[str, Any]) -> str:
    if not data.get("meets_slo") or data.get("replicas") is None:
        return _card("No plan", "no deployment meets the SLO", escape(str(data.get("reason") or "")))
    slo = (data.get("simulated") or {}).get("slo") or {}
    pct = f"p{slo.get('percentile', 99):g}"
    cards = [
        _card("Deployment", _deployment(data), escape(f"{data['gpus_required']:,} accelerators"), "fleet"),
        _card("Cost", f"{fmt.usd(data['usd_per_day'])} a day", escape(_per_output(data))),
        _card(
            f"TTFT ({pct}, simulated)",
            fmt.seconds(slo.get("ttft_at_percentile_s")),
            badge=_slo_badge(slo.get("ttft_at_percentile_s"), slo.get("ttft_s")),
        ),
        _card(
            f"TPOT ({pct}, simulated)",
            fmt.seconds(slo.get("tpot_at_percentile_s")),
            badge=_slo_badge(slo.get("tpot_at_percentile_s"), slo.get("tpot_s")),
        ),
    ]
    single = data.get("single_type")
    if data.get("mixed") and single and single.get("usd_per_day"):
        saving = 1 - data["usd_per_day"] / single["usd_per_day"]
        cards.append(
            _card(
                "Against one type",
                f"{saving:.1%} less",
                escape(f"{_deployment(single)} at {fmt.usd(single['usd_per_day'])} a day"),
                "fleet",
            )
        )
    why = escape(str(data.get("mixed_reason") or data.get("reason") or ""))
    return f'<div class="cards">{"".join(cards)}</div><p class="caption">{why}</p>'


def _deployment(data: dict[str, Any]) -> str:
    if data.get("mixed"):
        return " + ".join(
            f"{p['replicas']} × {p['hardware']} TP{p['tensor_parallel']}" for p in data["pools"]
        )
    return f"{data['replicas']} × {data['hardware']} TP{data['tensor_parallel']}"


def _per_output(data: dict[str, Any]) -> str:
    value = data.get("usd_per_million_output_tokens")
    return "" if value is None else f"{fmt.usd(value)} per million output tokens"


def _pools_table(pools: list[dict[str, Any]]) -> str:
    rows = []
    for pool in pools:
        slo = (pool.get("simulated") or {}).get("slo") or {}
        low, high = pool["prompt_tokens"]
        rows.append(
            (
                f"{low:,}–{high:,}",
                f"{pool['request_rate_per_s']:.4g}",
                f"{pool['replicas']} × {pool['hardware']} TP{pool['tensor_parallel']}",
                fmt.usd(pool["usd_per_day"]),
                _latency(slo.get("ttft_at_percentile_s"), slo.get("tpot_at_percentile_s")),
                "yes" if pool.get("meets_slo") else "no",
            )
        )
    header = ("prompt tokens", "requests/s", "fleet", "$ a day", "TTFT / TPOT (simulated)", "meets SLO")
    return _table(header, rows)


def _options_table(options: list[dict[str, Any]]) -> str:
    rows = []
    for row in options[:MAX_TABLE_ROWS]:
        cost = row.get("usd_per_day")
        least = row.get("usd_per_day_at_least")
        shown = fmt.usd(cost) if cost is not None else (f"≥ {fmt.usd(least)}" if least is not None else "—")
        fleet = "—" if row.get("replicas") is None else f"{row['replicas']:,} × {row['gpus_per_replica']}"
        latency = "—"
        if row.get("ttft_at_percentile_s") is not None:
            latency = (
                f"{fmt.seconds(row['ttft_at_percentile_s'])} / {fmt.seconds(row.get('tpot_at_percentile_s'))}"
            )
        rows.append(
            (
                str(row["rank"]),
                row["label"],
                option_kind(row),
                fleet,
                shown,
                latency,
                str(row.get("reason") or ""),
            )
        )
    table = _table(("#", "option", "outcome", "replicas × GPUs", "$ a day", "TTFT / TPOT", "why"), rows)
    more = len(options) - MAX_TABLE_ROWS
    return table + (
        f'<p class="caption">{more:,} more options in <code>plan --json</code>.</p>' if more > 0 else ""
    )


def _latency(ttft_s: float | None, tpot_s: float | None) -> str:
    return f"{fmt.seconds(ttft_s)} / {fmt.seconds(tpot_s)}"
