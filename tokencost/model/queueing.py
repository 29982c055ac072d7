"""Distributions the operating point's percentiles are read from (pure numpy, no scipy).

Quantiles of the standard normal (Acklam's rational approximation) and of a gamma distribution
matched to a mean and a variance (Wilson and Hilferty 1931), and Poisson probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
GUESS_MISSES = 12  # bisect_below stops guessing after this many in a row that did not halve its window

MAX_SUPPORT = 400
NORMAL_LOW_REGION = 0.02425  # Acklam: below this (and above 1 − it) the tail formula applies


def gamma_quantile(mean: ArrayLike, variance: ArrayLike, probability: ArrayLike) -> np.ndarray:
    """Quantile of a gamma distribution with this mean and variance (Wilson–Hilferty 1931:
    ``k·θ·(1 − 1/(9k) + z·√(1/(9k)))³`` with shape ``k = m²/v``); the mean when v = 0."""
    mean_a = np.asarray(mean, dtype=float)
    variance_a = np.maximum(np.asarray(variance, dtype=float), 0.0)
    z = normal_quantile(probability)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(variance_a > 0, mean_a * mean_a / variance_a, np.inf)
        ninth = np.where(np.isfinite(shape), 1.0 / (9.0 * shape), 0.0)
        cube = np.maximum(1.0 - ninth + z * np.sqrt(ninth), 0.0) ** 3
    return np.where(mean_a > 0, mean_a * cube, 0.0)


ACKLAM_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
ACKLAM_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01)
ACKLAM_B_LAST = -1.328068155288572e01
ACKLAM_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
MEDIAN = 0.5


def gamma_cdf(mean: ArrayLike, variance: ArrayLike, x: ArrayLike) -> np.ndarray:
    """``P(X ≤ x)`` of the gamma distribution of :func:`gamma_quantile` (the same Wilson–Hilferty
    cube-root normal, inverted: ``Φ(((x/m)^{1/3} − 1 + 1/(9k))/√(1/(9k)))``); a step at the mean
    when v = 0, at 0 when m = 0."""
    mean_a = np.asarray(mean, dtype=float)
    variance_a = np.maximum(np.asarray(variance, dtype=float), 0.0)
    x_a = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ninth = np.where(variance_a > 0, variance_a / (9.0 * mean_a * mean_a), 0.0)
        root = np.cbrt(np.maximum(x_a, 0.0) / np.where(mean_a > 0, mean_a, 1.0))
        z = (root - 1.0 + ninth) / np.sqrt(np.where(ninth > 0, ninth, 1.0))
    normal = 0.5 * np.asarray(_ERFC(-z / math.sqrt(2.0)), dtype=float)
    step = (x_a >= mean_a).astype(float)
    found = np.where((mean_a > 0) & (ninth > 0), normal, step)
    return np.where(x_a < 0, 0.0, found)  # type: ignore[no-any-return]


_ERFC = np.frompyfunc(math.erfc, 1, 1)  # numpy has no erfc; the arrays here are small


def vacation_wait(
    rate: np.ndarray, service: np.ndarray, vacation_s: np.ndarray, kingman: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the wait of an M/G/1 queue with vacations, one customer per service
    ``S`` and vacations of ``V`` (deterministic) between: ``W = k·(λS²/(2(1 − λS)) + V/2)``,
    ``E[W²] = 2W_q² + λS³/(3(1 − λS)) + V²/3`` (Harchol-Balter 2013 ch. 26-27; Kingman's factor
    k = c_a² for bursty arrivals, applied to both parts, its square to the variance). A ``service``
    with one more axis than ``rate`` is a mix of equally likely services: E[S], E[S²], E[S³] over it."""
    if np.ndim(service) > np.ndim(rate):
        first, square, cube = (np.mean(service**power, axis=-1) for power in (1, 2, 3))
    else:
        first, square, cube = service, service**2, service**3
    load = np.minimum(rate * first, 1.0 - 1e-9)
    mg1 = rate * square / (2.0 * (1.0 - load))
    wait = kingman * (mg1 + vacation_s / 2.0)
    second = 2.0 * mg1**2 + rate * cube / (3.0 * (1.0 - load)) + vacation_s**2 / 3.0
    return wait, kingman * kingman * np.maximum(second - (mg1 + vacation_s / 2.0) ** 2, 0.0)


def normal_quantile(probability: ArrayLike) -> np.ndarray:
    """Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9)."""
    p = np.clip(np.asarray(probability, dtype=float), 1e-12, 1 - 1e-12)
    a, c, d = ACKLAM_A, ACKLAM_C, ACKLAM_D
    b = (*ACKLAM_B, ACKLAM_B_LAST)
    low = np.minimum(p, 1 - p)
    q = np.sqrt(-2 * np.log(low))
    tail = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
        (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
    )
    r = (p - MEDIAN) ** 2
    middle = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * (p - MEDIAN)
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    return np.where(low < NORMAL_LOW_REGION, np.where(p < MEDIAN, tail, -tail), middle)


def poisson_pmf(mean: ArrayLike, count: int) -> np.ndarray:
    """``P(N = k)`` for k = 0..count−1 of a Poisson count (last axis): ``p_k = p_{k−1}·μ/k``,
    summed in log space, ``exp(−μ + Σ_{j≤k} log(μ/j))``, so a mean of hundreds neither
    underflows ``e^{−μ}`` nor overflows the product."""
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-300)[..., None]
    logs = np.log(mean) - np.log(np.arange(1, count, dtype=float))
    cumulative = np.concatenate([np.zeros_like(mean), np.cumsum(logs, axis=-1)], axis=-1)
    return np.exp(cumulative - mean)


def support(mean: np.ndarray) -> int:
    """Terms of a Poisson sum that hold all but ~1e-9 of the mass for the largest mean."""
    top = float(np.max(mean)) if mean.size else 0.0
    return int(min(MAX_SUPPORT, np.ceil(top + 8.0 * np.sqrt(top) + 8.0)))


def bisect(value: Callable[[float], float], goal: float, top: float, rounds: int) -> float:
    """The upper end of ``[0, top]`` after ``rounds`` bisections on ``value(middle) < goal``
    (below: the lower end moves up to the middle, else the upper end down)."""
    bottom = 0.0
    for _ in range(rounds):
        middle = (bottom + top) / 2.0
        if value(middle) < goal:
            bottom = middle
        else:
            top = middle
    return top


def bisect_below(value: Callable[[float], float], goal: float, top: float, rounds: int) -> float:
    """The answer of :func:`bisect` for a ``value`` that does not decrease, from fewer
    evaluations: every point evaluated bounds the ``x`` where ``value`` reaches the goal
    (``below`` < x ≤ ``above``), and a middle outside that window takes the side its bound
    gives, the one ``value`` would give there; so the answer is plain bisection's. Each round
    whose middle is in the window first evaluates a regula falsi guess (Illinois: the end kept
    twice has its value halved, for the guess only), which closes the window to an ulp or so in
    a few evaluations, then the middle if still needed; guessing stops after ``GUESS_MISSES``
    guesses in a row that did not halve the window (a function of steps), so at most that many
    evaluations are spent over plain bisection's (and the ends)."""
    below, above = 0.0, top
    low_gap, high_gap = value(0.0) - goal, value(top) - goal  # the ends' values less the goal
    if low_gap >= 0.0:
        below, above = -math.inf, 0.0
    elif high_gap < 0.0:
        below, above = top, math.inf
    bottom, side, misses = 0.0, 0, 0
    for _ in range(rounds):
        middle = (bottom + top) / 2.0
        if below < middle < above and misses < GUESS_MISSES and math.isfinite(below + above):
            reach = high_gap if high_gap > 0.0 else -low_gap * 1e-3  # the goal met exactly: just below
            guess = below - low_gap * (above - below) / (reach - low_gap)
            if below < guess < above:
                width = above - below
                below, above, low_gap, high_gap, side = _illinois(
                    value, goal, guess, below, above, low_gap, high_gap, side
                )
                misses = misses + 1 if 2.0 * (above - below) > width else 0
        if below < middle < above:
            below, above, low_gap, high_gap, side = _illinois(
                value, goal, middle, below, above, low_gap, high_gap, side
            )
        if middle <= below:
            bottom = middle
        else:
            top = middle
    return top


def _illinois(
    value: Callable[[float], float], goal: float, at: float, *state: float
) -> tuple[float, float, float, float, int]:
    """``(below, above, low_gap, high_gap, side)`` after evaluating ``value`` at ``at``: it
    replaces the end on its side; the other end's gap is halved when it is kept twice."""
    below, above, low_gap, high_gap, side = state
    gap = value(at) - goal  # the side last replaced: -1 below, 1 above, 0 none yet
    if gap < 0.0:
        return at, above, gap, high_gap / 2.0 if side < 0 else high_gap, -1
    return below, at, low_gap / 2.0 if side > 0 else low_gap, gap, 1
