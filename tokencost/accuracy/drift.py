"""Software date drift in the accuracy fit: later releases of an engine reach more of the same
hardware (MLX 4-bit generation on an M2 Ultra: 44 tok/s in March 2024, mlx PR 515; llama.cpp Metal
prompt processing: 629 tok/s on 30 August 2023, PR 2917, 1,030 on 9 September, PR 3084).

After the profiles are fitted (:func:`tokencost.accuracy.fit.fit`), every row of the fit gets the
fit's own prediction from its terms (:func:`fitted_log_ratio`: ``log(measured rate / fitted
rate)``), and the drift is the Theil–Sen slope of that residual against the source's date, over
pairs of rows of the same engine from different sources at least :data:`MIN_YEARS_APART` apart
(the median of their pairwise slopes, in log per year, pooled over engines). A row is then
predicted with its efficiencies multiplied, and its per-step and per-sequence overheads divided, by
``exp(β·(year − reference))``, the reference being the median date of the fit's rows of that engine
(an engine the fit has no rows of is not moved: its profile is another engines' pool, of no one
date): the profile is a median over rows of many dates, and the drift moves it to the row's date.
The reference by ``engine/vendor`` group instead of by engine was tried and not kept (LOSO p90
49.5 % -> 52.0 %). A leave-one-source-out fold fits its own drift without
the source it predicts, so the figure stays honest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

import numpy as np

from tokencost.accuracy.fit import grid_rate
from tokencost.accuracy.profiles import HIGH, Fit, Terms
from tokencost.model.sequences import sequence_overhead_s

# Pairs of rows closer in date than this say nothing about drift (a fit threshold, in years:
# about five weeks, longer than any one source's span of dates in the table).
MIN_YEARS_APART = 0.1
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_DAYS_PER_YEAR = 365.25
_MONTHS_PER_YEAR = 12
_MID_YEAR_MONTH, _MID_MONTH_DAY = 7, 15  # where the table gives only a year or a month


def year_of(date: str) -> float:
    """``YYYY[-MM[-DD]]`` as a decimal year (mid-year or mid-month where the table gives no more)."""
    match = _DATE.match(date.strip())
    if match is None:
        return float("nan")
    year, month, day = match.groups()
    months = (int(month) if month else _MID_YEAR_MONTH) - 1
    days = (int(day) if day else _MID_MONTH_DAY) - 1
    return int(year) + months / _MONTHS_PER_YEAR + days / _DAYS_PER_YEAR


def _step_s(terms: Terms, efficiency: dict[str, float], fit: Fit) -> float:
    """A decode or prefill row's time in the fit's terms: ``max(C/η_c, M/η_b) + comm + o + (B−1)s``."""
    compute = (
        efficiency.get("decode_compute", efficiency["compute"])
        if terms.kind == "decode"
        else efficiency["compute"]
    )
    seconds = max(terms.compute_s / compute, terms.memory_s / efficiency["bandwidth"])
    sequences = float(sequence_overhead_s(terms.batch, fit.sequence_overhead(terms.engine, terms.vendor)))
    extra = sequences if terms.kind != "prefill" else 0.0
    return seconds + terms.comm_s + efficiency["step_overhead_s"] + extra


def fitted_log_ratio(terms: Terms, fit: Fit) -> float | None:
    """``log(measured rate / the fit's rate)`` of one row, from its terms (no model call): a
    decode or prefill time from :func:`_step_s`, a throughput row's from its grid with the fitted
    overheads in place of the grid's (the fit's reading, :func:`tokencost.accuracy.fit._implied_compute`)."""
    efficiency = fit.achieved(terms)
    if terms.grid is None:
        predicted = _step_s(terms, efficiency, fit)
        return float(np.log(predicted / terms.time_s)) if predicted > 0 and terms.time_s > 0 else None
    sequences = float(sequence_overhead_s(terms.batch, fit.sequence_overhead(terms.engine, terms.vendor)))
    shift = efficiency["step_overhead_s"] - terms.grid_overhead_s + sequences
    per_rate = terms.sequences / grid_rate(terms, efficiency["bandwidth"], efficiency["compute"]) + shift
    if not np.isfinite(per_rate) or per_rate <= 0:
        return None
    return float(np.log(terms.measured * per_rate / terms.sequences))


def _pair_slopes(years: np.ndarray, residuals: np.ndarray, sources: np.ndarray) -> np.ndarray:
    gap = years[:, None] - years[None, :]
    usable = (np.abs(gap) >= MIN_YEARS_APART) & (sources[:, None] != sources[None, :])
    usable &= np.triu(np.ones_like(usable, dtype=bool), 1)
    return ((residuals[:, None] - residuals[None, :])[usable]) / gap[usable]


def with_drift(fit: Fit, rows: list[Terms]) -> Fit:
    """``fit`` with its drift (log per year) and each engine's reference year, from ``rows``."""
    by_engine: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for terms in rows:
        residual = fitted_log_ratio(terms, fit)
        if residual is not None and np.isfinite(residual) and np.isfinite(terms.year):
            by_engine[terms.engine].append((terms.year, residual, terms.source))
    slopes = []
    for items in by_engine.values():
        years, residuals, sources = (np.array(column) for column in zip(*items, strict=True))
        slopes.append(_pair_slopes(years, residuals, sources))
    every = np.concatenate(slopes) if slopes else np.array([])
    drift = float(np.median(every)) if every.size else 0.0
    reference = {engine: float(np.median([y for y, _, _ in items])) for engine, items in by_engine.items()}
    return replace(fit, drift_per_year=drift, reference_year=reference)


def dated(chosen: dict[str, float], fit: Fit, engine: str, year: float) -> dict[str, float]:
    """An ``efficiency`` section moved to the row's date: shares (and caps) × f, overheads / f,
    ``f = exp(β·(year − reference))``, shares kept at or below :data:`~tokencost.accuracy.profiles.HIGH`."""
    reference = fit.reference_year.get(engine, float("nan"))
    if not (np.isfinite(year) and np.isfinite(reference)) or fit.drift_per_year == 0.0:
        return chosen
    factor = float(np.exp(fit.drift_per_year * (year - reference)))
    moved = dict(chosen)
    for name in ("bandwidth", "compute", "decode_compute"):
        if name in moved:
            moved[name] = min(moved[name] * factor, HIGH)
    for name in ("bandwidth_cap", "compute_cap"):
        if name in moved:
            moved[name] *= factor
    for name in ("step_overhead_s", "sequence_overhead_s"):
        if name in moved:
            moved[name] /= factor
    return moved
