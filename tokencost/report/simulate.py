"""The simulate page (HTML, as a string) and the text the CLI prints for ``simulate`` and ``plan``.

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

from tokencost.sim.frames import frames

if TYPE_CHECKING:
    from tokencost.sim.metrics import SimulationResult
from tokencost.report.figures.simulation import latency_cdf_figure, series_figure, slo_attainment, slo_figure

FIGURE_IDS = ("sim-latency-cdf", "sim-series", "sim-slo")
PlotlyJs = Literal["inline", "cdn"]
STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:24px;color:#1f2933}"
    "table{border-collapse:collapse}"
    "th,td{text-align:left;padding:3px 12px;border-bottom:1px solid #e4e7eb}"
    "footer{color:#616e7c;font-size:13px;margin-top:32px}"
)


# HTML ------------------------------------------------------------------------------------------
def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _summary_table(summary: dict[str, Any]) -> str:
    rows = []
    for key in (
        "requests_completed",
        "requests_dropped",
        "throughput_output_tokens_per_s",
        "goodput_fraction",
        "meets_slo",
        "usd_per_million_output_tokens",
        "busy_fraction",
        "mean_batch_size",
        "mean_queue_length",
        "kv_peak_fraction",
        "preemptions",
        "replicas",
        "gpus_required",
        "request_rate_per_s",
        "duration_s",
    ):
        rows.append(f"<tr><th>{escape(key)}</th><td>{_number(summary.get(key))}</td></tr>")
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_latency_s"):
        stats = summary.get(key) or {}
        cells = "".join(
            f"{escape(name)} {_number(stats.get(name))} " for name in ("mean", "p50", "p90", "p99")
        )
        rows.append(f"<tr><th>{escape(key)}</th><td>{cells}</td></tr>")
    reasons = summary.get("dropped_reasons") or {}
    for reason, count in reasons.items():
        rows.append(f"<tr><th>dropped</th><td>{count:,} × {escape(reason)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def render_simulation_report(result: SimulationResult, *, plotlyjs: PlotlyJs = "inline") -> str:
    """The report as one HTML string (deterministic for the same result, sim_wall_time_s aside)."""
    import plotly.io as pio

    from tokencost._version import __version__

    tables = frames(result)
    summary = result.to_dict()
    figures = (
        latency_cdf_figure(tables["requests"], slo_ttft_s=result.slo_ttft_s, slo_tpot_s=result.slo_tpot_s),
        series_figure(tables["series"]),
        slo_figure(
            slo_attainment(tables["requests"], slo_ttft_s=result.slo_ttft_s, slo_tpot_s=result.slo_tpot_s),
            percentile=result.slo_percentile,
        ),
    )
    parts = []
    for position, (figure, div_id) in enumerate(zip(figures, FIGURE_IDS, strict=True)):
        include: bool | str = (True if plotlyjs == "inline" else "cdn") if position == 0 else False
        parts.append(
            pio.to_html(
                figure,
                include_plotlyjs=include,
                full_html=False,
                div_id=div_id,
                config={"displaylogo": False, "responsive": True},
            )
        )
    notes = "".join(f"<li>{escape(note)}</li>" for note in result.notes)
    inputs = (
        f"scenario {escape(result.name)} · seed {_number(result.seed)} · {result.replicas} replica(s) · "
        f"router {escape(result.router)} · batch ≤ {result.max_batch} · "
        f"{result.kv_blocks_per_replica:,} KV blocks per replica"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(result.name)} — simulation</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(result.name)}: simulated serving</h1>"
        f"{_summary_table(summary)}<ul>{notes}</ul>{''.join(parts)}"
        f"<footer>{inputs}<br>tokencost {escape(__version__)}</footer></body></html>\n"
    )


# text ------------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} s" if value >= 1.0 else f"{value * 1e3:.1f} ms"


def simulation_text(result: SimulationResult) -> str:
    """The human summary of a simulation (what ``tokencost simulate`` prints)."""
    data = result.to_dict()
    lines = [
        f"{result.name}: simulated {data['requests_arrived']:,} requests on {result.replicas} replica(s) "
        f"({data['gpus_required']} accelerators), router {result.router}, batch ≤ {result.max_batch}",
        "",
        f"  {'':<22}{'mean':>11}{'p50':>11}{'p90':>11}{'p99':>11}",
    ]
    for key, label in (
        ("ttft_s", "time to first token"),
        ("tpot_s", "time per output token"),
        ("itl_s", "inter-token latency"),
        ("e2e_latency_s", "end to end"),
    ):
        stats = data[key]
        lines.append(
            f"  {label:<22}" + "".join(f"{_ms(stats[name]):>11}" for name in ("mean", "p50", "p90", "p99"))
        )
    rate, slo = data["request_rate_per_s"], data["slo"]
    dropped = "".join(f"  ({count} × {reason})" for reason, count in data["dropped_reasons"].items())
    verdict = "met" if data["meets_slo"] else "missed"
    rows = (
        ("completed / dropped", f"{data['requests_completed']:,} / {data['requests_dropped']:,}{dropped}"),
        ("offered load", "trace" if rate is None else f"{rate:.4g} requests/s"),
        ("throughput", f"{_number(data['throughput_output_tokens_per_s'])} output tokens/s"),
        (
            "goodput",
            f"{data['goodput_fraction']:.1%} of requests meet TTFT ≤ {_number(slo['ttft_s'])} s "
            f"and TPOT ≤ {_number(slo['tpot_s'])} s",
        ),
        (
            f"SLO at p{slo['percentile']:g}",
            f"{verdict}: TTFT {_ms(slo['ttft_at_percentile_s'])}, TPOT {_ms(slo['tpot_at_percentile_s'])}",
        ),
        ("busy", f"{_number(data['busy_fraction'])} of the time"),
        (
            "batch / queue / KV",
            f"mean batch {_number(data['mean_batch_size'])} per replica, mean queue "
            f"{_number(data['mean_queue_length'])}, KV peak {_number(data['kv_peak_fraction'])}",
        ),
        ("preemptions", f"{data['preemptions']:,}"),
        (
            "cost",
            f"${_number(data['usd_per_million_output_tokens'])} per million output tokens at the "
            f"simulated utilisation (${data['usd_per_hour_fleet']:.2f}/hour)",
        ),
        ("simulated", f"{data['duration_s']:.1f} s in {data['sim_wall_time_s']:.2f} s of wall time"),
    )
    lines += ["", *(f"  {label:<22}{value}" for label, value in rows)]
    lines += [f"note: {note}" for note in data["notes"]]
    return "\n".join(lines)


def plan_text(plan: Any) -> str:
    """The human summary of a :class:`tokencost.plan.planner.Plan`."""
    data = plan.to_dict()
    if data["replicas"] is None:
        return f"no plan meets the SLO at {data['request_rate_per_s']:.4g} requests/s: {data['reason']}"
    verdict = "meets" if data["meets_slo"] else "misses"
    lines = [
        f"plan: {data['replicas']} × {data['hardware']} TP{data['tensor_parallel']} "
        f"({data['gpus_required']} accelerators), batch ≤ {data['max_batch']}, "
        f"{verdict} the SLO at {data['request_rate_per_s']:.4g} requests/s",
        f"  ${data['usd_per_day']:,.2f} a day; ${data['usd_per_million_tokens']:.4g} per million tokens, "
        f"${data['usd_per_million_output_tokens']:.4g} per million output tokens",
        f"  binds: {data['reason']}",
    ]
    simulated = data["simulated"] or {}
    slo = simulated.get("slo") or {}
    if slo:
        lines.append(
            f"  simulated p{slo['percentile']:g}: TTFT {_ms(slo['ttft_at_percentile_s'])}, "
            f"TPOT {_ms(slo['tpot_at_percentile_s'])}; goodput {simulated['goodput_fraction']:.1%}"
        )
    cheaper = data["next_cheaper"]
    if cheaper:
        option = f"{cheaper['replicas']} × {cheaper['hardware']} TP{cheaper['tensor_parallel']}"
        lines.append(
            f"  next cheaper: {option} batch ≤ {cheaper['max_batch']} (${cheaper['usd_per_day']:,.2f} a day) "
            f"fails: {cheaper['reason']}"
        )
    for item in data["rejected"]:
        lines.append(f"  rejected: {item['hardware']} TP{item['tensor_parallel']}: {item['reason']}")
    return "\n".join(lines)
