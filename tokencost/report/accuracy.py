"""The accuracy page: the predicted-vs-measured scatter, the error summary and every row."""

from __future__ import annotations

import html
from typing import Any

from tokencost.report.figures.accuracy import accuracy_scatter
from tokencost.report.verify import PAGE_CSS


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _summary_table(data: dict[str, Any]) -> str:
    groups = [("all rows", data["overall"])]
    for key, label in (("by_family", "family"), ("by_engine", "engine"), ("by_vendor", "vendor")):
        groups += [(f"{label}: {name}", both) for name, both in data[key].items()]
    head = "".join(f"<th>{h}</th>" for h in ("group", "rows", "median", "p90", "LOSO median", "LOSO p90"))
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{both['in_sample']['rows']}</td>"
        f"<td>{_percent(both['in_sample']['median'])}</td><td>{_percent(both['in_sample']['p90'])}</td>"
        f"<td>{_percent(both['loso']['median'])}</td><td>{_percent(both['loso']['p90'])}</td></tr>"
        for name, both in groups
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rows_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("row", "engine", "metric", "measured", "predicted", "error", "LOSO predicted", "LOSO error")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                r["id"],
                r["engine"],
                r["metric"],
                f"{r['measured']:.4g}",
                f"{r['predicted_in_sample'] or float('nan'):.4g}",
                _percent(r["error_in_sample"]),
                f"{r['predicted_loso'] or float('nan'):.4g}",
                _percent(r["error_loso"]),
            )
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict[str, Any]) -> str:
    """A self-contained page (plotly.js embedded) from ``Accuracy.to_dict()``; strings escaped."""
    from tokencost._version import __version__

    figure = accuracy_scatter(data["rows"]).to_html(
        full_html=False, include_plotlyjs=True, div_id="accuracy-scatter"
    )
    loso = data["overall"]["loso"]
    facts = (
        f"{data['rows_scored']} rows from {data['sources']} sources; leave-one-source-out median "
        f"{_percent(loso['median'])}, p90 {_percent(loso['p90'])} (target ≤ 10 % and ≤ 35 %)"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tokencost accuracy</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>tokencost accuracy</h1><p>{html.escape(facts)}</p>{figure}"
        f"<h2>Error</h2>{_summary_table(data)}<h2>Rows</h2>{_rows_table(data['rows'])}"
        "<footer>Measurements: tokencost/data/measurements.csv (each row with its source URL); "
        f"profiles fitted by tokencost.accuracy.fit. tokencost {html.escape(__version__)}</footer>"
        "</body></html>"
    )
