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
import io
import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokencost.errors import ScenarioError
from tokencost.scenario.catalog import find_preset
from tokencost.scenario.files import MAX_TRACE_BYTES
from tokencost.scenario.hardware import candidate_preset
from tokencost.scenario.loading import _apply_overrides, parse_yaml, read_text, scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import (
    MAX_ARRIVAL_S,
    MAX_REQUESTS,
    MAX_TRACE_TOKENS,
    SimSections,
    TraceLengths,
    TraceTraffic,
    sections_error,
)
from tokencost.scenario.validation import FROM_SET

SECTIONS = ("traffic", "lengths", "serving", "candidates")
TRACE_COLUMNS = ("arrival_s", "input_tokens", "output_tokens")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")

# A row's bounds (MAX_ARRIVAL_S, MAX_TRACE_TOKENS) are an inline trace's, argued in traffic.py.
MAX_JSON_DIGITS = 309  # the digits of the largest float, 1.8e308


class _Cell(ValueError):
    """A trace cell that is not a usable number (message without the location)."""


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:
        raise _Cell(f"an integer of {len(text):,} digits is too large")
    return int(text)


def _json_constant(text: str) -> float:
    raise _Cell(f"{text} is not a finite number")


def _json_rows(text: str, file: str) -> list[tuple[int, str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_int=_json_int, parse_constant=_json_constant)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                f"invalid JSON: {exc.msg}", file=file, line=number, column=exc.colno
            ) from None
        except _Cell as exc:
            raise ScenarioError(str(exc), file=file, line=number) from None
        except RecursionError:
            raise ScenarioError("invalid JSON: nested too deep", file=file, line=number) from None
        if not isinstance(row, dict):
            raise ScenarioError(
                f"each line must be a JSON object, got {type(row).__name__}", file=file, line=number, column=1
            )
        rows.append((number, line, row))
    return rows


def _csv_rows(text: str, file: str) -> list[tuple[int, str, Any]]:
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            number = reader.line_num
            rows.append((number, lines[number - 1] if number <= len(lines) else "", row))
    except csv.Error as exc:
        raise ScenarioError(f"invalid CSV: {exc}", file=file, line=reader.line_num) from None
    return rows


def _rows(path: Path) -> list[tuple[int, str, Any]]:
    """(line number, line text, row mapping) of each record of a CSV or JSONL trace."""
    text = read_text(path, "trace", MAX_TRACE_BYTES)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ScenarioError("a trace is text: it holds a NUL byte", file=str(path), line=line)
    if text.count("\n") > MAX_REQUESTS + 1:  # + 1: a CSV's header
        raise ScenarioError(
            f"a trace may have at most {MAX_REQUESTS:,} rows (the requests one simulation holds)",
            file=str(path),
            line=MAX_REQUESTS + 2,
        )
    if path.suffix.lower() in JSON_SUFFIXES:
        return _json_rows(text, str(path))
    return _csv_rows(text, str(path))


def _cell_column(line: str, row: Any, column: str, is_json: bool) -> int | None:
    """Where ``column``'s cell starts in ``line`` (1-based), where simply found."""
    if is_json:
        found = line.find(f'"{column}"')
        return found + 1 if found >= 0 else None
    if '"' in line or not isinstance(row, dict):
        return None
    names = list(row)
    if column not in names:
        return None
    cells = line.split(",")
    index = names.index(column)
    return sum(len(cell) + 1 for cell in cells[:index]) + 1 if index < len(cells) else None


def _number(value: Any, column: str) -> float:
    """A trace cell as a finite number within the column's bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Cell(f"{column} must be a number, got {value!r}"[:120])
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise _Cell(f"{column} must be a number, got {value!r}"[:120]) from None
    if not math.isfinite(number):
        raise _Cell(f"{column} must be a finite number, got {value!r}"[:120])
    if column == "arrival_s":
        if not 0 <= number <= MAX_ARRIVAL_S:
            raise _Cell(f"arrival_s must be in [0, {MAX_ARRIVAL_S:.0e}] s, got {value!r}"[:120])
        return number
    if number != math.floor(number) or not 1 <= number <= MAX_TRACE_TOKENS:
        raise _Cell(
            f"{column} must be a whole number of tokens in [1, {MAX_TRACE_TOKENS:,}], got {value!r}"[:120]
        )
    return number


def read_trace(path: str | Path, columns: tuple[str, ...] = TRACE_COLUMNS) -> dict[str, list[float]]:
    """The named columns of a CSV or JSONL trace, as lists (tokens as whole numbers).

    Every cell must be a finite number: arrival times in [0, 1e9] s, token counts whole and in
    [1, 1e8]. Any problem is a :class:`ScenarioError` naming the file, line and column.
    """
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise ScenarioError(
            f"the trace has no rows (needs columns {', '.join(columns)})", file=str(path), line=1
        )
    is_json = path.suffix.lower() in JSON_SUFFIXES
    table: dict[str, list[float]] = {column: [] for column in columns}
    for number, line, row in rows:
        for column in columns:
            if row.get(column) in (None, ""):
                raise ScenarioError(
                    f"missing column {column!r} (needs {', '.join(columns)})",
                    file=str(path),
                    line=1 if not is_json and column not in row else number,
                    column=None if not is_json and column not in row else 1,
                )
            try:
                table[column].append(_number(row[column], column))
            except _Cell as exc:
                where = _cell_column(line, row, column, is_json)
                raise ScenarioError(str(exc), file=str(path), line=number, column=where) from None
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
    data, lines = parse_yaml(read_text(path), str(path))
    if not isinstance(data, dict):
        data = {} if data is None else data
    if overrides and isinstance(data, dict):
        data = _apply_overrides(data, overrides, file=str(path), lines=lines)
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
    _check_candidates(sections, str(path), lines)
    return scenario, _with_traces(sections, path.parent)


def _check_candidates(sections: SimSections, file: str, lines: dict[tuple[str, ...], Any]) -> None:
    """Each ``candidates`` entry names a hardware preset, or one error at its line (the planner
    once found out only when it screened them, and said so without the file)."""
    for index, candidate in enumerate(sections.candidates or ()):
        where = lines.get(("candidates", str(index)), lines.get(("candidates",), (None, None)))
        field = f"--set candidates.{index}" if where == FROM_SET else f"candidates.{index}"
        try:
            find_preset("hardware", candidate_preset(candidate), field=field)
        except ScenarioError as exc:
            line, column = (None, None) if where == FROM_SET else where
            raise exc.located(file=file, line=line, column=column) from None


def _with_traces(sections: SimSections, base_dir: Path) -> SimSections:
    traffic, lengths = sections.traffic, sections.lengths
    if isinstance(traffic, TraceTraffic) and traffic.path is not None:
        traffic = read_trace_traffic(traffic, base_dir)
    if isinstance(lengths, TraceLengths) and lengths.path is not None:
        lengths = read_trace_lengths(lengths, base_dir)
    return SimSections(
        traffic=traffic, lengths=lengths, serving=sections.serving, candidates=sections.candidates
    )


def scenario_with_traces(scenario: Scenario, base_dir: str | Path | None = None) -> Scenario:
    """``scenario`` with the traces its ``traffic`` and ``lengths`` sections name by path read in
    (relative to ``base_dir``): what ``tokencost run`` evaluates, so that the analytic model serves
    the file's mix of lengths as ``simulate`` does (a scenario without one: itself)."""
    traffic, lengths = scenario.traffic, scenario.lengths
    update: dict[str, Any] = {}
    if isinstance(traffic, TraceTraffic) and traffic.path is not None:
        update["traffic"] = read_trace_traffic(traffic, base_dir)
    if isinstance(lengths, TraceLengths) and lengths.path is not None:
        update["lengths"] = read_trace_lengths(lengths, base_dir)
    return scenario.model_copy(update=update) if update else scenario
