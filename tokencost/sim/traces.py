"""The simulator's edge: reading request traces, and a scenario file's simulator sections.

The simulator does no I/O; this module reads files for it, once, before a run:

* a trace (CSV with a header row, or JSON Lines) with columns ``arrival_s``, ``input_tokens``
  and ``output_tokens`` (a length trace needs only the last two);
* the ``traffic``, ``lengths``, ``serving`` and ``candidates`` sections of a scenario YAML, for
  as long as :class:`~tokencost.scenario.specs.Scenario` does not carry them itself: they are
  validated with :class:`~tokencost.scenario.traffic.SimSections` and the rest with the usual loader.

Errors are :class:`~tokencost.errors.ScenarioError` naming the file, line and column.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokencost.errors import ScenarioError
from tokencost.scenario.loading import _apply_overrides, _parse_yaml, scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import SimSections, TraceLengths, TraceTraffic, sections_error

SECTIONS = ("traffic", "lengths", "serving", "candidates")
TRACE_COLUMNS = ("arrival_s", "input_tokens", "output_tokens")


def _rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ScenarioError(f"invalid JSON: {exc.msg}", file=str(path), line=number) from None
        return rows
    return list(csv.DictReader(text.splitlines()))


def read_trace(path: str | Path, columns: tuple[str, ...] = TRACE_COLUMNS) -> dict[str, list[float]]:
    """The named columns of a CSV or JSONL trace, as lists (tokens as whole numbers)."""
    path = Path(path)
    try:
        rows = _rows(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            f"cannot read trace: {getattr(exc, 'strerror', None) or exc}", file=str(path)
        ) from None
    if not rows:
        raise ScenarioError("the trace has no rows", file=str(path))
    table: dict[str, list[float]] = {column: [] for column in columns}
    header_lines = 0 if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else 1
    for number, row in enumerate(rows, start=1 + header_lines):
        for column in columns:
            if not isinstance(row, dict) or row.get(column) in (None, ""):
                raise ScenarioError(
                    f"missing column {column!r} (needs {', '.join(columns)})", file=str(path), line=number
                )
            try:
                value = float(row[column])
            except (TypeError, ValueError):
                raise ScenarioError(
                    f"{column} must be a number, got {row[column]!r}", file=str(path), line=number
                ) from None
            table[column].append(value)
    return table


def read_trace_traffic(spec: TraceTraffic, base_dir: str | Path | None = None) -> TraceTraffic:
    """``spec`` with its file's columns inline (a relative path is taken from ``base_dir``)."""
    path = _resolve(spec.path, base_dir)
    table = read_trace(path)
    data = {
        "kind": "trace",
        "speedup": spec.speedup,
        "arrival_s": table["arrival_s"],
        "input_tokens": [int(value) for value in table["input_tokens"]],
        "output_tokens": [int(value) for value in table["output_tokens"]],
    }
    return _validated(TraceTraffic, data, path)


def read_trace_lengths(spec: TraceLengths, base_dir: str | Path | None = None) -> TraceLengths:
    """``spec`` with its file's length columns inline."""
    path = _resolve(spec.path, base_dir)
    table = read_trace(path, ("input_tokens", "output_tokens"))
    data = {
        "kind": "trace",
        "input_tokens": [int(value) for value in table["input_tokens"]],
        "output_tokens": [int(value) for value in table["output_tokens"]],
    }
    return _validated(TraceLengths, data, path)


def _resolve(path: str | None, base_dir: str | Path | None) -> Path:
    assert path is not None
    resolved = Path(path)
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    return resolved


def _validated(model: type[TraceTraffic] | type[TraceLengths], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(
            str(exc.errors()[0]["msg"]).removeprefix("Value error, "), file=str(path)
        ) from None


def load_sim_scenario(path: str | Path, overrides: list[str] | None = None) -> tuple[Scenario, SimSections]:
    """A scenario file and its simulator sections; traces named in it are read (relative to it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            f"cannot read scenario: {getattr(exc, 'strerror', None) or exc}", file=str(path)
        ) from None
    data, lines = _parse_yaml(text, str(path))
    if not isinstance(data, dict):
        data = {} if data is None else data
    if overrides:
        data = _apply_overrides(data, overrides)
    carried = set(Scenario.model_fields)
    own = {key: data[key] for key in SECTIONS if isinstance(data, dict) and key in data}
    rest = (
        {key: value for key, value in data.items() if key not in own or key in carried}
        if isinstance(data, dict)
        else data
    )
    scenario = scenario_from_dict(rest, file=str(path), name=path.stem, lines=lines)
    try:
        sections = SimSections.model_validate(own)
    except ValidationError as exc:
        raise sections_error(exc, file=str(path), lines=lines) from None
    return scenario, _with_traces(sections, path.parent)


def _with_traces(sections: SimSections, base_dir: Path) -> SimSections:
    traffic, lengths = sections.traffic, sections.lengths
    if isinstance(traffic, TraceTraffic) and traffic.path is not None:
        traffic = read_trace_traffic(traffic, base_dir)
    if isinstance(lengths, TraceLengths) and lengths.path is not None:
        lengths = read_trace_lengths(lengths, base_dir)
    return SimSections(
        traffic=traffic, lengths=lengths, serving=sections.serving, candidates=sections.candidates
    )
