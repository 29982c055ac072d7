"""Sweep specs: a base scenario, axes over dotted fields, and the configurations they span.

A spec is YAML with four keys (a contract: checks outside this repository rely on them)::

    base: chat.yaml                  # a scenario file (relative to the spec) or an inline mapping
    axes:                            # dotted scenario field -> values
      hardware.preset: [h100-sxm, h200, b200]
      workload.output_tokens: {range: [100, 1000, 100]}     # start, stop (excluded), step
      workload.requests_per_second: {logspace: [1, 1000, 4]}  # start, stop (included), count
    mode: product                    # product (default: every combination) or zip (row by row)
    sample: {n: 1000, method: lhs, seed: 0}   # optional: n points instead of the whole grid

``range`` follows Python's ``range`` (the stop is excluded); ``logspace`` takes the first and
last *values* (not exponents) and spaces ``count`` points geometrically between them, like
``numpy.geomspace``; both give integers when their bounds (and the step) are integers.

Configurations are numbered ``0 .. size - 1``: in ``product`` mode the first axis varies
slowest (C order); ``zip`` pairs the i-th values of every axis. ``sample`` draws ``n`` points
from that design with ``numpy.random.default_rng(seed)``: ``random`` picks each axis's value
independently and uniformly, ``lhs`` (Latin hypercube, McKay, Beckman and Conover 1979) splits
each axis into ``n`` equal strata and takes one point from each, in a random pairing.

Errors are :class:`~tokencost.errors.ScenarioError` with the spec's file:line:column and the
dotted key (``axes.workload.output_token``), one line each.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from tokencost.errors import ScenarioError, did_you_mean
from tokencost.scenario.files import read_bounded
from tokencost.scenario.loading import _parse_yaml, read_text
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.validation import Location

SPEC_KEYS = ("base", "axes", "mode", "sample")
MODES = ("product", "zip")
SAMPLE_KEYS = ("n", "method", "seed")
METHODS = ("random", "lhs")
GENERATOR_KEYS = ("range", "logspace")
GENERATOR_ARGS = 3
INDEX_COLUMN = "config_index"
MAX_AXIS_VALUES = 10**6  # values one range or logspace may make (a list is as long as its file)
MAX_CONFIGURATIONS = 10**9  # rows of one sweep: at ~0.4-2 M rows/s, minutes to an hour
MAX_SAMPLE = 10**7  # sampled points, drawn up front (n × axes indices in memory)
LEFT_OUT_INPUTS = ("name", "description")  # the same on every row of a table; the results carry `name`


@dataclass(frozen=True)
class Sample:
    """``n`` points drawn by ``method`` (random or lhs) with ``seed``."""

    n: int
    method: str = "random"
    seed: int = 0


@dataclass(frozen=True)
class SweepSpec:
    """A validated spec: the base scenario's data, the axes' values, the mode and the sample."""

    base: dict[str, Any]
    axes: dict[str, list[Any]]
    mode: str = "product"
    sample: Sample | None = None
    name: str = "sweep"
    file: str | None = None
    base_file: str | None = None
    base_lines: dict[tuple[str, ...], Location] = field(default_factory=dict, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.axes.values())

    @property
    def grid_size(self) -> int:
        """Configurations of the full design (product or zip), before sampling."""
        if self.mode == "zip":
            return self.shape[0]
        return math.prod(self.shape)

    @property
    def size(self) -> int:
        """Configurations the sweep evaluates (rows of its table)."""
        return self.sample.n if self.sample else self.grid_size

    def digest(self) -> str:
        """A hash of what decides the rows (base, axes, mode, sample): resume checks it."""
        text = json.dumps(
            [self.base, self.axes, self.mode, self.sample and vars(self.sample)], sort_keys=True, default=str
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def indices(self, start: int, stop: int) -> np.ndarray:
        """Per-axis value indices of configurations ``start .. stop - 1``, shape (stop - start, axes)."""
        if self.sample is not None:
            return _sampled(self)[start:stop]
        count = len(self.axes)
        index = np.arange(start, stop, dtype=np.int64)
        if self.mode == "zip":
            return np.repeat(index[:, None], count, axis=1)
        return np.stack(np.unravel_index(index, self.shape), axis=1) if count else index[:, None]

    def configurations(self, start: int, stop: int) -> list[dict[str, Any]]:
        """``{dotted field: value}`` of configurations ``start .. stop - 1``."""
        names = list(self.axes)
        values = [self.axes[name] for name in names]
        return [
            {name: values[k][int(i)] for k, (name, i) in enumerate(zip(names, row, strict=True))}
            for row in self.indices(start, stop)
        ]

    def scenario_data(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The base scenario's data with ``overrides`` (dotted field -> value) set."""
        data = copy.deepcopy(self.base)
        for dotted, value in overrides.items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {} if child is None else dict(child)
                node = child
            node[last] = copy.deepcopy(value)
        return data


_SAMPLE_CACHE: dict[str, np.ndarray] = {}


def _sampled(spec: SweepSpec) -> np.ndarray:
    """The sample's per-axis indices (n × axes), drawn once per spec."""
    key = spec.digest()
    if key not in _SAMPLE_CACHE:
        _SAMPLE_CACHE.clear()
        assert spec.sample is not None
        _SAMPLE_CACHE[key] = draw_sample(spec.shape, spec.mode, spec.sample)
    return _SAMPLE_CACHE[key]


def draw_sample(shape: tuple[int, ...], mode: str, sample: Sample) -> np.ndarray:
    """Indices (n × len(shape)) of ``sample.n`` points of a design with ``shape`` values per axis.

    ``random``: each axis uniformly and independently. ``lhs``: for each axis, the unit interval
    cut into n strata, a point drawn in each, the strata shuffled, the point u mapped to the
    value index floor(u · values). With as many values as points, every value appears once.
    In ``zip`` mode the axes move together, so one draw serves all.
    """
    rng = np.random.default_rng(sample.seed)
    lengths = shape[:1] if mode == "zip" else shape
    columns = []
    for length in lengths:
        if sample.method == "lhs":
            unit = (rng.permutation(sample.n) + rng.random(sample.n)) / sample.n
            columns.append(np.minimum((unit * length).astype(np.int64), length - 1))
        else:
            columns.append(rng.integers(0, length, sample.n))
    drawn = np.stack(columns, axis=1)
    return np.repeat(drawn, len(shape), axis=1) if mode == "zip" else drawn


# ------------------------------------------------------------------------------------ parsing


class _Where:
    """Locates dotted spec keys in the spec file (file:line:column)."""

    def __init__(self, file: str | None, lines: dict[tuple[str, ...], Location]) -> None:
        self.file, self.lines = file, lines

    def error(self, path: tuple[str, ...], message: str) -> ScenarioError:
        line, column = self.lines.get(path, self.lines.get(path[:1], (None, None)))
        return ScenarioError(message, field=".".join(path) or None, file=self.file, line=line, column=column)


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec file; raises :class:`ScenarioError` (file:line:column: key: ...)."""
    path = Path(path)
    data, lines = _parse_yaml(read_text(path, "sweep spec"), str(path))
    return sweep_spec_from_dict(data, file=str(path), lines=lines, folder=path.parent, name=path.stem)


def sweep_spec_from_dict(
    data: Any,
    *,
    file: str | None = None,
    lines: dict[tuple[str, ...], Location] | None = None,
    folder: Path | None = None,
    name: str = "sweep",
) -> SweepSpec:
    """Check a spec mapping (see the module) and return the :class:`SweepSpec`."""
    where = _Where(file, lines or {})
    if not isinstance(data, dict):
        raise where.error((), "a sweep spec must be a mapping with keys base, axes, mode, sample")
    for key in data:
        if key not in SPEC_KEYS:
            hint = did_you_mean(str(key), SPEC_KEYS) or f" (allowed: {', '.join(SPEC_KEYS)})"
            raise where.error((str(key),), f"unknown key {str(key)!r}{hint}")
    for key in ("base", "axes"):
        if key not in data:
            raise where.error((), f"missing key {key!r} (a sweep spec needs base and axes)")
    base, base_file, base_lines, base_name = _base(data["base"], where, folder or Path("."), name)
    mode = data.get("mode", "product")
    if mode not in MODES:
        raise where.error(("mode",), f"unknown mode {mode!r} (allowed: product, zip)")
    axes = _axes(data["axes"], where, mode)
    sample = _sample(data["sample"], where) if data.get("sample") is not None else None
    spec = SweepSpec(base, axes, mode, sample, base_name, file, base_file, base_lines)
    if sample is None and spec.grid_size > MAX_CONFIGURATIONS:
        raise where.error(
            ("axes",),
            f"the {mode} of these axes has {spec.grid_size:,} configurations, more than the "
            f"{MAX_CONFIGURATIONS:,} one sweep runs: split it, or sample it (sample: {{n: ...}})",
        )
    _check_presets(spec, where)
    return spec


def _base(
    value: Any, where: _Where, folder: Path, name: str
) -> tuple[dict[str, Any], str | None, dict[tuple[str, ...], Location], str]:
    """The base scenario's data, its file and line marks, and its name; validated once here."""
    from tokencost.scenario.loading import scenario_from_dict

    file: str | None
    if isinstance(value, str):
        path = folder / value
        try:
            text = read_bounded(path).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise where.error(("base",), f"cannot read the base scenario {str(path)!r}: {reason}") from None
        data, lines = _parse_yaml(text, str(path))
        file, base_name = str(path), path.stem
    elif isinstance(value, dict):
        data = value
        lines = {key[1:]: mark for key, mark in where.lines.items() if key[:1] == ("base",)}
        file, base_name = where.file, name
    else:
        raise where.error(("base",), "base must be a scenario file path or an inline scenario mapping")
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a mapping of sections", file=file, line=1)
    data = dict(data)
    data.setdefault("name", base_name)
    scenario_from_dict(data, file=file, lines=lines)
    return data, file, lines, str(data["name"])


def _axes(value: Any, where: _Where, mode: str) -> dict[str, list[Any]]:
    if not isinstance(value, dict) or not value:
        raise where.error(("axes",), "axes must be a non-empty mapping of dotted field -> values")
    axes: dict[str, list[Any]] = {}
    for key, values in value.items():
        path = ("axes", str(key))
        check_field(str(key), where, path)
        axes[str(key)] = _values(values, where, path)
    if mode == "zip":
        lengths = {key: len(values) for key, values in axes.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{key} has {count}" for key, count in lengths.items())
            raise where.error(("mode",), f"zip needs axes of equal length: {shown}")
    return axes


def _values(value: Any, where: _Where, path: tuple[str, ...]) -> list[Any]:
    """An axis's values: a list, or ``{range: [start, stop, step]}``, or ``{logspace: [...]}``."""
    if isinstance(value, list):
        if not value:
            raise where.error(path, "an axis needs at least one value")
        return value
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in GENERATOR_KEYS:
        raise where.error(
            path,
            "an axis is a list of values, {range: [start, stop, step]} or {logspace: [start, stop, count]}",
        )
    kind, args = next(iter(value.items()))
    numbers = isinstance(args, list) and all(
        isinstance(a, int | float) and not isinstance(a, bool) for a in args
    )
    if not numbers or len(args) != GENERATOR_ARGS:
        raise where.error(
            (*path, kind),
            f"{kind} takes three numbers [start, stop, {'step' if kind == 'range' else 'count'}]"
            f", got {args!r}",
        )
    start, stop, third = args
    if kind == "range":
        return _range(start, stop, third, where, (*path, kind))
    return _logspace(start, stop, third, where, (*path, kind))


def _range(start: float, stop: float, step: float, where: _Where, path: tuple[str, ...]) -> list[Any]:
    if step == 0:
        raise where.error(path, "the step of a range must not be 0")
    span = (stop - start) / step
    if not math.isfinite(span) or span > MAX_AXIS_VALUES:
        raise where.error(
            path, f"range [{start}, {stop}, {step}] makes more than {MAX_AXIS_VALUES:,} values (at most that)"
        )
    count = math.ceil(span - 1e-12)
    if count < 1:
        raise where.error(path, f"range [{start}, {stop}, {step}] is empty (the stop is excluded)")
    integer = all(isinstance(a, int) for a in (start, stop, step))
    return [start + k * step if integer else float(start + k * step) for k in range(count)]


def _logspace(start: float, stop: float, count: float, where: _Where, path: tuple[str, ...]) -> list[Any]:
    if not isinstance(count, int) or count < 1:
        raise where.error(path, f"the count of a logspace must be a positive integer, got {count!r}")
    if count > MAX_AXIS_VALUES:
        raise where.error(path, f"the count of a logspace must be at most {MAX_AXIS_VALUES:,}, got {count:,}")
    if start <= 0 or stop <= 0:
        raise where.error(path, f"logspace needs positive start and stop, got {start} and {stop}")
    points = np.geomspace(start, stop, count)
    if isinstance(start, int) and isinstance(stop, int):
        return [round(float(point)) for point in points]
    return [float(point) for point in points]


def _sample(value: Any, where: _Where) -> Sample:
    path = ("sample",)
    if not isinstance(value, dict):
        raise where.error(path, "sample must be a mapping {n, method: random | lhs, seed}")
    for key in value:
        if key not in SAMPLE_KEYS:
            hint = did_you_mean(str(key), SAMPLE_KEYS) or f" (allowed: {', '.join(SAMPLE_KEYS)})"
            raise where.error((*path, str(key)), f"unknown key {str(key)!r}{hint}")
    n, method, seed = value.get("n"), value.get("method", "random"), value.get("seed", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise where.error((*path, "n"), f"n must be a positive integer, got {n!r}")
    if n > MAX_SAMPLE:
        raise where.error((*path, "n"), f"n must be at most {MAX_SAMPLE:,} (drawn up front), got {n:,}")
    if method not in METHODS:
        raise where.error((*path, "method"), f"unknown method {method!r} (allowed: random, lhs)")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise where.error((*path, "seed"), f"seed must be a non-negative integer, got {seed!r}")
    return Sample(n, method, seed)


def _section(annotation: Any) -> type[BaseModel] | Literal[True] | None:
    """The spec class behind a field's annotation; None for a leaf; True when it cannot be told
    (a union of several sections, such as the arrival-process kinds)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _section(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = [_section(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        models = [item for item in found if item is not None]
        if len(models) == 1:
            return models[0]
        return True if models else None
    return None


def check_field(dotted: str, where: _Where, path: tuple[str, ...]) -> None:
    """Raise unless ``dotted`` names a field of :class:`Scenario` (``workload.output_tokens``)."""
    model: type[BaseModel] | Literal[True] | None = Scenario
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        if model is True:
            return  # inside a union of sections: the scenario's validation checks the rest
        if model is None:
            owner = ".".join(parts[:depth])
            raise where.error(path, f"{owner!r} is a value, not a section: it has no field {part!r}")
        if part not in model.model_fields:
            names = list(model.model_fields)
            where_in = ".".join(parts[:depth]) or "the scenario"
            hint = did_you_mean(part, names) or f" (allowed: {', '.join(names)})"
            raise where.error(path, f"unknown field {part!r} in {where_in}{hint}")
        model = _section(model.model_fields[part].annotation)


def _check_presets(spec: SweepSpec, where: _Where) -> None:
    """A misspelt preset in an axis is a spec error (exit 2), not a row of infeasible results."""
    from tokencost.errors import PresetNotFoundError
    from tokencost.scenario.loading import scenario_from_dict

    for dotted, values in spec.axes.items():
        if not dotted.endswith(".preset"):
            continue
        for value in dict.fromkeys(map(str, values)):
            try:
                scenario_from_dict(spec.scenario_data({dotted: value}))
            except PresetNotFoundError as exc:
                raise where.error(("axes", dotted), exc.message) from None
            except ScenarioError:
                continue  # another field clashes with this preset: a row that reports it
