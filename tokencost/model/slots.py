"""Waiting for a place in the batch: the admissions a full batch holds back.

A replica runs at most ``cap`` sequences; where that is a count the engine holds (the TPOT
target's batch cap, or the engine's ``max_num_seqs``) an arrival that finds them all taken waits
in the queue until one finishes. (A memory cap is the KV cache's blocks, which fill by the tokens
the sequences hold, most of them short of their final length: the simulator admits by free
blocks, and a count cap at the full context would overstate the waits; not modelled here.) At a
mean batch well below the cap this is rare, but the batch fluctuates: the number of requests in
decode is a Poisson count (an M/G/∞ system), and its feedback loop (each sequence slows every step,
so lives grow and more pile up: :func:`tokencost.model.lives.loop_gain`) widens it by ``1/(1 − g)``,
so its variance is ``B/(1 − g)²``. The count is taken as negative binomial with that mean and
variance (Poisson when g = 0), and an arrival waits with the probability ``P_w = P(N ≥ cap)`` that
it holds ``cap`` or more, for the next of the ``cap`` sequences to finish: as in Erlang's C formula
for an M/M/c queue, the wait of those who wait is exponential at the rate at which a full batch
drains less the arrivals, ``μ_cap − λ`` (μ_cap the replica's capacity at its cap, the one
evaluate()'s saturation is judged by: below it the queue drains)
(Harchol-Balter 2013, *Performance Modeling and Design of Computer Systems*, ch. 14-15). Behind a
router that pools the places (least loaded: an arrival goes to a replica with a free place while
any has one) the count, the cap and the drain are the fleet's, R replicas' (independent counts:
mean and variance × R), so a wide fleet rarely waits; round robin deals arrivals to a replica
whatever it holds: one replica's. So the
mean TTFT gains ``P_w/(μ_cap − λ)``, and a percentile p whose tail ``1 − p`` is below ``P_w``
is at least the mean TTFT plus ``ln(P_w/(1 − p))/(μ_cap − λ)`` (R replicas pooled: R·(μ_cap − λ)).

Measured on the bundled Mistral-7B on one L4 (1 request/s, a TPOT-set cap of 29 against a mean
batch of 17.8): the simulator's p99 TTFT is 2.2 s where the prefill queue alone gives 0.35 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tokencost.model.lives import loop_gain
from tokencost.model.queueing import gamma_cdf
from tokencost.model.serving import Deployment
from tokencost.model.steady import Traffic

EXACT_COUNT_BELOW = 512  # caps below this: the count's distribution summed term by term
NEGLIGIBLE = 1e-9  # a waiting probability below this changes nothing
# A full batch's drain is at least this share of its capacity: only a saturated replica (which
# evaluate() reports as such) reaches it.
DRAIN_FLOOR = 1e-3


def full_batch_probability(mean: np.ndarray, variance: np.ndarray, cap: Any) -> np.ndarray:
    """``P(N ≥ cap)`` of a count of this mean and variance (variance ≥ mean; ``cap`` one per
    entry or one for all): negative binomial summed term by term where every cap is below
    :data:`EXACT_COUNT_BELOW` (Poisson at variance = mean), else its gamma approximation with a
    continuity correction."""
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-300)
    variance = np.maximum(np.asarray(variance, dtype=float), mean)
    caps = np.broadcast_to(np.asarray(cap, dtype=float), mean.shape)
    top = float(caps.max()) if caps.size else 1.0
    if top >= EXACT_COUNT_BELOW:
        return 1.0 - gamma_cdf(mean, variance, caps - 0.5)  # type: ignore[no-any-return]
    k = np.arange(1.0, max(top, 1.0))  # the terms after the first, k = 1..cap − 1
    share = mean / variance  # the negative binomial's p; 1 − p → 0 is Poisson
    over = variance > mean * (1.0 + 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(over, mean * share / np.maximum(1.0 - share, 1e-300), np.inf)
        first = np.where(over, shape * np.log(share), -mean)
        ratio = np.where(
            over[..., None],
            np.log(k - 1.0 + shape[..., None]) + np.log1p(-share)[..., None],
            np.log(mean)[..., None],
        )
    terms = np.exp(first[..., None] + np.cumsum(ratio - np.log(k), axis=-1))
    below = np.exp(first) + np.where(k < caps[..., None], terms, 0.0).sum(axis=-1)
    return np.clip(1.0 - below, 0.0, 1.0)  # type: ignore[no-any-return]


def with_slot_wait(
    dep: Deployment,
    rate: Any,
    batch: Any,
    prefill_s: Any,
    traffic: Traffic,
    capacity_per_s: float,
    times: tuple[np.ndarray, np.ndarray, np.ndarray],
    percentile: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``times`` = (TTFT, its wait, its percentile), arrays over the rates, with the wait for a
    place in a full batch (see module); the sequences held are those in decode and those being
    prefilled (``rate·prefill_s``); ``capacity_per_s``: the replica's at its cap (μ_cap)."""
    if not traffic.counted_cap:  # a memory cap: the blocks' (see tokencost.model.steady.Traffic)
        return times
    rates, held, prefill = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (rate, batch, prefill_s))
    cap = max(float(traffic.batch_cap), 1.0)
    seen = np.minimum(1.0 + held, cap)
    gain = np.asarray(loop_gain(dep, rates, seen, prefill, traffic), dtype=float)
    fleet = np.broadcast_to(np.asarray(traffic.pooled_replicas, dtype=float), rates.shape)
    count = fleet * (held + rates * prefill)  # the places held across the pooled replicas
    kept = 1.0 - gain
    waits = full_batch_probability(count, count / (kept * kept), fleet * cap)
    if not np.any(waits > NEGLIGIBLE):
        return times
    full = float(capacity_per_s)
    drain = fleet * np.maximum(full - rates, DRAIN_FLOOR * full)
    extra = waits / drain
    tail = 1.0 - percentile / 100.0
    with np.errstate(divide="ignore"):
        beyond = np.where(waits > tail, np.log(waits / tail) / drain, 0.0)
    ttft, wait, ttft_p = times
    return ttft + extra, wait + extra, np.maximum(ttft_p, ttft + beyond)
