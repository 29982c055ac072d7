"""``tokencost calibrate`` and ``tokencost verify``: measure this machine, check the model against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokencost.cli.common import (
    Failure,
    Row,
    _atomic_write,
    _bytes,
    _echo_err,
    _json,
    _seconds,
    _write_failed,
    app,
    guarded,
)
from tokencost.cli.render import progress_bar, rich_table
from tokencost.errors import ScenarioError
from tokencost.units import format_si

# --------------------------------------------------------------------------- calibrate and verify


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
    return head + "\n" + rich_table(["measurement", "median", "min–max"], rows, right=(1, 2))


def _verify_table(header: list[str], rows: list[list[str]]) -> str:
    return rich_table(header, rows, right=tuple(range(1, len(header))))


@app.command()
@guarded
def calibrate(
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Write the profile YAML here (default: print it).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu (numpy) or cuda (PyTorch).")] = "cpu",
    quick: Annotated[bool, typer.Option("--quick", help="Fewer, smaller measurements: seconds.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the profile as JSON on stdout instead of YAML (-o still writes YAML)."
        ),
    ] = False,
) -> None:
    """Measure this machine (matmul FLOP/s per precision, memory bandwidth, per-call overheads,
    efficiency by matrix size) and write a hardware profile for scenarios and `tokencost verify`.

    Every measurement is repeated; the median is used and the spread is kept in the file.
    """
    from tokencost.machine.calibrate import DEVICES
    from tokencost.machine.calibrate import calibrate as measure
    from tokencost.machine.timing import DeviceUnavailableError

    if device not in DEVICES:
        raise Failure(f"--device: {device!r} is not a device (allowed: {', '.join(DEVICES)})")
    try:
        with progress_bar("calibrate") as progress:
            document = measure(device=device, quick=quick, progress=progress)
    except DeviceUnavailableError as exc:
        raise Failure(str(exc)) from None
    text = _profile_yaml(document, device, quick)
    summary = _calibration_summary(document)
    if as_json:
        typer.echo(_json(document))
    if output is None:
        if not as_json:
            typer.echo(text, nl=False)
        _echo_err(summary)
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, text)
    except OSError as exc:
        raise _write_failed(path, exc, what="write the profile") from None
    message = f"{summary}\nwrote {path}; next: tokencost verify --profile {path}"
    if as_json:
        _echo_err(message)
    else:
        typer.echo(message)


def _read_profile(path: str) -> dict[str, Any]:
    import yaml

    from tokencost.scenario.loading import read_text  # here: `tokencost --help` loads no pydantic

    text = read_text(path, "profile")
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
    from tokencost.machine.verify import text_report
    from tokencost.machine.verify import verify as run_cases
    from tokencost.report.verify import render_html

    if profile is None:
        from tokencost.machine.calibrate import calibrate as measure

        with progress_bar("calibrate") as progress:
            document, source = measure(device="cpu", quick=True, progress=progress), "quick calibration"
    else:
        document, source = _read_profile(profile), profile
    try:
        with progress_bar("verify") as progress:
            result = run_cases(document, quick=quick, profile_source=source, progress=progress)
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
        typer.echo(text_report(result, render_table=_verify_table))
    if output is not None:
        _echo_err(f"wrote {output}")
