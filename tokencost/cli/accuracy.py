"""``tokencost accuracy``: the model's error on public measurements of real deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokencost.cli.common import _atomic_write, _echo_err, _json, _percent, _write_failed, app, guarded, table


def _summary_rows(groups: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, both in groups.items():
        mine, loso = both["in_sample"], both["loso"]
        rows.append(
            (
                name,
                str(mine["rows"]),
                _percent(mine["median"]),
                _percent(mine["p90"]),
                _percent(loso["median"]),
                _percent(loso["p90"]),
            )
        )
    return rows


def text_report(data: dict[str, Any]) -> str:
    """The error table: overall, by family, engine and vendor; in sample and leave one source out."""
    header = ("group", "rows", "median", "p90", "LOSO median", "LOSO p90")
    rows = _summary_rows({"all rows": data["overall"]})
    for key, label in (("by_family", "family"), ("by_engine", "engine"), ("by_vendor", "vendor")):
        rows += [(f"{label}: {r[0]}", *r[1:]) for r in _summary_rows(data[key])]
    targets = data["targets"]
    reasons = ", ".join(f"{count} {reason}" for reason, count in data["skipped_by_reason"].items())
    lines = [
        f"tokencost accuracy: {data['rows_scored']} rows from {data['sources']} sources scored, "
        f"{data['rows_skipped']} skipped ({reasons})",
        "error = |predicted - measured| / measured; LOSO = engine profiles refitted without the rows "
        "of the source being predicted; efficiencies moved to each source's date at "
        f"{data['drift_per_year']:+.1%} (log) per year (fitted in every fold)",
        "",
        table(rows, header=header, right=(1, 2, 3, 4, 5)),
        "",
        f"target (issue 9): LOSO median <= {targets['loso_median']:.0%}, p90 <= {targets['loso_p90']:.0%}: "
        + ("met" if targets["met"] else "NOT met"),
        f"wall {data['wall_s']:.1f} s",
    ]
    return "\n".join(lines) + "\n"


@app.command()
@guarded
def accuracy(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: overall, by_family, by_engine, by_vendor, rows.")
    ] = False,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Write an HTML report (predicted vs measured).")
    ] = None,
) -> None:
    """Predict every row of the shipped table of public measurements and print the error: median
    and p90, overall and by family, engine and vendor, in sample and leave one source out."""
    from tokencost.accuracy import run_accuracy

    result = run_accuracy()
    data = result.to_dict()
    if output is not None:
        from tokencost.report.accuracy import render_html

        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, render_html(data))
        except OSError as exc:
            raise _write_failed(path, exc) from None
    typer.echo(_json(data) if as_json else text_report(data), nl=as_json)
    if output is not None:
        _echo_err(f"wrote {output}")
