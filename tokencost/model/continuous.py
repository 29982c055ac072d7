"""Continuous batching at a load without chunked prefill (with it: :mod:`tokencost.model.chunked`):
Little's law for the batch and the gated-batch queue for the first token; a request's decode life
and its tails in :mod:`tokencost.model.lives`. The physics and its sources are in
:mod:`tokencost.model.steady`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import mixes, serving, slots
from tokencost.model.lives import SHARED_PASS, decode_life_s, loop_gain, tpot_percentile
from tokencost.model.memo import as_result, clip, is_scalar, maximum, minimum
from tokencost.model.queueing import (
    MAX_SUPPORT,
    bisect,
    bisect_below,
    gamma_cdf,
    gamma_quantile,
    poisson_pmf,
    support,
    vacation_wait,
)
from tokencost.model.serving import Deployment
from tokencost.model.steady import (
    GRID_POINTS,
    QUANTILE_BISECTIONS,
    OperatingPoint,
    Traffic,
    busy_fraction,
    capacity_requests_per_s,
    decode_prompt,
    new_tokens,
    prompt_prefill,
)

ArrayLike = npt.ArrayLike
_UNIT_GRID = np.linspace(0.0, 1.0, GRID_POINTS)  # the batch grid's positions in its bracket
_UNIT_GRID.setflags(write=False)


def _solve_batch(rate: np.ndarray, dep: Deployment, traffic: Traffic, prefill_s: np.ndarray) -> np.ndarray:
    """Mean sequences in decode B solving Little's law ``B = λ·T_dec(min(1 + B, cap))``, by a
    grid over [0, cap] and linear interpolation in the bracket (``D`` is piecewise linear in b
    for dense models, smooth for mixtures of experts), refined once. Arrays: one row per rate;
    a Python float rate (and ``prefill_s``): one grid, the bracket and the root as floats."""
    cap = max(float(traffic.batch_cap), 1.0)
    rows = type(rate) is not float
    rates, prefills = (rate[..., None], prefill_s[..., None]) if rows else (rate, prefill_s)

    def excess(others: np.ndarray) -> np.ndarray:
        seen = np.minimum(1.0 + others, cap)
        life = decode_life_s(dep, rates, seen, prefills, traffic)
        return rates * life - others  # type: ignore[no-any-return]

    low: Any = np.zeros_like(rate) if rows else 0.0
    high: Any = np.full_like(rate, cap) if rows else cap
    for _ in range(2):
        if rows:
            grid = low[..., None] + (high - low)[..., None] * _UNIT_GRID
        else:
            grid = low + (high - low) * _UNIT_GRID
        values = excess(grid)
        (b_lo, b_hi), (v_lo, v_hi) = _first_crossing(grid, values)
        low, high = b_lo, b_hi
    if not rows:  # np.where's choice, the division made only where it is taken
        root = b_lo + v_lo * (b_hi - b_lo) / (v_lo - v_hi) if v_hi < v_lo else b_hi
        return minimum(maximum(root, 0.0), cap)  # type: ignore[no-any-return]
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(v_hi < v_lo, b_lo + v_lo * (b_hi - b_lo) / (v_lo - v_hi), b_hi)
    return np.minimum(np.maximum(root, 0.0), cap)  # np.clip, without its wrapper


def _first_crossing(grid: np.ndarray, values: np.ndarray) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The grid's and the values' entries either side of the first value ≤ 0 along the last
    axis (the last two when none is; from the second on): as floats for one grid (1-d)."""
    negative = values <= 0
    if values.ndim == 1:
        at = max(int(negative.argmax()) if negative.any() else GRID_POINTS - 1, 1)
        return (float(grid[at - 1]), float(grid[at])), (float(values[at - 1]), float(values[at]))
    first = np.where(negative.any(axis=-1), negative.argmax(axis=-1), GRID_POINTS - 1)
    first = np.maximum(first, 1)
    return _bracket(grid, first), _bracket(values, first)


def _bracket(values: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` at ``first − 1`` and ``first`` along the last axis (one index per row); rows
    of one axis by plain indexing, which gathers the same entries as ``np.take_along_axis``."""
    if first.ndim == 1 and values.shape[:1] == first.shape and values.ndim == first.ndim + 1:
        rows = np.arange(values.shape[0])
        return values[rows, first - 1], values[rows, first]
    index = first[..., None]
    return (
        np.take_along_axis(values, index - 1, -1)[..., 0],
        np.take_along_axis(values, index, -1)[..., 0],
    )


def continuous(dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float) -> OperatingPoint:
    """The operating point under continuous batching without chunked prefill (with it:
    :func:`tokencost.model.chunked.chunked`). One
    rate that the step functions take on their floats' path (:func:`serving.one_entry`) is
    solved on Python floats, the same operations as on its one-entry array (a test checks the
    bits), and returned as one-entry arrays."""
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    one = serving.one_entry(dep, rate)
    numbers = (traffic.input_tokens, traffic.output_tokens, traffic.batch_cap, traffic.cached_tokens)
    if one is None or not is_scalar(*numbers, traffic.max_prefill_tokens, traffic.arrival_cv):
        return _continuous(dep, rate, rate, traffic, percentile)
    point = _continuous(dep, rate, one, traffic, percentile)
    kept = (0, CAPACITY_FIELD)  # the rate given, and the capacity (a float either way)
    return OperatingPoint._make(
        [value if index in kept else np.asarray(value).reshape(1) for index, value in enumerate(point)]
    )


CAPACITY_FIELD = OperatingPoint._fields.index("capacity_per_s")


def _continuous(
    dep: Deployment, given: np.ndarray, rate: Any, traffic: Traffic, percentile: float
) -> OperatingPoint:
    """:func:`continuous` without chunking at ``rate`` (an array, or one Python float: its
    fields then floats); ``given``: the rates as the caller gave them."""
    prompt, out = decode_prompt(traffic), traffic.output_tokens  # the decode's (prefill: prompt_prefill)
    prefill_s = float(prompt_prefill(dep, traffic).time_s)
    capacity = capacity_requests_per_s(dep, traffic.batch_cap, traffic)
    saturated = rate >= capacity * (1.0 - 1e-9)
    below = capacity * (1.0 - 1e-6)
    rate_ok: Any = (below if saturated else rate) if type(rate) is float else np.where(saturated, below, rate)
    per_prompt = _prefill_per_prompt(dep, rate_ok, prefill_s, traffic)
    prefill_busy = rate_ok * per_prompt
    batch = _solve_batch(rate_ok, dep, traffic, per_prompt)
    seen = minimum(1.0 + batch, max(traffic.batch_cap, 1.0))
    decode_s = decode_life_s(dep, rate_ok, seen, per_prompt, traffic)
    steps = float(fl.decode_steps(out))
    tpot = (
        decode_s / steps
        if steps > 0
        else np.asarray(serving.decode_step(dep, seen, prompt).time_s, dtype=float) * np.ones_like(rate)
    )
    ttft, wait, ttft_p, busy = _gated_ttft(dep, rate_ok, batch, prefill_s, traffic, decode_s, percentile)
    ttft, wait, ttft_p = slots.with_slot_wait(
        dep, rate_ok, batch, per_prompt, traffic, float(capacity), (ttft, wait, ttft_p), percentile
    )
    tpot_p = tpot_percentile(dep, rate_ok, batch, seen, prefill_s, traffic, decode_s, tpot, percentile)
    fields = (
        batch,
        tpot,
        decode_s,
        ttft,
        wait,
        ttft_p,
        tpot_p,
        busy,
        prefill_busy,
        saturated,
        capacity,
        seen,
    )
    return OperatingPoint(given, *fields)


def _prefill_per_prompt(dep: Deployment, rate: Any, prefill_s: float, traffic: Traffic) -> Any:
    """Replica seconds of prefill per prompt: the prompts that arrive during one iteration share a
    pass (weights read once), so each costs ``T_prefill(n)/n`` with n the mean size of a pass that
    has any, ``m/(1 − e^{−m})`` for a Poisson count of mean m = λ·τ (at most what the pass's
    token budget admits); τ from a first solve with one prompt per pass. For prompts long enough
    to be compute-bound this is T_p itself. (A Python float rate gives a float.)"""
    per_pass = max(1.0, float(np.floor(traffic.max_prefill_tokens / new_tokens(traffic))))
    single: Any = prefill_s if type(rate) is float else np.full_like(rate, prefill_s)
    if per_pass <= 1:
        return single
    steps = max(float(fl.decode_steps(traffic.output_tokens)), 1.0)
    batch = _solve_batch(rate, dep, traffic, single)
    seen = minimum(1.0 + batch, max(traffic.batch_cap, 1.0))
    iteration = decode_life_s(dep, rate, seen, single, traffic) / steps
    arrivals = maximum(rate * iteration, 1e-12)
    shortfall = np.expm1(-arrivals)  # numpy's expm1 on a float too, as on an array
    together = clip(arrivals / -(float(shortfall) if type(arrivals) is float else shortfall), 1.0, per_pass)
    return as_result(prompt_prefill(dep, traffic, together).time_s) / together


class _Gated(NamedTuple):
    """The mixture a request arriving at a busy replica sees (arrays over rate × n × m)."""

    weight: np.ndarray  # probability of (iteration with n prompts, m other prompts joining)
    iteration_s: np.ndarray  # length of the iteration it arrives in
    pass_s: np.ndarray  # its own prefill pass (with the m others, in budget-sized groups)


def _gated(
    dep: Deployment, rate: np.ndarray, step_s: np.ndarray, prefill_s: float, traffic: Traffic
) -> _Gated:
    """Gated batch service: iterations of ``t_d + T_prefill(n prompts)``, n Poisson with mean
    ``λ·τ̄`` (τ̄ = t_d/(1 − λT_p)); the arrival lands in one with probability ∝ its length, waits
    a uniform share of it, then is prefilled with the m ~ Poisson(λ·τ_n) others that arrived in
    it; prompts beyond the budget of one pass go in later passes (its place among them uniform)."""
    per_pass = max(1.0, float(np.floor(traffic.max_prefill_tokens / new_tokens(traffic))))
    load = np.minimum(rate * prefill_s, 1.0 - 1e-9)
    mean_n = rate * step_s / (1.0 - load)
    n_count = support(mean_n)
    n = np.arange(n_count, dtype=float)
    # Every pass the mixture gathers, in one table: n − 1 < n_count, and its own group's
    # min(group, per_pass) ≤ per_pass and ≤ m_count ≤ MAX_SUPPORT (support's bound).
    table = _pass_times(dep, traffic, max(n_count - 1, 1, int(min(per_pass, MAX_SUPPORT))))
    pass_n = np.where(n > 0, table[np.maximum(np.arange(n_count) - 1, 0)], 0.0)
    pass_n, chance = mixes.spread(dep, traffic, prefill_s, pass_n, n, poisson_pmf(mean_n, n_count))
    iteration = step_s[..., None] + pass_n  # rate × n (a length mix: × its classes, flattened)
    weight_n = chance * iteration
    total = weight_n.sum(axis=-1, keepdims=True)
    last = np.zeros_like(weight_n)
    last[..., -1] = 1.0  # a mean beyond the support (a saturated replica): all at its end
    weight_n = np.where(total > 0, weight_n / np.where(total > 0, total, 1.0), last)
    m_count = support(rate[..., None] * iteration)
    p_m = poisson_pmf(rate[..., None] * iteration, m_count)  # rate × n × m
    group = 1.0 + np.arange(m_count, dtype=float)
    full = float(prompt_prefill(dep, traffic, per_pass).time_s)
    ahead = np.floor(group / 2.0 / per_pass)  # passes of per_pass prompts before its own, on average
    own = np.minimum(group, per_pass)
    pass_s = table[own.astype(np.intp) - 1] + ahead * (step_s[..., None, None] + full)
    return _Gated(weight_n[..., None] * p_m, iteration[..., None], np.broadcast_to(pass_s, p_m.shape))


def _pass_times(dep: Deployment, traffic: Traffic, top: int) -> np.ndarray:
    """Seconds of a prefill pass of 1, 2, …, ``top`` prompts: entry k − 1 is what
    ``prompt_prefill`` gives at k in any array, entry by entry the same operations, so the
    mixture's passes of n and of its own group are gathered from one table, made in one call."""
    return np.asarray(prompt_prefill(dep, traffic, np.arange(1.0, top + 1.0)).time_s, dtype=float)


def _gated_ttft(
    dep: Deployment,
    rate: np.ndarray,
    batch: np.ndarray,
    prefill_s: float,
    traffic: Traffic,
    decode_s: np.ndarray,
    percentile: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean TTFT, its queueing part, its percentile and the busy fraction.

    Prompts that fit several to a pass: the gated batch mixture (:func:`_gated`). Prompts that
    fill a pass alone: M/G/1 with vacations — one prompt per iteration of ``S = t_d + T_p``,
    decode-only iterations of ``t_d`` between, ``W = λE[S²]/(2(1 − λS))·k + t_d/2`` with k the
    Kingman factor ``(c_a² + 0)/2·2``; its percentile from a gamma with ``E[W²] = 2W² + λE[S³]/(3(1−ρ))``.
    A Python float rate (batch and decode seconds): the busy share and the step on floats, the
    rest on one-entry arrays (numpy's ** on a number is the C library's pow).
    """
    prompt = decode_prompt(traffic)
    busy = busy_fraction(rate * (prefill_s + decode_s))
    running = maximum(batch / maximum(busy, 1e-12), 1.0)
    step = serving.decode_step(dep, running, prompt).time_s
    if type(rate) is float:
        rate, batch, busy, step_s = (np.array([value], dtype=float) for value in (rate, batch, busy, step))
    else:
        step_s = np.asarray(step, dtype=float) * np.ones_like(rate)
    kingman, own = traffic.arrival_cv**2, mixes.own_prefill_s(dep, traffic)  # a mix: each class's
    per_pass = np.floor(traffic.max_prefill_tokens / new_tokens(traffic))
    if per_pass >= SHARED_PASS:
        mix = _gated(dep, rate, step_s, prefill_s, traffic)
        waits = mix.iteration_s / 2.0 + mix.pass_s - prefill_s
        wait_busy = kingman * (mix.weight * waits).sum(axis=(-1, -2))
        target = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
        excess = _mixture_quantile(mix, target, kingman, prefill_s)
        cdf = None if own is None else _classes_cdf(mix, prefill_s, kingman, own.size)
    else:
        service = step_s + prefill_s if own is None else step_s[..., None] + own
        wait_busy, variance = vacation_wait(rate, service, step_s, kingman)
        # The prompts' queue and the batch feed each other (a longer queue, a larger batch, slower
        # iterations): the wait's variance grows by 1/(1 − g) (one pass of the loop: the queue's
        # own M/G/1 variance already holds the service's).
        seen = np.minimum(1.0 + batch, max(traffic.batch_cap, 1.0))
        variance = variance / (1.0 - loop_gain(dep, rate, seen, prefill_s, traffic))
        target = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
        excess = np.where(target > 0, gamma_quantile(wait_busy, variance, np.clip(target, 0, 1)), 0.0)
        cdf = lambda x: gamma_cdf(wait_busy[..., None], variance[..., None], x)  # noqa: E731
    wait = busy * wait_busy
    if own is None or cdf is None:
        return prefill_s + wait, wait, prefill_s + excess, busy
    top = float(np.max(own)) + excess
    return prefill_s + wait, wait, mixes.own_quantile(cdf, own, busy, percentile, top), busy


def _classes_cdf(
    mix: _Gated, prefill_s: float, kingman: float, classes: int
) -> Callable[[np.ndarray], np.ndarray]:
    """The wait's CDF over the gated mixture (:func:`_mixture_cdf`) at waits of rates × ``classes``."""
    grown = _Gated(*(value[:, None] for value in mix))  # a class axis: rates × classes × n × m
    shift = (mix.pass_s - prefill_s)[:, None]
    scratch = np.empty((mix.weight.shape[0], classes, *mix.weight.shape[1:]))
    return lambda x: _mixture_cdf(grown, shift, x[..., None, None], kingman, scratch)


def _mixture_quantile(mix: _Gated, target: np.ndarray, kingman: float, prefill_s: float) -> np.ndarray:
    """Quantile of ``U·τ + pass − T_p`` over the gated mixture, by bisection on its CDF."""
    low = np.zeros_like(target)
    high = kingman * (mix.iteration_s + mix.pass_s).max(axis=(-1, -2)) + 1e-12
    shift = mix.pass_s - prefill_s
    scratch = np.empty(np.broadcast_shapes(shift.shape, mix.weight.shape, mix.iteration_s.shape))
    if target.shape == (1,):  # one rate: the bracket as floats, the same comparisons
        goal, top = float(target[0]), float(high[0])

        def cdf(wait_s: float) -> float:
            return float(_mixture_cdf(mix, shift, wait_s, kingman, scratch)[0])

        solve = bisect_below if _monotone(mix, shift, kingman, goal, top) else bisect  # same answer
        return np.where(target > 0, solve(cdf, goal, top, QUANTILE_BISECTIONS), 0.0)
    for _ in range(QUANTILE_BISECTIONS):
        middle = (low + high) / 2.0
        below = _mixture_cdf(mix, shift, middle[..., None, None], kingman, scratch) < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.where(target > 0, high, 0.0)


def _monotone(mix: _Gated, shift: np.ndarray, kingman: float, goal: float, top: float) -> bool:
    """The mixture's CDF as computed in floats does not decrease with the wait (each of its
    operations is monotone, and so is a rounded sum of non-decreasing terms): finite numbers,
    weights ≥ 0, iterations > 0 and a Kingman factor > 0 (so :func:`bisect_below` applies)."""
    if not (0.0 < kingman < math.inf and math.isfinite(goal) and math.isfinite(top)):
        return False
    weight, iteration = mix.weight, mix.iteration_s
    finite = np.isfinite(weight).all() and np.isfinite(shift).all() and np.isfinite(iteration).all()
    return bool(finite and (weight >= 0.0).all() and (iteration > 0.0).all())


def _mixture_cdf(
    mix: _Gated, shift: np.ndarray, wait_s: float | np.ndarray, kingman: float, scratch: np.ndarray
) -> np.ndarray:
    """``P(U·τ + pass − T_p ≤ w/k)`` over the gated mixture (one value per rate); each step
    written into ``scratch`` (the mixture's shape), the same operations without allocating."""
    x = np.subtract(wait_s / kingman, shift, out=scratch)
    share = np.divide(x, mix.iteration_s, out=x)
    share = np.minimum(np.maximum(share, 0.0, out=share), 1.0, out=share)  # np.clip, without its wrapper
    return np.add.reduce(np.multiply(mix.weight, share, out=share), axis=(-1, -2))  # type: ignore[no-any-return]
