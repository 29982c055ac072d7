"""``tokencost compare``: two or more scenarios side by side, with a comparison report."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from tokencost.results import Evaluation
    from tokencost.scenario.scenario import Scenario
from tokencost.cli.check import _check, _slo_misses
from tokencost.cli.common import (
    MAX_NAME_PARTS,
    PERCENT,
    TRILLION,
    Failure,
    PlotlyJs,
    Row,
    _count,
    _deployment_text,
    _echo_report,
    _evaluate_feasible,
    _json,
    _load,
    _percent,
    _report_target,
    _seconds,
    _slug,
    _usd,
    _watts,
    _write_failed,
    app,
    guarded,
    table,
)

# ----------------------------------------------------------------------- compare


_IGNORED_INPUTS = frozenset({"source", "as_of", "price_source", "price_as_of", "flops_by_precision", "name"})


def _inputs(scenario: Scenario) -> dict[str, Any]:
    from tokencost.results import flatten

    data = scenario.model_dump(mode="json", exclude={"name", "description"})
    flat = flatten(data)
    return {key: value for key, value in flat.items() if key.rsplit(".", 1)[-1] not in _IGNORED_INPUTS}


def _show_value(value: Any, key: str = "") -> str:
    """An input value with its unit where the field name says which (as the report shows it)."""
    if value is None:
        return "—"
    from tokencost.report.inputs import _show

    shown = _show(value, key)
    if isinstance(value, int | float) and not isinstance(value, bool) and shown == _show(value):
        # no unit in the name: whole numbers with separators, others to four significant digits
        whole = float(value).is_integer() and abs(value) < TRILLION
        return f"{value:,.0f}" if whole else f"{value:.4g}"
    return shown


def input_changes(scenarios: Sequence[Scenario]) -> list[tuple[str, list[str]]]:
    """Input fields that differ between scenarios: (dotted field, value in each). A changed
    preset stands for the fields it brings (a new model's layers are not listed one by one)."""
    flats = [_inputs(scenario) for scenario in scenarios]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    changed = [key for key in keys if len({json.dumps(flat.get(key)) for flat in flats}) > 1]
    swapped = {key.split(".")[0] for key in changed if key.endswith(".preset")}
    kept = [key for key in changed if key.split(".")[0] not in swapped or key.endswith(".preset")]
    return [(key, [_show_value(flat.get(key), key) for flat in flats]) for key in kept]


RATIO_FROM = 10.0  # from ten times the baseline on, a change reads better as a ratio


def _relative(value: float | None, base: float | None) -> str:
    """``(+55%)`` against the baseline, or ``(×5,928)`` for large ratios."""
    if value is None or base is None or not base or value == base:
        return ""
    ratio = value / base
    if ratio >= RATIO_FROM:
        return f" (×{ratio:,.3g})" if ratio < PERCENT * 10 else f" (×{ratio:,.0f})"
    return f" ({(ratio - 1) * PERCENT:+.0f}%)"


_COMPARED: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("$ per million output tokens", "usd_per_million_output_tokens", _usd),
    ("$ per million input tokens", "usd_per_million_input_tokens", _usd),
    ("$ per request", "usd_per_request", _usd),
    ("$ per day, whole fleet", "usd_per_day", _usd),
    ("TTFT", "ttft_s", _seconds),
    ("TPOT", "tpot_s", _seconds),
    ("end-to-end latency", "e2e_latency_s", _seconds),
    ("output tok/s per accelerator", "throughput_output_tokens_per_s_per_gpu", _count),
    ("sequences in decode", "batch_size", _count),
    ("accelerators per replica", "accelerators_per_replica", _count),
    ("replicas", "replicas", _count),
    ("accelerators", "gpus_required", _count),
    ("fleet power", "fleet_power_w", _watts),
)
_PRICED: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("revenue per day", "revenue_usd_per_day", _usd),
    ("margin per day", "margin_usd_per_day", _usd),
    ("gross margin", "gross_margin_fraction", _percent),
    ("break-even load (of capacity)", "break_even_utilization", _percent),
    ("break-even $ per M output tokens", "break_even_usd_per_million_output_tokens", _usd),
)


def comparison(scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation]) -> str:
    """Side-by-side table: what changed in the inputs, then the outputs with changes against the
    first scenario (the baseline)."""
    names = [ev.name for ev in evaluations]
    header = ["", *names]
    rows: list[Row] = [("What changed (inputs)",)]
    changes = input_changes(scenarios)
    rows += [(key, *values) for key, values in changes] or [("(nothing)", *[""] * len(names))]
    rows.append(("What it does (change against the first)",))
    rows.append(("model", *[ev.model for ev in evaluations]))
    rows.append(("hardware", *[_deployment_text(ev) for ev in evaluations]))
    base = evaluations[0]
    priced = any(ev.revenue_usd_per_day is not None for ev in evaluations)
    for label, key, show in _COMPARED + (_PRICED if priced else ()):
        first = getattr(base, key)
        cells = [show(getattr(ev, key)) + _relative(getattr(ev, key), first) for ev in evaluations]
        rows.append((label, *cells))
    verdicts = {True: "yes", False: "no", None: "—"}
    rows.append(("meets SLO", *[verdicts[ev.meets_slo] for ev in evaluations]))
    rows.append(("feasible", *["yes" if ev.feasible else "NO (see note)" for ev in evaluations]))
    return table(rows, header=header, right=tuple(range(1, len(names) + 1)))


def _unique_names(scenarios: list[Scenario], evaluations: list[Evaluation]) -> None:
    """Give repeated names (the same file twice) a #2, #3 so that columns stay apart."""
    import dataclasses

    seen: dict[str, int] = {}
    for index, ev in enumerate(evaluations):
        seen[ev.name] = seen.get(ev.name, 0) + 1
        if seen[ev.name] > 1:
            name = f"{ev.name}#{seen[ev.name]}"
            evaluations[index] = dataclasses.replace(ev, name=name)
            scenarios[index] = scenarios[index].model_copy(update={"name": name})


def _comparison_name(scenarios: Sequence[Scenario]) -> str:
    names = [_slug(scenario.name) for scenario in scenarios]
    if len(names) > MAX_NAME_PARTS:
        return f"compare-{names[0]}-and-{len(names) - 1}-more"
    return "compare-" + "-vs-".join(names)


@app.command()
@guarded
def compare(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Two or more scenario YAML files; the first is the baseline.", show_default=False
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Report file, or a folder [default: reports/compare-<a>-vs-<b>.html]."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of the results on stdout, and nothing else.")
    ] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write the HTML report.")] = False,
    plotlyjs: Annotated[
        PlotlyJs, typer.Option(help="Embed plotly.js in the report (works offline) or load it from a CDN.")
    ] = PlotlyJs.inline,
    allow_infeasible: Annotated[
        bool,
        typer.Option(
            "--allow-infeasible", help="Keep scenarios that cannot run on their hardware, marked as such."
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit with code 3 when any scenario misses its SLO.")
    ] = False,
) -> None:
    """Compare scenarios side by side and write a comparison report.

    Shows what changed in the inputs and what it does to $/M tokens, TTFT, TPOT and accelerators,
    against the first scenario. Every scenario must be valid, and feasible unless
    --allow-infeasible (else exit 2, no report).
    """
    if len(files) < 2:  # noqa: PLR2004 - a comparison needs two sides
        raise Failure("compare needs at least two scenario files")
    if output and no_report:
        raise Failure("--output and --no-report contradict each other: give one")
    scenarios = [_load(path) for path in files]
    evaluations = _evaluate_all(files, scenarios, allow_infeasible=allow_infeasible)
    _unique_names(scenarios, evaluations)
    _print_comparison(scenarios, evaluations, as_json=as_json)
    if no_report:
        _compare_check(check, files, evaluations)
        return
    _write_comparison(output, scenarios, evaluations, plotlyjs=plotlyjs, as_json=as_json)
    _compare_check(check, files, evaluations)


def _evaluate_all(
    files: Sequence[str], scenarios: Sequence[Scenario], *, allow_infeasible: bool
) -> list[Evaluation]:
    """Evaluate every scenario; an infeasible one is an error (exit 2) unless ``allow_infeasible``."""
    if allow_infeasible:
        from tokencost.api import evaluate

        return [evaluate(spec) for spec in scenarios]
    return [_evaluate_feasible(path, spec) for path, spec in zip(files, scenarios, strict=True)]


def _print_comparison(
    scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation], *, as_json: bool
) -> None:
    """The JSON list of results, or the table with a note per infeasible scenario."""
    if as_json:
        typer.echo(_json([ev.to_dict() for ev in evaluations]))
        return
    typer.echo(comparison(scenarios, evaluations))
    for ev in evaluations:
        if not ev.feasible:
            typer.echo(f"note: {ev.name} is infeasible: {ev.infeasible_reason}")


def _write_comparison(
    output: str | None,
    scenarios: Sequence[Scenario],
    evaluations: Sequence[Evaluation],
    *,
    plotlyjs: PlotlyJs,
    as_json: bool,
) -> None:
    """Write the comparison report (atomically) and say where it went."""
    with _report_target(output, _comparison_name(scenarios)) as path:
        from tokencost.report.writer import write_comparison_report

        try:
            write_comparison_report(path, scenarios, evaluations, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


def _compare_check(check: bool, files: Sequence[str], evaluations: Sequence[Evaluation]) -> None:
    if not check:
        return
    failures = []
    for path, ev in zip(files, evaluations, strict=True):
        if not ev.feasible:
            failures.append(f"{path}: infeasible: {ev.infeasible_reason}")
        elif ev.meets_slo is False:
            failures.append(f"{path}: misses its SLO: {_slo_misses(ev)}")
    _check(failures)
