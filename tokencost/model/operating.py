"""The operating point: what a replica does at the load it is given, not at the batch that fits.

With continuous batching (Orca; vLLM) the number of sequences in decode is set by the load until
memory or the latency target caps it. By Little's law (L = λW) the mean number in decode is
``B = λ · T_dec``, the arrival rate per replica times the time a request spends decoding, and
``T_dec`` itself grows with ``B`` (each step reads more KV cache, and a larger batch turns
compute-bound): the operating point is the fixed point of the two. Every function here takes its
step times from :mod:`tokencost.model.serving`; none has physics of its own.

**Interference** (Sarathi-Serve, Agrawal et al. 2024 §2; DistServe, Zhong et al. 2024 §2.2).
Without chunked prefill an iteration that admits prompts runs their prefill pass and then the
decode step (vLLM's default scheduler). A replica then spends ``ρ_p = λ·T_p`` of its time
prefilling, and a sequence's decode steps advance only in the rest:
``T_dec = D(B) / (1 − ρ_p)``, where ``D(B)`` is the sum of the decode steps at batch B. At full
capacity this is ``TPOT = D(B)/(O−1) + B·T_p/(O−1)``: the prefills of B newcomers spread over
the O−1 steps of a response. With chunked prefill, prompt chunks ride in the decode iterations
under a token budget, so each iteration is one fused pass (compute adds, the weights are read
once); under static batching a batch of B prompts is prefilled together and then decoded with
no interruption.

**Queueing.** A request arriving while the replica is busy waits for the iteration in progress
to end, then is prefilled together with everything that arrived during that iteration (gated
batch service). Its mean wait is the mean residual life of an iteration, ``E[τ²]/(2·E[τ])``,
the length-biased (inspection-paradox) residual of renewal theory, with the number of prompts
per iteration Poisson (Harchol-Balter 2013, ch. 23 "The inspection paradox" and ch. 26 "M/G/1").
When prompts are long enough that the prefill budget admits fewer per iteration than arrive, the
prompts queue for iterations: an M/D/1 queue on those admission slots (Pollaczek–Khinchine mean
wait ``ρ·S / (2(1−ρ))``), scaled by Kingman's ``(c_a² + c_s²)/2`` for bursty arrivals (c_a from
the traffic's coefficient of variation, c_s = 0 for the deterministic slots, so Poisson gives
the P–K mean). Percentiles use a gamma distribution matched to the mean and variance of the
waiting part (Wilson–Hilferty cube-root approximation of its quantile), conditioned on the
arrival finding the replica busy.

Arrays broadcast over the request rate per replica, so a load curve is one call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.model.serving import Deployment

ArrayLike = npt.ArrayLike

GRID_POINTS = 65
CHUNKED_ITERATIONS = 60
Z_BY_PERCENTILE = {50.0: 0.0, 90.0: 1.2815515655446004, 95.0: 1.6448536269514722, 99.0: 2.3263478740408408}
BATCH_AVERAGE_VARIANCE_FRACTION = 2.0 / 3.0
SATURATION_GUARD = 1e-12
MAX_SUPPORT = 400
QUANTILE_BISECTIONS = 40


class Traffic(NamedTuple):
    """How the replica is driven (scalars)."""

    input_tokens: float
    output_tokens: float
    batch_cap: float  # most sequences in the batch (memory, SLO or engine limit)
    batching: str = "continuous"  # or "static"
    chunk_tokens: float | None = None  # chunked-prefill token budget per iteration
    max_prefill_tokens: float = 8192.0  # prompt tokens admitted per iteration without chunking
    arrival_cv: float = 1.0  # coefficient of variation of the gaps between arrivals (Poisson: 1)


class OperatingPoint(NamedTuple):
    """The steady state of one replica at a request rate (arrays; seconds, counts, fractions)."""

    request_rate_per_s: np.ndarray  # per replica
    batch: np.ndarray  # mean sequences in decode (time average)
    tpot_s: np.ndarray  # mean time per output token, interference included
    decode_time_s: np.ndarray  # mean seconds a request spends in decode
    ttft_s: np.ndarray  # mean time to first token, queueing included
    queue_wait_s: np.ndarray  # mean of ttft_s spent before the request's own prefill pass
    ttft_p_s: np.ndarray  # TTFT at the requested percentile
    tpot_p_s: np.ndarray  # TPOT at the requested percentile
    busy_fraction: np.ndarray  # share of time the replica is running anything
    prefill_busy_fraction: np.ndarray  # share of time it spends on prefill work
    saturated: np.ndarray  # bool: the load exceeds what the replica can serve at its cap
    capacity_per_s: np.ndarray  # requests/s the replica serves at its batch cap


def capacity_tpot_s(dep: Deployment, batch: ArrayLike, traffic: Traffic) -> np.ndarray:
    """Mean TPOT of a replica kept full at batch B: ``(D(B) + (B − 1)·T_p)/(O − 1)`` under
    continuous batching (while a response decodes, each of the B − 1 others finishes once and
    the newcomer that takes its place is prefilled, stalling every step), ``D(B)/(O − 1)`` under
    static batching. The step at context P when O = 1."""
    prompt, out = traffic.input_tokens, traffic.output_tokens
    batch = np.asarray(batch, dtype=float)
    if out <= 1:
        return np.asarray(serving.decode_step(dep, batch, prompt).time_s, dtype=float)
    steps = float(fl.decode_steps(out))
    decode = serving.decode_total_time_s(dep, batch, prompt, out)
    if traffic.batching == "static":
        return np.asarray(decode / steps, dtype=float)
    prefill_s = float(serving.prefill(dep, prompt).time_s)
    return np.asarray((decode + np.maximum(batch - 1.0, 0.0) * prefill_s) / steps, dtype=float)


def capacity_requests_per_s(dep: Deployment, batch: ArrayLike, traffic: Traffic) -> np.ndarray:
    """Requests/s of a replica kept full at batch B: ``1/(T_p + D(B)/B)`` (continuous), or
    ``B/(T_prefill(B prompts) + D(B))`` (static: one batch at a time)."""
    prompt, out = traffic.input_tokens, traffic.output_tokens
    batch = np.asarray(batch, dtype=float)
    decode = serving.decode_total_time_s(dep, batch, prompt, out)
    if traffic.batching == "static":
        cycle = serving.prefill(dep, prompt, batch).time_s + decode
        return np.asarray(batch / cycle, dtype=float)
    prefill_s = float(serving.prefill(dep, prompt).time_s)
    return np.asarray(1.0 / (prefill_s + decode / batch), dtype=float)


def gamma_quantile(mean: ArrayLike, variance: ArrayLike, probability: ArrayLike) -> np.ndarray:
    """Quantile of a gamma distribution with this mean and variance (Wilson–Hilferty 1931:
    ``k·θ·(1 − 1/(9k) + z·√(1/(9k)))³`` with shape ``k = m²/v``); the mean when v = 0."""
    mean = np.asarray(mean, dtype=float)
    variance = np.maximum(np.asarray(variance, dtype=float), 0.0)
    z = normal_quantile(probability)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(variance > 0, mean * mean / variance, np.inf)
        ninth = np.where(np.isfinite(shape), 1.0 / (9.0 * shape), 0.0)
        cube = np.maximum(1.0 - ninth + z * np.sqrt(ninth), 0.0) ** 3
    return np.where(mean > 0, mean * cube, 0.0)


def normal_quantile(probability: ArrayLike) -> np.ndarray:
    """Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9)."""
    p = np.clip(np.asarray(probability, dtype=float), 1e-12, 1 - 1e-12)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02)
    a = (*a, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01)
    b = (*b, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00)
    c = (*c, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    low = np.minimum(p, 1 - p)
    q = np.sqrt(-2 * np.log(low))
    tail = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
        (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
    )
    r = (p - 0.5) ** 2
    middle = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * (p - 0.5)
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    return np.where(low < 0.02425, np.where(p < 0.5, tail, -tail), middle)


def _decode_time_on_grid(dep: Deployment, traffic: Traffic, batch: np.ndarray) -> np.ndarray:
    """``D(b)``: seconds of a response's decode steps at batch b (the step at P when O = 1)."""
    prompt, out = traffic.input_tokens, traffic.output_tokens
    if out <= 1:
        return np.zeros_like(batch)
    return np.asarray(serving.decode_total_time_s(dep, batch, prompt, out), dtype=float)


def _decode_life_s(
    dep: Deployment, rate: np.ndarray, seen: np.ndarray, prefill_s: float, traffic: Traffic
) -> np.ndarray:
    """Mean seconds a request spends in decode when the batch it sees is ``seen`` (broadcasts).

    Its steps take ``D(seen)`` and advance only while the replica is not prefilling:
    ``D/(1 − λT_p)``. When prompts are too long to share a pass, they queue for the prefill
    slots (an M/D/1 server of service ``S = T_p + t_d``), and a request that finishes its
    prefill inside a busy period of that server first waits out the rest of it: the prompts
    after it in that busy period, ``((E[N²]/E[N]) − 1)/2`` with N the number served in a busy
    period, ``E[N] = 1/(1 − ρ)``, ``Var N = ρ/(1 − ρ)³`` (M/D/1; Harchol-Balter 2013 ch. 27).
    """
    decode = _decode_time_on_grid(dep, traffic, seen)
    load = rate * prefill_s
    life = decode / np.maximum(1.0 - load, SATURATION_GUARD)
    per_pass = np.floor(traffic.max_prefill_tokens / max(traffic.input_tokens, 1.0))
    steps = float(fl.decode_steps(traffic.output_tokens))
    if per_pass >= 2 or steps <= 0:
        return life
    service = prefill_s + decode / steps
    rho = np.minimum(rate * service, 1.0 - 1e-9)
    after = (rho / (1.0 - rho) ** 2 + rho / (1.0 - rho)) / 2.0
    return life + after * prefill_s


def _solve_batch(rate: np.ndarray, dep: Deployment, traffic: Traffic, prefill_s: float) -> np.ndarray:
    """Mean sequences in decode B solving Little's law ``B = λ·T_dec(min(1 + B, cap))``, by a
    grid over [0, cap] and linear interpolation in the bracket (``D`` is piecewise linear in b
    for dense models, smooth for mixtures of experts), refined once."""
    cap = max(float(traffic.batch_cap), 1.0)

    def excess(others: np.ndarray) -> np.ndarray:
        seen = np.minimum(1.0 + others, cap)
        return rate[..., None] * _decode_life_s(dep, rate[..., None], seen, prefill_s, traffic) - others

    low = np.zeros_like(rate)
    high = np.full_like(rate, cap)
    for _ in range(2):
        grid = low[..., None] + (high - low)[..., None] * np.linspace(0.0, 1.0, GRID_POINTS)
        values = excess(grid)
        negative = values <= 0
        first = np.where(negative.any(axis=-1), negative.argmax(axis=-1), GRID_POINTS - 1)
        first = np.maximum(first, 1)
        index = first[..., None]
        b_lo, b_hi = np.take_along_axis(grid, index - 1, -1)[..., 0], np.take_along_axis(grid, index, -1)[..., 0]
        v_lo, v_hi = np.take_along_axis(values, index - 1, -1)[..., 0], np.take_along_axis(values, index, -1)[..., 0]
        low, high = b_lo, b_hi
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(v_hi < v_lo, b_lo + v_lo * (b_hi - b_lo) / (v_lo - v_hi), b_hi)
    return np.clip(root, 0.0, cap)


def _busy_fraction(in_system: np.ndarray) -> np.ndarray:
    """Share of time a replica holds any request: ``1 − e^{−L}`` with L the mean number in the
    system (the number in an M/G/∞-like system is Poisson; exact in the light-load limit, where
    it is λ × time in system, and → 1 when the replica always has work)."""
    return 1.0 - np.exp(-np.maximum(in_system, 0.0))


def continuous(dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float) -> OperatingPoint:
    """The operating point under continuous batching (chunked prefill when a budget is set)."""
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    if traffic.chunk_tokens is not None:
        return _chunked(dep, rate, traffic, percentile)
    prompt, out = traffic.input_tokens, traffic.output_tokens
    prefill_s = float(serving.prefill(dep, prompt).time_s)
    capacity = capacity_requests_per_s(dep, traffic.batch_cap, traffic)
    saturated = rate >= capacity * (1.0 - 1e-9)
    rate_ok = np.where(saturated, capacity * (1.0 - 1e-6), rate)
    prefill_busy = rate_ok * prefill_s
    batch = _solve_batch(rate_ok, dep, traffic, prefill_s)
    seen = np.minimum(1.0 + batch, max(traffic.batch_cap, 1.0))
    decode_s = _decode_life_s(dep, rate_ok, seen, prefill_s, traffic)
    steps = float(fl.decode_steps(out))
    tpot = (
        decode_s / steps
        if steps > 0
        else np.asarray(serving.decode_step(dep, seen, prompt).time_s, dtype=float) * np.ones_like(rate)
    )
    ttft, wait, ttft_p, busy = _gated_ttft(dep, rate_ok, batch, prefill_s, traffic, decode_s, percentile)
    tpot_p = _tpot_percentile(dep, rate_ok, batch, seen, prefill_s, traffic, decode_s, tpot, percentile)
    return OperatingPoint(
        rate, batch, tpot, decode_s, ttft, wait, ttft_p, tpot_p, busy, prefill_busy, saturated, capacity
    )


def poisson_pmf(mean: ArrayLike, count: int) -> np.ndarray:
    """``P(N = k)`` for k = 0..count−1 of a Poisson count (last axis), by the recursion
    ``p_k = p_{k−1}·μ/k``."""
    mean = np.asarray(mean, dtype=float)[..., None]
    ratios = mean / np.arange(1, count, dtype=float)
    head = np.exp(-mean)
    return np.concatenate([head, head * np.cumprod(ratios, axis=-1)], axis=-1)


def _support(mean: np.ndarray) -> int:
    """Terms of a Poisson sum that hold all but ~1e-9 of the mass for the largest mean."""
    top = float(np.max(mean)) if mean.size else 0.0
    return int(min(MAX_SUPPORT, np.ceil(top + 8.0 * np.sqrt(top) + 8.0)))


class _Gated(NamedTuple):
    """The mixture a request arriving at a busy replica sees (arrays over rate × n × m)."""

    weight: np.ndarray  # probability of (iteration with n prompts, m other prompts joining)
    iteration_s: np.ndarray  # length of the iteration it arrives in
    pass_s: np.ndarray  # its own prefill pass (with the m others, in budget-sized groups)


def _gated(dep: Deployment, rate: np.ndarray, step_s: np.ndarray, prefill_s: float, traffic: Traffic) -> _Gated:
    """Gated batch service: iterations of ``t_d + T_prefill(n prompts)``, n Poisson with mean
    ``λ·τ̄`` (τ̄ = t_d/(1 − λT_p)); the arrival lands in one with probability ∝ its length, waits
    a uniform share of it, then is prefilled with the m ~ Poisson(λ·τ_n) others that arrived in
    it; prompts beyond the budget of one pass go in later passes (its place among them uniform)."""
    prompt = traffic.input_tokens
    per_pass = max(1.0, float(np.floor(traffic.max_prefill_tokens / max(prompt, 1.0))))
    load = np.minimum(rate * prefill_s, 1.0 - 1e-9)
    mean_n = rate * step_s / (1.0 - load)
    n_count = _support(mean_n)
    n = np.arange(n_count, dtype=float)
    pass_n = np.where(n > 0, serving.prefill(dep, prompt, np.maximum(n, 1.0)).time_s, 0.0)
    iteration = step_s[..., None] + pass_n  # rate × n
    weight_n = poisson_pmf(mean_n, n_count) * iteration
    weight_n /= weight_n.sum(axis=-1, keepdims=True)
    m_count = _support(rate[..., None] * iteration)
    p_m = poisson_pmf(rate[..., None] * iteration, m_count)  # rate × n × m
    group = 1.0 + np.arange(m_count, dtype=float)
    full = float(serving.prefill(dep, prompt, per_pass).time_s)
    ahead = np.floor(group / 2.0 / per_pass)  # passes of per_pass prompts before its own, on average
    own = np.minimum(group, per_pass)
    pass_s = np.asarray(serving.prefill(dep, prompt, own).time_s) + ahead * (step_s[..., None, None] + full)
    return _Gated(weight_n[..., None] * p_m, iteration[..., None], np.broadcast_to(pass_s, p_m.shape))


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
    """
    prompt = traffic.input_tokens
    busy = _busy_fraction(rate * (prefill_s + decode_s))
    running = np.maximum(batch / np.maximum(busy, 1e-12), 1.0)
    step_s = np.asarray(serving.decode_step(dep, running, prompt).time_s, dtype=float) * np.ones_like(rate)
    kingman = traffic.arrival_cv**2
    per_pass = np.floor(traffic.max_prefill_tokens / max(prompt, 1.0))
    if per_pass >= 2:
        mix = _gated(dep, rate, step_s, prefill_s, traffic)
        waits = mix.iteration_s / 2.0 + mix.pass_s - prefill_s
        wait_busy = kingman * (mix.weight * waits).sum(axis=(-1, -2))
        target = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
        excess = _mixture_quantile(mix, target, kingman, prefill_s)
    else:
        service = step_s + prefill_s
        load = np.minimum(rate * service, 1.0 - 1e-9)
        mg1 = rate * service**2 / (2.0 * (1.0 - load))
        wait_busy = kingman * (mg1 + step_s / 2.0)
        second = 2.0 * mg1**2 + rate * service**3 / (3.0 * (1.0 - load)) + step_s**2 / 3.0
        variance = kingman * kingman * np.maximum(second - (mg1 + step_s / 2.0) ** 2, 0.0)
        target = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
        excess = np.where(target > 0, gamma_quantile(wait_busy, variance, np.clip(target, 0, 1)), 0.0)
    wait = busy * wait_busy
    return prefill_s + wait, wait, prefill_s + excess, busy


def _mixture_quantile(mix: _Gated, target: np.ndarray, kingman: float, prefill_s: float) -> np.ndarray:
    """Quantile of ``U·τ + pass − T_p`` over the gated mixture, by bisection on its CDF."""
    low = np.zeros_like(target)
    high = kingman * (mix.iteration_s + mix.pass_s).max(axis=(-1, -2)) + 1e-12
    for _ in range(QUANTILE_BISECTIONS):
        middle = (low + high) / 2.0
        x = middle[..., None, None] / kingman - (mix.pass_s - prefill_s)
        cdf = (mix.weight * np.clip(x / mix.iteration_s, 0.0, 1.0)).sum(axis=(-1, -2))
        below = cdf < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.where(target > 0, high, 0.0)


def _tpot_percentile(
    dep: Deployment,
    rate: np.ndarray,
    batch: np.ndarray,
    seen: np.ndarray,
    prefill_s: float,
    traffic: Traffic,
    decode_s: np.ndarray,
    tpot: np.ndarray,
    percentile: float,
) -> np.ndarray:
    """TPOT at a percentile: a response's steps carry a Poisson number of prefill passes (mean
    λ·T_dec) and a batch that fluctuates about its mean (its average over the response has about
    2/3 of a Poisson count's variance, as for an M/G/∞ count averaged over one service time)."""
    steps = float(fl.decode_steps(traffic.output_tokens))
    if steps <= 0:
        return tpot
    cap = max(traffic.batch_cap, 1.0)
    slope = _decode_time_on_grid(dep, traffic, np.minimum(seen + 1.0, cap)) - _decode_time_on_grid(
        dep, traffic, seen
    )
    passes = rate * decode_s
    # A response's life grows with every prefill that interrupts it, during which more arrive: the
    # count is that of an M/D/1 busy period started by D, variance λD/(1 − a)³ = mean/(1 − a)².
    growth = np.maximum(1.0 - rate * prefill_s, 1e-9) ** 2
    variance = (prefill_s**2 * passes / growth + slope**2 * BATCH_AVERAGE_VARIANCE_FRACTION * batch) / steps**2
    floor = _decode_time_on_grid(dep, traffic, np.ones_like(rate)) / steps
    excess_mean = np.maximum(tpot - floor, 0.0)
    return floor + gamma_quantile(excess_mean, variance, percentile / 100.0)


def _chunked(dep: Deployment, rate: np.ndarray, traffic: Traffic, percentile: float) -> OperatingPoint:
    """Chunked prefill (Sarathi-Serve): each iteration is one fused pass of the decode step and
    ``λ·τ·P`` prompt tokens, the same combination :mod:`tokencost.sim.steps` uses. Fixed point in
    (B, τ) by iteration; saturated when the chunks outgrow the budget left by the decodes."""
    prompt, out = traffic.input_tokens, traffic.output_tokens
    budget = float(traffic.chunk_tokens or 0.0)
    cap = max(traffic.batch_cap, 1.0)
    steps = float(fl.decode_steps(out))
    pre = serving.prefill(dep, prompt)
    empty = serving.prefill(dep, 0.0)
    context = float(serving.mean_decode_context(prompt, out))
    batch = np.zeros_like(rate)
    iteration = np.full_like(rate, float(serving.decode_step(dep, 1.0, context).time_s))
    for _ in range(CHUNKED_ITERATIONS):
        seen = np.minimum(1.0 + batch, cap)
        step = serving.decode_step(dep, seen, context)
        tokens = np.minimum(rate * iteration * prompt, np.maximum(budget - seen, 1.0))
        chunk = serving.prefill(dep, tokens)
        compute = step.compute_s + rate * iteration * pre.compute_s
        memory = step.memory_s + chunk.memory_s - empty.memory_s
        comm = step.comm_s + chunk.comm_s
        iteration = np.maximum(compute, memory) + comm + dep.step_overhead_s
        batch = np.minimum(rate * iteration * max(steps, 1.0), cap)
    seen = np.minimum(1.0 + batch, cap)
    room = np.maximum(budget - seen, 1.0)
    token_load = rate * iteration * prompt / room
    capacity = capacity_requests_per_s(dep, traffic.batch_cap, traffic._replace(chunk_tokens=None))
    saturated = (token_load >= 1.0) | (rate >= capacity) | (batch >= cap - 1e-9) & (rate * iteration * max(steps, 1) > cap)
    decode_s = iteration * steps
    tpot = iteration if steps > 0 else iteration
    prefill_busy = np.minimum(rate * iteration * pre.compute_s / np.maximum(iteration, 1e-30), 1.0)
    busy = _busy_fraction(rate * (decode_s + iteration))
    service = iteration * np.maximum(prompt / room, 1.0)
    load = np.minimum(rate * service, 1.0 - 1e-9)
    queue = (traffic.arrival_cv**2 / 2.0) * load * service / (1.0 - load)
    wait = busy * (iteration / 2.0 + queue)
    ttft = wait + service
    variance = iteration**2 / 12.0 + queue**2
    conditional = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
    ttft_p = service + np.where(conditional > 0, gamma_quantile(wait / np.maximum(busy, 1e-12), variance, conditional), 0.0)
    tpot_p = tpot * (1.0 + 0.0 * rate)
    return OperatingPoint(
        rate, batch, tpot, decode_s, ttft, wait, ttft_p, tpot_p, busy, prefill_busy, saturated, capacity
    )


def static(dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float) -> OperatingPoint:
    """Static batching: the requests waiting when a batch ends form the next (at most the cap),
    are prefilled together (TTFT holds the whole batch's prefill) and decode without
    interruption. The batch solves ``B = λ·C(B)`` with ``C(B) = T_prefill(B) + D(B)`` the cycle."""
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    prompt, out = traffic.input_tokens, traffic.output_tokens
    cap = max(traffic.batch_cap, 1.0)
    steps = float(fl.decode_steps(out))
    capacity = capacity_requests_per_s(dep, cap, traffic)
    saturated = rate >= capacity * (1.0 - 1e-9)
    batch = np.ones_like(rate)
    for _ in range(CHUNKED_ITERATIONS):
        cycle = serving.prefill(dep, prompt, batch).time_s + _decode_time_on_grid(dep, traffic, batch)
        batch = np.clip(rate * cycle, 1.0, cap)
    pass_s = np.asarray(serving.prefill(dep, prompt, batch).time_s, dtype=float)
    decode_s = _decode_time_on_grid(dep, traffic, batch)
    cycle = pass_s + decode_s
    busy = np.minimum(rate * cycle / batch, 1.0)
    wait = busy * cycle / 2.0  # uniform arrival within the cycle in progress
    tpot = (
        decode_s / steps if steps > 0 else np.asarray(serving.decode_step(dep, batch, prompt).time_s)
    ) * np.ones_like(rate)
    conditional = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
    ttft_p = pass_s + np.where(conditional > 0, conditional * cycle, 0.0)
    prefill_busy = busy * pass_s / cycle
    in_decode = rate * decode_s
    return OperatingPoint(
        rate, in_decode, tpot, decode_s, pass_s + wait, wait, ttft_p, tpot, busy, prefill_busy, saturated, capacity
    )


def fixed_batch(dep: Deployment, batch: float, traffic: Traffic) -> OperatingPoint:
    """A replica held at exactly B sequences (a benchmark at fixed batch or concurrency with no
    think time): throughput is the capacity at B, TTFT the prefill pass of one request (or of
    the whole batch under static batching), no queue."""
    capacity = capacity_requests_per_s(dep, batch, traffic)
    tpot = capacity_tpot_s(dep, batch, traffic)
    prefill_batch = batch if traffic.batching == "static" else 1.0
    ttft = np.asarray(serving.prefill(dep, traffic.input_tokens, prefill_batch).time_s, dtype=float)
    steps = float(fl.decode_steps(traffic.output_tokens))
    decode_s = tpot * steps
    one = np.ones(1)
    prefill_busy = capacity * float(serving.prefill(dep, traffic.input_tokens).time_s)
    if traffic.batching == "static":
        prefill_busy = ttft / (ttft + _decode_time_on_grid(dep, traffic, np.asarray(batch, dtype=float)))
    return OperatingPoint(
        capacity * one,
        batch * one,
        tpot * one,
        decode_s * one,
        ttft * one,
        0.0 * one,
        ttft * one,
        tpot * one,
        one,
        prefill_busy * one,
        np.zeros(1, dtype=bool),
        capacity * one,
    )


def solve(dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float = 99.0) -> OperatingPoint:
    """The operating point at ``rate_per_s`` requests/s per replica, by batching mode."""
    if traffic.batching == "static":
        return static(dep, rate_per_s, traffic, percentile)
    return continuous(dep, rate_per_s, traffic, percentile)
