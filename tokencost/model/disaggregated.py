"""Prefill/decode disaggregation: prompts on one pool of replicas, answers on another.

DistServe (Zhong et al. 2024, §3) splits a replica's two phases onto separate instances so that
a prompt's prefill never stalls the decode steps of the others (the interference described in
:mod:`tokencost.model.steady`), and sizes each pool for its own latency target. The pieces:

* **Prefill pool.** A prefill replica serves one prompt at a time, the pass of ``D = T_p``
  seconds (prompts long enough to be worth disaggregating are compute-bound, so batching them
  buys little; DistServe §3.1). One replica is an M/D/1 queue, ``TTFT = D + λD²/(2(1 − λD))``
  (DistServe §3.1, eq. 1; Pollaczek–Khinchine), with Kingman's factor ``(c_a² + c_s²)/2 =
  c_a²/2`` for bursty arrivals (c_s = 0, service deterministic) replacing the P–K ½. A router
  that sends each prompt to the least-loaded replica makes ``n`` of them one shared queue, an
  M/D/n: the wait is about half the M/M/n one, ``W ≈ C(n, a)·D/(2n(1 − ρ))`` with ``C`` Erlang's
  probability of waiting, ``a = λD`` and ``ρ = a/n`` (the classical approximation; Tijms, *A
  First Course in Stochastic Models*, 2003, §5.2; exact, the P–K formula, at n = 1); given that
  it waits, a prompt waits as in an M/D/1 queue served n times as fast.
* **KV transfer.** The prompt's cache, ``kv_bytes_per_token × P`` bytes, crosses the link to a
  decode replica before the second token: ``t_kv = latency + kv_bytes_per_token·P / bandwidth``
  (DistServe §3.3 and §4.2, bandwidth-aware placement). It is counted in TTFT.
* **Decode pool.** Continuous batching without prefill interference: the mean batch solves
  Little's law ``B = λ·D(min(1 + B, cap))`` with ``D(b)`` the decode steps of one response at
  batch b (:func:`tokencost.model.serving.decode_total_time_s`), ``TPOT = D/(O − 1)``.

Arrays broadcast over the request rate per replica of the pool.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.model.lives import loop_gain
from tokencost.model.queueing import gamma_quantile
from tokencost.model.serving import Deployment
from tokencost.model.steady import (
    BATCH_AVERAGE_VARIANCE_FRACTION,
    Traffic,
    busy_fraction,
    decode_prompt,
    prompt_prefill,
)

ArrayLike = npt.ArrayLike

BISECTIONS = 60
STABLE = 1.0 - 1e-9  # a pool at this load or above is saturated


def kv_transfer_time_s(
    kv_bytes_per_token: ArrayLike,
    prompt_tokens: ArrayLike,
    bandwidth_bytes_per_s: ArrayLike,
    latency_s: ArrayLike = 0.0,
) -> np.ndarray:
    """Seconds to send a prompt's KV cache from a prefill to a decode replica:
    ``latency + kv_bytes_per_token · P / bandwidth`` (bytes/token, tokens, bytes/s, s → s)."""
    payload = np.asarray(kv_bytes_per_token, dtype=float) * np.asarray(prompt_tokens, dtype=float)
    return np.asarray(latency_s, dtype=float) + payload / np.asarray(bandwidth_bytes_per_s, dtype=float)


class PrefillPool(NamedTuple):
    """One prefill replica at a rate (arrays; seconds, fractions)."""

    pass_s: float  # one prompt's prefill pass, D
    queue_wait_s: np.ndarray  # mean wait before its own pass
    wait_p_s: np.ndarray  # the wait at the requested percentile
    busy_fraction: np.ndarray  # ρ = λD
    saturated: np.ndarray  # bool: ρ ≥ 1


def prefill_pool(
    dep: Deployment,
    rate_per_s: ArrayLike,
    traffic: Traffic,
    percentile: float = 99.0,
    replicas: ArrayLike = 1,
) -> PrefillPool:
    """The queue of prompts on a pool of ``replicas`` prefill replicas fed through the least
    loaded, each at ``rate_per_s`` (module docstring; DistServe §3.1): an M/D/n queue.

    Mean wait ``W = k·C·s/(2(1 − ρ))`` with ``s = D/n``, ``C = C(n, nρ)`` the probability of
    waiting and ``k = c_a²`` (Kingman, ``(c_a² + 0)/2`` over the P–K ½); its percentile from a
    gamma matched to the mean and variance of the wait of those that wait, those of an M/D/1
    queue of service s at load ρ (second moment ``E[W²] = 2W₁² + λns³/(3(1 − ρ))``, W₁ its
    P–K mean). At n = 1, C = ρ and this is the M/D/1 queue.
    """
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    servers = np.broadcast_to(np.asarray(replicas, dtype=float), rate.shape)
    pass_s = float(prompt_prefill(dep, traffic).time_s)
    rho = rate * pass_s
    load = np.minimum(rho, STABLE)
    service = pass_s / servers  # the pool as one server n times as fast
    kingman = traffic.arrival_cv**2
    mean = load * service / (2.0 * (1.0 - load))  # Pollaczek–Khinchine, M/D/1 of service s
    second = 2.0 * mean**2 + rate * servers * service**3 / (3.0 * (1.0 - load))
    waits = np.maximum(erlang_c(servers, load), 1e-12)  # probability a prompt waits
    given_wait = kingman * mean / np.maximum(load, 1e-12)
    variance = np.maximum(kingman**2 * second / np.maximum(load, 1e-12) - given_wait**2, 0.0)
    target = 1.0 - (1.0 - percentile / 100.0) / waits
    wait_p = np.where(target > 0, gamma_quantile(given_wait, variance, np.clip(target, 0.0, 1.0)), 0.0)
    return PrefillPool(pass_s, waits * given_wait, wait_p, load, rho >= STABLE)


def erlang_c(servers: ArrayLike, load: ArrayLike) -> np.ndarray:
    """Erlang's C: the probability that an arrival waits in an M/M/n queue of n ``servers`` each
    at utilisation ``load`` ρ < 1, by Erlang B's recursion ``B_k = aB_{k−1}/(k + aB_{k−1})``
    (a = nρ, B_0 = 1) and ``C = B_n / (1 − ρ(1 − B_n))``. C(1, ρ) = ρ."""
    count = np.asarray(servers, dtype=float)
    rho = np.asarray(load, dtype=float)
    count, rho = np.broadcast_arrays(count, rho)
    offered = count * rho
    blocking = np.ones_like(offered)
    final = np.ones_like(offered)
    for k in range(1, int(np.max(count, initial=1.0)) + 1):
        blocking = offered * blocking / (k + offered * blocking)
        final = np.where(count == k, blocking, final)
    return final / (1.0 - rho * (1.0 - final))


class DecodePool(NamedTuple):
    """One decode replica at a rate (arrays; sequences, seconds, fractions)."""

    batch: np.ndarray  # mean sequences in decode
    seen_batch: np.ndarray  # the batch a request's steps run at, itself included
    tpot_s: np.ndarray
    tpot_p_s: np.ndarray  # at the requested percentile
    decode_time_s: np.ndarray  # a response's decode steps
    busy_fraction: np.ndarray
    saturated: np.ndarray  # bool: the load exceeds the replica's capacity at its cap
    capacity_per_s: float  # requests/s at the batch cap


def decode_capacity_per_s(dep: Deployment, traffic: Traffic) -> float:
    """Requests/s of a decode replica kept full at its cap: ``cap / D(cap)``."""
    cap = max(traffic.batch_cap, 1.0)
    decode = float(_decode_s(dep, traffic, np.asarray(cap)))
    return cap / decode if decode > 0 else float("inf")


def decode_tpot_s(dep: Deployment, batch: ArrayLike, traffic: Traffic) -> np.ndarray:
    """TPOT of a decode replica at batch B, no prefill in its iterations: ``D(B)/(O − 1)``
    (the step at context P when O = 1)."""
    batch = np.asarray(batch, dtype=float)
    steps = float(fl.decode_steps(traffic.output_tokens))
    if steps <= 0:
        return np.asarray(serving.decode_step(dep, batch, decode_prompt(traffic)).time_s, dtype=float)
    return _decode_s(dep, traffic, batch) / steps


def decode_pool(
    dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float = 99.0
) -> DecodePool:
    """Continuous batching on one decode replica without interference: B from Little's law
    ``B = λ·D(min(1 + B, cap))`` by bisection (the right side grows with B, more slowly than B
    below saturation); TPOT's percentile from the batch's fluctuation over a response, as in
    :mod:`tokencost.model.continuous` with no prefill passes."""
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    cap = max(traffic.batch_cap, 1.0)
    capacity = decode_capacity_per_s(dep, traffic)
    saturated = rate >= capacity * STABLE
    low, high = np.zeros_like(rate), np.full_like(rate, cap)
    for _ in range(BISECTIONS):
        middle = (low + high) / 2.0
        above = rate * _decode_s(dep, traffic, np.minimum(1.0 + middle, cap)) > middle
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    batch = (low + high) / 2.0
    seen = np.minimum(1.0 + batch, cap)
    decode_s = _decode_s(dep, traffic, seen)
    tpot = decode_tpot_s(dep, seen, traffic)
    steps = max(float(fl.decode_steps(traffic.output_tokens)), 1.0)
    slope = _decode_s(dep, traffic, np.minimum(seen + 1.0, cap)) - decode_s
    gain = loop_gain(dep, rate, seen, 0.0, traffic)
    variance = slope**2 * BATCH_AVERAGE_VARIANCE_FRACTION * batch / steps**2 / (1.0 - gain) ** 2
    floor = decode_tpot_s(dep, np.ones_like(rate), traffic)
    tpot_p = floor + gamma_quantile(np.maximum(tpot - floor, 0.0), variance, percentile / 100.0)
    return DecodePool(batch, seen, tpot, tpot_p, decode_s, busy_fraction(batch), saturated, capacity)


def _decode_s(dep: Deployment, traffic: Traffic, batch: np.ndarray) -> np.ndarray:
    """``D(b)``: seconds of a response's decode steps at batch b (0 when O ≤ 1)."""
    if traffic.output_tokens <= 1:
        return np.zeros_like(np.asarray(batch, dtype=float))
    return np.asarray(
        serving.decode_total_time_s(dep, batch, decode_prompt(traffic), traffic.output_tokens), dtype=float
    )
