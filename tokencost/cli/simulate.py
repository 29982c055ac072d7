"""``tokencost simulate`` and ``tokencost plan``: the discrete-event simulator and the planner."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tokencost.errors import TokenCostWarning

if TYPE_CHECKING:
    from pathlib import Path

    from tokencost.scenario.scenario import Scenario
    from tokencost.sim.metrics import SimulationResult
from tokencost.cli.check import CHECK_HELP, _check
from tokencost.cli.common import (
    EXIT_INPUT,
    EXIT_SLO_MISSED,
    MAX_REQUESTS,
    Failure,
    PlotlyJs,
    _echo_report,
    _json,
    _report_target,
    _seconds,
    _show_warning,
    _write_failed,
    app,
    guarded,
)

# --------------------------------------------------------------------------- simulate, plan


def _load_sim(path: str, overrides: Sequence[str] | None) -> tuple[Scenario, Any]:
    """A scenario and its simulator sections (traffic, lengths, serving, candidates)."""
    from tokencost.sim.traces import load_sim_scenario

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default", TokenCostWarning)
        loaded = load_sim_scenario(path, list(overrides or []))
    for item in caught:
        _show_warning(f"{path}: {item.message}", item.category, item.filename, item.lineno)
    return loaded


@app.command("simulate")
@guarded
def simulate_command(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file.", show_default=False)],
    requests: Annotated[
        int | None,
        typer.Option(
            "--requests",
            "-n",
            min=1,
            max=MAX_REQUESTS,
            help="Requests to simulate [default: 1,000 per replica, 2,000 to 60,000, raised until the "
            "warm-up lasts a decode time; a trace: all].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives the same result.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout and nothing else.")
    ] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Also write an HTML report (file, or folder).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field, e.g. --set serving.replicas=4."),
    ] = None,
    plotlyjs: Annotated[
        PlotlyJs, typer.Option(help="Embed plotly.js in the report (works offline) or load it from a CDN.")
    ] = PlotlyJs.inline,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP)] = False,
) -> None:
    """Simulate serving a scenario request by request: latencies, goodput, queues, cost.

    The scenario may add traffic:, lengths: and serving: sections (tokencost.scenario.traffic). With
    --json, stdout holds exactly SimulationResult.to_dict() as JSON. With --check, a simulation
    whose p-th percentile TTFT or TPOT misses its target exits with code 3.
    """
    spec, sections = _load_sim(scenario, overrides)
    from tokencost.sim import simulate

    result = simulate(
        spec,
        traffic=sections.traffic,
        lengths=sections.lengths,
        serving=sections.serving,
        requests=requests,
        seed=seed,
    )
    if as_json:
        typer.echo(_json(result.to_dict()))
    else:
        from tokencost.cli.sim_text import simulation_summary

        typer.echo(simulation_summary(result))
    if output is not None:
        _write_simulation(output, spec.name, result, plotlyjs=plotlyjs, as_json=as_json)
    if check and not result.meets_slo:
        _check_simulation(scenario, result)


def _write_simulation(
    output: str, name: str, result: SimulationResult, *, plotlyjs: PlotlyJs, as_json: bool
) -> None:
    """Write the simulation report (atomically) and say where it went."""
    with _report_target(output, f"{name}-simulation") as path:
        from tokencost.report.writer import write_simulation_report

        try:
            write_simulation_report(path, result, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


def _check_simulation(scenario: str, result: SimulationResult) -> None:
    """--check: exit 3 with the percentile latencies beside their targets."""
    slo = result.to_dict().get("slo") or {}
    _check(
        [
            f"{scenario}: the simulation misses its SLO at p{slo.get('percentile', 99):g}: "
            f"TTFT {_seconds(slo.get('ttft_at_percentile_s'))} (target {_seconds(slo.get('ttft_s'))}), "
            f"TPOT {_seconds(slo.get('tpot_at_percentile_s'))} (target {_seconds(slo.get('tpot_s'))})"
        ]
    )


PlanRequests = Annotated[
    int | None,
    typer.Option(
        "--requests",
        "-n",
        min=1,
        max=MAX_REQUESTS,
        help="Requests per confirming simulation [default: 2,000, raised until the warm-up lasts a "
        "decode time].",
    ),
]


PlanTop = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="Print the N cheapest options tried (rejected, screened, simulated) and why each "
        "cheaper one fails; with --json, keep N of them under 'options'.",
    ),
]
PlanMixed = Annotated[
    bool,
    typer.Option(
        "--mixed",
        help="Also try a fleet of several hardware types, requests routed by prompt length "
        "(Mélange), and take it when it is cheaper.",
    ),
]


@app.command("plan")
@guarded
def plan_command(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file.", show_default=False)],
    requests: PlanRequests = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the confirming simulations.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON on stdout and nothing else.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field, e.g. --set slo.ttft_s=0.2."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit with code 3 (not 2) when no deployment meets the SLO.")
    ] = False,
    top: PlanTop = None,
    mixed: PlanMixed = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Also write an HTML report (file, or folder) of the plan."),
    ] = None,
    plotlyjs: Annotated[
        PlotlyJs, typer.Option(help="Embed plotly.js in the report (works offline) or load it from a CDN.")
    ] = PlotlyJs.inline,
) -> None:
    """Find the cheapest deployment that meets the SLO at the workload's load.

    Searches replicas, batch cap, tensor, pipeline and expert parallelism, the hardware listed under
    candidates and, with serving.disaggregated, disaggregated prefill/decode pools: analytically
    first, then by simulation. Exits 2 when no deployment meets the SLO, 3 with
    --check (with --json, the JSON is printed first). -o writes an HTML page of the plan, the
    options tried and a mixed fleet's pools.
    """
    spec, sections = _load_sim(scenario, overrides)
    from tokencost.plan.planner import plan

    given = {
        "candidates": sections.candidates,
        "traffic": sections.traffic,
        "lengths": sections.lengths,
        "serving": sections.serving,
        "requests": requests,
        "seed": seed,
    }
    result = single = plan(spec, **given)
    if mixed:
        from tokencost.plan.mixed import plan_mixed

        result = plan_mixed(spec, **given, single=single)
    # a report of the plan, or with --check of why none meets the SLO (exit 3); exit 2 writes nothing
    report = None
    if output is not None and (result.meets_slo or check):
        # a mixed plan's page lists the options of the single-type search it was weighed against
        data = {**result.to_dict(), "options": result.options or single.options}
        report = _write_plan(output, spec.name, data, plotlyjs=plotlyjs)
    try:
        _echo_plan(scenario, result, top=top, as_json=as_json, check=check)
    finally:
        if report is not None:
            _echo_report(report, as_json)


def _write_plan(output: str, name: str, data: dict[str, Any], *, plotlyjs: PlotlyJs) -> Path:
    """Write the plan report (atomically); its path."""
    with _report_target(output, f"{name}-plan") as path:
        from tokencost.report.writer import write_plan_report

        try:
            write_plan_report(path, data, name, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    return path


def _echo_plan(scenario: str, result: Any, *, top: int | None, as_json: bool, check: bool) -> None:
    """The plan as JSON or a summary, the ``top`` cheapest options tried, and the exit code."""
    from tokencost.cli.sim_text import plan_options_table, plan_summary

    data = result.to_dict()
    if top is not None:
        data["options"] = data["options"][:top]
    if as_json:
        typer.echo(_json(data))
    percentile = result.scenario.slo.percentile if result.scenario is not None else None
    table = plan_options_table(data["options"], percentile) if top and not as_json else None
    if not result.meets_slo:
        if table:
            typer.echo(table)
        code = EXIT_SLO_MISSED if check else EXIT_INPUT
        raise Failure(f"{scenario}: no deployment meets the SLO: {result.reason}", code)
    if not as_json:
        typer.echo(plan_summary(result))
    if table:
        typer.echo(table)
