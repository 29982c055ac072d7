"""What ``tokencost simulate`` and ``tokencost plan`` print: rich tables from the results' dicts.

Read from ``SimulationResult.to_dict()`` and ``Plan.to_dict()`` (the same keys as ``--json``), so the
terminal and the JSON never disagree.
"""

from __future__ import annotations

from typing import Any

from tokencost.cli.common import Row, _count, _percent, _seconds, _usd
from tokencost.cli.render import rich_table

LATENCIES = (
    ("ttft_s", "time to first token"),
    ("tpot_s", "time per output token"),
    ("itl_s", "inter-token latency"),
    ("e2e_latency_s", "end to end"),
)
STATISTICS = ("mean", "p50", "p90", "p99")


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


def _latency_table(data: dict[str, Any]) -> str:
    rows = [
        [label, *(_seconds((data.get(key) or {}).get(name)) for name in STATISTICS)]
        for key, label in LATENCIES
    ]
    return rich_table(["latency", *STATISTICS], rows, right=(1, 2, 3, 4))


def _slo_row(data: dict[str, Any]) -> Row:
    slo = data.get("slo") or {}
    verdict = "met" if data.get("meets_slo") else "MISSED"
    at = f"p{slo.get('percentile', 99):g}"
    return (
        f"SLO at {at}",
        verdict,
        f"TTFT {_seconds(slo.get('ttft_at_percentile_s'))} (target {_seconds(slo.get('ttft_s'))}), "
        f"TPOT {_seconds(slo.get('tpot_at_percentile_s'))} (target {_seconds(slo.get('tpot_s'))})",
    )


def _summary_rows(data: dict[str, Any]) -> list[Row]:
    dropped = ", ".join(
        f"{count:,} × {reason}" for reason, count in (data.get("dropped_reasons") or {}).items()
    )
    rate = data.get("request_rate_per_s")
    pools = data.get("disaggregated")
    split: list[Row] = []
    if pools:
        split = [
            (
                "prefill + decode pools",
                f"{pools['prefill_replicas']} + {pools['decode_replicas']} replicas",
                f"busy {_percent(pools.get('prefill_busy_fraction'))} / "
                f"{_percent(pools.get('decode_busy_fraction'))}; "
                f"KV transfer {_seconds(pools.get('kv_transfer_s'))} per request",
            )
        ]
    return [
        *split,
        ("completed / dropped", f"{data['requests_completed']:,} / {data['requests_dropped']:,}", dropped),
        ("offered load", "trace" if rate is None else _count(rate, "req/s"), ""),
        ("throughput", _count(data.get("throughput_output_tokens_per_s"), "output tok/s"), ""),
        ("goodput", _percent(data.get("goodput_fraction")), "of requests meet both targets"),
        _slo_row(data),
        ("busy", _percent(data.get("busy_fraction")), "of the time"),
        ("mean batch per replica", _number(data.get("mean_batch_size")), ""),
        ("mean queue", _number(data.get("mean_queue_length")), ""),
        ("KV cache peak", _percent(data.get("kv_peak_fraction")), ""),
        ("preemptions", f"{data.get('preemptions', 0):,}", ""),
        (
            "$ per million output tokens",
            _usd(data.get("usd_per_million_output_tokens")),
            f"at the simulated utilisation; {_usd(data.get('usd_per_hour_fleet'))}/h fleet",
        ),
        (
            "simulated",
            _seconds(data.get("duration_s")),
            f"in {_seconds(data.get('sim_wall_time_s'))} of wall time",
        ),
        _window_row(data),
    ]


def _window_row(data: dict[str, Any]) -> Row:
    """Which requests were measured (warm-up and drain left out), and the CI of the means."""
    window = data.get("window") or {}
    tpot = ((data.get("tpot_s") or {}).get("ci95") or {}).get("mean")
    ci = f"; TPOT mean 95 % CI {_seconds(tpot[0])} to {_seconds(tpot[1])}" if tpot else ""
    return (
        "measured",
        f"{window.get('requests', 0):,} requests",
        f"arrivals from {_seconds(window.get('start_s'))} to {_seconds(window.get('end_s'))}{ci}",
    )


def simulation_summary(result: Any) -> str:
    """The terminal summary of a :class:`~tokencost.sim.metrics.SimulationResult`."""
    data = result.to_dict()
    heading = (
        f"{result.name}: simulated {data['requests_arrived']:,} requests on {result.replicas} replica(s) "
        f"({data['gpus_required']} accelerators), router {result.router}, batch ≤ {result.max_batch}"
    )
    summary = rich_table(["", "value", "detail"], _summary_rows(data), right=(1,))
    notes = [f"note: {note}" for note in data.get("notes") or ()]
    return "\n".join([heading, "", _latency_table(data), "", summary, *notes])


def plan_summary(plan: Any) -> str:
    """The terminal summary of a :class:`~tokencost.plan.planner.Plan`."""
    data = plan.to_dict()
    if data["replicas"] is None:
        return f"no plan meets the SLO at {data['request_rate_per_s']:.4g} requests/s: {data['reason']}"
    verdict = "meets" if data["meets_slo"] else "MISSES"
    if data.get("confirmed_by") == "analytic only":
        verdict += " (analytic only)"
    rows: list[Row] = [
        ("deployment", _deployment(data), _pools(data)),
        ("accelerators", f"{data['gpus_required']:,}", _batch_note(data)),
        ("load", _count(data["request_rate_per_s"], "req/s"), f"{verdict} the SLO"),
        ("$ per day", _usd(data["usd_per_day"]), ""),
        ("$ per million tokens", _usd(data["usd_per_million_tokens"]), "input and output"),
        ("$ per million output tokens", _usd(data["usd_per_million_output_tokens"]), ""),
        ("binds", data["binding_constraint"] or "—", data["reason"]),
    ]
    simulated = data.get("simulated") or {}
    slo = simulated.get("slo") or {}
    if slo:
        rows.append(
            (
                f"simulated p{slo['percentile']:g}",
                f"TTFT {_seconds(slo['ttft_at_percentile_s'])}",
                f"TPOT {_seconds(slo['tpot_at_percentile_s'])}; goodput "
                f"{_percent(simulated.get('goodput_fraction'))}",
            )
        )
    cheaper = data.get("next_cheaper")
    if cheaper:
        option = f"{cheaper['replicas']} × {cheaper['hardware']} TP{cheaper['tensor_parallel']}"
        rows.append(
            (
                "next cheaper",
                f"{option}, batch ≤ {cheaper['max_batch']}",
                f"{_usd(cheaper['usd_per_day'])} a day; fails: {cheaper['reason']}",
            )
        )
    rows += [
        ("rejected", item.get("label") or f"{item['hardware']} TP{item['tensor_parallel']}", _why(item))
        for item in data.get("rejected") or ()
    ]
    return "plan\n" + rich_table(["", "value", "detail"], rows, right=(1,))


def _why(item: dict[str, Any]) -> str:
    """A rejection's reason, with the prompt lengths it was screened for (a mixed plan's bucket)."""
    span = item.get("prompt_tokens")
    return item["reason"] if not span else f"prompts {span[0]}–{span[1]} tokens: {item['reason']}"


def _deployment(data: dict[str, Any]) -> str:
    """``3 × h100-sxm TP4 PP2``: replicas, hardware and the parallel degrees beyond one (a mixed
    fleet: its pools joined by ``+``)."""
    if data.get("mixed"):
        return " + ".join(_deployment({**pool, "mixed": False}) for pool in data["pools"])
    pipeline = data.get("pipeline_parallel") or 1
    expert = data.get("expert_parallel") or 1
    return (
        f"{data['replicas']} × {data['hardware']} TP{data['tensor_parallel']}"
        + (f" PP{pipeline}" if pipeline > 1 else "")
        + (f" EP{expert}" if expert > 1 else "")
    )


def _pools(data: dict[str, Any]) -> str:
    if data.get("mixed"):
        return "; ".join(
            f"prompts {pool['prompt_tokens'][0]}–{pool['prompt_tokens'][1]} tokens on {pool['hardware']}"
            for pool in data["pools"]
        )
    if not data.get("disaggregated"):
        return ""
    return f"disaggregated: {data['prefill_replicas']} prefill + {data['decode_replicas']} decode"


def _batch_note(data: dict[str, Any]) -> str:
    if data.get("mixed"):
        single = data.get("single_type") or {}
        usd = single.get("usd_per_day")
        return f"best single type: {_usd(usd)} a day" if usd is not None else ""
    return f"batch ≤ {data['max_batch']} per replica"


def plan_options_table(options: list[dict[str, Any]], percentile: float | None = None) -> str:
    """The options ``plan`` tried (``Plan.to_dict()["options"]``), cheapest first: stage, fleet,
    cost and, for each one that is not the plan, why (the target it misses, or its rejection)."""
    pct = f"p{percentile:g}" if percentile is not None else "p"
    rows: list[Row] = []
    for row in options:
        fleet = "—" if row.get("replicas") is None else f"{row['replicas']:,} × {row['gpus_per_replica']}"
        if row.get("prefill_replicas") is not None:
            fleet += f" ({row['prefill_replicas']}+{row['decode_replicas']})"
        cost = row["usd_per_day"]
        shown = _usd(cost) if cost is not None else f"≥ {_usd(row['usd_per_day_at_least'])}"
        if cost is None and row.get("usd_per_day_at_least") is None:
            shown = "—"
        latency = "—"
        if row.get("ttft_at_percentile_s") is not None or row.get("tpot_at_percentile_s") is not None:
            latency = (
                f"{_seconds(row.get('ttft_at_percentile_s'))} / {_seconds(row.get('tpot_at_percentile_s'))}"
            )
        mark = "plan" if row["chosen"] else ("cheaper" if row["cheaper_than_plan"] else "")
        rows.append(
            (
                f"{row['rank']}",
                row["label"],
                row["stage"],
                fleet,
                shown,
                latency,
                mark,
                row["reason"],
            )
        )
    header = ["#", "option", "stage", "replicas × GPUs", "$ per day", f"TTFT / TPOT ({pct})", "", "why"]
    return f"options tried ({len(rows)} shown, cheapest first)\n" + rich_table(header, rows, right=(0, 3, 4))
