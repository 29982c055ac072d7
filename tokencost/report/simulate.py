"""The simulate page (HTML, as a string); the CLI prints its own tables (:mod:`tokencost.cli.sim_text`).

* The tables come from :func:`tokencost.sim.frames.frames` (pandas, imported only there).
* The figures are in :mod:`tokencost.report.figures.simulation` (pure: DataFrames in, a Figure out).
* :func:`tokencost.report.writer.write_simulation_report` writes it: plotly.js embedded once (with the first
  figure), stable div ids (``sim-latency-cdf``, ``sim-series``, ``sim-slo``), every user string
  escaped, the package version and the inputs in the footer, written atomically (a temporary file
  in the target folder, then ``os.replace``).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any, Literal

from tokencost.report import format as fmt
from tokencost.report.figures.simulation import latency_cdf_figure, series_figure, slo_attainment, slo_figure
from tokencost.report.page import _card, _Figures, _footer, _page, _slo_badge
from tokencost.sim.frames import frames

if TYPE_CHECKING:
    from tokencost.sim.metrics import SimulationResult

FIGURE_IDS = ("sim-latency-cdf", "sim-series", "sim-slo")
PlotlyJs = Literal["inline", "cdn"]


# HTML ------------------------------------------------------------------------------------------
LATENCY_ROWS = (
    ("ttft_s", "Time to first token"),
    ("tpot_s", "Time per output token"),
    ("itl_s", "Inter-token latency"),
    ("e2e_latency_s", "End to end"),
)


def _interval(stats: dict[str, Any], name: str) -> str:
    interval = (stats.get("ci95") or {}).get(name)
    if not interval:
        return ""
    return f' <span class="ci">[{fmt.seconds(interval[0])}, {fmt.seconds(interval[1])}]</span>'


def _latency_table(summary: dict[str, Any]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{name}</th>" for name in ("mean", "p50", "p90", "p99")) + "</tr>"
    rows = []
    for key, label in LATENCY_ROWS:
        stats = summary.get(key) or {}
        cells = []
        for name in ("mean", "p50", "p90", "p99"):
            ci = _interval(stats, name) if name in ("mean", "p99") else ""
            cells.append(f"<td>{escape(fmt.seconds(stats.get(name)))}{ci}</td>")
        rows.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    return f'<div class="table-scroll"><table class="data">{head}{"".join(rows)}</table></div>'


def _headline(result: SimulationResult, summary: dict[str, Any]) -> str:
    cards = _latency_cards(result, summary) + _fleet_cards(result, summary)
    notes = "".join(f"<p>{escape(note)}</p>" for note in result.notes)
    caption = (
        "Served request by request on the model's step times: continuous batching, a router over "
        "the replicas, a paged KV cache. The first and last "
        f"{fmt.percent(result.warmup_fraction)} of arrivals are left out (warm-up and drain); "
        "means and p99s carry 95 % confidence intervals from batch means."
    )
    return (
        f'<h2>Headline</h2><p class="caption">{escape(caption)}</p>'
        f'<div class="cards">{"".join(cards)}</div>{notes}'
        f"<h3>Latency distributions</h3>{_latency_table(summary)}"
    )


def _latency_cards(result: SimulationResult, summary: dict[str, Any]) -> list[str]:
    """The price per million output tokens, TTFT and TPOT (with SLO badges) and the goodput."""
    slo = summary.get("slo") or {}
    at = f"p{result.slo_percentile:g}"
    ttft, tpot = summary.get("ttft_s") or {}, summary.get("tpot_s") or {}
    return [
        _card(
            "$ / M output tokens",
            fmt.usd(summary.get("usd_per_million_output_tokens")),
            escape(
                "the fleet's cost over the measured window, decode share; "
                f"{fmt.usd(summary.get('usd_per_hour_fleet'))}/h fleet"
            ),
            "decode",
        ),
        _card(
            "Time to first token",
            fmt.seconds(ttft.get("mean")),
            escape(f"mean; p99 {fmt.seconds(ttft.get('p99'))}"),
            "prefill",
            _slo_badge(slo.get("ttft_at_percentile_s"), result.slo_ttft_s),
        ),
        _card(
            "Time per output token",
            fmt.seconds(tpot.get("mean")),
            escape(f"mean; p99 {fmt.seconds(tpot.get('p99'))}"),
            "decode",
            _slo_badge(slo.get("tpot_at_percentile_s"), result.slo_tpot_s),
        ),
        _card(
            "Goodput",
            fmt.percent(summary.get("goodput_fraction")),
            escape(
                f"of requests meet both targets; SLO at {at} "
                f"{'met' if summary.get('meets_slo') else 'missed'}"
            ),
            "fleet",
        ),
    ]


def _fleet_cards(result: SimulationResult, summary: dict[str, Any]) -> list[str]:
    """Throughput, the decode batch, the replicas and the requests counted."""
    window = summary.get("window") or {}
    return [
        *_pool_cards(summary),
        _card(
            "Output tokens / s",
            fmt.number(summary.get("throughput_output_tokens_per_s")),
            escape(f"whole fleet, offered {fmt.number(summary.get('request_rate_per_s'))} requests/s"),
            "decode",
        ),
        _card(
            "Sequences in decode",
            fmt.number(summary.get("mean_batch_size")),
            escape(
                f"mean per replica (at most {fmt.count(result.max_batch)}); "
                f"queue {fmt.number(summary.get('mean_queue_length'))}"
            ),
            "decode",
        ),
        _card(
            "Replicas",
            fmt.count(summary.get("replicas")),
            escape(
                f"busy {fmt.percent(summary.get('busy_fraction'))} of the time; "
                f"KV peak {fmt.percent(summary.get('kv_peak_fraction'))}"
            ),
            "fleet",
        ),
        _card(
            "Requests",
            fmt.count(summary.get("requests_completed")),
            escape(
                f"completed, {fmt.count(summary.get('requests_dropped'))} dropped; "
                f"{fmt.count(window.get('requests'))} measured between {fmt.seconds(window.get('start_s'))} "
                f"and {fmt.seconds(window.get('end_s'))}"
            ),
            "fleet",
        ),
    ]


def _pool_cards(summary: dict[str, Any]) -> list[str]:
    """Disaggregated serving: each pool's replicas and busy time, and the KV transfer."""
    pools = summary.get("disaggregated")
    if not pools:
        return []
    return [
        _card(
            "Prefill pool",
            fmt.count(pools.get("prefill_replicas")),
            escape(
                f"replicas, busy {fmt.percent(pools.get('prefill_busy_fraction'))} of the time; "
                f"KV transfer {fmt.seconds(pools.get('kv_transfer_s'))} per request"
            ),
            "prefill",
        ),
        _card(
            "Decode pool",
            fmt.count(pools.get("decode_replicas")),
            escape(f"replicas, busy {fmt.percent(pools.get('decode_busy_fraction'))} of the time"),
            "decode",
        ),
    ]


def render_simulation_report(result: SimulationResult, *, plotlyjs: PlotlyJs = "inline") -> str:
    """The report as one HTML string (deterministic for the same result, sim_wall_time_s aside)."""
    tables = frames(result)
    summary = result.to_dict()
    embed = _Figures(plotlyjs)
    cdf = latency_cdf_figure(tables["requests"], slo_ttft_s=result.slo_ttft_s, slo_tpot_s=result.slo_tpot_s)
    series = series_figure(tables["series"])
    slo = slo_figure(
        slo_attainment(tables["requests"], slo_ttft_s=result.slo_ttft_s, slo_tpot_s=result.slo_tpot_s),
        percentile=result.slo_percentile,
    )
    sections = [
        ("headline", "Headline", _headline(result, summary)),
        (
            "latency",
            "Latency",
            '<h2>Latency, request by request</h2><p class="caption">The share of requests served within '
            "each time, with the targets.</p>" + embed.embed(cdf, FIGURE_IDS[0]),
        ),
        (
            "over-time",
            "Over time",
            '<h2>The fleet over time</h2><p class="caption">Requests waiting, sequences in the batch and '
            "KV cache in use, per replica.</p>" + embed.embed(series, FIGURE_IDS[1]),
        ),
        (
            "slo",
            "SLO",
            '<h2>Which targets would be met</h2><p class="caption">Goodput against a range of latency '
            "targets.</p>" + embed.embed(slo, FIGURE_IDS[2]),
        ),
    ]
    inputs = (
        f"Scenario {escape(result.name)} · seed {escape(str(result.seed))} · {result.replicas} replica(s) "
        f"simulated · router {escape(result.router)} · batch ≤ {result.max_batch} · "
        f"{result.kv_blocks_per_replica:,} KV blocks per replica"
    )
    header = (
        f'<p class="eyebrow">tokencost simulation</p><h1>{escape(result.name)}</h1>'
        f'<p class="subtitle">{inputs}</p>'
    )
    return _page(
        title=f"{result.name} · tokencost simulation",
        header=header,
        sections=sections,
        footer=_footer(None),
    )
