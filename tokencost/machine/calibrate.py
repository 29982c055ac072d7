"""Measure this machine: matrix-multiply FLOP/s, memory bandwidth, per-call overheads.

``tokencost calibrate`` runs :func:`calibrate` and writes :func:`profile_document` as YAML. The
document has two sections:

* ``hardware:`` — a valid scenario hardware section (:class:`~tokencost.scenario.HardwareSpec`):
  ``flops`` at the verify precision (fp32 on a CPU, bf16 on a GPU), ``flops_by_precision``,
  ``bandwidth`` (the best streaming read measured), ``memory``, ``usd_per_hour: 0``, ``count: 1``,
  ``source`` and ``as_of``. Paste it into a scenario.
* ``calibration:`` — ``model_terms``, what the model needs beyond the roofline: the
  *size-efficiency curve* of matrix products (:func:`fit_size_efficiency`), the fixed cost of
  one numpy call and one BLAS call, the fresh-copy, element-wise, tanh and softmax rates, the
  rate of element-wise chains by array size, and the cache size; and ``measurements``, every
  raw measurement with its spread. Fractions of ``hardware.flops`` or ``hardware.bandwidth``
  are stored as fractions, so editing those two numbers rescales everything that depends on them.

Every timing is repeated; a :class:`Spread` keeps the median, quartiles, min and max, because
the machine may be shared (the median is the number used, the spread says how much to trust it).
Rates are work divided by the median time.

What a forward pass does, the calibration does: the size curve multiplies *cold* weights (a turn
of distinct matrices larger together than the cache, :func:`measure_size_curve`), and the
element-wise chains run on arrays just evicted by a product (:func:`measure_chains`). Timed
warm, one matrix over and over, small-row products run up to twice as fast as in a model.

Threads and clock: numpy's BLAS runs on :data:`CALIBRATION_BLAS_THREADS` thread (one), and each
sample is that thread's CPU time. On a machine shared with other processes, a multi-threaded
BLAS waits at every barrier for a thread the scheduler has parked — on 2 cores with one busy
process beside it, a (16, 4096) × (4096, 4096) product took 10× its idle time, while 2048³
took 2.4× — and wall time counts the time the core was lent out. One thread timed by its own
CPU time measures the work, not the neighbours; ``blas_threads`` and ``clock`` are recorded in
``calibration.backend`` and ``verify`` times the reference the same way.

Conventions: a multiply-add is 2 FLOP; a copy moves 2 bytes per byte copied (read + write, as
STREAM counts it, McCalpin 1995); a read moves 1.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.machine.cuda import calibrate_cuda
from tokencost.machine.host import (
    DEFAULT_CACHE_BYTES,
    _load_average,
    blas_thread_limit,
    blas_threads,
    cold_bytes,
    cold_weight_count,
    cpu_name,
    last_level_cache_bytes,
)
from tokencost.machine.profile import _elementwise_entries, _rate_entry, _stream_entries, profile_document
from tokencost.machine.timing import (
    BYTES_FP32,
    CHAIN_BYTES_PER_ELEMENT,
    CHAIN_SIZES_BYTES,
    FIT_MIN_ROWS,
    FRESH_SMALL_BYTES,
    MATVEC_IN_CACHE_SIZE,
    MIB,
    SOFTMAX_KEYS,
    SOFTMAX_ROWS,
    SOFTMAX_SCALE,
    TINY_SIZE,
    Clock,
    Progress,
    Spread,
    _quiet,
    clock_for,
    elementwise_chain,
    time_calls,
)

MATVEC_CALLS = 50  # calls per sample of the in-cache matrix-vector product (~35 µs each)
ELEMENTWISE_CALLS = 5  # passes per sample over the in-cache array (~0.1–1 ms each)
MIN_POOLED_REPEATS = 3
STACKED_VECTORS = 8  # vectors in the stacked matrix-vector measurement
CALIBRATION_BLAS_THREADS = 1  # see the module docstring: one thread, timed by its CPU time
TINY_CALLS = 2000  # calls per timed loop for per-call overheads (the clock's cost averages out)


# --------------------------------------------------------------------------- CPU measurements


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one calibration run."""

    repeats: int
    peak_size: int  # n of the square fp32 product that measures peak FLOP/s
    fp16_size: int  # n of the square fp16 product (numpy has no fp16 BLAS: it is slow)
    fp64_size: int  # n of the square fp64 product
    stream_bytes: int  # array size for bandwidth, far larger than the last-level cache
    allocations: int  # separately allocated arrays the stream samples are pooled over
    elementwise_bytes: int  # array size for element-wise rates: inside the cache
    curve_rows: tuple[int, ...]  # m of the (m, k, k) products of the size curve (1 = matvec)
    curve_inner: int  # k = n of the size curve: weights far larger than the cache
    clock: Clock = time.perf_counter  # what a sample's seconds are (see calibrate_cpu)

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        common: dict[str, Any] = {"elementwise_bytes": 4 * MIB, "curve_inner": 4096}
        if quick:
            return cls(repeats=3, peak_size=1024, fp16_size=128, fp64_size=512, stream_bytes=128 * MIB,
                       allocations=2, curve_rows=(1, 4, 8, 16, 64, 256), **common)  # fmt: skip
        return cls(repeats=7, peak_size=2048, fp16_size=256, fp64_size=1024, stream_bytes=256 * MIB,
                   allocations=3, curve_rows=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), **common)  # fmt: skip


def _matrix(
    rng: np.random.Generator, rows: int, columns: int, dtype: npt.DTypeLike = np.float32
) -> np.ndarray:
    return rng.standard_normal((rows, columns), dtype=np.float32).astype(dtype, copy=False)


def measure_matmul(
    rng: np.random.Generator,
    m: int,
    k: int,
    n: int,
    repeats: int,
    dtype: npt.DTypeLike = np.float32,
    inner: int = 1,
    clock: Clock = time.perf_counter,
) -> Spread:
    """Seconds of one ``(m, k) @ (k, n)`` product (operands made once, product each time)."""
    left, right = _matrix(rng, m, k, dtype), _matrix(rng, k, n, dtype)
    return time_calls(lambda: np.matmul(left, right), repeats=repeats, inner=inner, clock=clock)


def measure_streams(plan: Plan) -> dict[str, Spread]:
    """Seconds to read, copy and copy-into-new-memory ``plan.stream_bytes`` bytes of fp32.

    ``read``: ``a.dot(ones)`` — a matrix-vector product on BLAS threads, the best read.
    ``read_sum``: ``np.sum`` (one thread). ``copy``: ``np.copyto`` into an existing array.
    ``fresh_copy``: ``a.copy()``, which also maps and faults in new pages, as ``astype`` does;
    ``fresh_copy_small`` the same over :data:`FRESH_SMALL_BYTES`, to separate the fixed cost of
    mapping and unmapping an array from the per-byte cost (:func:`fresh_copy_fit`).
    Samples are pooled over ``plan.allocations`` separately allocated arrays: on a virtual
    machine the bandwidth an array gets depends on where its pages landed.
    """
    columns = 4096
    rows = plan.stream_bytes // (BYTES_FP32 * columns)
    ones = np.ones(columns, dtype=np.float32)
    small_rows = FRESH_SMALL_BYTES // (BYTES_FP32 * columns)
    samples: dict[str, list[float]] = {name: [] for name in ("read", "read_sum", "copy", "fresh_copy")}
    samples["fresh_copy_small"] = []
    repeats = max(plan.repeats // plan.allocations, MIN_POOLED_REPEATS)
    for _ in range(plan.allocations):
        source = np.ones((rows, columns), dtype=np.float32)
        target = np.empty_like(source)
        calls: dict[str, Callable[[], object]] = {
            "read": functools.partial(source.dot, ones),
            "read_sum": source.sum,
            "copy": functools.partial(np.copyto, target, source),
            "fresh_copy": source.copy,
            "fresh_copy_small": source[:small_rows].copy,
        }
        for name, call in calls.items():
            samples[name] += time_calls(call, repeats=repeats, clock=plan.clock).samples
        del source, target
    return {name: Spread.of(values) for name, values in samples.items()}


def measure_elementwise(plan: Plan) -> dict[str, Spread]:
    """Seconds of element-wise passes over ``plan.elementwise_bytes`` of fp32 (numpy runs them
    on one thread): a scale, exp (fp32 and fp64) and tanh, each repeated on one array, so its
    output reuses the memory just freed and stays in the cache."""
    values = np.linspace(-4.0, 4.0, plan.elementwise_bytes // BYTES_FP32, dtype=np.float32)
    doubles = values.astype(np.float64)
    inner, repeats, clock = ELEMENTWISE_CALLS, plan.repeats, plan.clock
    return {
        "scale": time_calls(lambda: values * np.float32(0.5), repeats=repeats, inner=inner, clock=clock),
        "exp": time_calls(lambda: np.exp(values), repeats=repeats, inner=inner, clock=clock),
        "exp_fp64": time_calls(lambda: np.exp(doubles), repeats=repeats, inner=inner, clock=clock),
        "tanh": time_calls(lambda: np.tanh(values), repeats=repeats, inner=inner, clock=clock),
    }


def measure_chains(plan: Plan, cache_bytes: float = DEFAULT_CACHE_BYTES) -> list[tuple[int, Spread]]:
    """Seconds of :func:`elementwise_chain` over fp32 arrays of each of :data:`CHAIN_SIZES_BYTES`:
    element-wise work as a forward pass does it, with several arrays alive, and each call timed
    right after a matrix-vector product over :func:`~tokencost.machine.host.cold_bytes` of
    weights (untimed, sized by the last-level cache as the size curve's weights are) has
    pushed its arrays out of the cache, as the products between a pass's norms and activations
    do — so the size at which the work leaves the cache is measured, not assumed."""
    columns = 4096
    weights = np.ones((cold_bytes(cache_bytes) // (BYTES_FP32 * columns), columns), dtype=np.float32)
    vector = np.ones(columns, dtype=np.float32)
    points = []
    for nbytes in CHAIN_SIZES_BYTES:
        values = np.linspace(-4.0, 4.0, nbytes // BYTES_FP32, dtype=np.float32)
        others = values[::-1].copy()
        elementwise_chain(values, others)  # warm-up
        samples = []
        for _ in range(plan.repeats):
            weights.dot(vector)
            start = plan.clock()
            elementwise_chain(values, others)
            samples.append(plan.clock() - start)
        points.append((nbytes, Spread.of(samples)))
    return points


def masked_softmax(scores: np.ndarray, allowed: np.ndarray, scale: float) -> np.ndarray:
    """numpy's masked softmax over the last axis, as attention runs it: scale, mask, subtract
    the row maximum, exp, divide by the row sum — seven passes and two row reductions. The
    scale is cast to the scores' dtype, as :func:`tokencost.loop.reference.grouped_attention` does,
    so float32 scores stay float32."""
    scaled = np.where(allowed, scores * scores.dtype.type(scale), -np.inf)
    weights = np.exp(scaled - np.max(scaled, axis=-1, keepdims=True))
    weights /= np.sum(weights, axis=-1, keepdims=True)
    return weights


def measure_softmax(plan: Plan) -> Spread:
    """Seconds of :func:`masked_softmax` over float32 rows of :data:`SOFTMAX_KEYS` keys with a
    causal mask, on an array larger than the cache (new pages for every temporary)."""
    rng = np.random.default_rng(1)
    shape = (SOFTMAX_ROWS // SOFTMAX_KEYS, SOFTMAX_KEYS, SOFTMAX_KEYS)
    scores = rng.standard_normal(shape, dtype=np.float32)
    allowed = np.tri(SOFTMAX_KEYS, dtype=bool)
    return time_calls(
        functools.partial(masked_softmax, scores, allowed, SOFTMAX_SCALE),
        repeats=plan.repeats,
        clock=plan.clock,
    )


def measure_overheads(repeats: int, clock: Clock = time.perf_counter) -> dict[str, Spread]:
    """Seconds of one call on tiny operands: a numpy element-wise op and a matrix product."""
    tiny = np.ones((TINY_SIZE, TINY_SIZE), dtype=np.float32)
    return {
        "op_call": time_calls(lambda: np.add(tiny, tiny), repeats=repeats, inner=TINY_CALLS, clock=clock),
        "matmul_call": time_calls(
            lambda: np.matmul(tiny, tiny), repeats=repeats, inner=TINY_CALLS, clock=clock
        ),
    }


def cold_weights(rng: np.random.Generator, k: int, count: int) -> list[np.ndarray]:
    """``count`` separately allocated ``(k, k)`` fp32 matrices (copies of one random matrix)."""
    first = _matrix(rng, k, k)
    return [first, *(first.copy() for _ in range(count - 1))]


def _in_turn(left: np.ndarray, turn: Iterator[np.ndarray]) -> Callable[[], np.ndarray]:
    """A call that multiplies ``left`` by the next weight matrix of ``turn``."""
    return lambda: np.matmul(left, next(turn))


def measure_size_curve(
    rng: np.random.Generator, plan: Plan, progress: Progress, cache_bytes: float = DEFAULT_CACHE_BYTES
) -> tuple[list[dict[str, Any]], Spread]:
    """Seconds of ``(m, k) @ (k, k)`` for each m of the plan with the weights *cold*, and of a
    stack of :data:`STACKED_VECTORS` vectors ``(s, 1, k) @ (k, k)`` — numpy runs that as s
    matrix-vector products, each streaming the weights again.

    Every call multiplies the next of :func:`cold_weight_count` distinct weight matrices, in
    turn, so none is still in the cache from its last use — as in a forward pass, where each
    layer's weights were evicted by the others'. Timing one matrix again and again measures
    a cache-warm product instead, which on a CPU with a large shared cache runs up to twice
    as fast for few rows as the same product in a model does.
    """
    k = plan.curve_inner
    weights = cold_weights(rng, k, cold_weight_count(BYTES_FP32 * k * k, cache_bytes))
    turn = itertools.cycle(weights)
    points = []
    for m in plan.curve_rows:
        progress(f"matmul ({m}, {k}) @ ({k}, {k}), {len(weights)} weight matrices in turn")
        left = _matrix(rng, m, k)
        repeats = max(plan.repeats, 2 * len(weights)) if m < FIT_MIN_ROWS else plan.repeats
        seconds = time_calls(_in_turn(left, turn), repeats=repeats, clock=plan.clock)
        points.append({"m": m, "k": k, "n": k, "seconds": seconds})
    stack = _matrix(rng, STACKED_VECTORS, k).reshape(STACKED_VECTORS, 1, k)
    stacked = time_calls(_in_turn(stack, turn), repeats=plan.repeats, clock=plan.clock)
    return points, stacked


def calibrate_cpu(
    quick: bool = False,
    progress: Progress | None = None,
    seed: int = 0,
    threads: int | None = CALIBRATION_BLAS_THREADS,
) -> dict[str, Any]:
    """Measure this CPU with numpy and return the profile document (see the module docstring).

    numpy's BLAS runs on ``threads`` threads (None: as many as it would use anyway) and, with
    one thread, every sample is that thread's CPU time (:func:`timing.clock_for`); the profile
    records both, and ``verify`` times the reference the same way.
    """
    say = progress or _quiet
    rng = np.random.default_rng(seed)
    load_before = _load_average()
    cache = last_level_cache_bytes()
    with blas_thread_limit(threads) as limited:
        used, how = blas_threads()
        # The clock for the threads the samples really run on (a BLAS the limit cannot set keeps
        # its own count, and one thread's CPU time would leave its workers out).
        clock, clock_name = clock_for(threads if limited else used)
        plan = dataclasses.replace(Plan.for_mode(quick), clock=clock)
        measurements = {
            **_measure_compute(rng, plan, say, cache),
            **_measure_memory(plan, say, cache),
            "last_level_cache_bytes": cache,
        }
    backend = {
        "library": f"numpy {np.__version__}",
        "blas_threads": used,
        "blas_threads_from": how,
        "clock": clock_name,
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    return profile_document(
        measurements,
        device="cpu",
        quick=quick,
        backend=backend,
        name=f"{cpu_name()} ({used} BLAS thread{'s' if used != 1 else ''}, numpy)",
    )


def _measure_compute(
    rng: np.random.Generator, plan: Plan, say: Progress, cache_bytes: float
) -> dict[str, Any]:
    """The matmul entries of the profile: peak per precision, the size curve, matvecs (FLOP/s)."""
    size = plan.peak_size
    say(f"fp32 matmul {size}³")
    fp32 = measure_matmul(rng, size, size, size, plan.repeats, clock=plan.clock)
    say(f"fp16 matmul {plan.fp16_size}³ (numpy has no fp16 BLAS)")
    fp16 = measure_matmul(
        rng, plan.fp16_size, plan.fp16_size, plan.fp16_size, plan.repeats, np.float16, clock=plan.clock
    )
    say(f"fp64 matmul {plan.fp64_size}³")
    fp64 = measure_matmul(
        rng, plan.fp64_size, plan.fp64_size, plan.fp64_size, plan.repeats, np.float64, clock=plan.clock
    )
    curve, stacked = measure_size_curve(rng, plan, say, cache_bytes)
    say("matvec in cache")
    small = MATVEC_IN_CACHE_SIZE
    matvec = measure_matmul(rng, 1, small, small, plan.repeats, inner=MATVEC_CALLS, clock=plan.clock)
    return {
        "matmul": {
            "fp32": _rate_entry(fp32, 2.0 * size**3, "flop_per_s", shape=[size, size, size]),
            "fp16": _rate_entry(fp16, 2.0 * plan.fp16_size**3, "flop_per_s", shape=[plan.fp16_size] * 3),
            "fp64": _rate_entry(fp64, 2.0 * plan.fp64_size**3, "flop_per_s", shape=[plan.fp64_size] * 3),
        },
        "size_curve": [
            _rate_entry(
                p["seconds"], 2.0 * p["m"] * p["k"] * p["n"], "flop_per_s", shape=[p["m"], p["k"], p["n"]]
            )
            for p in curve
        ],
        "matvec_in_cache": _rate_entry(matvec, 2.0 * small * small, "flop_per_s", shape=[1, small, small]),
        "stacked_matvec": _rate_entry(
            stacked,
            2.0 * STACKED_VECTORS * plan.curve_inner**2,
            "flop_per_s",
            shape=[STACKED_VECTORS, 1, plan.curve_inner, plan.curve_inner],
        ),
    }


def _measure_memory(plan: Plan, say: Progress, cache_bytes: float) -> dict[str, Any]:
    """The memory entries of the profile: streams (bytes/s), element-wise passes, softmax, overheads."""
    say(f"memory streams over {plan.stream_bytes // MIB} MiB")
    streams = measure_streams(plan)
    say("element-wise passes and per-call overheads")
    elementwise = measure_elementwise(plan)
    chains = measure_chains(plan, cache_bytes)
    softmax = measure_softmax(plan)
    overheads = measure_overheads(plan.repeats, plan.clock)
    return {
        "memory": _stream_entries(streams, plan.stream_bytes),
        "elementwise": _elementwise_entries(elementwise, plan.elementwise_bytes),
        "elementwise_chain": [
            _rate_entry(
                seconds, CHAIN_BYTES_PER_ELEMENT * nbytes // BYTES_FP32, "bytes_per_s", array_bytes=nbytes
            )
            for nbytes, seconds in chains
        ],
        "softmax_fp32": _rate_entry(
            softmax, SOFTMAX_ROWS * SOFTMAX_KEYS, "elements_per_s", shape=[SOFTMAX_ROWS, SOFTMAX_KEYS]
        ),
        "overheads": {name: {"seconds": spread.to_dict()} for name, spread in overheads.items()},
    }


DEVICES = ("cpu", "cuda")


def calibrate(device: str = "cpu", quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Calibrate ``device`` (one of :data:`DEVICES`) and return the profile document."""
    if device == "cpu":
        return calibrate_cpu(quick=quick, progress=progress)
    if device == "cuda":
        return calibrate_cuda(quick=quick, progress=progress)
    raise ValueError(f"unknown device {device!r} (allowed: {', '.join(DEVICES)})")
