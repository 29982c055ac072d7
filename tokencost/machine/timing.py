"""Timing primitives shared by calibrate and verify: repeated calls, their spread, a size-efficiency fit."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tokencost.errors import TokenCostError

Progress = Callable[[str], None]
Clock = Callable[[], float]

BYTES_FP32 = 4
MIB = 2**20
QUARTILES = (25.0, 75.0)
FIT_MIN_ROWS = 16  # rows below this use OpenBLAS small-m kernels that the curve does not describe
MATVEC_IN_CACHE_SIZE = 1024  # (1, 1024) @ (1024, 1024): 4 MiB of weights, inside any L3
FRESH_SMALL_BYTES = 48 * MIB  # above glibc's largest mmap threshold (32 MiB): always new pages
SOFTMAX_KEYS = 512  # row length of the softmax measurement
SOFTMAX_SCALE = 0.125  # 1/√64; any scale will do
SOFTMAX_ROWS = 16384  # 8M float32 scores, 32 MiB: beyond the cache
CHAIN_BYTES_PER_ELEMENT = 40  # calibrate.elementwise_chain: 8 + 8 + 12 + 12 bytes per element
CHAIN_SIZES_BYTES = (256 * 1024, 1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB)  # arrays of the chain measurement
TINY_SIZE = 8  # elements per side of the "tiny" operands that time the fixed cost of a call


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


CLOCKS: dict[str, Clock] = {"thread CPU time": time.thread_time, "wall": time.perf_counter}


def clock_for(blas_threads: int | None) -> tuple[Clock, str]:
    """The clock that times work on ``blas_threads`` BLAS threads, and its name in :data:`CLOCKS`.

    One thread: the thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``), which leaves out the time
    the scheduler gave the core to other processes — on a shared machine the work's own time.
    More threads: wall time, since CPU time would add the threads up, spinning included.
    """
    name = "thread CPU time" if blas_threads == 1 else "wall"
    return CLOCKS[name], name


def time_calls(
    call: Callable[[], object],
    *,
    repeats: int,
    inner: int = 1,
    warmup: int = 1,
    clock: Clock = time.perf_counter,
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


# --------------------------------------------------------------------------- workloads


def elementwise_chain(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A chain of numpy passes in which each makes or updates a temporary while others are
    alive, as the reference's norms, rotary embedding and SwiGLU do: ``t = a·½`` (new), ``t += 1``,
    ``t *= a``, ``t·b`` (new) — :data:`CHAIN_BYTES_PER_ELEMENT` bytes moved per element."""
    temporary = first * np.float32(0.5)
    temporary += np.float32(1.0)
    temporary *= first
    result: np.ndarray = temporary * second
    return result


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


def _quiet(_: str) -> None:
    return None
