"""Whole evaluations vectorised across configurations: a struct-of-arrays deployment.

:func:`stack` turns the :func:`tokencost.api.deployment` of many scenarios into one
:class:`~tokencost.model.serving.Deployment` whose numeric fields are float arrays of shape (n,),
one entry per configuration; the model functions broadcast over it as they do over batches and
contexts, so :func:`evaluate_columns` is a few numpy calls per group of configurations. There is
one physics: the operating point, the records and the money come from the same functions
:func:`tokencost.api.evaluate` calls (:func:`tokencost.api._feasible`, :mod:`tokencost.records`),
which take columns where they took floats. The result is a dict of column name → array with the
keys and values of ``flatten(evaluate(s).to_dict())`` (:func:`tokencost.results.flatten`):
floats as float64 with NaN where ``to_dict`` gives None (NaN and inf), everything else as
objects with None, or int64/bool where no entry is None.

**The vectorisable subset** (:func:`not_vectorisable` says why a scenario is outside it):
colocated serving (no ``serving.disaggregated``), no ``speculative``, no prefix cache or
conversation, fixed request lengths, continuous or static batching without chunked prefill, the load
given as a fixed ``workload.batch_size`` (with or without a request rate: replicas =
``ceil(rate / capacity)``, or ``serving.replicas``) or not at all (a replica kept full at its
cap: the memory cap, or the largest batch meeting ``slo.tpot_s``, solved per linear piece on
columns), ``slo.percentile`` 99, no ``pricing``, rented hardware (no ``hardware.ownership``),
no ``efficiency.decode_compute``, ``sequence_overhead_s`` or rate caps (``bandwidth_cap``,
``compute_cap``). The rest goes one configuration at a time through :func:`tokencost.api.evaluate`."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from tokencost import api
from tokencost import vectorised_view as view
from tokencost.model import fleet, memo, prefix, steady, within
from tokencost.model import operating as op
from tokencost.model.serving import Deployment
from tokencost.records import Solved
from tokencost.results import flatten
from tokencost.scenario import draws
from tokencost.scenario.scenario import Scenario

# Allow-listed numeric fields: dotted scenario field -> the Deployment field it sets.
DEPLOYMENT_FIELDS = {
    "hardware.usd_per_hour": "usd_per_hour",
    "efficiency.compute": "compute_efficiency",
    "efficiency.bandwidth": "bandwidth_efficiency",
    "efficiency.interconnect": "interconnect_efficiency",
    "efficiency.memory_reserve": "memory_reserve_fraction",
    "efficiency.step_overhead_s": "step_overhead_s",
}
WORKLOAD_FIELDS = (
    "workload.input_tokens",
    "workload.output_tokens",
    "workload.batch_size",
    "workload.requests_per_second",
)
NUMERIC_FIELDS = (*DEPLOYMENT_FIELDS, *WORKLOAD_FIELDS)
_TEXT_FIELDS = ("all_reduce_algorithm", "speculation", "decode_compute_efficiency")  # None in the subset
Columns = dict[str, Any]  # name -> ndarray (or Coded: evaluate_columns(coded=True))
STACKED_BELOW = 4096  # take(): fields of fewer entries are gathered as one 2-D array
SLO_FIELDS = ("ttft_s", "tpot_s")
CAP_REASONS = np.array(["fixed", "engine", "memory", "slo"], dtype=object)  # what limits a batch cap
FIXED, ENGINE, MEMORY, SLO = range(4)  # their codes


def not_vectorisable(scenario: Scenario) -> str | None:
    """Why ``scenario`` is outside the vectorisable subset (see the module), None when inside."""
    spec, workload = api.serving_spec(scenario), scenario.workload
    checks = {
        "disaggregated serving": spec.disaggregated is not None,
        "speculative decoding": scenario.speculative is not None,
        "prefix cache or conversation": workload.kind != "single" or workload.cached_prefix_tokens > 0,
        "request lengths that vary": draws.varying_lengths(scenario) is not None,
        "chunked prefill": spec.chunked_prefill_tokens is not None,
        "closed loop": workload.concurrency is not None,
        "fleet sized for a rate": workload.request_rate_per_s is not None and workload.batch_size is None,
        "a percentile other than 99": scenario.slo.percentile != api.P99,
        "pricing": scenario.pricing is not None,
        "owned hardware": scenario.hardware.ownership is not None,
        "a decode compute efficiency": scenario.efficiency.decode_compute is not None,
        "a per-sequence decode cost": scenario.efficiency.sequence_overhead_s > 0,
        "a rate cap": scenario.efficiency.bandwidth_cap is not None
        or scenario.efficiency.compute_cap is not None,
    }
    return next((reason for reason, out in checks.items() if out), None)


def stack(deployments: Sequence[Deployment]) -> Deployment:
    """One struct-of-arrays deployment: each numeric field an array of one entry per deployment.
    The text fields (all-reduce algorithm; speculation, None) must be the same in all."""
    first = deployments[0]
    values: dict[str, Any] = {}
    for item in dataclasses.fields(Deployment):
        if item.name in _TEXT_FIELDS:
            value = getattr(first, item.name)
            if any(getattr(dep, item.name) != value for dep in deployments):
                raise ValueError(f"stack: deployments differ in {item.name}; group them first")
            values[item.name] = value
        else:
            values[item.name] = np.array([getattr(dep, item.name) for dep in deployments], dtype=float)
    return Deployment(**values)


def take(dep: Deployment, index: Any) -> Deployment:
    """The entries ``index`` (an integer array or a mask) of a struct-of-arrays deployment
    (``dep`` itself for a mask that keeps every entry)."""
    if not isinstance(index, np.ndarray) or index.ndim != 1:
        return Deployment(**{name: _pick(getattr(dep, name), index) for name in _DEPLOYMENT_NAMES})
    if index.dtype == bool:
        if index.all():
            return dep
        index = np.flatnonzero(index)  # once, not once per field
    names = [name for name in _DEPLOYMENT_NAMES if isinstance(getattr(dep, name), np.ndarray)]
    values: dict[str, Any] = {name: getattr(dep, name) for name in _DEPLOYMENT_NAMES if name not in names}
    if names and np.size(dep.params) < STACKED_BELOW:  # a few templates: one gather
        picked = np.stack([getattr(dep, name) for name in names]).take(index, axis=1)  # rows contiguous
        values.update(zip(names, picked, strict=True))
    else:
        values.update({name: getattr(dep, name).take(index) for name in names})
    found = Deployment(**values)
    if names:  # what is the same for every entry is computed on the entries used (memo.Gathered)
        parent = dep.__dict__.get(memo.GATHERED)
        source, rows = (dep, index) if parent is None else (parent.source, parent.rows.take(index))
        found.__dict__[memo.GATHERED] = memo.Gathered(source, rows, np.size(source.params), take)
    return found


def entry(dep: Deployment, i: int) -> Deployment:
    """Entry ``i`` of a struct-of-arrays deployment as a plain one (Python floats)."""
    return Deployment(**{name: _pick(getattr(dep, name), i, float) for name in _DEPLOYMENT_NAMES})


_DEPLOYMENT_NAMES = tuple(item.name for item in dataclasses.fields(Deployment))  # read once


def _pick(value: Any, index: Any, cast: Any = None) -> Any:
    if not isinstance(value, np.ndarray):
        return value
    return value[index] if cast is None else cast(value[index])


ARRAY_FIELDS = ("params", "experts", "expert", "tensor", "pipeline")  # tell a struct of arrays


def _shared(dep: Deployment, held: Sequence[Deployment]) -> Deployment:
    """``dep`` with each numeric field that all of ``held`` share as that one float (the model
    functions broadcast it; a float is not gathered into n entries, and what is computed from
    floats alone is computed once), but for the fields that mark a struct of arrays."""
    if not held:
        return dep
    shared: dict[str, Any] = {}
    for name in _DEPLOYMENT_NAMES:
        value = getattr(dep, name)
        if name not in ARRAY_FIELDS and isinstance(value, np.ndarray):
            bits = value.view(np.int64)  # one float.hex: the same bits (-0.0 is not 0.0), or NaN
            if (bits == bits[0]).all() or np.isnan(value).all():
                shared[name] = float(value[0])
    return dataclasses.replace(dep, **shared) if shared else dep


class Rows(NamedTuple):
    """Per-configuration numbers (arrays of n) and the template each configuration comes from."""

    which: np.ndarray  # index of the template scenario
    dep: Deployment  # struct of arrays
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    batch_size: np.ndarray  # NaN: none given
    rate: np.ndarray  # requests/s, NaN: none given
    table: Deployment  # the templates' struct of arrays (one entry per template used)
    at: np.ndarray  # each configuration's entry in ``table``
    overridden: tuple[str, ...]  # the fields of ``dep`` set per configuration (not from ``table``)


def gather(rows: Rows, index: np.ndarray) -> Deployment:
    """``take(rows.dep, index)`` from the templates' table (:func:`take` of a few entries, not a
    gather from n) but for the fields set per configuration: the same numbers, faster."""
    found = take(rows.table, rows.at[index])
    if not rows.overridden:
        return found
    return dataclasses.replace(found, **{name: getattr(rows.dep, name)[index] for name in rows.overridden})


def rows_of(
    templates: Sequence[Scenario],
    which: np.ndarray,
    numbers: dict[str, np.ndarray] | None = None,
    deployments: Sequence[Deployment] | None = None,
) -> Rows:
    """The configurations: template ``which[i]`` with the allow-listed ``numbers`` (dotted field
    -> array of n) set on top (see :data:`NUMERIC_FIELDS`); ``deployments``: the templates'
    :func:`tokencost.api.deployment`, when the caller has them already."""
    numbers = numbers or {}
    unknown = set(numbers) - set(NUMERIC_FIELDS)
    if unknown:
        raise ValueError(f"not a vectorised field: {sorted(unknown)} (allowed: {NUMERIC_FIELDS})")
    used, at = memo.used_entries(which, len(templates))
    held = [deployments[i] if deployments else api.deployment(templates[i]) for i in used.tolist()]
    table = _shared(stack(held), held)
    dep = take(table, at)
    given = {DEPLOYMENT_FIELDS[key]: value for key, value in numbers.items() if key in DEPLOYMENT_FIELDS}
    overrides: dict[str, Any] = {name: np.asarray(value, dtype=float) for name, value in given.items()}
    dep = dataclasses.replace(dep, **overrides) if overrides else dep
    workload = [scenario.workload for scenario in templates]

    def column(name: str, of: Any) -> np.ndarray:
        given = numbers.get(f"workload.{name}")
        if given is not None:
            return np.asarray(given, dtype=float)
        return np.array([np.nan if of(w) is None else of(w) for w in workload], dtype=float)[which]

    return Rows(
        which,
        dep,
        column("input_tokens", lambda w: w.input_tokens),
        column("output_tokens", lambda w: w.output_tokens),
        column("batch_size", lambda w: w.batch_size),
        column("requests_per_second", lambda w: w.request_rate_per_s),
        table,
        at,
        tuple(overrides),
    )


# ------------------------------------------------------------------------------------ evaluation


class _Slo(NamedTuple):
    ttft_s: Any  # columns, NaN: no target
    tpot_s: Any
    percentile: float = api.P99


class _Stand(NamedTuple):
    """What :func:`tokencost.api._feasible` reads of a scenario, as columns."""

    slo: _Slo


def _solved_cap(
    dep: Deployment,
    traffic: op.Traffic,
    max_batch: np.ndarray,
    target_s: np.ndarray,
    entries: Any = None,
    prefill_s: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tokencost.api.slo_batch_cap` without a fixed batch, on columns: the largest integer
    batch in [1, max_batch] whose TPOT at full load meets ``target_s`` (NaN: no target), and
    whether memory (``max_batch`` itself) limits it: :func:`tokencost.model.fleet.largest_within`
    on columns, each row through the scalar solve's rounds (the same lines, guesses and
    evaluations: the same cap); ``entries(rows)``: ``take(dep, rows)``, made another way;
    ``prefill_s``: one prompt's prefill seconds of each row, when the caller has them."""

    entries = entries or functools.partial(take, dep)
    prefill_s = steady.scalar(steady.prompt_prefill(dep, traffic).time_s) if prefill_s is None else prefill_s

    def tpot(rows: np.ndarray, batch: np.ndarray) -> np.ndarray:  # the TPOT of rows at batch
        on, part, pre = dep, traffic, prefill_s  # all rows (increasing): no gather
        if rows.size < max_batch.size:
            on = entries(rows)
            picked = {k: v[rows] for k, v in traffic._asdict().items() if np.ndim(v)}
            part = traffic._replace(**dict(zip(picked, _read_only(*picked.values()), strict=True)))
            pre = _read_only(prefill_s[rows])[0] if np.ndim(prefill_s) else prefill_s
        return np.asarray(op.capacity_tpot_s(on, _read_only(batch)[0], part, pre), dtype=float)

    target = np.where(np.isnan(target_s), np.inf, target_s)
    found = within.largest_within_columns(tpot, target, max_batch)
    return np.where(found >= max_batch, max_batch, np.maximum(found, 1.0)), found >= max_batch


def _traffic(template: Scenario, prompt: np.ndarray, out: np.ndarray, cap: np.ndarray) -> op.Traffic:
    columns: dict[str, Any] = {"input_tokens": prompt, "output_tokens": out, "batch_cap": cap}
    return api.traffic_for(template, 1)._replace(**columns, cached_tokens=0.0)


def _solve(
    templates: Sequence[Scenario], rows: Rows, targets: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any]:
    """One group (same batching and all-reduce algorithm): the operating point of its rows and
    the feasible evaluation (:func:`tokencost.api._feasible`) as columns."""
    template = templates[int(rows.which[0])]
    dep, prompt, out = rows.dep, rows.input_tokens, rows.output_tokens
    max_batch = prefix.max_batch_shared(dep, prompt + out, 0.0)
    fixed = ~np.isnan(rows.batch_size)
    engine = np.array([api.serving_spec(t).max_batch or np.inf for t in templates], dtype=float)
    limit = np.minimum(max_batch, engine[rows.which])  # serving.max_batch, as api.slo_batch_cap
    by_engine = limit < max_batch
    cap = np.where(fixed, rows.batch_size, limit)
    cap_reason = np.where(fixed, FIXED, np.where(by_engine, ENGINE, MEMORY))  # codes of CAP_REASONS
    search = ~fixed & ~np.isnan(targets[1]) & (max_batch >= 1)  # the largest batch meeting the TPOT target
    if search.any():
        at = np.flatnonzero(search)
        prompt, out = _read_only(prompt, out)  # the prefill of every row, remembered for the capacity
        pre: Any = steady.scalar(steady.prompt_prefill(dep, _traffic(template, prompt, out, limit)).time_s)
        traffic = _traffic(template, *_read_only(prompt[at], out[at], limit[at]))
        part = (lambda rows_at: gather(rows, at[rows_at]), pre[at] if np.ndim(pre) else pre)
        found_cap, memory = _solved_cap(gather(rows, at), traffic, limit[at], targets[1][at], *part)
        cap[search] = found_cap
        cap_reason[search] = np.where(memory, np.where(by_engine[search], ENGINE, MEMORY), SLO)
    ok = (max_batch >= 1) & (cap <= max_batch)
    found: dict[str, Any] = {"max_batch": max_batch, "feasible": ok}
    if not ok.any():
        return found
    # Every row, not those that fit (no gather, no scatter of ~100 columns): one sequence where it
    # does not fit, numbers that view.feasible replaces by the defaults (each row's bits its own).
    held, out, prompt = _read_only(cap if ok.all() else np.where(ok, cap, 1.0), out, prompt)
    traffic = _traffic(template, prompt, out, held)
    capacity: Any = op.capacity_requests_per_s(dep, held, traffic)
    point = op.fixed_batch(dep, held, traffic)
    fixed_replicas = np.array([float(api.serving_spec(t).replicas or 0) for t in templates], dtype=float)
    given = fixed_replicas[rows.which]
    rate: Any = rows.rate
    has_rate = ~np.isnan(rate)
    with np.errstate(invalid="ignore"):
        sized = fleet.replicas_needed(rate, capacity)
    count = np.where(given > 0, given, np.where(has_rate, sized, 1.0))
    rate = np.where(has_rate, rate, capacity * count)
    saturated = ok & has_rate & (rate > capacity * count * fleet.OVERLOAD)
    replicas: Any = count.astype(np.int64)
    reason: Any = view.Coded(CAP_REASONS.tolist(), cap_reason)  # made an object column once, at the end
    solved = Solved(point, traffic, held, reason, reason, capacity, replicas, rate, False)
    slo = _Slo(*targets)
    ev = api._feasible(_Stand(slo), dep, view.BASE, solved, max_batch, [])  # type: ignore[arg-type]
    picked = {"input_tokens": prompt, "output_tokens": out, "which": rows.which}
    return {**found, **picked, "ok": ok, "dep": dep, "ev": ev, "saturated": saturated, "has_rate": has_rate}


def _read_only(*columns: np.ndarray) -> tuple[Any, ...]:
    """``columns``, made read-only: the step functions' memo keys them by identity (no bytes
    copied and hashed: :func:`tokencost.model.memo.key_of`)."""
    for column in columns:
        column.setflags(write=False)
    return columns


def evaluate_columns(
    scenarios: Sequence[Scenario],
    which: Any = None,
    numbers: dict[str, np.ndarray] | None = None,
    coded: bool = False,
) -> Columns:
    """``flatten(evaluate(s).to_dict())`` of every configuration, as columns (see the module);
    ``coded``: the text columns made of a few distinct values as
    :class:`~tokencost.vectorised_view.Coded` (values and codes), not object arrays.

    Configuration i is ``scenarios[which[i]]`` (default: one per scenario) with the allow-listed
    ``numbers`` (dotted field -> array of n, :data:`NUMERIC_FIELDS`) set on top. Scenarios
    outside the vectorisable subset are evaluated one by one (only without ``numbers``).
    """
    which = np.arange(len(scenarios)) if which is None else np.asarray(which, dtype=np.int64)
    numbers = {key: np.asarray(value, dtype=float) for key, value in (numbers or {}).items()}
    table = view.Table(len(which))
    outside = np.array([not_vectorisable(s) is not None for s in scenarios], dtype=bool)[which]
    if numbers and outside.any():
        raise ValueError("numbers are set only on scenarios inside the vectorisable subset")
    for i in np.flatnonzero(outside):
        for key, value in flatten(api.evaluate(scenarios[which[i]]).to_dict()).items():
            table.put(key, np.array([i]), value)
    deps = [api.deployment(scenario) for scenario in scenarios]  # once per template
    for index in _groups(scenarios, deps, which, outside):
        if index.size:
            picked = {key: value[index] for key, value in numbers.items()}
            _fill(table, scenarios, rows_of(scenarios, which[index], picked, deps), index)
    return table.result(coded)


def _groups(
    scenarios: Sequence[Scenario], deps: Sequence[Deployment], which: np.ndarray, outside: np.ndarray
) -> list[np.ndarray]:
    """The rows (inside the subset) of each group of templates with the same batching and
    all-reduce algorithm, by a table of the templates' groups."""
    groups: dict[tuple[str, str], int] = {}
    group_of = np.array(
        [
            groups.setdefault((api.serving_spec(s).batching, dep.all_reduce_algorithm), len(groups))
            for s, dep in zip(scenarios, deps, strict=True)
        ],
        dtype=np.int64,
    )
    if len(groups) == 1 and not outside.any():
        return [np.arange(which.size)]
    of_row = group_of[which]
    return [np.flatnonzero((of_row == number) & ~outside) for number in range(len(groups))]


def _fill(table: view.Table, templates: Sequence[Scenario], rows: Rows, index: np.ndarray) -> None:
    """Every column of the configurations ``index`` (one group) from :func:`_solve`."""
    which, dep = rows.which, typing.cast(Any, rows.dep)
    slo = [[getattr(t.slo, k) for t in templates] for k in SLO_FIELDS]
    targets = tuple(np.array([np.nan if v is None else v for v in s], dtype=float)[which] for s in slo)
    solved = _solve(templates, rows, targets)  # type: ignore[arg-type]
    base = {
        "name": view.per_template(templates, which, lambda t: t.name),
        "model": view.per_template(templates, which, lambda t: t.model.display_name),
        "hardware": view.per_template(templates, which, lambda t: t.hardware.display_name),
        "precision_weights": view.per_template(templates, which, lambda t: t.precision.weights),
        "precision_kv_cache": view.per_template(templates, which, lambda t: t.precision.kv_cache),
        "precision_compute": view.per_template(templates, which, lambda t: str(t.precision.compute)),
        "tensor_parallel": dep.tensor.astype(np.int64),
        "pipeline_parallel": dep.pipeline.astype(np.int64),
        "accelerators_per_replica": dep.accelerators.astype(np.int64),
        "input_tokens": np.rint(rows.input_tokens).astype(np.int64),
        "output_tokens": rows.output_tokens.astype(np.int64),
        "batching": view.per_template(templates, which, lambda t: api.serving_spec(t).batching),
        "engine": view.per_template(templates, which, lambda t: t.engine.key),
        "expert_parallel": dep.expert.astype(np.int64),
        "max_batch": solved["max_batch"].astype(np.int64),
        "slo_ttft_s": targets[0],
        "slo_tpot_s": targets[1],
        "slo_percentile": api.P99,
    }
    for key, value in base.items():
        table.put(key, index, value)
    ok = solved["feasible"]
    view.infeasible(table, index, ok, rows, solved["max_batch"], entry)
    if ok.any():
        view.feasible(table, templates, index, solved, {*base, "feasible", "infeasible_reason"})
