"""The columnar path of an ``evaluate`` sweep: a chunk's configurations as a few numpy calls.

A chunk's configurations are grouped by their *structural* axis values (presets, precisions,
parallelism: every axis that is not one of :data:`tokencost.vectorised.NUMERIC_FIELDS` with
numbers for values). For each group one scenario is validated per distinct value of each numeric
axis, the others held at the group's first configuration's values, so that a value the scenario
rejects gives the same ``invalid: ...`` row as the per-row path; the numeric axes are then applied
as arrays (:func:`tokencost.vectorised.evaluate_columns`). The one cross-field rule among the
numeric fields, ``input_tokens + output_tokens ≤ model.max_context``
(:class:`tokencost.scenario.scenario.Scenario`), is checked on the arrays.

A configuration goes the per-row way (:func:`tokencost.sweep.rows.compute_row`) when its group is
outside the vectorisable subset (:mod:`tokencost.vectorised`), when one of its values is
invalid or breaks the max-context rule, or when a value changes another input of the scenario
(the flattened inputs must be the group's but for the axes themselves: first asked of pydantic's
``==`` against the group's scenario with the value put in, which needs no dump). The rows of both ways
are the same, column for column (tests/test_sweep.py runs a mixed spec both ways).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokencost.errors import TokenCostError
from tokencost.results import BREAKDOWN, flatten
from tokencost.sweep.spec import INDEX_COLUMN, LEFT_OUT_INPUTS, SweepSpec
from tokencost.vectorised_view import Coded

MISSING = object()  # an input the group's scenario does not have (absent from the row)
CACHE_ENTRIES = 4_096  # validated (group, axis, value) scenarios kept between chunks (a chunk needs few)
DIGESTS_KEPT = 8  # spec digests remembered (one spec per sweep)


@dataclass
class ColumnChunk:
    """A chunk's rows: the per-row ones as dicts, the columnar ones as columns (same keys)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)  # key -> ndarray or Coded
    size: int = 0  # rows in ``columns``
    which: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # their groups

    def __len__(self) -> int:
        return len(self.rows) + self.size

    def as_rows(self, only: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Every row (or the per-row ones and the columnar ones ``only``) as the per-row path's
        dict (key order: index, axes, inputs, results), in configuration order; an input the
        group lacks, and a breakdown part where it is missing, are absent."""
        picked = np.arange(self.size) if only is None else only
        lists = {key: plain(_at(values, picked)) for key, values in self.columns.items()}
        built = []
        for i in range(len(picked)):
            row = {}
            for key, values in lists.items():
                value = values[i]
                if value is MISSING or (value is None and key.startswith(BREAKDOWN)):
                    continue
                row[key] = value
            built.append(row)
        return sorted([*self.rows, *built], key=lambda row: row[INDEX_COLUMN])

    def type_rows(self) -> list[dict[str, Any]]:
        """The rows that show each column first: the per-row ones, and the first columnar row
        of each set of columns (a group's inputs; a breakdown present or not)."""
        parts = [self.which]
        parts += [~np.isnan(values) for key, values in self.columns.items() if key.startswith(BREAKDOWN)]
        _, first = np.unique(_packed(np.stack(parts)), return_index=True)
        return self.as_rows(np.sort(first))

    def column_types(self, value_type: Any, merge: Any) -> dict[str, str | None]:
        """Each column's type over its rows: ``value_type`` of its values, joined by ``merge``
        (:func:`tokencost.sweep.rows.value_type` and :func:`~tokencost.sweep.rows.merge`)."""
        found: dict[str, str | None] = {}
        for key, values in self.columns.items():
            if isinstance(values, Coded):
                used = np.unique(values.codes).tolist()
                kinds = {value_type(values.values[i]) for i in used if values.values[i] is not MISSING}
            elif values.dtype == float:
                kinds = {"float64" if (~np.isnan(values)).any() else None}
            elif values.dtype == np.int64:
                kinds = {"int64"}
            elif values.dtype == bool:
                kinds = {"bool"}
            else:
                kinds = {value_type(value) for value in plain(values)}
            kind: str | None = None
            for item in kinds:
                kind = merge(kind, item)
            found[key] = kind
        return found


def _packed(rows: np.ndarray) -> np.ndarray:
    """One integer per column of ``rows`` (non-negative integers or bools), in the columns'
    lexicographic order (as ``np.unique(rows, axis=1)`` orders them): their mixed-radix number,
    or their rank where it would not fit an int64."""
    rows = rows.astype(np.int64)
    spans = [int(row.max()) + 1 if row.size else 1 for row in rows]
    if math.prod(spans) < 2**62:
        return np.ravel_multi_index(tuple(rows), spans)
    return np.unique(rows, axis=1, return_inverse=True)[1].reshape(-1)


def _at(values: Any, picked: np.ndarray) -> Any:
    if isinstance(values, Coded):
        return values.at(picked)
    return values[picked]


def plain(values: Any) -> list[Any]:
    """Python values, missing floats as None (what ``to_dict`` gives)."""
    if isinstance(values, Coded):
        return values.tolist()
    if values.dtype == float:
        return [None if math.isnan(v) else v for v in values.tolist()]
    return [value.item() if isinstance(value, np.generic) else value for value in values.tolist()]


_CACHE: dict[tuple[Any, ...], Any] = {}


def _validated(spec: SweepSpec, overrides: dict[str, Any]) -> Any:
    """The scenario of ``overrides`` (or the TokenCostError it raises), remembered."""
    from tokencost.scenario.loading import scenario_from_dict

    key = (_digest(spec), repr(sorted(overrides.items(), key=lambda item: item[0])))
    if key not in _CACHE:
        if len(_CACHE) >= CACHE_ENTRIES:
            _CACHE.clear()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _CACHE[key] = scenario_from_dict(spec.scenario_data(overrides))
        except TokenCostError as exc:
            _CACHE[key] = exc
    return _CACHE[key]


_INPUTS: dict[tuple[int, int], tuple[Any, dict[str, Any]]] = {}  # id(spec), id(scenario) -> inputs


def _inputs_of(scenario: Any, spec: SweepSpec) -> dict[str, Any]:
    """:func:`_inputs`, remembered for each (held) scenario of :data:`_CACHE`."""
    found = _INPUTS.get((id(spec), id(scenario)))
    if found is None or found[0] is not scenario:
        if len(_INPUTS) >= CACHE_ENTRIES:
            _INPUTS.clear()
        found = _INPUTS[(id(spec), id(scenario))] = (scenario, _inputs(scenario, spec))
    return found[1]


def _same_inputs(scenario: Any, template: Any, axis: str, spec: SweepSpec) -> bool:
    """Whether ``scenario``'s inputs are ``template``'s, but for the axes: ``scenario`` equals
    ``template`` with its own value of ``axis`` put in (pydantic's ``==``, field by field; no
    dump), or, where it does not, their flattened inputs are equal."""
    section, name = axis.split(".")
    part = getattr(template, section).model_copy(update={name: getattr(getattr(scenario, section), name)})
    if template.model_copy(update={section: part}) == scenario:
        return True
    return _inputs_of(scenario, spec) == _inputs_of(template, spec)


_DIGESTS: dict[int, tuple[SweepSpec, str]] = {}


def _digest(spec: SweepSpec) -> str:
    """``spec.digest()``, computed once per spec object (it is held, so its id is not reused)."""
    found = _DIGESTS.get(id(spec))
    if found is None or found[0] is not spec:
        if len(_DIGESTS) >= DIGESTS_KEPT:
            _DIGESTS.clear()
        found = _DIGESTS[id(spec)] = (spec, spec.digest())
    return found[1]


def _inputs(scenario: Any, spec: SweepSpec) -> dict[str, Any]:
    return {
        key: value
        for key, value in flatten(scenario.model_dump(mode="json")).items()
        if key not in LEFT_OUT_INPUTS and key not in spec.axes and key != INDEX_COLUMN
    }


def numeric_axes(spec: SweepSpec) -> list[str]:
    """The axes applied as arrays: allow-listed fields whose values are all numbers."""
    from tokencost import vectorised as vec

    return [
        axis
        for axis, values in spec.axes.items()
        if axis in vec.NUMERIC_FIELDS
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ]


def _number(scenario: Any, dotted: str) -> float:
    return float(functools.reduce(getattr, dotted.split("."), scenario))


class _Plan:
    """Which configurations of a chunk go the columnar way, with their templates and numbers."""

    def __init__(self, spec: SweepSpec, index: np.ndarray) -> None:
        self.spec, self.index, self.names = spec, index, list(spec.axes)
        self.numeric = numeric_axes(spec)
        n = len(index)
        self.numbers = {axis: np.full(n, np.nan) for axis in self.numeric}
        self.template_of = np.full(n, -1, dtype=np.int64)
        self.templates: list[Any] = []
        self.inputs: list[dict[str, Any]] = []

    def overrides(self, i: int) -> dict[str, Any]:
        return {name: self.spec.axes[name][int(k)] for name, k in zip(self.names, self.index[i], strict=True)}

    def group(self, members: np.ndarray) -> None:
        """Validate a group's scenarios and mark the configurations that can be vectorised."""
        from tokencost import vectorised as vec

        reference = self.overrides(int(members[0]))
        for axis in self.numeric:  # the same reference in every chunk: each value validated once
            reference[axis] = self.spec.axes[axis][0]
        found = _validated(self.spec, reference)
        if isinstance(found, TokenCostError):  # the first values clash: this chunk's first row
            reference = self.overrides(int(members[0]))
            found = _validated(self.spec, reference)
        if isinstance(found, TokenCostError) or vec.not_vectorisable(found) is not None:
            return
        template, inputs = found, _inputs_of(found, self.spec)
        ok = np.ones(len(members), dtype=bool)
        for axis in self.numeric:
            column = self.index[members, self.names.index(axis)]
            for j in np.unique(column):
                got = _validated(self.spec, {**reference, axis: self.spec.axes[axis][int(j)]})
                here = column == j
                if isinstance(got, TokenCostError) or not _same_inputs(got, template, axis, self.spec):
                    ok &= ~here
                    continue
                self.numbers[axis][members[here]] = _number(got, axis)
        ok &= self._fits_context(template, members)
        self.template_of[members[ok]] = len(self.templates)
        self.templates.append(template)
        self.inputs.append(inputs)

    def _fits_context(self, template: Any, members: np.ndarray) -> np.ndarray:
        """The scenario's rule ``input_tokens + output_tokens ≤ model.max_context``, on arrays."""
        most = template.model.max_context
        if most is None:
            return np.ones(len(members), dtype=bool)
        tokens = [
            self.numbers[key][members] if key in self.numbers else float(_number(template, key))
            for key in ("workload.input_tokens", "workload.output_tokens")
        ]
        with np.errstate(invalid="ignore"):
            return np.asarray(tokens[0] + tokens[1] <= most)


def compute_chunk(spec: SweepSpec, start: int, stop: int, compute_row: Any) -> ColumnChunk:
    """The rows of configurations ``start .. stop - 1`` (module docstring); ``compute_row(index,
    overrides)`` computes one the per-row way."""
    index = spec.indices(start, stop)
    plan = _Plan(spec, index)
    structural = [k for k, name in enumerate(plan.names) if name not in plan.numeric]
    keys = index[:, structural] if structural else np.zeros((len(index), 1), dtype=np.int64)
    _, inverse = np.unique(_packed(keys.T), return_inverse=True)
    inverse = inverse.reshape(-1)
    for group in range(int(inverse.max()) + 1 if len(inverse) else 0):
        plan.group(np.flatnonzero(inverse == group))
    chunk = ColumnChunk()
    for i in np.flatnonzero(plan.template_of < 0):
        chunk.rows.append(compute_row(start + int(i), plan.overrides(int(i))))
    chosen = np.flatnonzero(plan.template_of >= 0)
    if chosen.size:
        chunk.columns, chunk.size = _columns(plan, chosen, start), int(chosen.size)
        chunk.which = plan.template_of[chosen]
    return chunk


def _columns(plan: _Plan, chosen: np.ndarray, start: int) -> dict[str, Any]:
    from tokencost import vectorised as vec

    which = plan.template_of[chosen]
    numbers = {axis: values[chosen] for axis, values in plan.numbers.items()}
    results = vec.evaluate_columns(plan.templates, which, numbers, coded=True)
    columns: dict[str, Any] = {INDEX_COLUMN: (start + chosen).astype(np.int64)}
    for k, name in enumerate(plan.names):
        columns[name] = Coded(list(plan.spec.axes[name]), plan.index[chosen, k])
    for key in dict.fromkeys(key for inputs in plan.inputs for key in inputs):
        columns[key] = Coded([inputs.get(key, MISSING) for inputs in plan.inputs], which)
    columns.update({key: repeated(values) for key, values in results.items()})
    return columns


def repeated(values: Any) -> Any:
    """A result column of objects as :class:`~tokencost.vectorised_view.Coded`: a coded one as
    it is, an object array as its distinct values
    (by type and value) and each row's code, so that its types and Arrow array are made once per
    distinct value (the array itself where a value cannot be hashed); other columns as they are."""
    if isinstance(values, Coded):
        return values
    if values.dtype != object:
        return values
    codes: dict[tuple[type, Any], int] = {}
    add = codes.setdefault
    try:
        index = [add((value.__class__, value), len(codes)) for value in values.tolist()]
    except TypeError:  # unhashable
        return values
    return Coded([value for _, value in codes], np.array(index, dtype=np.int64))
