"""One row per configuration: what a sweep computes for each, and the table's fixed columns.

A row is ``config_index``, then the axes (their dotted field names, the values as the spec gives
them), then every other input (the validated scenario, flattened to dotted keys), then every
result (:func:`tokencost.results.flatten` of ``Evaluation.to_dict()``, of
``SimulationResult.to_dict()`` or of ``Plan.to_dict()``). A configuration that is not a valid
scenario (a tensor degree that does not divide the heads) or cannot run is a row with
``feasible=False`` and the reason, never an error that stops the sweep.

The columns and their types are fixed before the first row is written (Parquet needs one schema
for the whole file): result types come from :class:`~tokencost.results.Evaluation`'s
annotations, the others from probe rows (the base with each axis value alone, and the first
chunk). A column a later row adds is left out; a value that does not fit its column's type is
written as text (string columns) or left empty.

Everything here is plain Python and numpy, so it runs the same in a worker process or on a Dask
worker; pyarrow is imported only by :mod:`tokencost.sweep.runner`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from tokencost.errors import TokenCostError
from tokencost.results import Evaluation, column_types, flatten
from tokencost.sweep.spec import INDEX_COLUMN, LEFT_OUT_INPUTS, SweepSpec

WHATS = ("evaluate", "simulate", "plan")
Types = dict[str, str]  # column -> "bool" | "int64" | "float64" | "string"
ChunkRows = Any  # list[dict] of rows, or a tokencost.sweep.columnar.ColumnChunk


def chunk_types(
    probes: list[dict[str, Any]], chunk: ChunkRows, axes: Sequence[str], known: Types | None
) -> Types:
    """:func:`infer_types` of the probe rows and a chunk (a list of rows, or a columnar chunk)."""
    if isinstance(chunk, list):
        return infer_types([*probes, *chunk], axes, known)
    return infer_types([*probes, *chunk.type_rows()], axes, known, chunk.column_types(value_type, merge))


@dataclasses.dataclass(frozen=True)
class Task:
    """What to compute for each configuration: ``what`` and the simulator's options."""

    what: str = "evaluate"
    requests: int | None = None
    seed: int = 0
    columnar: bool = True  # evaluate: the vectorised path (tokencost.sweep.columnar); False: row by row


def compute_row(spec: SweepSpec, task: Task, index: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """The row of configuration ``index`` (its axis values ``overrides``)."""
    from tokencost.scenario.loading import scenario_from_dict

    row: dict[str, Any] = {INDEX_COLUMN: index, **overrides}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenario = scenario_from_dict(spec.scenario_data(overrides))
            for key, value in flatten(scenario.model_dump(mode="json")).items():
                if key not in LEFT_OUT_INPUTS and key not in row:
                    row[key] = value
            row.update(_result(scenario, task))
    except TokenCostError as exc:  # an invalid combination, or a plan that finds nothing
        row.update(feasible=False, infeasible_reason=f"invalid: {exc}")
    return row


def _result(scenario: Any, task: Task) -> dict[str, Any]:
    if task.what == "simulate":
        from tokencost.sim import simulate

        return {
            "feasible": True,
            **flatten(simulate(scenario, requests=task.requests, seed=task.seed).to_dict()),
        }
    if task.what == "plan":
        from tokencost.plan import plan

        kwargs: dict[str, Any] = {"seed": task.seed}
        if task.requests is not None:
            kwargs["requests"] = task.requests
        planned = plan(scenario, **kwargs).to_dict()
        planned.pop("options", None)  # every option tried: a table of its own (Plan.to_frame(options=True))
        return {"feasible": True, **flatten(planned)}
    from tokencost.api import evaluate

    return flatten(evaluate(scenario).to_dict())


def compute_chunk(spec: SweepSpec, task: Task, start: int, stop: int) -> ChunkRows:
    """Rows of configurations ``start .. stop - 1`` (what a chunk's worker runs): a list in
    order, or for ``evaluate`` a :class:`~tokencost.sweep.columnar.ColumnChunk` of the same rows."""
    if task.what == "evaluate" and task.columnar:
        from tokencost.sweep import columnar

        return columnar.compute_chunk(
            spec, start, stop, lambda index, overrides: compute_row(spec, task, index, overrides)
        )
    return [
        compute_row(spec, task, start + offset, overrides)
        for offset, overrides in enumerate(spec.configurations(start, stop))
    ]


def compute_one(args: tuple[SweepSpec, Task, int]) -> dict[str, Any]:
    """One configuration's row, for a process pool (one configuration per task)."""
    spec, task, index = args
    return compute_row(spec, task, index, spec.configurations(index, index + 1)[0])


def probe_rows(spec: SweepSpec, task: Task, limit: int = 200) -> list[dict[str, Any]]:
    """Rows of the base with each axis value alone (up to ``limit``): the inputs' columns."""
    if task.what != "evaluate":
        return []
    rows = []
    for dotted, values in spec.axes.items():
        for value in values[: max(1, limit // max(len(spec.axes), 1))]:
            others = {key: spec.axes[key][0] for key in spec.axes}
            rows.append(compute_row(spec, task, -1, {**others, dotted: value}))
    return rows


# ------------------------------------------------------------------------------------ columns


def evaluation_types() -> Types:
    """Column types of ``flatten(Evaluation.to_dict())`` from the dataclasses' annotations
    (:func:`tokencost.results.column_types`: a tuple, joined as text, is a string column)."""
    return column_types(Evaluation)


def value_type(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def merge(left: str | None, right: str | None) -> str | None:
    """The type of a column holding values of both types (a join: the order does not matter)."""
    if left is None or left == right:
        return right
    if right is None:
        return left
    if {left, right} == {"int64", "float64"}:
        return "float64"
    return "string"


def infer_types(
    rows: Iterable[dict[str, Any]],
    axes: Sequence[str],
    known: Types | None = None,
    column_types: dict[str, str | None] | None = None,
) -> Types:
    """Columns in order (index, axes, inputs, results) with one type each (see the module).
    ``column_types``: the merged types of a columnar chunk's columns (whose rows among ``rows``
    need only be those that show each column first: the merge does not depend on the order)."""
    seen: dict[str, str | None] = {INDEX_COLUMN: "int64", **dict.fromkeys(axes)}
    for row in rows:
        for key, value in row.items():
            seen[key] = merge(seen.get(key), value_type(value))
    for key, kind in (column_types or {}).items():
        if kind is not None:
            seen[key] = merge(seen.get(key), kind)
    for key, kind in (known or {}).items():
        if key not in seen:
            seen[key] = kind
        elif key not in axes and key != INDEX_COLUMN:
            seen[key] = kind if seen[key] in (None, kind) or kind == "string" else merge(seen[key], kind)
    return {key: kind or "string" for key, kind in seen.items()}


def conform(row: dict[str, Any], types: Types) -> dict[str, Any]:
    """``row`` with exactly the columns of ``types``, each value of its column's type or None."""
    return {key: cast(row.get(key), kind) for key, kind in types.items()}


def cast(value: Any, kind: str) -> Any:
    """``value`` as a value of a ``kind`` column, or None (see :func:`conform`)."""
    if value is None or (isinstance(value, float) and math.isnan(value) and kind != "float64"):
        return None
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind == "int64":
        return int(value) if float(value).is_integer() else None
    return float(value)
