"""``tokencost sweep``: every configuration of a sweep spec to a Parquet or CSV table."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tokencost.cli.common import MAX_REQUESTS, Failure, PlotlyJs, _json, _write_failed, app, guarded

if TYPE_CHECKING:
    from pathlib import Path

    from tokencost.sweep.spec import SweepSpec

DEFAULT_CHUNK_SIZE = 2_000


class What(StrEnum):
    """What each configuration runs."""

    evaluate = "evaluate"
    simulate = "simulate"
    plan = "plan"


@contextlib.contextmanager
def _progress_bar(total: int, quiet: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields the callback that advances it by n rows."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=False) as bar:
        job = bar.add_task("sweep", total=total)
        yield lambda rows: bar.advance(job, rows)


@contextlib.contextmanager
def _executor(use_dask: bool, scheduler: str | None, workers: int) -> Iterator[Any]:
    from tokencost.sweep.runner import dask_executor, local_executor

    if not use_dask and scheduler is None:
        yield local_executor(workers)
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise Failure("--dask needs Dask: pip install 'tokencost-sim[dask]'") from None
    if scheduler is not None:
        with Client(scheduler) as client:
            yield dask_executor(client)
        return
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield dask_executor(client)


SweepRequests = Annotated[
    int | None,
    typer.Option(
        "--requests", "-n", min=1, max=MAX_REQUESTS, help="Requests per simulation (simulate, plan)."
    ),
]


@app.command("sweep")
@guarded
def sweep_command(
    spec_path: Annotated[
        str, typer.Argument(metavar="SPEC", help="Sweep spec YAML (base, axes, mode, sample).")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="The table to write: .parquet or .csv.")
    ] = "sweep.parquet",
    what: Annotated[
        What, typer.Option("--what", help="Run evaluate, simulate or plan per configuration.")
    ] = (What.evaluate),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted sweep: compute only missing chunks.")
    ] = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Configurations per chunk (one Parquet row group).")
    ] = DEFAULT_CHUNK_SIZE,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes for simulate and plan, or Dask workers of the local cluster."),
    ] = max(1, min(os.cpu_count() or 1, 4)),
    use_dask: Annotated[bool, typer.Option("--dask", help="Run the chunks on a Dask LocalCluster.")] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run the chunks on the Dask scheduler at this address (tcp://host:8786)."),
    ] = None,
    requests: SweepRequests = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the simulations.")] = 0,
    report: Annotated[
        str | None, typer.Option(help="Also write an HTML report: the cost–latency Pareto front.")
    ] = None,
    plotlyjs: Annotated[
        PlotlyJs, typer.Option(help="Embed plotly.js in the report (works offline) or load it from a CDN.")
    ] = PlotlyJs.inline,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON on stdout (no progress bar).")
    ] = False,
) -> None:
    """Evaluate every configuration of a sweep spec and write one row per configuration.

    Columns: config_index, the axes (dotted field names), every other input, every result.
    Configurations that cannot run are rows with feasible=false and the reason.
    """
    from tokencost.sweep.rows import Task
    from tokencost.sweep.runner import run_sweep

    spec = _load_spec(spec_path, output, report=report, what=what)
    task = Task(what.value, requests, seed)
    quiet = quiet or as_json
    with _executor(use_dask, scheduler, workers) as executor, _progress_bar(spec.size, quiet) as advance:
        result = run_sweep(
            spec, output, task=task, chunk_size=chunk_size, resume=resume, executor=executor, progress=advance
        )
    _print_result(result, resume=resume, as_json=as_json)
    if report is not None:
        _write_sweep_report(report, spec, result.path, plotlyjs=plotlyjs, quiet=as_json)


def _print_result(result: Any, *, resume: bool, as_json: bool) -> None:
    """What was written: one line, or JSON (the output, rows, columns and chunks)."""
    if as_json:
        written = {"output": str(result.path), "rows": result.rows, "columns": list(result.columns)}
        typer.echo(_json({**written, "chunks": result.chunks, "resumed_chunks": result.resumed_chunks}))
        return
    resumed = f" (resumed: {result.resumed_chunks} of {result.chunks} chunks were done)" if resume else ""
    typer.echo(f"{result.rows:,} configurations, {len(result.columns)} columns: {result.path}{resumed}")


def _load_spec(spec_path: str, output: str, *, report: str | None, what: What) -> SweepSpec:
    """The sweep spec, once the output's format and the --report/--what pair are known to be good."""
    from pathlib import Path

    from tokencost.scenario.files import check_replaceable
    from tokencost.sweep.runner import output_format
    from tokencost.sweep.spec import load_sweep_spec

    spec = load_sweep_spec(spec_path)
    output_format(Path(output))
    try:
        check_replaceable(output)
    except OSError as exc:
        raise _write_failed(Path(output), exc, what="write the table") from None
    if report is not None and what is not What.evaluate:
        raise Failure("--report needs --what evaluate (the cost and latency of each configuration)")
    return spec


def _write_sweep_report(
    report: str, spec: SweepSpec, table: Path, *, plotlyjs: PlotlyJs, quiet: bool = False
) -> None:
    """The cost–latency Pareto report of the written table, and where it went."""
    from pathlib import Path

    from tokencost.report.writer import write_sweep_report

    try:
        path = write_sweep_report(report, spec, table, plotlyjs=plotlyjs.value)
    except OSError as exc:
        raise _write_failed(Path(report), exc) from None
    typer.echo(f"report: {path}", err=quiet)
