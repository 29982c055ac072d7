"""Measure this machine: matrix-multiply FLOP/s, memory bandwidth, per-call overheads.

``tokencost calibrate`` runs :func:`calibrate` and writes :func:`profile_document` as YAML. The
document has two sections:

* ``hardware:`` — a valid scenario hardware section (:class:`~tokencost.scenario.HardwareSpec`):
  ``flops`` at the verify precision (fp32 on a CPU, bf16 on a GPU), ``flops_by_precision``,
  ``bandwidth`` (the best streaming read measured), ``memory``, ``usd_per_hour: 0``, ``count: 1``,
  ``source`` and ``as_of``. Paste it into a scenario.
* ``calibration:`` — ``model_terms``, what the model needs beyond the roofline: the
  *size-efficiency curve* of matrix products (:func:`fit_size_efficiency`), the fixed cost of
  one numpy call and one BLAS call, the fresh-copy, element-wise, tanh and softmax rates and
  the cache size; and ``measurements``, every raw measurement with its spread. Fractions of
  ``hardware.flops`` or ``hardware.bandwidth`` are stored as fractions, so editing those two
  numbers rescales everything that depends on them.

Every timing is repeated; a :class:`Spread` keeps the median, quartiles, min and max, because
the machine may be shared (the median is the number used, the spread says how much to trust it).
Rates are work divided by the median time. Nothing here changes BLAS threading: numpy runs with
the threads it would use anyway, and the count is recorded.

Conventions: a multiply-add is 2 FLOP; a copy moves 2 bytes per byte copied (read + write, as
STREAM counts it, McCalpin 1995); a read moves 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import glob
import math
import os
import platform
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.errors import TokenCostError

Progress = Callable[[str], None]

BYTES_FP32 = 4
MIB = 2**20
QUARTILES = (25.0, 75.0)
FIT_MIN_ROWS = 16  # rows below this use OpenBLAS small-m kernels that the curve does not describe
MATVEC_IN_CACHE_SIZE = 1024  # (1, 1024) @ (1024, 1024): 4 MiB of weights, inside any L3
MATVEC_CALLS = 50  # calls per sample of the in-cache matrix-vector product (~35 µs each)
ELEMENTWISE_CALLS = 5  # passes per sample over the in-cache array (~0.1–1 ms each)
DEFAULT_CACHE_BYTES = 32 * MIB  # when the platform does not say
MIN_POOLED_REPEATS = 3
STACKED_VECTORS = 8  # vectors in the stacked matrix-vector measurement
FRESH_SMALL_BYTES = 48 * MIB  # above glibc's largest mmap threshold (32 MiB): always new pages
SPOT_MATMUL_SIZE = 1024
SPOT_REPEATS = 3
SOFTMAX_KEYS = 512  # row length of the softmax measurement
SOFTMAX_SCALE = 0.125  # 1/√64; any scale will do
SOFTMAX_ROWS = 16384  # 8M float32 scores, 32 MiB: beyond the cache
TINY_SIZE = 8  # elements per side of the "tiny" operands that time the fixed cost of a call
TINY_CALLS = 2000  # calls per timed loop for per-call overheads (the clock's cost averages out)
CUDA_TINY_CALLS = 200


class DeviceUnavailableError(TokenCostError):
    """The requested device cannot be calibrated here (no PyTorch, no CUDA GPU)."""


@dataclass(frozen=True)
class Spread:
    """Summary of repeated samples (seconds, or a rate derived from them)."""

    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    repeats: int
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        values = np.asarray(samples, dtype=float)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"need finite samples, got {list(samples)}")
        q1, q3 = np.percentile(values, QUARTILES)
        return cls(
            float(np.median(values)),
            float(q1),
            float(q3),
            float(values.min()),
            float(values.max()),
            int(values.size),
            tuple(float(v) for v in values),
        )

    def rate(self, work: float) -> Spread:
        """``work / time`` for a spread of times: the slowest sample gives the lowest rate."""
        return Spread(
            work / self.median,
            work / self.q3,
            work / self.q1,
            work / self.maximum,
            work / self.minimum,
            self.repeats,
        )

    def per(self, count: int) -> Spread:
        """Seconds per call for a spread of seconds per burst of ``count`` calls."""
        return Spread(
            self.median / count,
            self.q1 / count,
            self.q3 / count,
            self.minimum / count,
            self.maximum / count,
            self.repeats,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "min": self.minimum,
            "max": self.maximum,
            "repeats": self.repeats,
        }


def time_calls(
    call: Callable[[], object],
    *,
    repeats: int,
    inner: int = 1,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> Spread:
    """Seconds per call of ``call``: ``repeats`` samples, each the mean of ``inner`` calls."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            call()
        samples.append((clock() - start) / inner)
    return Spread.of(samples)


# --------------------------------------------------------------------------- the size curve


@dataclass(frozen=True)
class SizeEfficiency:
    """Achieved fraction of peak FLOP/s of a matrix product with m rows (tokens):

    ``η(m) = a·m / (m + m½)`` for m ≥ 2 — a saturating curve: a fixed cost per weight element
    (packing the weight panel and streaming it from memory, ∝ k·n) plus a cost per FLOP
    (∝ m·k·n) give ``time = (k·n)(α + β·m)``, whose rate is this form with ``a = 2/(β·peak)``,
    ``m½ = α/β``. For m = 1 BLAS uses a matrix-vector kernel with no packing:
    ``matvec_fraction``, measured with the weights in cache (from DRAM it is bandwidth-bound,
    which the roofline's memory term describes). Below :data:`FIT_MIN_ROWS` rows BLAS uses
    small-m kernels that the curve does not describe (on OpenBLAS, 2 to 6 rows can run slower
    per FLOP than one): ``small_rows`` holds the fractions measured there, ``(m, η)`` pairs, and
    η between them (and up to the curve at :data:`FIT_MIN_ROWS`) is interpolated linearly;
    below the smallest measured m it is that m's fraction. Without them the curve is used.
    """

    asymptote_fraction: float
    half_rows: float
    matvec_fraction: float
    small_rows: tuple[tuple[float, float], ...] = ()

    def efficiency(self, rows: npt.ArrayLike) -> np.ndarray:
        """η(m), clipped to (0, 1]; ``rows`` may be an array."""
        m = np.asarray(rows, dtype=float)
        curve = self.asymptote_fraction * m / (m + self.half_rows)
        if self.small_rows:
            known = sorted(point for point in self.small_rows if 1.0 < point[0] < FIT_MIN_ROWS)
            top = self.asymptote_fraction * FIT_MIN_ROWS / (FIT_MIN_ROWS + self.half_rows)
            small = np.interp(m, [r for r, _ in known] + [FIT_MIN_ROWS], [f for _, f in known] + [top])
            curve = np.where(m < FIT_MIN_ROWS, small, curve)
        return np.clip(np.where(m <= 1.0, self.matvec_fraction, curve), 1e-9, 1.0)


def fit_size_efficiency(
    rows: npt.ArrayLike, flop_per_s: npt.ArrayLike, peak_flop_per_s: float
) -> tuple[float, float]:
    """Fit ``rate(m) = a·peak·m / (m + m½)`` to measured rates; return ``(a, m½)``.

    ``peak/rate = 1/a + (m½/a)·(1/m)`` is linear in 1/m (Lineweaver & Burk 1934), fitted by
    least squares on relative residuals so that slow and fast shapes weigh alike. Needs two or
    more distinct row counts; ``m½`` is floored at 0.
    """
    m = np.asarray(rows, dtype=float)
    y = peak_flop_per_s / np.asarray(flop_per_s, dtype=float)
    if np.unique(m).size < 2 or not np.all(np.isfinite(y)) or np.any(y <= 0):  # noqa: PLR2004
        raise ValueError("the size-efficiency fit needs positive rates at two or more row counts")
    design = np.stack([np.ones_like(m), 1.0 / m], axis=1) / y[:, None]
    (intercept, slope), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if intercept <= 0:
        raise ValueError(f"size-efficiency fit failed: intercept {intercept:.3g} ≤ 0")
    return float(1.0 / intercept), float(max(slope / intercept, 0.0))


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

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        common = {"elementwise_bytes": 4 * MIB, "curve_inner": 4096}
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
) -> Spread:
    """Seconds of one ``(m, k) @ (k, n)`` product (operands made once, product each time)."""
    left, right = _matrix(rng, m, k, dtype), _matrix(rng, k, n, dtype)
    return time_calls(lambda: np.matmul(left, right), repeats=repeats, inner=inner)


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
            samples[name] += time_calls(call, repeats=repeats).samples
        del source, target
    return {name: Spread.of(values) for name, values in samples.items()}


def measure_elementwise(plan: Plan) -> dict[str, Spread]:
    """Seconds of element-wise passes over ``plan.elementwise_bytes`` of fp32, which stay in the
    cache (numpy runs them on one thread): a scale, exp (fp32 and fp64) and tanh. Passes over
    arrays larger than the cache stream at the fresh-copy rate (:func:`measure_streams`)."""
    values = np.linspace(-4.0, 4.0, plan.elementwise_bytes // BYTES_FP32, dtype=np.float32)
    doubles = values.astype(np.float64)
    inner = ELEMENTWISE_CALLS
    return {
        "scale": time_calls(lambda: values * np.float32(0.5), repeats=plan.repeats, inner=inner),
        "exp": time_calls(lambda: np.exp(values), repeats=plan.repeats, inner=inner),
        "exp_fp64": time_calls(lambda: np.exp(doubles), repeats=plan.repeats, inner=inner),
        "tanh": time_calls(lambda: np.tanh(values), repeats=plan.repeats, inner=inner),
    }


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
    return time_calls(functools.partial(masked_softmax, scores, allowed, SOFTMAX_SCALE), repeats=plan.repeats)


def measure_overheads(repeats: int) -> dict[str, Spread]:
    """Seconds of one call on tiny operands: a numpy element-wise op and a matrix product."""
    tiny = np.ones((TINY_SIZE, TINY_SIZE), dtype=np.float32)
    return {
        "op_call": time_calls(lambda: np.add(tiny, tiny), repeats=repeats, inner=TINY_CALLS),
        "matmul_call": time_calls(lambda: np.matmul(tiny, tiny), repeats=repeats, inner=TINY_CALLS),
    }


def measure_size_curve(
    rng: np.random.Generator, plan: Plan, progress: Progress
) -> tuple[list[dict[str, Any]], Spread]:
    """Seconds of ``(m, k) @ (k, k)`` for each m of the plan, weights far larger than the cache,
    and of a stack of :data:`STACKED_VECTORS` vectors ``(s, 1, k) @ (k, k)`` — numpy runs that as
    s matrix-vector products, each streaming the weights again."""
    k = plan.curve_inner
    weights = _matrix(rng, k, k)
    points = []
    for m in plan.curve_rows:
        progress(f"matmul ({m}, {k}) @ ({k}, {k})")
        left = _matrix(rng, m, k)
        seconds = time_calls(functools.partial(np.matmul, left, weights), repeats=plan.repeats)
        points.append({"m": m, "k": k, "n": k, "seconds": seconds})
    stack = _matrix(rng, STACKED_VECTORS, k).reshape(STACKED_VECTORS, 1, k)
    stacked = time_calls(functools.partial(np.matmul, stack, weights), repeats=plan.repeats)
    return points, stacked


def total_memory_bytes() -> float:
    """Physical memory of this machine (``sysconf``; 0 where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0.0


def last_level_cache_bytes() -> float:
    """Size of the largest CPU cache (sysfs), or :data:`DEFAULT_CACHE_BYTES` if unknown."""
    sizes = []
    for index in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = Path(index).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
        number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "")
        if number.isdigit():
            sizes.append(int(number) * units.get(unit, 1))
    return float(max(sizes, default=DEFAULT_CACHE_BYTES))


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def blas_threads() -> tuple[int, str]:
    """Threads numpy's BLAS uses, and how that is known (threadpoolctl if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.cpu_count() or 1), "os.cpu_count() (threadpoolctl not installed)"
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return int(os.cpu_count() or 1), "os.cpu_count() (no BLAS pool found)"
    return int(pools[0]["num_threads"]), f"threadpoolctl ({pools[0].get('internal_api', 'blas')})"


def _load_average() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _stamp() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC).astimezone()
    return now.date().isoformat(), now.isoformat(timespec="seconds")


def _rate_entry(seconds: Spread, work: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "seconds": seconds.to_dict(), unit: seconds.rate(work).to_dict()}


def _quiet(_: str) -> None:
    return None


def calibrate_cpu(quick: bool = False, progress: Progress | None = None, seed: int = 0) -> dict[str, Any]:
    """Measure this CPU with numpy and return the profile document (see the module docstring)."""
    say = progress or _quiet
    plan, rng = Plan.for_mode(quick), np.random.default_rng(seed)
    load_before = _load_average()
    size = plan.peak_size
    say(f"fp32 matmul {size}³")
    fp32 = measure_matmul(rng, size, size, size, plan.repeats)
    say(f"fp16 matmul {plan.fp16_size}³ (numpy has no fp16 BLAS)")
    fp16 = measure_matmul(rng, plan.fp16_size, plan.fp16_size, plan.fp16_size, plan.repeats, np.float16)
    say(f"fp64 matmul {plan.fp64_size}³")
    fp64 = measure_matmul(rng, plan.fp64_size, plan.fp64_size, plan.fp64_size, plan.repeats, np.float64)
    curve, stacked = measure_size_curve(rng, plan, say)
    say("matvec in cache")
    small = MATVEC_IN_CACHE_SIZE
    matvec = measure_matmul(rng, 1, small, small, plan.repeats, inner=MATVEC_CALLS)
    say(f"memory streams over {plan.stream_bytes // MIB} MiB")
    streams = measure_streams(plan)
    say("element-wise passes and per-call overheads")
    elementwise = measure_elementwise(plan)
    softmax = measure_softmax(plan)
    overheads = measure_overheads(plan.repeats)
    measurements = {
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
        "memory": _stream_entries(streams, plan.stream_bytes),
        "elementwise": _elementwise_entries(elementwise, plan.elementwise_bytes),
        "softmax_fp32": _rate_entry(
            softmax, SOFTMAX_ROWS * SOFTMAX_KEYS, "elements_per_s", shape=[SOFTMAX_ROWS, SOFTMAX_KEYS]
        ),
        "overheads": {name: {"seconds": spread.to_dict()} for name, spread in overheads.items()},
        "last_level_cache_bytes": last_level_cache_bytes(),
    }
    threads, how = blas_threads()
    backend = {
        "library": f"numpy {np.__version__}",
        "blas_threads": threads,
        "blas_threads_from": how,
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    return profile_document(
        measurements,
        device="cpu",
        quick=quick,
        backend=backend,
        name=f"{cpu_name()} ({threads} BLAS threads, numpy)",
    )


def _stream_entries(streams: dict[str, Spread], nbytes: int) -> dict[str, Any]:
    sizes = {name: FRESH_SMALL_BYTES if name == "fresh_copy_small" else nbytes for name in streams}
    moved = {name: size * (2 if "copy" in name else 1) for name, size in sizes.items()}
    return {
        name: _rate_entry(spread, moved[name], "bytes_per_s", array_bytes=sizes[name])
        for name, spread in streams.items()
    }


def fresh_copy_fit(memory: dict[str, Any]) -> tuple[float, float]:
    """``(bytes_per_s, call_s)`` of copying into new memory: ``t = call_s + 2·size/bytes_per_s``.

    A line through the small and the large fresh copy (medians); with only the large one, or
    when noise makes the small one relatively slower than a line allows, the large one's rate
    and no fixed cost.
    """
    large = memory["fresh_copy"]
    rate = _median(large, "bytes_per_s")
    small = memory.get("fresh_copy_small")
    if small is None:
        return rate, 0.0
    size_small, size_large = float(small["array_bytes"]), float(large["array_bytes"])
    t_small, t_large = small["seconds"]["median"], large["seconds"]["median"]
    if t_large <= t_small or size_large <= size_small:
        return rate, 0.0
    per_byte = (t_large - t_small) / (size_large - size_small)
    return 2.0 / per_byte, max(t_small - size_small * per_byte, 0.0)


def _elementwise_entries(passes: dict[str, Spread], nbytes: int) -> dict[str, Any]:
    elements = nbytes // BYTES_FP32
    return {
        "scale": _rate_entry(passes["scale"], 2 * nbytes, "bytes_per_s", array_bytes=nbytes),
        **{
            name: _rate_entry(passes[name], elements, "elements_per_s", array_bytes=nbytes)
            for name in ("exp", "exp_fp64", "tanh")
        },
    }


def _median(entry: dict[str, Any], unit: str) -> float:
    return float(entry[unit]["median"])


def model_terms(measurements: dict[str, Any], peak_flop_per_s: float, bandwidth: float) -> dict[str, Any]:
    """What the model needs beyond the roofline, from the raw measurements."""
    fitted = [p for p in measurements["size_curve"] if p["shape"][0] >= FIT_MIN_ROWS]
    rows = [p["shape"][0] for p in fitted]
    small = [
        [p["shape"][0], _median(p, "flop_per_s") / peak_flop_per_s]
        for p in measurements["size_curve"]
        if 1 < p["shape"][0] < FIT_MIN_ROWS
    ]
    asymptote, half = fit_size_efficiency(rows, [_median(p, "flop_per_s") for p in fitted], peak_flop_per_s)
    matvec = _median(measurements["matvec_in_cache"], "flop_per_s") / peak_flop_per_s
    vector = next(p for p in measurements["size_curve"] if p["shape"][0] == 1)
    streamed = BYTES_FP32 * vector["shape"][1] * vector["shape"][2] / vector["seconds"]["median"]
    fresh_rate, _ = fresh_copy_fit(measurements["memory"])
    elementwise, overheads = measurements["elementwise"], measurements["overheads"]
    return {
        "size_efficiency": {
            "form": "eta(m) = asymptote_fraction * m / (m + half_rows) for m >= 16; matvec_fraction"
            " for m = 1; between, interpolated in small_rows ([m, eta] measured)",
            "asymptote_fraction": asymptote,
            "half_rows": half,
            "matvec_fraction": min(matvec, 1.0),
            "fitted_rows": rows,
            "small_rows": small,
        },
        "matvec_read_fraction": min(streamed / bandwidth, 1.0),
        "op_call_s": float(overheads["op_call"]["seconds"]["median"]),
        "matmul_call_s": float(overheads["matmul_call"]["seconds"]["median"]),
        "fresh_copy_bytes_per_s": fresh_rate,
        "elementwise_bytes_per_s": _median(elementwise["scale"], "bytes_per_s"),
        "tanh_per_s": _median(elementwise["tanh"], "elements_per_s"),
        "softmax_per_s": _median(measurements["softmax_fp32"], "elements_per_s"),
        "last_level_cache_bytes": float(measurements["last_level_cache_bytes"]),
    }


def profile_document(
    measurements: dict[str, Any], *, device: str, quick: bool, backend: dict[str, Any], name: str
) -> dict[str, Any]:
    """The YAML document: a scenario ``hardware:`` section and a ``calibration:`` section."""
    date, timestamp = _stamp()
    host = socket.gethostname()
    by_precision = {p: _median(entry, "flop_per_s") for p, entry in measurements["matmul"].items()}
    verify_precision = "fp32" if device == "cpu" else "bf16"
    peak = by_precision[verify_precision]
    bandwidth = _median(measurements["memory"]["read"], "bytes_per_s")
    hardware = {
        "name": name,
        "flops": peak,
        "flops_by_precision": by_precision,
        "bandwidth": bandwidth,
        "memory": measurements.get("memory_bytes", total_memory_bytes()),
        "usd_per_hour": 0.0,
        "count": 1,
        "source": f"tokencost calibrate on {host} {date}",
        "as_of": date,
    }
    calibration = {
        "device": device,
        "precision": verify_precision,
        "quick": quick,
        "host": host,
        "created": timestamp,
        "backend": backend,
        "model_terms": model_terms(measurements, peak, bandwidth),
        "measurements": {
            key: value
            for key, value in measurements.items()
            if key not in ("memory_bytes", "last_level_cache_bytes")
        },
    }
    return {"hardware": hardware, "calibration": calibration}


# --------------------------------------------------------------------------- CUDA (PyTorch)


def _torch() -> Any:
    """PyTorch with a CUDA GPU, or :class:`DeviceUnavailableError` saying which is missing."""
    try:
        import torch
    except ImportError:
        raise DeviceUnavailableError(
            "--device cuda needs PyTorch, which is not installed (pip install torch); --device cpu works"
        ) from None
    if not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda: PyTorch is installed but finds no CUDA GPU here")
    return torch


@dataclass(frozen=True)
class CudaPlan:
    """Sizes and repetitions of a GPU calibration."""

    repeats: int
    peak_size: int
    stream_bytes: int
    curve_rows: tuple[int, ...]
    curve_inner: int

    @classmethod
    def for_mode(cls, quick: bool) -> CudaPlan:
        if quick:
            return cls(3, 4096, 512 * MIB, (1, 16, 64, 256, 1024), 8192)
        return cls(7, 8192, 2048 * MIB, (1, 16, 32, 64, 128, 256, 512, 1024, 4096), 8192)


def calibrate_cuda(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Measure the first CUDA GPU with PyTorch and return the profile document.

    Matrix products in bf16, fp16, fp32 (TF32 as PyTorch is set: recorded) and fp64, the size
    curve in bf16, streaming read (``x.sum()``), copy (``copy_``), fresh copy (``clone``),
    element-wise rates, a float32 softmax, and the fixed cost of a kernel launch (tiny ops in a
    burst, then one synchronize). ``tokencost verify`` runs on the CPU only; the profile's
    ``hardware:`` section is for scenarios.
    """
    torch = _torch()
    say, plan = progress or _quiet, CudaPlan.for_mode(quick)
    cuda = torch.device("cuda")
    generator = torch.Generator(device=cuda).manual_seed(0)

    def tensor(*shape: int, dtype: Any = torch.float32) -> Any:
        return torch.randn(*shape, device=cuda, dtype=torch.float32, generator=generator).to(dtype)

    def timed(call: Callable[[], object], count: int = 1) -> Spread:
        def burst() -> None:
            for _ in range(count):
                call()
            torch.cuda.synchronize()

        return time_calls(burst, repeats=plan.repeats).per(count)

    size = plan.peak_size
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "fp64": torch.float64}
    matmul = {}
    for name, dtype in dtypes.items():
        say(f"{name} matmul {size}³")
        a, b = tensor(size, size, dtype=dtype), tensor(size, size, dtype=dtype)
        matmul[name] = _rate_entry(
            timed(functools.partial(torch.matmul, a, b)), 2.0 * size**3, "flop_per_s", shape=[size] * 3
        )
        del a, b
    k, curve = plan.curve_inner, []
    weights = tensor(k, k, dtype=torch.bfloat16)
    for m in plan.curve_rows:
        say(f"bf16 matmul ({m}, {k}) @ ({k}, {k})")
        left = tensor(m, k, dtype=torch.bfloat16)
        seconds = timed(functools.partial(torch.matmul, left, weights))
        curve.append(_rate_entry(seconds, 2.0 * m * k * k, "flop_per_s", shape=[m, k, k]))
    small = MATVEC_IN_CACHE_SIZE
    row, square = tensor(1, small, dtype=torch.bfloat16), tensor(small, small, dtype=torch.bfloat16)
    matvec = timed(lambda: row @ square, CUDA_TINY_CALLS)
    say(f"memory streams over {plan.stream_bytes // MIB} MiB")
    source = tensor(plan.stream_bytes // BYTES_FP32)
    target = torch.empty_like(source)
    streams = {
        "read": timed(source.sum),
        "copy": timed(lambda: target.copy_(source)),
        "fresh_copy": timed(source.clone),
    }
    elements = source[: 16 * MIB // BYTES_FP32]
    doubles = elements.double()
    elementwise = {
        "scale": timed(lambda: elements * 0.5),
        "exp": timed(lambda: torch.exp(elements)),
        "exp_fp64": timed(lambda: torch.exp(doubles)),
        "tanh": timed(lambda: torch.tanh(elements)),
    }
    scores = tensor(SOFTMAX_ROWS // SOFTMAX_KEYS, SOFTMAX_KEYS, SOFTMAX_KEYS, dtype=torch.float32)
    allowed = torch.ones(SOFTMAX_KEYS, SOFTMAX_KEYS, dtype=torch.bool, device=cuda).tril()
    softmax = timed(lambda: torch.softmax((scores * SOFTMAX_SCALE).masked_fill(~allowed, -math.inf), dim=-1))
    tiny = tensor(TINY_SIZE, TINY_SIZE)
    overheads = {
        "op_call": timed(lambda: tiny + tiny, CUDA_TINY_CALLS),
        "matmul_call": timed(lambda: tiny @ tiny, CUDA_TINY_CALLS),
    }
    measurements = {
        "matmul": matmul,
        "size_curve": curve,
        "matvec_in_cache": _rate_entry(matvec, 2.0 * small * small, "flop_per_s", shape=[1, small, small]),
        "memory": _stream_entries(streams, plan.stream_bytes),
        "elementwise": _elementwise_entries(elementwise, 16 * MIB),
        "softmax_fp32": _rate_entry(
            softmax, SOFTMAX_ROWS * SOFTMAX_KEYS, "elements_per_s", shape=[SOFTMAX_ROWS, SOFTMAX_KEYS]
        ),
        "overheads": {name: {"seconds": spread.to_dict()} for name, spread in overheads.items()},
        "memory_bytes": float(torch.cuda.get_device_properties(0).total_memory),
        "last_level_cache_bytes": float(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0))
        or DEFAULT_CACHE_BYTES,
    }
    backend = {
        "library": f"torch {torch.__version__} (CUDA {torch.version.cuda})",
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }
    return profile_document(
        measurements, device="cuda", quick=quick, backend=backend, name=str(torch.cuda.get_device_name(0))
    )


DEVICES = ("cpu", "cuda")


def calibrate(device: str = "cpu", quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Calibrate ``device`` (one of :data:`DEVICES`) and return the profile document."""
    if device == "cpu":
        return calibrate_cpu(quick=quick, progress=progress)
    if device == "cuda":
        return calibrate_cuda(quick=quick, progress=progress)
    raise ValueError(f"unknown device {device!r} (allowed: {', '.join(DEVICES)})")


def spot_check(seed: int = 0) -> dict[str, float]:
    """A few-hundred-millisecond re-measurement of the three headline rates: fp32 FLOP/s
    (1024³), streaming read and fresh-copy bytes/s (128 MiB). ``verify`` reports it next to the
    profile's numbers to show how far the machine has drifted; nothing is fitted to it."""
    rng = np.random.default_rng(seed)
    size = SPOT_MATMUL_SIZE
    plan = Plan.for_mode(quick=True)
    streams = measure_streams(dataclasses.replace(plan, allocations=1))
    peak = measure_matmul(rng, size, size, size, SPOT_REPEATS)
    return {
        "flops": 2.0 * size**3 / peak.median,
        "bandwidth": plan.stream_bytes / streams["read"].median,
        "fresh_copy_bytes_per_s": 2.0 * plan.stream_bytes / streams["fresh_copy"].median,
    }
