"""Fitting engine profiles to public measurements: a few numbers per engine, by robust medians.

Profiles are fitted per engine and per ``engine/vendor`` (the same software reaches a different
share of the datasheet on another vendor's hardware: vLLM on ROCm against TensorRT-LLM on CUDA,
llama.cpp on Metal against CUDA). From the rows of each group:

* ``step_overhead_s`` — the fixed time per forward step, by least absolute relative deviation over
  a grid (0 to 5 ms) on its single-sequence decode rows (batch-1 decode and TPOT rows, and
  throughput rows at a fixed batch of 1), where a step takes ``x/η_b + c + o`` (x: bytes over the
  peak bandwidth, c: communication, o: the overhead). It is fitted only where the rows tell it
  apart from the bandwidth (at least 3 rows whose x span a factor 2); else the group's parent's
  (an engine/vendor group: its engine's; an engine: the pool's, the median over the engines
  that tell theirs), or the largest grid value below it that leaves every row some time. An
  engine with no decode rows at all keeps 0: its compute efficiencies, fitted at 0, hold it.
* ``decode_bandwidth[format]`` — the median over those rows of the implied ``η_b = x / (t − c − o)``;
  with ``bandwidth_cap`` where the group's rows on faster accelerators reach one absolute rate
  (:func:`tokencost.accuracy.caps.rate_cap`: shares from the slower devices, the cap from the
  faster; chosen jointly with the overhead). The prefill compute below gets a ``compute_cap``
  the same way.
* ``prefill_compute[precision]`` — the median over its prefill, TTFT, throughput and
  TPOT-above-batch-1 rows of the implied compute efficiency: ``η_c = k / (t − c − o)`` for a
  compute-bound prefill (k: FLOP over the peak), and for the others the η_c at which the model's
  rate (throughput, or 1/TPOT), with the group's fitted η_b, equals the measured one
  (interpolated on a grid precomputed at step overhead 0, ``grid_overhead_s``, and read with the
  fitted overhead added to its time per step: the grid depends on no fitted number, so neither on
  the source a leave-one-source-out fold leaves out, and the fit's overhead is not taken for
  compute).
* ``sequence_overhead_s`` (with ``fit(rows, sequence_cost=True)``, the default) — seconds per
  decode step per sequence beyond the first (:func:`tokencost.model.sequences.sequence_overhead_s`:
  sampling, scheduling, input preparation done once per sequence and step), the median over the
  rows above batch 1 (throughput, TPOT) of the implied ``s = (S/R − outside − step) / (B − 1)``,
  where S is the sequences in the step (1 for TPOT), R the measured rate, B the decode batch,
  ``step = max(C/η_d, M/η_b) + c + o`` the decode step (C, M: its FLOP and byte times at peak) and
  ``outside`` what the model puts beside the decode step (the prefill's share); at least 0. Rows
  above batch 1 then no longer inform the bandwidth (their time holds ``(B − 1)·s``). Fitted twice,
  each time followed by the compute given it.
* ``decode_compute[precision]`` (with ``fit(rows, decode_compute=True)``, the default) — the
  compute efficiency of the decode step's matrix products (``efficiency.decode_compute``: B rows
  per matrix, far below prefill's share of the peak), the median over the throughput and TPOT rows
  above batch 1 of the implied ``η_d = C / (S/R − outside − c − o − (B − 1)·s)``; rows whose step
  stays within the memory time say nothing. The prefill compute is then refitted given it (prefill
  rows, and throughput rows whose prefill is at least :data:`MIN_PREFILL_SHARE` of a step), and
  the decode compute once more given that. An engine with rows but none above batch 1 decodes at
  its compute efficiency; an engine with no rows takes the pooled decode compute.

A prediction takes the most specific group with rows of that table (engine/vendor, then engine):
its value for the format (or a close format: bf16/fp16, int4 group sizes, GGUF neighbours), else
its median over all formats times the pooled ratio of that format to the pooled median (a two-way
decomposition: the engine sets the level, the format its relative cost); an engine with no rows
takes its vendor's pool (``*/vendor``: every engine's rows on that vendor's accelerators, fitted as
one group: the memory system and kernels of a vendor's devices are shared by its engines), else
the pooled value (and the pooled per-sequence cost). A compute precision the fit has no rows of
runs at the absolute FLOP rate of the nearest wider one it has on the same accelerator
(:func:`~tokencost.accuracy.profiles.nearest_known`). Implied efficiencies are clipped to
[0.02, 0.95]. Nothing is tuned to a single row: every number is a median or an L1 fit over a group
of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from tokencost.accuracy.caps import rate_cap, share
from tokencost.accuracy.profiles import ANY, HIGH, LOW, Fit, Profile, Terms, group_key
from tokencost.model.sequences import sequence_overhead_s
from tokencost.scenario.engine import DEFAULT_KEY
from tokencost.scenario.workload import capped_share

# Design choices of the fit, not physical constants: each is a resolution or a threshold of the
# fitting procedure, checked only by the leave-one-source-out figure it gives (MEASUREMENTS.md
# reports how the figures move with the grids: about ±1 point median, ±3 points p90).
OVERHEAD_GRID_S = np.array([0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5]) * 1e-3
# The bandwidth and compute grids on which the model's step times are tabulated and interpolated
# (in log). They are narrower than [LOW, HIGH]: np.interp holds the end values beyond them, so an
# implied efficiency outside a grid is read at the grid's end (0.15 bandwidth, 0.03 compute).
BANDWIDTH_GRID = np.array([0.15, 0.3, 0.55, 0.9])
COMPUTE_GRID = np.geomspace(0.03, 1.0, 6)
MIN_ROWS_FOR_OVERHEAD = 3
MIN_SPAN_FOR_OVERHEAD = 2.0
# A throughput row informs the prefill compute when its prefill is at least this share of a step
# (below it the row's time is decode's, and what it implies of prefill is noise).
MIN_PREFILL_SHARE = 0.2


def _clip(values: Iterable[float]) -> np.ndarray:
    return np.clip(np.asarray(list(values), dtype=float), LOW, HIGH)


def _medians(groups: dict[str, list[float]]) -> dict[str, float]:
    table = {key: float(np.median(_clip(values))) for key, values in groups.items() if values}
    everything = [value for values in groups.values() for value in values]
    if everything:
        table[DEFAULT_KEY] = float(np.median(_clip(everything)))
    return table


def implied_bandwidth(rows: list[Terms], overhead_s: float) -> np.ndarray:
    """``x / (t − c − o)`` per decode row (inf where the overhead leaves no time)."""
    left = np.array([r.time_s - r.comm_s - overhead_s for r in rows])
    memory = np.array([r.memory_s for r in rows])
    return np.where(left > 0, memory / np.where(left > 0, left, 1.0), np.inf)


Decode = tuple[float, dict[str, float], float | None]  # loss or overhead, shares by format, cap


def _decode_loss(rows: list[Terms], overhead_s: float) -> Decode:
    implied = implied_bandwidth(rows, overhead_s)
    if not np.all(np.isfinite(implied)):
        return np.inf, {}, None
    peaks = [r.peak_bandwidth for r in rows]
    table, cap = rate_cap(list(implied), [r.weights for r in rows], peaks, _medians)
    shares = [capped_share(share(table, r.weights), cap, r.peak_bandwidth) for r in rows]
    predicted = np.array([r.memory_s / b + r.comm_s + overhead_s for r, b in zip(rows, shares, strict=True)])
    times = np.array([r.time_s for r in rows])
    return float(np.sum(np.abs(predicted / times - 1.0))), table, cap


def identifiable(rows: list[Terms]) -> bool:
    """Whether decode rows tell the step overhead apart from the bandwidth: at least
    :data:`MIN_ROWS_FOR_OVERHEAD` rows whose bytes span :data:`MIN_SPAN_FOR_OVERHEAD`."""
    memory = np.array([r.memory_s for r in rows])
    return len(rows) >= MIN_ROWS_FOR_OVERHEAD and memory.max() >= MIN_SPAN_FOR_OVERHEAD * memory.min()


def fit_decode(rows: list[Terms], prior_s: float = 0.0) -> Decode:
    """(step overhead, bandwidth efficiency by weight format, bandwidth cap) of one group's
    batch-1 decode rows (the cap: :func:`~tokencost.accuracy.caps.rate_cap`); where they cannot
    tell the overhead (:func:`identifiable`), ``prior_s`` (the parent group's), or the largest
    grid overhead below it that leaves every row some time."""
    if not rows:
        return prior_s, {}, None  # nothing to tell it: the parent's (the caller gives 0 to an engine)
    if identifiable(rows):
        candidates = OVERHEAD_GRID_S
    else:
        candidates = np.array([prior_s, *OVERHEAD_GRID_S[OVERHEAD_GRID_S < prior_s][::-1]])
    best: tuple[float, Decode] = (np.inf, (0.0, {}, None))
    for overhead in candidates:
        loss, table, cap = _decode_loss(rows, float(overhead))
        if not identifiable(rows) and np.isfinite(loss):
            return float(overhead), table, cap  # the prior, or the nearest below it that fits
        if loss < best[0] - 1e-12:
            best = (loss, (float(overhead), table, cap))
    return best[1]


def _grid_column(terms: Terms, bandwidth: float) -> np.ndarray:
    """log of the throughput grid's metric at each compute efficiency of the grid, interpolated in
    log at this bandwidth efficiency (held at the grid's ends beyond it)."""
    assert terms.grid is not None
    log_b = np.log(BANDWIDTH_GRID)
    return np.array(
        [np.interp(np.log(bandwidth), log_b, np.log(terms.grid[:, j])) for j in range(COMPUTE_GRID.size)]
    )


def _grid_compute(terms: Terms, bandwidth: float) -> float | None:
    """The compute efficiency at which the throughput grid meets the measured value."""
    column = _grid_column(terms, bandwidth)
    if not np.all(np.isfinite(column)) or np.any(np.diff(column) <= 0):
        return None
    return float(np.exp(np.interp(np.log(terms.measured), column, np.log(COMPUTE_GRID))))


def _implied_compute(terms: Terms, fit: Fit) -> float | None:
    efficiency = fit.achieved(terms)
    if terms.kind == "throughput":
        shift = efficiency["step_overhead_s"] - terms.grid_overhead_s + _sequences_s(terms, fit)
        left = terms.sequences / terms.measured - shift  # S/R the grid's step overhead would give
        if left <= 0:
            return None
        return _grid_compute(replace(terms, measured=terms.sequences / left), efficiency["bandwidth"])
    left = terms.time_s - terms.comm_s - efficiency["step_overhead_s"]
    if left <= 0 or terms.memory_s / efficiency["bandwidth"] >= left:
        return None  # memory-bound at the fitted bandwidth: says nothing about compute
    return terms.compute_s / left


def _keys(terms: Terms) -> tuple[str, ...]:
    """The groups a row is fitted in: its engine, and ``engine/vendor`` when it names a vendor."""
    if not terms.vendor:
        return (terms.engine,)
    return (terms.engine, group_key(terms.engine, terms.vendor), group_key(ANY, terms.vendor))


def _groups(rows: list[Terms]) -> dict[str, list[Terms]]:
    """Rows by engine and by ``engine/vendor`` (each row is in both)."""
    groups: dict[str, list[Terms]] = defaultdict(list)
    for terms in rows:
        for key in _keys(terms):
            groups[key].append(terms)
    return groups


def is_decode(terms: Terms) -> bool:
    return terms.kind == "decode" or terms.decode_like


def grid_rate(terms: Terms, bandwidth: float, compute: float) -> float:
    """The model's rate at this bandwidth and compute efficiency (both phases), from the grid."""
    column = _grid_column(terms, bandwidth)
    return float(np.exp(np.interp(np.log(compute), np.log(COMPUTE_GRID), column)))


def _step_s(terms: Terms, compute: float, bandwidth: float, overhead_s: float) -> float:
    """The decode step at the row's batch: ``max(C/η_d, M/η_b) + comm + o``."""
    return (
        max(terms.step_compute_s / compute, terms.step_memory_s / bandwidth) + terms.step_comm_s + overhead_s
    )


def _outside_decode_s(terms: Terms, efficiency: dict[str, float], compute: float) -> float:
    """Seconds per step a sequence sees beyond the decode step (its prefill's share) in the model
    at the fitted bandwidth and this compute efficiency (both phases): ``S/R − step``, both at the
    step overhead the grid was computed at."""
    bandwidth = efficiency["bandwidth"]
    total = terms.sequences / grid_rate(terms, bandwidth, compute)
    return total - _step_s(terms, compute, bandwidth, terms.grid_overhead_s)


def _sequences_s(terms: Terms, fit: Fit) -> float:
    """The per-sequence cost of the row's decode step: ``(B − 1)·s``."""
    return float(sequence_overhead_s(terms.batch, fit.sequence_overhead(terms.engine, terms.vendor)))


def _implied_decode(terms: Terms, fit: Fit) -> float | None:
    """The decode compute efficiency at which the measured rate is met, the rest of the step
    (prefill share) kept at the model's: ``η_d = C / (S/R_measured − outside − comm − o − (B−1)s)``."""
    efficiency = fit.achieved(terms)
    outside = _outside_decode_s(terms, efficiency, efficiency["compute"])
    overhead = efficiency["step_overhead_s"] + _sequences_s(terms, fit)
    left = terms.sequences / terms.measured - outside - terms.step_comm_s - overhead
    if not np.isfinite(left) or left <= terms.step_memory_s / efficiency["bandwidth"]:
        return None  # memory-bound at the fitted bandwidth: says nothing about compute
    implied = terms.step_compute_s / left
    return implied if implied >= LOW else None  # below the range: the excess is not the FLOP rate


def _decode_tables(rows: list[Terms], fit: Fit) -> Tables:
    return _tables(rows, lambda terms: _implied_decode(terms, fit))


def _implied_prefill(terms: Terms, fit: Fit) -> float | None:
    """A throughput row's prefill compute efficiency, its decode at the fitted ``η_d``: where
    ``outside(η_c) = S/R_measured − step(η_d)``; only rows whose prefill share is large enough
    (:data:`MIN_PREFILL_SHARE`) to tell it."""
    efficiency = fit.achieved(terms)
    bandwidth, overhead = efficiency["bandwidth"], efficiency["step_overhead_s"]
    here = _outside_decode_s(terms, efficiency, efficiency["compute"])
    total = (
        terms.sequences / grid_rate(terms, bandwidth, efficiency["compute"])
        - terms.grid_overhead_s
        + overhead
    )
    if not np.isfinite(here) or here < MIN_PREFILL_SHARE * total:
        return None
    decode = efficiency.get("decode_compute", efficiency["compute"])
    step = _step_s(terms, decode, bandwidth, overhead + _sequences_s(terms, fit))
    target = terms.sequences / terms.measured - step
    outside = np.array([_outside_decode_s(terms, efficiency, c) for c in COMPUTE_GRID])
    if target <= 0 or not np.all(outside > 0) or np.any(np.diff(outside) >= 0):
        return None
    return float(np.exp(np.interp(np.log(target), np.log(outside[::-1]), np.log(COMPUTE_GRID[::-1]))))


def _implied_sequence(terms: Terms, fit: Fit) -> float | None:
    """Seconds per step per sequence beyond the first at which the measured rate is met, the
    rest of the step at the fitted efficiencies: ``s = (S/R − outside − step(η_d)) / (B − 1)``;
    for a memory-bound TPOT row ``s = (t − M/η_b − comm − o) / (B − 1)``."""
    if terms.batch <= 1.0 + 1e-9:
        return None
    efficiency = fit.achieved(terms)
    bandwidth, overhead = efficiency["bandwidth"], efficiency["step_overhead_s"]
    if terms.grid is None:
        left = terms.time_s - terms.memory_s / bandwidth - terms.comm_s - overhead
    else:
        outside = _outside_decode_s(terms, efficiency, efficiency["compute"])
        decode = efficiency.get("decode_compute", efficiency["compute"])
        left = terms.sequences / terms.measured - outside - _step_s(terms, decode, bandwidth, overhead)
    return float(left / (terms.batch - 1.0)) if np.isfinite(left) else None


def _with_sequences(fit: Fit, rows: list[Terms]) -> Fit:
    """``fit`` with each group's per-sequence cost: the median over its batched rows (at least 0)."""
    own: dict[str, list[float]] = defaultdict(list)
    pooled: list[float] = []
    for terms in rows:
        value = _implied_sequence(terms, fit)
        if value is None:
            continue
        for key in _keys(terms):
            own[key].append(value)
        pooled.append(value)

    def median(values: list[float]) -> float | None:
        return max(float(np.median(values)), 0.0) if values else None

    engines = {
        key: replace(p, sequence_overhead_s=median(own.get(key, []))) for key, p in fit.engines.items()
    }
    return Fit(engines, replace(fit.pooled, sequence_overhead_s=median(pooled)))


OwnTables = dict[str, tuple[dict[str, float], float | None]]  # group -> (shares by format, cap)
Tables = tuple[OwnTables, dict[str, float]]  # and the pooled shares


def _tables(rows: list[Terms], implied: Callable[[Terms], float | None], capped: bool = False) -> Tables:
    """Medians of ``implied`` by compute precision, per engine and engine/vendor (with
    ``capped``, the group's compute cap beside them: :func:`~tokencost.accuracy.caps.rate_cap`),
    and pooled (no cap)."""
    own: dict[str, list[Terms]] = defaultdict(list)
    values: dict[str, float] = {}
    pooled: dict[str, list[float]] = defaultdict(list)
    for terms in rows:
        value = implied(terms)
        if value is not None and np.isfinite(value):
            values[terms.row_id] = value
            for key in _keys(terms):
                own[key].append(terms)
            pooled[terms.compute].append(value)
    tables: dict[str, tuple[dict[str, float], float | None]] = {}
    for key, group in own.items():
        shares, formats = [values[t.row_id] for t in group], [t.compute for t in group]
        peaks = [t.peak_compute if capped else np.inf for t in group]
        tables[key] = rate_cap(shares, formats, peaks, _medians)
    return tables, _medians(pooled)


def _with_table(profile: Profile, table: str, values: dict[str, float], cap: float | None) -> Profile:
    if table == "prefill_compute":
        return replace(profile, prefill_compute=values, compute_cap=cap)
    return replace(profile, decode_compute=values)


def _with_tables(fit: Fit, table: str, own: OwnTables, pooled: dict[str, float]) -> Fit:
    engines = {key: _with_table(p, table, *own.get(key, ({}, None))) for key, p in fit.engines.items()}
    return Fit(engines, _with_table(fit.pooled, table, pooled, None))


def _pooled_overhead(groups: dict[str, list[Terms]]) -> float:
    """The pool's step overhead: the median over the engines whose decode rows tell it (0 if none)."""
    told = [
        fit_decode(decode)[0]
        for key, own in groups.items()
        if "/" not in key and identifiable(decode := [t for t in own if is_decode(t)])
    ]
    return float(np.median(told)) if told else 0.0


def _parent_overhead(key: str, engines: dict[str, Profile], pooled: float, has_decode: bool) -> float:
    """The step overhead a group takes where its rows cannot tell its own: an engine/vendor group
    its engine's; an engine, and a vendor's pool, the pool's. An engine without decode rows has
    its overhead in its compute efficiencies (fitted at 0)."""
    if "/" in key and not key.startswith(ANY):
        return engines[key.split("/")[0]].step_overhead_s
    return pooled if has_decode else 0.0


def _fit_decode(rows: list[Terms]) -> Fit:
    """Overhead and bandwidth of every group (and the pooled bandwidth) from its decode rows; a
    group whose rows cannot tell the overhead takes its parent's (engine/vendor: the engine's;
    engine: the pool's)."""
    engines: dict[str, Profile] = {}
    pooled_bandwidth: dict[str, list[float]] = defaultdict(list)
    groups = _groups(rows)
    pooled = _pooled_overhead(groups)
    for key in sorted(groups, key=lambda k: "/" in k):  # engines before engine/vendor groups
        decode = [t for t in groups[key] if is_decode(t)]
        parent = _parent_overhead(key, engines, pooled, bool(decode))
        overhead, bandwidth, cap = fit_decode(decode, parent)
        engines[key] = Profile(overhead, bandwidth, bandwidth_cap=cap)
        if "/" in key:
            continue  # pool each row once, at its engine level
        for terms, value in zip(decode, implied_bandwidth(decode, overhead), strict=True):
            pooled_bandwidth[terms.weights].append(float(value))
    return Fit(engines, Profile(pooled, _medians(pooled_bandwidth)))


def fit(rows: list[Terms], decode_compute: bool = True, sequence_cost: bool = True) -> Fit:
    """Fit every engine's and engine/vendor's profile (and the pooled one) on ``rows``: overhead
    and bandwidth; compute (both phases); with ``sequence_cost`` the per-sequence decode cost and
    the compute given it; then, with ``decode_compute``, the decode compute, the prefill compute
    given it, and the decode compute again given that (without: one compute efficiency for both
    phases)."""
    single = [t for t in rows if not (sequence_cost and is_decode(t) and t.batch > 1.0 + 1e-9)]
    decode_only = _fit_decode(single)
    passes = [t for t in rows if not is_decode(t)]

    def prefill(fitted: Fit) -> Fit:
        return _with_tables(
            fitted, "prefill_compute", *_tables(passes, lambda t: _implied_compute(t, fitted), capped=True)
        )

    shared = prefill(decode_only)
    batched = [t for t in passes if t.grid is not None]
    if sequence_cost:
        several = [t for t in rows if t.batch > 1.0 + 1e-9 and (t.grid is not None or is_decode(t))]
        shared = prefill(_with_sequences(shared, several))
        shared = prefill(_with_sequences(shared, several))
    if not decode_compute:
        return shared
    first = _with_tables(shared, "decode_compute", *_decode_tables(batched, shared))

    def prefill_given_decode(terms: Terms) -> float | None:
        return _implied_prefill(terms, first) if terms.grid is not None else _implied_compute(terms, first)

    split = _with_tables(first, "prefill_compute", *_tables(passes, prefill_given_decode, capped=True))
    return _with_tables(split, "decode_compute", *_decode_tables(batched, split))
