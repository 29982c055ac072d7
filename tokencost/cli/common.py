"""The ``tokencost`` command: parse, call the API, render, choose the exit code.

Commands::

    tokencost run SCENARIO.yaml [-o PATH] [--json] [--no-report] [--set KEY=VALUE ...]
    tokencost compare A.yaml B.yaml ... [-o PATH] [--json] [--no-report] [--allow-infeasible]
    tokencost simulate SCENARIO.yaml [--requests N] [--seed S] [--json] [-o PATH] [--set KEY=VALUE ...]
    tokencost plan SCENARIO.yaml [--requests N] [--seed S] [--json] [--set KEY=VALUE ...]
    tokencost validate SCENARIO.yaml ... [--set KEY=VALUE ...]
    tokencost calibrate [-o hardware.yaml] [--device cpu|cuda] [--quick]
    tokencost verify [--profile hardware.yaml] [--json] [-o report.html] [--quick]
    tokencost schema
    tokencost init [PATH] [--model NAME] [--hardware NAME] [--gpus N] [--force]
    tokencost hardware list|show NAME [--json]
    tokencost models list|show NAME [--json]

Exit codes: 0 success; 2 bad input (unreadable or invalid YAML, a schema error, an unknown preset,
a scenario that cannot run on its hardware, a file ``init`` would overwrite); 1 anything else.
An error is one line on stderr (``file:line:column: field: what is wrong (what is allowed)``),
never a traceback (set ``TOKENCOST_DEBUG=1`` to get one), and leaves no partial file behind.
A :class:`~tokencost.errors.TokenCostWarning` is one line, ``warning: ...``, on stderr.

Start-up is kept light: the report writer (plotly) and pandas are imported only inside the
commands that write reports, so ``tokencost --help`` and ``validate`` never load them.

Adding a command: decorate it with ``@app.command()`` and then ``@guarded``; import heavy modules
inside it; raise :class:`~tokencost.errors.ScenarioError` or :class:`Failure` for what the user
got wrong (exit 2) and let anything else escape (exit 1); write files through
``_report_target`` or ``_atomic_write`` so that a failure leaves nothing behind.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlparse

import typer

from tokencost._version import __version__
from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.units import format_si

if TYPE_CHECKING:
    from tokencost.results import Evaluation
    from tokencost.scenario.specs import Scenario

EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
REPORTS_DIR = Path("reports")
MAX_NAME_PARTS = 3
THOUSAND = 1e3
MILLION = 1e6
BILLION = 1e9
TRILLION = 1e12
PERCENT = 100.0
SECONDS_PER_DAY = 86400.0

app = typer.Typer(
    name="tokencost",
    help="What an LLM token costs to serve, from first principles: prefill, decode, memory, dollars.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
hardware_app = typer.Typer(
    help="The accelerator catalog: list, show NAME.", no_args_is_help=True, rich_markup_mode=None
)
models_app = typer.Typer(
    help="The model catalog: list, show NAME.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(hardware_app, name="hardware")
app.add_typer(models_app, name="models")


class PlotlyJs(StrEnum):
    """How a report carries plotly.js: embedded (works offline) or from a CDN (smaller file)."""

    inline = "inline"
    cdn = "cdn"


class Failure(Exception):
    """A failure already phrased for the user: one line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- errors and warnings


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    if issubclass(category, TokenCostWarning):
        _echo_err(f"warning: {text}")
    else:
        _echo_err(f"warning: {category.__name__}: {text}")


F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Run a command with one-line warnings, and errors turned into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default", TokenCostWarning)
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except ScenarioError as exc:
                _echo_err(str(exc))
                raise typer.Exit(EXIT_INPUT) from None
            except Failure as exc:
                _echo_err(str(exc))
                raise typer.Exit(exc.code) from None
            except KeyboardInterrupt:
                _echo_err("interrupted")
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except Exception as exc:
                if os.environ.get("TOKENCOST_DEBUG"):
                    raise
                detail = " ".join(str(exc).split()) or type(exc).__name__
                _echo_err(f"error: {type(exc).__name__}: {detail} (set TOKENCOST_DEBUG=1 for a traceback)")
                raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- formatting


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_si(value, "s")


def _bytes(value: float | None) -> str:
    return "—" if value is None else format_si(value, "B")


def _watts(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else format_si(value, "W")


def _usd(value: float | None) -> str:
    """$0.0859, $3.49, $1,234, $2.1 M."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= MILLION:
        return "$" + format_si(value, "")
    if abs(value) >= THOUSAND:
        return f"${value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    decimals = 2 - math.floor(math.log10(abs(value)))
    text = f"{value:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def _count(value: float | None, unit: str = "") -> str:
    """1,234 or 12.3 million / billion / trillion, with an optional unit."""
    if value is None or not math.isfinite(value):
        return "—"
    for word, factor in (("trillion", TRILLION), ("billion", BILLION), ("million", MILLION)):
        if abs(value) >= factor:
            text = f"{value / factor:.3g} {word}"
            break
    else:
        text = f"{value:,.0f}" if abs(value) >= PERCENT else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _params(value: float | None) -> str:
    """Parameter counts the way model cards print them: 8.03B, 671B, 124M."""
    if value is None:
        return "—"
    for suffix, factor in (("T", TRILLION), ("B", BILLION), ("M", MILLION), ("K", THOUSAND)):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:g}"


def _percent(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * PERCENT:.1f} %"


def _host(url: str | None) -> str:
    if not url:
        return "—"
    host = urlparse(str(url)).netloc or str(url)
    return host.removeprefix("www.")


Row = Sequence[str]


def table(rows: Sequence[Row], *, header: Row | None = None, right: Sequence[int] = ()) -> str:
    """Rows of text in aligned columns. A one-cell row is a section heading; ``right`` lists the
    columns to right-align (numbers)."""
    body = [list(row) for row in rows if len(row) > 1]
    if header:
        body.insert(0, list(header))
    columns = max((len(row) for row in body), default=0)
    widths = [max((len(row[i]) for row in body if i < len(row)), default=0) for i in range(columns)]

    def line(row: Row, indent: str) -> str:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return (indent + "  ".join(cells)).rstrip()

    indent = "  " if any(len(row) == 1 for row in rows) else ""
    out: list[str] = []
    if header:
        out.append(line(header, indent))
        out.append(indent + "  ".join("-" * width for width in widths))
    for row in rows:
        out.append(row[0] if len(row) == 1 else line(row, indent))
    return "\n".join(out)


# --------------------------------------------------------------------------- shared helpers


def _load(path: str, overrides: Sequence[str] | None = None) -> Scenario:
    """Load a scenario; its warnings are shown prefixed with the file they come from."""
    from tokencost.scenario.loading import load_scenario

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default", TokenCostWarning)
        scenario = load_scenario(path, overrides=list(overrides or []))
    for item in caught:
        _show_warning(f"{path}: {item.message}", item.category, item.filename, item.lineno)
    return scenario


def _evaluate_feasible(path: str, scenario: Scenario) -> Evaluation:
    from tokencost.api import evaluate

    evaluation = evaluate(scenario)
    if not evaluation.feasible:
        raise Failure(
            f"{path}: infeasible: {evaluation.model} on {_deployment_text(evaluation)}: "
            f"{evaluation.infeasible_reason}"
        )
    return evaluation


def _deployment_text(evaluation: Evaluation) -> str:
    parts = f"{evaluation.accelerators_per_replica} × {evaluation.hardware}"
    if evaluation.accelerators_per_replica > 1:
        parts += f" (TP {evaluation.tensor_parallel} × PP {evaluation.pipeline_parallel})"
    return parts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "scenario"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False)


@contextmanager
def _report_target(output: str | None, default_name: str) -> Iterator[Path]:
    """The report path (``<name>.html`` inside ``output`` when that is a folder); its folder is
    created, and removed again if it stayed empty on failure."""
    file_name = f"{_slug(default_name)}.html"
    path = Path(output) if output else REPORTS_DIR / file_name
    if path.is_dir():
        path = path / file_name
    created: list[Path] = []
    folder = path.parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(
            f"{path.parent}: cannot create the report folder: {exc.strerror or exc}", EXIT_FAILURE
        ) from None
    try:
        yield path
    except BaseException:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _write_failed(path: Path, exc: OSError) -> Failure:
    return Failure(f"{path}: cannot write the report: {exc.strerror or exc}", EXIT_FAILURE)


# --------------------------------------------------------------------------- run


def _latency_rows(ev: Evaluation) -> list[Row]:
    def slo(value: float | None, target: float | None) -> str:
        if target is None or value is None:
            return ""
        verdict = "meets" if value <= target else "MISSES"
        return f"; {verdict} SLO {_seconds(target)}"

    return [
        ("Latency",),
        (
            "time to first token (TTFT)",
            _seconds(ev.ttft_s),
            f"prefill, {ev.prefill.bound}-bound{slo(ev.ttft_s, ev.slo_ttft_s)}",
        ),
        (
            "time per output token (TPOT)",
            _seconds(ev.tpot_s),
            f"decode, {ev.decode.bound}-bound{slo(ev.tpot_s, ev.slo_tpot_s)}",
        ),
        ("end-to-end latency", _seconds(ev.e2e_latency_s), f"{ev.output_tokens:,} output tokens"),
    ]


def _tokens_per_day(ev: Evaluation) -> str:
    if ev.request_rate_per_s is None:
        return ""
    tokens = ev.request_rate_per_s * SECONDS_PER_DAY * (ev.input_tokens + ev.output_tokens)
    return f"{_count(tokens)} tokens a day"


def _capacity_rows(ev: Evaluation) -> list[Row]:
    batch_note = "largest that fits" if ev.batch_size == ev.max_batch else f"at most {ev.max_batch:,} fit"
    return [
        ("Throughput and fleet",),
        ("decode batch", f"{ev.batch_size:,}", batch_note),
        (
            "output tokens/s per replica",
            _count(ev.throughput_output_tokens_per_s, "tok/s"),
            f"{_count(ev.throughput_output_tokens_per_s_per_gpu, 'tok/s')} per accelerator",
        ),
        ("requests/s per replica", _count(ev.replica_requests_per_s), ""),
        ("load", _count(ev.request_rate_per_s, "req/s"), _tokens_per_day(ev)),
        ("replicas", f"{ev.replicas:,}", f"{ev.accelerators_per_replica} accelerator(s) each"),
        ("accelerators", f"{ev.gpus_required:,}", f"utilization {_percent(ev.utilization)}"),
    ]


def _memory_rows(ev: Evaluation) -> list[Row]:
    return [
        ("Memory per replica",),
        ("weights", _bytes(ev.weight_bytes), ev.precision_weights),
        (
            "KV cache per sequence",
            _bytes(ev.kv_bytes_per_sequence),
            f"{_bytes(ev.kv_bytes_per_token)} per token, {ev.precision_kv_cache}",
        ),
        ("used at this batch", _bytes(ev.memory_used_bytes), f"of {_bytes(ev.memory_bytes_per_replica)}"),
    ]


def _cost_rows(ev: Evaluation) -> list[Row]:
    return [
        ("Cost",),
        ("$ per million input tokens", _usd(ev.usd_per_million_input_tokens), "prefill time"),
        ("$ per million output tokens", _usd(ev.usd_per_million_output_tokens), "decode time"),
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


def summary(evaluation: Evaluation) -> str:
    """The human summary of one evaluation: a heading and an aligned table."""
    ev = evaluation
    heading = [
        f"{ev.name}: {ev.model} on {_deployment_text(ev)}",
        f"  {ev.precision_weights} weights, {ev.precision_kv_cache} KV cache, {ev.precision_compute} "
        f"compute; {ev.input_tokens:,} input + {ev.output_tokens:,} output tokens per request",
        "",
    ]
    rows = _latency_rows(ev) + _capacity_rows(ev) + _memory_rows(ev) + _cost_rows(ev)
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
) -> None:
    """Evaluate a scenario: print a summary and write an HTML report.

    With --json, stdout holds exactly the result of Evaluation.to_dict() as JSON; the report is
    still written (its path goes to stderr) unless --no-report. A scenario that cannot run on its
    hardware exits with code 2 and its reason (with --json, the JSON is printed first).
    """
    if output and no_report:
        raise Failure("--output and --no-report contradict each other: give one")
    spec = _load(scenario, overrides)
    from tokencost.api import evaluate

    evaluation = evaluate(spec)
    if as_json:
        typer.echo(_json(evaluation.to_dict()))
    if not evaluation.feasible:
        _evaluate_feasible(scenario, spec)
    if not as_json:
        typer.echo(summary(evaluation))
    if no_report:
        return
    with _report_target(output, spec.name) as path:
        from tokencost.report.writer import write_report

        try:
            write_report(path, spec, evaluation, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


def _echo_report(path: Path, to_stderr: bool) -> None:
    typer.echo(f"report: {path}", err=to_stderr)


# --------------------------------------------------------------------------- compare

_IGNORED_INPUTS = frozenset({"source", "as_of", "price_source", "price_as_of", "flops_by_precision", "name"})


def _inputs(scenario: Scenario) -> dict[str, Any]:
    from tokencost.results import flatten

    data = scenario.model_dump(mode="json", exclude={"name", "description"})
    flat = flatten(data)
    return {key: value for key, value in flat.items() if key.rsplit(".", 1)[-1] not in _IGNORED_INPUTS}


def _show_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) < TRILLION else f"{value:.4g}"
    return str(value)


def input_changes(scenarios: Sequence[Scenario]) -> list[tuple[str, list[str]]]:
    """Input fields that differ between scenarios: (dotted field, value in each). A changed
    preset stands for the fields it brings (a new model's layers are not listed one by one)."""
    flats = [_inputs(scenario) for scenario in scenarios]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    changed = [key for key in keys if len({json.dumps(flat.get(key)) for flat in flats}) > 1]
    swapped = {key.split(".")[0] for key in changed if key.endswith(".preset")}
    kept = [key for key in changed if key.split(".")[0] not in swapped or key.endswith(".preset")]
    return [(key, [_show_value(flat.get(key)) for flat in flats]) for key in kept]


def _relative(value: float | None, base: float | None) -> str:
    if value is None or base is None or not base or value == base:
        return ""
    return f" ({(value / base - 1) * PERCENT:+.0f}%)"


_COMPARED: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("$ per million output tokens", "usd_per_million_output_tokens", _usd),
    ("$ per million input tokens", "usd_per_million_input_tokens", _usd),
    ("$ per request", "usd_per_request", _usd),
    ("$ per day, whole fleet", "usd_per_day", _usd),
    ("TTFT", "ttft_s", _seconds),
    ("TPOT", "tpot_s", _seconds),
    ("end-to-end latency", "e2e_latency_s", _seconds),
    ("output tok/s per accelerator", "throughput_output_tokens_per_s_per_gpu", _count),
    ("decode batch", "batch_size", _count),
    ("accelerators per replica", "accelerators_per_replica", _count),
    ("replicas", "replicas", _count),
    ("accelerators", "gpus_required", _count),
    ("fleet power", "fleet_power_w", _watts),
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
    for label, key, show in _COMPARED:
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
    if allow_infeasible:
        from tokencost.api import evaluate

        evaluations = [evaluate(spec) for spec in scenarios]
    else:
        evaluations = [_evaluate_feasible(path, spec) for path, spec in zip(files, scenarios, strict=True)]
    _unique_names(scenarios, evaluations)
    if as_json:
        typer.echo(_json([ev.to_dict() for ev in evaluations]))
    else:
        typer.echo(comparison(scenarios, evaluations))
        for ev in evaluations:
            if not ev.feasible:
                typer.echo(f"note: {ev.name} is infeasible: {ev.infeasible_reason}")
    if no_report:
        return
    with _report_target(output, _comparison_name(scenarios)) as path:
        from tokencost.report.writer import write_comparison_report

        try:
            write_comparison_report(path, scenarios, evaluations, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


# --------------------------------------------------------------------------- validate, schema


@app.command()
@guarded
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario YAML files.", show_default=False)],
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field before validation (repeatable)."),
    ] = None,
) -> None:
    """Check scenario files without writing anything.

    Checks the YAML, the fields, the presets, and that each scenario fits on its hardware. Prints
    one line per file; exits 0 when every file is valid, else 2.
    """
    from tokencost.api import evaluate

    failed = 0
    for path in files:
        try:
            spec = _load(path, overrides)
            evaluation = evaluate(spec)
            if not evaluation.feasible:
                raise Failure(f"{path}: infeasible: {evaluation.infeasible_reason}")
        except (ScenarioError, Failure) as exc:
            _echo_err(str(exc))
            failed += 1
            continue
        typer.echo(f"{path}: ok ({evaluation.model} on {_deployment_text(evaluation)})")
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _quantity_fields() -> dict[str, set[str]]:
    """Per spec class, the fields that accept human units ("80 GB") besides numbers."""
    import typing

    from pydantic import BeforeValidator

    from tokencost.scenario import specs

    def takes_strings(annotation: Any) -> bool:
        if typing.get_origin(annotation) is typing.Annotated:
            if any(isinstance(meta, BeforeValidator) for meta in annotation.__metadata__):
                return True
        return any(takes_strings(arg) for arg in typing.get_args(annotation))

    found: dict[str, set[str]] = {}
    for cls in (
        specs.ModelSpec,
        specs.HardwareSpec,
        specs.WorkloadSpec,
        specs.SloSpec,
        specs.EfficiencySpec,
        specs.ParallelismSpec,
        specs.PrecisionSpec,
    ):
        hints = typing.get_type_hints(cls, include_extras=True)
        found[cls.__name__] = {
            name
            for name, info in cls.model_fields.items()
            if takes_strings(hints.get(name)) or any(isinstance(m, BeforeValidator) for m in info.metadata)
        }
    return found


# Without a preset, a model needs only its parameter count (the loader assumes a standard shape for
# the rest, with a warning); head_dim and active_params always have defaults.
_LOADER_REQUIRED = {"ModelSpec": ["params"]}
_BOUND_KEYWORDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _widen(prop: dict[str, Any]) -> dict[str, Any]:
    """A number property that also takes a string with a unit."""
    if "anyOf" in prop:
        branches = [branch for branch in prop["anyOf"] if branch.get("type") != "null"]
        rest = {key: value for key, value in prop.items() if key != "anyOf"}
        nullable = len(branches) < len(prop["anyOf"])
        inner = _widen({**branches[0], **rest}) if branches else rest
        if nullable:
            inner["anyOf"] = [*inner["anyOf"], {"type": "null"}]
        return inner
    meta = {
        key: value for key, value in prop.items() if key in ("default", "description", "title", "examples")
    }
    number = {key: value for key, value in prop.items() if key not in meta}
    number = {_BOUND_KEYWORDS.get(key, key): value for key, value in number.items()}
    if number.get("type") == "object":  # a table of quantities (flops_by_precision)
        number["additionalProperties"] = {"type": ["number", "string"]}
        return {**meta, "anyOf": [number]}
    return {**meta, "anyOf": [number, {"type": "string", "description": "a number with a unit"}]}


def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema as an editor should check YAML against it.

    ``Scenario.model_json_schema()`` describes the validated model, which is stricter than what
    the loader accepts: quantities may be written with units ("80 GB", "200 ms"), a hardware
    ``flops`` may be a table by precision, and a ``preset`` fills the required fields of
    ``model`` and ``hardware``. This widens those places so that every valid file checks clean.
    """
    from tokencost.scenario.specs import Scenario

    schema = Scenario.model_json_schema()
    quantities = _quantity_fields()
    for name, definition in schema.get("$defs", {}).items():
        for field in quantities.get(name, ()):
            if field in definition.get("properties", {}):
                definition["properties"][field] = _widen(definition["properties"][field])
        required = _LOADER_REQUIRED.get(name, definition.pop("required", None))
        definition.pop("required", None)
        if required and "preset" in definition.get("properties", {}):
            definition["anyOf"] = [{"required": ["preset"]}, {"required": required}]
        elif required:
            definition["required"] = required
    hardware = schema.get("$defs", {}).get("HardwareSpec", {}).get("properties", {})
    if "flops" in hardware:
        table_branch = {
            "type": "object",
            "additionalProperties": {"type": ["number", "string"]},
            "description": "peak dense FLOP/s by precision",
        }
        hardware["flops"]["anyOf"] = [*hardware["flops"].get("anyOf", []), table_branch]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tokencost scenario"
    return schema


@app.command()
@guarded
def schema() -> None:
    """Print the scenario JSON Schema (for editor completion and checking).

    Save it (tokencost schema > scenario.schema.json) and put
    "# yaml-language-server: $schema=scenario.schema.json" at the top of a scenario.
    """
    typer.echo(_json(scenario_schema()))


# --------------------------------------------------------------------------- init

STARTER = """\
# A tokencost scenario: one model served on one kind of accelerator under one load.
#   Evaluate it:  tokencost run {path}
#   Check it:     tokencost validate {path}
# Every field, with its unit: `tokencost schema` or the README ("Scenario format").
# Quantities take human units ("80 GB", "3.35 TB/s", "200 ms", "70B"); bare numbers are SI
# (bytes, bytes/s, FLOP/s, seconds, USD). Editor completion: save `tokencost schema` output as
# scenario.schema.json and uncomment the next line.
# yaml-language-server: $schema=scenario.schema.json

description: >-
  Who runs this and why (free text, shown in the report).

model:
  preset: {model}           # `tokencost models list`; a field given here overrides the preset's
  # params: 8.03B           # total parameters; or describe a model with no preset field by field

precision:
  weights: bf16             # fp32 | bf16 | fp16 | fp8 | int8 | int4 (bytes per parameter)
  kv_cache: bf16            # format of the KV cache
  # compute: bf16           # matrix products; default fp8 for fp8 weights where the chip has it

hardware:
  preset: {hardware}        # `tokencost hardware list`
  count: {count}            # accelerators per model replica
  # usd_per_hour: 2.50      # USD per accelerator-hour; overrides the preset's cloud price

parallelism:
  tensor: {count}           # tensor-parallel degree; tensor × pipeline = hardware.count
  pipeline: 1               # pipeline stages

workload:
  input_tokens: 1000        # mean prompt tokens per request
  output_tokens: 250        # mean generated tokens per request
  requests_per_second: 10   # total load; or give users and requests_per_user_per_hour
  # users: 100000
  # requests_per_user_per_hour: 2
  # batch_size: 64          # fixed decode batch; default: the largest that fits and meets slo.tpot_s

slo:
  ttft_s: 500 ms            # time-to-first-token target
  tpot_s: 50 ms             # time-per-output-token target (50 ms = 20 tokens/s per user)

# efficiency:               # achieved fractions of peak; defaults come from public measurements
#   compute: 0.67           # MFU in prefill
#   bandwidth: 0.66         # MBU in decode
#   interconnect: 0.77      # all-reduce bus bandwidth / link bandwidth
#   memory_reserve: 0.10    # memory kept free for activations and fragmentation
"""


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves nothing half done."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a scenario is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@app.command()
@guarded
def init(
    path: Annotated[str, typer.Argument(help="Where to write the scenario.")] = "scenario.yaml",
    model: Annotated[str, typer.Option(help="Model preset (see `tokencost models list`).")] = "llama-3.1-8b",
    hardware: Annotated[str, typer.Option(help="Hardware preset (`tokencost hardware list`).")] = "h100-sxm",
    gpus: Annotated[int, typer.Option(min=1, help="Accelerators per replica (tensor parallel).")] = 1,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter scenario.

    Refuses to overwrite an existing file unless --force.
    """
    import yaml

    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.loading import scenario_from_dict

    target = Path(path)
    if target.exists() and (target.is_dir() or not force):
        reason = "is a directory" if target.is_dir() else "already exists (use --force to overwrite it)"
        raise Failure(f"{target}: {reason}")
    model_key = find_preset("models", model, field="--model")["key"]
    hardware_key = find_preset("hardware", hardware, field="--hardware")["key"]
    text = STARTER.format(path=target, model=model_key, hardware=hardware_key, count=gpus)
    try:
        scenario_from_dict(yaml.safe_load(text), name=target.stem)
    except ScenarioError as exc:
        raise Failure(f"--model {model_key} --hardware {hardware_key} --gpus {gpus}: {exc}") from None
    if not target.parent.exists():
        raise Failure(f"{target.parent}: no such folder")
    _atomic_write(target, text)
    typer.echo(f"wrote {target}; next: tokencost run {target}")


# --------------------------------------------------------------------------- catalogs


def _hardware_record(key: str) -> dict[str, Any]:
    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.specs import HardwareSpec

    preset = find_preset("hardware", key, field="hardware")
    spec = HardwareSpec.model_validate({"preset": preset["key"]})
    extra = {name: preset.get(name) for name in ("aliases", "vendor", "kind", "interconnect", "notes")}
    figures = spec.model_dump(mode="json", exclude={"preset", "count"})
    return {"key": preset["key"], **figures, **extra}


def _model_record(key: str) -> dict[str, Any]:
    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.specs import ModelSpec

    preset = find_preset("models", key, field="model")
    spec = ModelSpec.model_validate({"preset": preset["key"]})
    return {
        "key": preset["key"],
        **spec.model_dump(mode="json", exclude={"preset"}),
        "aliases": preset.get("aliases"),
        "notes": preset.get("notes"),
    }


def _keys(kind: str) -> list[str]:
    from tokencost.scenario.catalog import catalog

    return list(catalog(kind))


def _flops(record: dict[str, Any], precision: str) -> str:
    value = (record.get("flops_by_precision") or {}).get(precision)
    return "—" if value is None else format_si(value, "FLOP/s")


def _hardware_row(record: dict[str, Any]) -> list[str]:
    return [
        record["key"],
        str(record["name"]),
        _bytes(record["memory"]),
        format_si(record["bandwidth"], "B/s"),
        _flops(record, "bf16"),
        _flops(record, "fp8"),
        _watts(record.get("power_w")),
        _usd(record.get("usd_per_hour")),
        str(record.get("price_as_of") or "—"),
        _host(record.get("source")),
    ]


def _model_row(record: dict[str, Any]) -> list[str]:
    experts = "dense" if record["experts"] == 1 else f"{record['experts_per_token']}/{record['experts']}"
    return [
        record["key"],
        str(record["name"]),
        _params(record["params"]),
        _params(record["active_params"]),
        str(record["layers"]),
        str(record["d_model"]),
        f"{record['heads']}/{record['kv_heads']}",
        experts,
        _count(record.get("max_context")),
        str(record.get("as_of") or "—"),
        _host(record.get("source")),
    ]


_HARDWARE_HEADER = (
    "key",
    "name",
    "memory",
    "bandwidth",
    "bf16 dense",
    "fp8 dense",
    "power",
    "$/h",
    "price as of",
    "source",
)
_MODEL_HEADER = (
    "key",
    "name",
    "params",
    "active",
    "layers",
    "d_model",
    "heads q/kv",
    "experts",
    "context",
    "as of",
    "source",
)


def _detail(record: dict[str, Any], labels: dict[str, Callable[[Any], str]]) -> str:
    rows: list[Row] = []
    for key, value in record.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {labels.get(key, str)(v)}" for k, v in value.items())
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        else:
            shown = labels.get(key, str)(value)
        rows.append((key, shown))
    return table(rows)


_HARDWARE_UNITS: dict[str, Callable[[Any], str]] = {
    "flops": lambda v: format_si(v, "FLOP/s"),
    "flops_by_precision": lambda v: format_si(v, "FLOP/s"),
    "bandwidth": lambda v: format_si(v, "B/s"),
    "memory": _bytes,
    "usd_per_hour": lambda v: _usd(v) + "/h",
    "interconnect_bandwidth": lambda v: format_si(v, "B/s"),
    "interconnect_latency": _seconds,
    "power_w": _watts,
}
_MODEL_UNITS: dict[str, Callable[[Any], str]] = {
    "params": _params,
    "active_params": _params,
    "max_context": lambda v: f"{v:,} tokens",
    "vocab": lambda v: f"{v:,}",
}


@hardware_app.command("list")
@guarded
def hardware_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (SI units).")] = False,
) -> None:
    """List the accelerators: memory, bandwidth, dense FLOP/s, power, price, and sources."""
    records = [_hardware_record(key) for key in _keys("hardware")]
    if as_json:
        typer.echo(_json(records))
        return
    typer.echo(table([_hardware_row(r) for r in records], header=_HARDWARE_HEADER, right=(2, 3, 4, 5, 6, 7)))
    typer.echo(
        "\nFLOP/s are dense (datasheets print sparse figures, twice as large); prices are on-demand "
        "cloud $ per accelerator-hour.\nDetails and full source URLs: tokencost hardware show NAME"
    )


@hardware_app.command("show")
@guarded
def hardware_show(
    name: Annotated[str, typer.Argument(help="Preset key or alias, e.g. h100.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (SI units).")] = False,
) -> None:
    """Show one accelerator with every figure, its unit and its source."""
    record = _hardware_record(name)
    typer.echo(_json(record) if as_json else _detail(record, _HARDWARE_UNITS))


@models_app.command("list")
@guarded
def models_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the models: parameters, shape, experts, context, and sources."""
    records = [_model_record(key) for key in _keys("models")]
    if as_json:
        typer.echo(_json(records))
        return
    typer.echo(table([_model_row(r) for r in records], header=_MODEL_HEADER, right=(2, 3, 4, 5, 8)))
    typer.echo(
        "\nheads q/kv: query and key/value heads (grouped-query attention); experts: used/routed "
        "per token.\nDetails and full source URLs: tokencost models show NAME"
    )


@models_app.command("show")
@guarded
def models_show(
    name: Annotated[str, typer.Argument(help="Preset key or alias, e.g. llama-3.1-8b.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one model's architecture and its source."""
    record = _model_record(name)
    typer.echo(_json(record) if as_json else _detail(record, _MODEL_UNITS))


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
        typer.Option("--requests", "-n", min=1, help="Requests to simulate [default: 1000; a trace: all]."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same result.")] = 0,
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
) -> None:
    """Simulate serving a scenario request by request: latencies, goodput, queues, cost.

    The scenario may add traffic:, lengths: and serving: sections (tokencost.scenario.traffic). With
    --json, stdout holds exactly SimulationResult.to_dict() as JSON.
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
        from tokencost.report.simulate import simulation_text

        typer.echo(simulation_text(result))
    if output is None:
        return
    with _report_target(output, f"{spec.name}-simulation") as path:
        from tokencost.report.simulate import write_simulation_report

        try:
            write_simulation_report(path, result, plotlyjs=plotlyjs.value)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    _echo_report(path, as_json)


@app.command("plan")
@guarded
def plan_command(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file.", show_default=False)],
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, help="Requests per confirming simulation.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the confirming simulations.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON on stdout and nothing else.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field, e.g. --set slo.ttft_s=0.2."),
    ] = None,
) -> None:
    """Find the cheapest deployment that meets the SLO at the workload's load.

    Searches replicas, batch cap, tensor parallelism and the hardware listed under candidates:
    analytically first, then by simulation. Exits 2 when no deployment meets the SLO (with
    --json, the JSON is printed first).
    """
    spec, sections = _load_sim(scenario, overrides)
    from tokencost.plan.planner import plan

    result = plan(
        spec,
        candidates=sections.candidates,
        traffic=sections.traffic,
        lengths=sections.lengths,
        serving=sections.serving,
        requests=requests,
        seed=seed,
    )
    if as_json:
        typer.echo(_json(result.to_dict()))
    if not result.meets_slo:
        raise Failure(f"{scenario}: no deployment meets the SLO: {result.reason}")
    if not as_json:
        from tokencost.report.simulate import plan_text

        typer.echo(plan_text(result))


# --------------------------------------------------------------------------- calibrate and verify


def _progress(prefix: str) -> Callable[[str], None] | None:
    """Progress lines on stderr while stderr is a terminal; silent when piped or captured."""
    if not sys.stderr.isatty():
        return None
    return lambda message: _echo_err(f"{prefix}: {message}")


def _profile_yaml(document: dict[str, Any], device: str, quick: bool) -> str:
    import yaml

    mode = " --quick" if quick else ""
    header = (
        f"# tokencost calibrate --device {device}{mode}\n"
        "# hardware: a scenario hardware section (paste it into a scenario, or use this file as\n"
        "#   tokencost verify --profile FILE); calibration: what tokencost verify needs beyond the\n"
        "#   roofline, and every measurement with its spread (median, q1, q3, min, max).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _calibration_summary(document: dict[str, Any]) -> str:
    hardware, calibration = document["hardware"], document["calibration"]
    terms, measured = calibration["model_terms"], calibration["measurements"]
    curve = terms["size_efficiency"]
    rows: list[Row] = []
    for precision, entry in measured["matmul"].items():
        rate = entry["flop_per_s"]
        shape = "×".join(str(n) for n in entry["shape"])
        rows.append(
            [
                f"matmul {precision} ({shape})",
                format_si(rate["median"], "FLOP/s"),
                f"{format_si(rate['min'], '')}–{format_si(rate['max'], '')}",
            ]
        )
    for name, entry in measured["memory"].items():
        rate = entry["bytes_per_s"]
        rows.append(
            [
                f"memory {name}",
                format_si(rate["median"], "B/s"),
                f"{format_si(rate['min'], '')}–{format_si(rate['max'], '')}",
            ]
        )
    rows.append(
        ["numpy call / BLAS call", f"{_seconds(terms['op_call_s'])} / {_seconds(terms['matmul_call_s'])}", ""]
    )
    rows.append(
        [
            "size curve η(m)",
            f"{curve['asymptote_fraction']:.2f}·m/(m + {curve['half_rows']:.1f}); "
            f"m=1: {curve['matvec_fraction']:.2f}",
            "",
        ]
    )
    head = f"{hardware['name']}, {_bytes(hardware['memory'])} memory"
    return head + "\n" + table(rows, header=["measurement", "median", "min–max"], right=(1, 2))


@app.command()
@guarded
def calibrate(
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Write the profile YAML here (default: print it).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu (numpy) or cuda (PyTorch).")] = "cpu",
    quick: Annotated[bool, typer.Option("--quick", help="Fewer, smaller measurements: seconds.")] = False,
) -> None:
    """Measure this machine (matmul FLOP/s per precision, memory bandwidth, per-call overheads,
    efficiency by matrix size) and write a hardware profile for scenarios and `tokencost verify`.

    Every measurement is repeated; the median is used and the spread is kept in the file.
    """
    from tokencost.machine.calibrate import DEVICES, DeviceUnavailableError
    from tokencost.machine.calibrate import calibrate as measure

    if device not in DEVICES:
        raise Failure(f"--device: {device!r} is not a device (allowed: {', '.join(DEVICES)})")
    try:
        document = measure(device=device, quick=quick, progress=_progress("calibrate"))
    except DeviceUnavailableError as exc:
        raise Failure(str(exc)) from None
    text = _profile_yaml(document, device, quick)
    summary = _calibration_summary(document)
    if output is None:
        typer.echo(text, nl=False)
        _echo_err(summary)
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, text)
    except OSError as exc:
        raise Failure(f"{path}: cannot write the profile: {exc.strerror or exc}", EXIT_FAILURE) from None
    typer.echo(f"{summary}\nwrote {path}; next: tokencost verify --profile {path}")


def _read_profile(path: str) -> dict[str, Any]:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(f"cannot read profile: {reason}", file=path) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=path, line=line
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("hardware"), dict):
        raise ScenarioError(
            "a profile has a hardware: section (write one with tokencost calibrate -o FILE)", file=path
        )
    return document


@app.command()
@guarded
def verify(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Profile from `tokencost calibrate -o FILE` (default: calibrate now, quick)."
        ),
    ] = None,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write an HTML report here.")] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON: per case predicted_s, measured_s, error; median_abs_error."),
    ] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer cases and repetitions: seconds.")] = False,
) -> None:
    """Time the numpy reference transformer (prefill and decode) and compare each case with the
    model's prediction from the calibrated profile.

    The prediction is the roofline of tokencost.model on the profile's hardware, with the size
    curve and per-call costs the calibration measured, plus the extra work numpy does (counted
    from the reference's code). Nothing is fitted to the verify timings.
    """
    from tokencost.machine.verify import render_html, text_report
    from tokencost.machine.verify import verify as run_cases

    if profile is None:
        from tokencost.machine.calibrate import calibrate as measure

        document, source = (
            measure(device="cpu", quick=True, progress=_progress("calibrate")),
            "quick calibration",
        )
    else:
        document, source = _read_profile(profile), profile
    try:
        result = run_cases(document, quick=quick, profile_source=source, progress=_progress("verify"))
    except ScenarioError as exc:
        raise exc.located(file=profile) from None
    if output is not None:
        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, render_html(result))
        except OSError as exc:
            raise _write_failed(path, exc) from None
    if as_json:
        typer.echo(_json(result.to_dict()))
    else:
        typer.echo(text_report(result))
    if output is not None:
        _echo_err(f"wrote {output}")


# --------------------------------------------------------------------------- entry point


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tokencost {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """What an LLM token costs to serve, from first principles: prefill, decode, memory, dollars.

    Exit codes: 0 success, 2 bad input or a scenario that cannot run, 1 anything else.
    """


def main() -> None:
    """Console entry point (``tokencost`` and ``python -m tokencost``)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    app(prog_name="tokencost")
