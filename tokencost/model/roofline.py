"""The roofline: a phase takes as long as its slowest resource.

``t = max(F / (Π·η_c), M / (β·η_m)) + t_comm + t_fixed`` — Williams, Waterman and Patterson
2009, "Roofline: an insightful visual performance model", with F FLOP, M bytes, Π peak FLOP/s,
β memory bandwidth and η the achieved fractions. Communication is added, not overlapped: tensor
parallel all-reduces sit between the matrix products that need their results.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import all_float, as_float, as_floats, is_scalar

ArrayLike = npt.ArrayLike

BOUND_NAMES = ("compute", "memory", "interconnect")


def compute_time_s(flops: ArrayLike, peak_flop_per_s: ArrayLike, efficiency: ArrayLike) -> np.ndarray:
    """Seconds to do ``flops`` at ``peak_flop_per_s × efficiency``."""
    work, peak, share = flops, peak_flop_per_s, efficiency
    if not (type(work) is type(peak) is type(share) is float):  # else no call
        work, peak, share = as_floats((work, peak, share))
    return work / (peak * share)  # type: ignore[no-any-return,operator]


def memory_time_s(
    bytes_moved: ArrayLike, bandwidth_bytes_per_s: ArrayLike, efficiency: ArrayLike
) -> np.ndarray:
    """Seconds to stream ``bytes_moved`` at ``bandwidth × efficiency``."""
    moved, bandwidth, share = bytes_moved, bandwidth_bytes_per_s, efficiency
    if not (type(moved) is type(bandwidth) is type(share) is float):  # else no call
        moved, bandwidth, share = as_floats((moved, bandwidth, share))
    return moved / (bandwidth * share)  # type: ignore[no-any-return,operator]


def roofline_time_s(
    compute_s: ArrayLike, memory_s: ArrayLike, comm_s: ArrayLike = 0.0, fixed_s: ArrayLike = 0.0
) -> np.ndarray:
    """``max(compute, memory) + communication + fixed`` seconds (plain numbers: the same on floats,
    :func:`roofline_time_scalar_s`)."""
    if all_float((compute_s, memory_s, comm_s, fixed_s)) or is_scalar(compute_s, memory_s, comm_s, fixed_s):
        return roofline_time_scalar_s(compute_s, memory_s, comm_s, fixed_s)  # type: ignore[arg-type,return-value]
    slowest = np.maximum(as_float(compute_s), as_float(memory_s))
    return slowest + as_float(comm_s) + as_float(fixed_s)


def roofline_time_scalar_s(
    compute_s: float, memory_s: float, comm_s: float = 0.0, fixed_s: float = 0.0
) -> float:
    """:func:`roofline_time_s` on Python floats: the same formula and the same IEEE operations in
    the same order, so the result is bit for bit the same (a test checks it); about ten times
    faster for one value, for the simulator's per-iteration calls. Like ``np.maximum`` it
    propagates NaN and, of two equal values, returns the second (``-0.0`` and ``0.0``)."""
    slowest = compute_s if compute_s > memory_s or compute_s != compute_s else memory_s
    return slowest + comm_s + fixed_s


def bound_index(compute_s: ArrayLike, memory_s: ArrayLike, comm_s: ArrayLike = 0.0) -> np.ndarray:
    """Index into :data:`BOUND_NAMES` of the largest of the three terms (ties: compute first).
    Plain numbers give a Python int, by the comparisons ``np.argmax`` makes (the first largest;
    the first NaN when there is one), without stacking arrays."""
    if is_scalar(compute_s, memory_s, comm_s):
        terms = (float(compute_s), float(memory_s), float(comm_s))  # type: ignore[arg-type]
        for index, term in enumerate(terms):
            if term != term:  # NaN: argmax's answer is the first NaN
                return index  # type: ignore[return-value]
        best = 0
        for index in (1, 2):
            if terms[index] > terms[best]:
                best = index
        return best  # type: ignore[return-value]
    compute, memory, comm = (
        np.asarray(x, dtype=float) for x in np.broadcast_arrays(compute_s, memory_s, comm_s)
    )
    if compute.size < ELEMENTWISE_FROM or compute.ndim == 0:
        return np.argmax(np.stack([compute, memory, comm]), axis=0)
    return _first_largest(compute, memory, comm)


# Columns from this many entries take the elementwise comparisons (0.6 ms against 12 ms at 10^5; at a
# few entries both cost the same dozen microseconds: the one-entry arrays of evaluate() keep
# argmax). Measured 2026-12-02, numpy 2.4, tokencost's shared 2-core machine.
ELEMENTWISE_FROM = 64


def _first_largest(compute: np.ndarray, memory: np.ndarray, comm: np.ndarray) -> np.ndarray:
    """``np.argmax(np.stack([compute, memory, comm]), axis=0)`` by the same comparisons made
    elementwise (one pass each: argmax along the stacked axis strides across three copies): the
    first largest, and the first NaN where there is one."""
    best = (memory > compute).astype(np.int64)  # a NaN compares False
    best[comm > np.maximum(compute, memory)] = 2
    for index, term in ((2, comm), (1, memory), (0, compute)):  # the first NaN wins
        nan = np.isnan(term)
        if nan.any():
            best[nan] = index
    return best


def arithmetic_intensity(flops: ArrayLike, bytes_moved: ArrayLike) -> np.ndarray:
    """FLOP per byte moved — the x axis of the roofline."""
    work, moved = as_floats((flops, bytes_moved))
    return work / moved  # type: ignore[no-any-return]  # bytes > 0: the weights


def ridge_point(
    peak_flop_per_s: ArrayLike,
    bandwidth_bytes_per_s: ArrayLike,
    compute_efficiency: ArrayLike = 1.0,
    bandwidth_efficiency: ArrayLike = 1.0,
) -> np.ndarray:
    """Intensity (FLOP/byte) above which a kernel is compute-bound: ``Π·η_c / (β·η_m)``.

    H100 SXM in bf16 at peak: 989e12 / 3.35e12 ≈ 295 FLOP/byte, so decode at batch B (about
    B FLOP/byte in 16-bit weights) turns compute-bound near B ≈ 300 (kipply 2022).
    """
    numbers = (peak_flop_per_s, compute_efficiency, bandwidth_bytes_per_s, bandwidth_efficiency)
    peak, compute_share, bandwidth, memory_share = as_floats(numbers)
    return (peak * compute_share) / (bandwidth * memory_share)  # type: ignore[no-any-return]


def sum_of_affine_max(
    offset_a: ArrayLike,
    slope_a: ArrayLike,
    offset_b: ArrayLike,
    slope_b: ArrayLike,
    first: ArrayLike,
    count: ArrayLike,
) -> np.ndarray:
    """``Σ_{x=first}^{first+count−1} max(a₀ + a₁·x, b₀ + b₁·x)``, exactly, in O(1).

    Decode step time is the max of two affine functions of the context (compute and memory
    both grow linearly with c), so a whole response's decode time is this sum: the max of the
    first plus the positive part of their difference, an arithmetic series over the integers
    where it is positive. One value each (floats or 0-d arrays, all finite): the same operations
    on Python floats (:func:`_sum_of_affine_max_scalar`), bit for bit the same result.
    """
    scalars = _finite_scalars(offset_a, slope_a, offset_b, slope_b, first, count)
    if scalars is not None:
        found = _sum_of_affine_max_scalar(*scalars)
        if found is not None:
            return np.float64(found)  # type: ignore[return-value]
    a0, a1 = as_float(offset_a), as_float(slope_a)
    d0 = as_float(offset_b) - a0
    d1 = as_float(slope_b) - a1
    lo = as_float(first)
    n = np.maximum(as_float(count), 0.0)
    hi = lo + n - 1.0
    base = n * a0 + a1 * n * (lo + hi) / 2.0
    rising = d1 > 0
    if isinstance(rising, np.ndarray) and rising.all():  # decode: the cache read outgrows its FLOPs
        with np.errstate(divide="ignore", invalid="ignore"):  # the general span with d1 > 0 throughout
            start, stop = _first_above(lo, -d0 / d1), hi
    else:
        start, stop = _positive_span(d0, d1, lo, hi, rising)
    k = np.maximum(stop - start + 1.0, 0.0)
    extra = k * d0 + d1 * k * (start + stop) / 2.0
    return base + np.where(k > 0, extra, 0.0)


def _positive_span(
    d0: np.ndarray, d1: np.ndarray, lo: np.ndarray, hi: np.ndarray, rising: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First and last integer in ``[lo, hi]`` where ``d0 + d1·x > 0`` (an empty span when the
    last is below the first): above the crossing where ``d1`` rises, below it where it falls,
    all or none where it is flat."""
    sloped = d1 != 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(sloped, -d0 / np.where(sloped, d1, 1.0), 0.0)
    rising_lo = _first_above(lo, crossing)
    falling_hi = np.minimum(hi, np.ceil(crossing) - 1.0)
    start = np.where(rising, rising_lo, lo)
    stop = np.where(rising, hi, np.where(d1 < 0, falling_hi, np.where(d0 > 0, hi, lo - 1.0)))
    return start, stop


def _first_above(lo: np.ndarray, crossing: np.ndarray) -> np.ndarray:
    """The first integer from ``lo`` on that is above ``crossing``."""
    return np.maximum(lo, np.floor(crossing) + 1.0)


def _finite_scalars(*values: object) -> list[float] | None:
    """``values`` as Python floats when each is one finite number (a float, an int or a 0-d
    float array), else None (arrays, NaN and infinities take the numpy path)."""
    if all_float(values):  # the common case; x − x is 0.0 for a finite float, NaN otherwise
        for number in values:
            if number - number != 0.0:  # type: ignore[operator]
                return None
        return list(values)  # type: ignore[arg-type]
    floats = []
    for value in values:
        if isinstance(value, np.ndarray):
            if value.ndim != 0 or value.dtype != np.float64:
                return None
            value = float(value)
        elif not isinstance(value, (int, float)):
            return None
        if not math.isfinite(value):  # type: ignore[arg-type]
            return None
        floats.append(float(value))  # type: ignore[arg-type]
    return floats


def _sum_of_affine_max_scalar(
    a0: float, a1: float, b0: float, b1: float, lo: float, count: float
) -> float | None:
    """:func:`sum_of_affine_max` at one point, on Python floats: each numpy operation of the array
    form in the same order (``np.maximum``/``np.minimum`` as ``x if x > y else y``; ``np.where``
    as a choice), so the result is bit for bit the same (a test checks it on random inputs).
    None when the crossing overflows (the numpy path handles it)."""
    d0 = b0 - a0
    d1 = b1 - a1
    n = count if count > 0.0 else 0.0
    hi = lo + n - 1.0
    base = n * a0 + a1 * n * (lo + hi) / 2.0
    crossing = -d0 / d1 if d1 != 0.0 else 0.0
    if not math.isfinite(crossing):
        return None
    if d1 > 0:
        floor_next = math.floor(crossing) + 1.0
        start = lo if lo > floor_next else floor_next
        stop = hi
    elif d1 < 0:
        ceil_prev = math.ceil(crossing) - 1.0
        start = lo
        stop = hi if hi < ceil_prev else ceil_prev
    else:
        start = lo
        stop = hi if d0 > 0 else lo - 1.0
    k = stop - start + 1.0
    k = k if k > 0.0 else 0.0
    extra = k * d0 + d1 * k * (start + stop) / 2.0
    return base + (extra if k > 0 else 0.0)
