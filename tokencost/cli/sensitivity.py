"""``tokencost sensitivity``: which inputs move the cost of a token and its latency most, and the
P10/P50/P90 bands of the headline figures over the efficiencies' measured spread."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from tokencost.cli.common import PERCENT, Failure, _json, _load, _seconds, _usd, app, guarded, table


def _swing(value: Any) -> str:
    return "—" if value is None or not math.isfinite(float(value)) else f"{float(value) * PERCENT:.1f} %"


@app.command()
@guarded
def sensitivity(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=4096, help="Monte Carlo draws for the bands.")
    ] = 64,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the Latin-hypercube draws.")] = 0,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field before validation (repeatable)."),
    ] = None,
) -> None:
    """Swing each efficiency (and the memory reserve) across its measured range, one at a time,
    and draw all of them together: the tornado and the P10/P50/P90 bands."""
    spec = _load(scenario, overrides)
    from tokencost.api import evaluate
    from tokencost.sweep.uncertainty import sensitivity as tornado
    from tokencost.sweep.uncertainty import uncertainty

    base = evaluate(spec)
    if not base.feasible:
        raise Failure(f"{scenario}: infeasible: {base.infeasible_reason}")
    frame = tornado(spec)
    bands = uncertainty(spec, samples, seed=seed)
    if as_json:
        from tokencost.results import json_ready

        typer.echo(_json(json_ready({"tornado": frame.to_dict(orient="records"), "uncertainty": bands})))
        return
    rows: list[tuple[str, ...]] = [("What moves the cost at capacity most (one input at a time)",)]
    for row in frame.to_dict(orient="records"):
        rows.append(
            (
                str(row["input"]),
                _swing(row["swing_fraction"]),
                f"{_usd(row['usd_per_million_output_tokens_at_capacity_low'])} to "
                f"{_usd(row['usd_per_million_output_tokens_at_capacity_high'])} per M output tokens; "
                f"TPOT {_seconds(row['tpot_s_low'])} to {_seconds(row['tpot_s_high'])}; {row['range']}",
            )
        )
    rows.append((f"Bands: {bands['method']}",))
    for key, label, show in (
        ("tpot_s", "TPOT", _seconds),
        ("ttft_s", "TTFT", _seconds),
        ("usd_per_million_output_tokens", "$ per million output tokens", _usd),
    ):
        band = bands.get(key) or {}
        rows.append(
            (
                label,
                show(getattr(base, key)),
                f"P10 {show(band.get('p10'))}, P50 {show(band.get('p50'))}, P90 {show(band.get('p90'))}",
            )
        )
    typer.echo(table(rows, right=(1,)))
