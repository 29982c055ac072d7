"""``tokencost run``: evaluate a scenario, print the summary, write the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from tokencost.results import Evaluation
    from tokencost.scenario.scenario import Scenario
from tokencost.cli.check import CHECK_HELP, _check, _slo_misses
from tokencost.cli.common import (
    SECONDS_PER_DAY,
    Failure,
    PlotlyJs,
    Row,
    _bytes,
    _count,
    _deployment_text,
    _echo_report,
    _evaluate_feasible,
    _json,
    _load,
    _percent,
    _report_target,
    _seconds,
    _usd,
    _watts,
    _write_failed,
    app,
    guarded,
    table,
)
from tokencost.results import limited_by_text

# --------------------------------------------------------------------------- run


def _slo_note(value: float | None, target: float | None, percentile: float | None) -> str:
    if target is None or value is None:
        return ""
    verdict = "meets" if value <= target else "MISSES"
    return f"; p{percentile or 99:g} {verdict} SLO {_seconds(target)}"


def _latency_rows(ev: Evaluation) -> list[Row]:
    wait = f", {_seconds(ev.queue_wait_s)} of it queueing" if ev.queue_wait_s else ""
    return [
        ("Latency (mean at this load; p99 estimated)",),
        (
            "time to first token (TTFT)",
            _seconds(ev.ttft_s),
            f"p99 {_seconds(ev.ttft_p99_s)}; prefill {_seconds(ev.prefill.time_s)}, "
            f"{ev.prefill.bound}-bound{wait}{_slo_note(ev.ttft_p99_s, ev.slo_ttft_s, 99.0)}",
        ),
        (
            "time per output token (TPOT)",
            _seconds(ev.tpot_s),
            f"p99 {_seconds(ev.tpot_p99_s)}; decode, {ev.decode.bound}-bound"
            f"{_slo_note(ev.tpot_p99_s, ev.slo_tpot_s, 99.0)}",
        ),
        ("end-to-end latency", _seconds(ev.e2e_latency_s), f"{ev.output_tokens:,} output tokens"),
    ]


def _tokens_per_day(ev: Evaluation) -> str:
    if ev.request_rate_per_s is None:
        return ""
    tokens = ev.request_rate_per_s * SECONDS_PER_DAY * (ev.input_tokens + ev.output_tokens)
    return f"{_count(tokens)} tokens a day"


def _capacity_rows(ev: Evaluation) -> list[Row]:
    cap_note = f"{limited_by_text(ev.batch_cap_limited_by)}; {ev.max_batch:,} fit in memory"
    return [
        ("Throughput and fleet",),
        (
            "sequences in decode",
            _count(ev.batch_size),
            f"mean per replica, {limited_by_text(ev.limited_by)}",
        ),
        ("batch cap", _count(ev.batch_cap), cap_note),
        (
            "output tokens/s delivered",
            _count(ev.throughput_output_tokens_per_s, "tok/s"),
            f"{_count(ev.throughput_output_tokens_per_s_per_gpu, 'tok/s')} per accelerator",
        ),
        ("capacity per replica", _count(ev.replica_requests_per_s, "req/s"), "at the batch cap"),
        ("load", _count(ev.request_rate_per_s, "req/s"), _tokens_per_day(ev)),
        (
            "replicas",
            f"{ev.replicas:,}",
            f"{ev.accelerators_per_replica} accelerator(s) each, at "
            f"{_percent(ev.load_fraction_of_capacity)} of capacity",
        ),
        ("accelerators", f"{ev.gpus_required:,}", f"busy {_percent(ev.utilization)} of the time"),
    ]


def _memory_rows(ev: Evaluation) -> list[Row]:
    return [
        ("Memory per replica",),
        ("weights", _bytes(ev.weight_bytes), ev.precision_weights),
        (
            "KV cache per sequence",
            _bytes(ev.kv_bytes_per_sequence),
            f"{_bytes(ev.kv_bytes_per_token)} per token, {ev.precision_kv_cache}{_window_note(ev)}",
        ),
        ("used at this batch", _bytes(ev.memory_used_bytes), f"of {_bytes(ev.memory_bytes_per_replica)}"),
    ]


def _window_note(ev: Evaluation) -> str:
    """``, 4,564 of 9,000 tokens kept`` when sliding-window layers keep less than the context."""
    per_token, per_sequence = ev.kv_bytes_per_token, ev.kv_bytes_per_sequence
    if not per_token or per_sequence is None:
        return ""
    context = ev.input_tokens + ev.output_tokens
    kept = per_sequence / per_token
    return f", {kept:,.0f} of {context:,.0f} tokens kept (sliding window)" if kept < context - 0.5 else ""


def _cost_rows(ev: Evaluation) -> list[Row]:
    return [
        ("Cost",),
        (
            "$ per million input tokens",
            _usd(ev.usd_per_million_input_tokens),
            f"at this load; {_usd(ev.usd_per_million_input_tokens_at_capacity)} at capacity",
        ),
        (
            "$ per million output tokens",
            _usd(ev.usd_per_million_output_tokens),
            f"at this load; {_usd(ev.usd_per_million_output_tokens_at_capacity)} at capacity",
        ),
        ("$ per request", _usd(ev.usd_per_request), ""),
        (
            "$ per day, whole fleet",
            _usd(ev.usd_per_day),
            f"{_usd(ev.usd_per_hour_per_replica)}/h per replica",
        ),
        (
            "fleet power",
            _watts(ev.fleet_power_w),
            f"{ev.energy_j_per_output_token:.3g} J per output token" if ev.energy_j_per_output_token else "",
        ),
    ]


def _economics_rows(ev: Evaluation) -> list[Row]:
    """Does it pay? Facility power, capital, revenue and margin (the rows that are known)."""
    rows: list[Row] = []

    def add(label: str, value: float | None, show: Callable[[Any], str], note: str = "") -> None:
        if value is not None:
            rows.append((label, show(value), note))

    add("facility power", ev.facility_power_w, _watts, f"{_count(ev.energy_kwh_per_day, 'kWh')} a day")
    add("capex, whole fleet", ev.capex_usd, _usd, "purchase + server share")
    add("revenue per day", ev.revenue_usd_per_day, _usd, "at the pricing's prices")
    add("margin per day", ev.margin_usd_per_day, _usd, f"gross margin {_percent(ev.gross_margin_fraction)}")
    add("break-even load", ev.break_even_utilization, _percent, "of capacity, at this price")
    add("break-even output price", ev.break_even_usd_per_million_output_tokens, _usd, "per M, input held")
    add("savings vs the API", ev.savings_vs_api_usd_per_day, _usd, f"a day; API {_usd(ev.api_usd_per_day)}")
    return [("Does it pay?",), *rows] if rows else []


def _uncertainty_rows(ev: Evaluation) -> list[Row]:
    bands = ev.uncertainty
    if not bands:
        return []

    def band(key: str, show: Callable[[float | None], str]) -> str:
        values = bands.get(key) or {}
        return f"P10 {show(values.get('p10'))}, P50 {show(values.get('p50'))}, P90 {show(values.get('p90'))}"

    return [
        (f"Uncertainty ({bands.get('samples')} draws over the measured efficiencies)",),
        ("TPOT", _seconds(ev.tpot_s), band("tpot_s", _seconds)),
        ("TTFT", _seconds(ev.ttft_s), band("ttft_s", _seconds)),
        (
            "$ per million output tokens",
            _usd(ev.usd_per_million_output_tokens),
            band("usd_per_million_output_tokens", _usd),
        ),
    ]


def _speculative_rows(ev: Evaluation) -> list[Row]:
    if ev.speculative_method is None:
        return []
    return [
        ("Speculative decoding",),
        (
            "speed-up",
            f"{ev.speculative_speedup:.2f}×" if ev.speculative_speedup else "—",
            f"{ev.speculative_method}, {ev.accepted_tokens_per_pass:.2f} tokens per verify pass"
            if ev.accepted_tokens_per_pass
            else ev.speculative_method,
        ),
    ]


def summary(evaluation: Evaluation) -> str:
    """The human summary of one evaluation: a heading and an aligned table."""
    ev = evaluation
    heading = [
        f"{ev.name}: {ev.model} on {_deployment_text(ev)}",
        f"  {ev.precision_weights} weights, {ev.precision_kv_cache} KV cache, {ev.precision_compute} "
        f"compute; {ev.input_tokens:,} input + {ev.output_tokens:,} output tokens per request",
        "",
    ]
    rows = _latency_rows(ev) + _capacity_rows(ev) + _memory_rows(ev) + _cost_rows(ev) + _economics_rows(ev)
    rows += _uncertainty_rows(ev) + _speculative_rows(ev)
    lines = [*heading, table(rows, right=(1,))]
    lines += [f"note: {note}" for note in ev.notes]
    return "\n".join(lines)


@app.command()
@guarded
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file.", show_default=False)],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Report file, or a folder for <name>.html [default: reports/]."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the result as JSON on stdout and nothing else (messages: stderr)."
        ),
    ] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write the HTML report.")] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a field before validation, e.g. --set workload.output_tokens=500 "
            "(repeatable; values are read as YAML).",
        ),
    ] = None,
    plotlyjs: Annotated[
        PlotlyJs, typer.Option(help="Embed plotly.js in the report (works offline) or load it from a CDN.")
    ] = PlotlyJs.inline,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP)] = False,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            min=0,
            max=4096,
            help="Monte Carlo draws over the efficiencies' measured spread for the P10/P50/P90 "
            "bands (the `uncertainty` block); 0 skips them.",
        ),
    ] = 32,
) -> None:
    """Evaluate a scenario: print a summary and write an HTML report.

    With --json, stdout holds exactly the result of Evaluation.to_dict() as JSON; the report is
    still written (its path goes to stderr) unless --no-report. A scenario that cannot run on its
    hardware exits with code 2 and its reason (with --json, the JSON is printed first); with
    --check, one that misses its SLO exits with code 3.
    """
    if output and no_report:
        raise Failure("--output and --no-report contradict each other: give one")
    spec = _load(scenario, overrides)
    from tokencost.api import evaluate
    from tokencost.sweep.uncertainty import with_uncertainty

    evaluation = with_uncertainty(spec, evaluate(spec), samples)
    if as_json:
        typer.echo(_json(evaluation.to_dict()))
    if not evaluation.feasible:
        _evaluate_feasible(scenario, spec)
    if not as_json:
        typer.echo(summary(evaluation))
    if not no_report:
        _write_run_report(output, spec, evaluation, plotlyjs, as_json)
    _run_check(check, scenario, evaluation)


def _write_run_report(
    output: str | None, spec: Scenario, evaluation: Evaluation, plotlyjs: PlotlyJs, as_json: bool
) -> None:
    with _report_target(output, spec.name) as path:
        from tokencost.report.writer import write_report

        try:
            write_report(path, spec, evaluation, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


def _run_check(check: bool, path: str, evaluation: Evaluation) -> None:
    if check and evaluation.meets_slo is False:
        _check([f"{path}: misses its SLO: {_slo_misses(evaluation)}"])


# --------------------------------------------------------------------------- compare
