"""How long a request decodes at a load, and what makes that vary: the time in decode when prefills
interrupt it, the batch's feedback loop (one more sequence slows every step, so lives grow and
more pile up) and the TPOT percentile it gives. Shared by continuous batching with and without
chunked prefill and by the disaggregated decode pool; the physics and its sources are in
:mod:`tokencost.model.steady`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model.memo import clip, maximum, minimum
from tokencost.model.queueing import gamma_quantile
from tokencost.model.serving import Deployment
from tokencost.model.steady import (
    BATCH_AVERAGE_VARIANCE_FRACTION,
    SATURATION_GUARD,
    Traffic,
    decode_time_on_grid,
    new_tokens,
)

ArrayLike = npt.ArrayLike
MAX_LOOP_GAIN = 0.95  # keeps the amplification finite (×400 in variance) at the edge of stability
SHARED_PASS = 2  # prompts per prefill pass from which they are batched together (gated model)


def decode_life_s(
    dep: Deployment, rate: np.ndarray, seen: np.ndarray, prefill_s: ArrayLike, traffic: Traffic
) -> np.ndarray:
    """Mean seconds a request spends in decode when the batch it sees is ``seen`` (broadcasts;
    Python floats give a float, by the same operations).

    Its steps take ``D(seen)`` and advance only while the replica is not prefilling:
    ``D/(1 − λT_p)``. When prompts are too long to share a pass, they queue for the prefill
    slots (an M/D/1 server of service ``S = T_p + t_d``), and a request that finishes its
    prefill inside a busy period of that server first waits out the rest of it: the prompts
    after it in that busy period, ``((E[N²]/E[N]) − 1)/2`` with N the number served in a busy
    period, ``E[N] = 1/(1 − ρ)``, ``Var N = ρ/(1 − ρ)³`` (M/D/1; Harchol-Balter 2013 ch. 27).
    Under chunked prefill ``T_p`` is a prompt's stall ``e`` (:mod:`tokencost.model.chunked`) and
    decodes advance in every iteration: no prefill pass holds them.
    """
    decode = decode_time_on_grid(dep, traffic, seen)
    prefill_s = prefill_s if type(prefill_s) is float else np.asarray(prefill_s, dtype=float)
    load = rate * prefill_s
    life = decode / maximum(1.0 - load, SATURATION_GUARD)
    per_pass = np.floor(traffic.max_prefill_tokens / new_tokens(traffic))
    steps = float(fl.decode_steps(traffic.output_tokens))
    if per_pass >= SHARED_PASS or steps <= 0 or traffic.chunk_tokens is not None:
        return life
    service = prefill_s + decode / steps
    rho = minimum(rate * service, 1.0 - 1e-9)
    idle = 1.0 - rho
    after = (rho / (idle * idle) + rho / idle) / 2.0  # idle * idle: numpy's ** 2 (np.square)
    return life + after * prefill_s


def loop_gain(
    dep: Deployment, rate: np.ndarray, seen: np.ndarray, prefill_s: ArrayLike, traffic: Traffic
) -> np.ndarray:
    """``g = λ·∂T_dec/∂B``: how many more sequences end up in decode when one more is there (each
    makes every step slower, so lives grow). A fluctuation of the batch or of the queue is
    amplified by ``1/(1 − g)``, its variance by ``1/(1 − g)²`` (a linear feedback loop's
    closed-loop gain); capped below 1 to stay finite at the edge of stability."""
    cap = max(traffic.batch_cap, 1.0)
    up = decode_life_s(dep, rate, minimum(seen + 1.0, cap), prefill_s, traffic)
    slope = up - decode_life_s(dep, rate, seen, prefill_s, traffic)
    return clip(rate * slope, 0.0, MAX_LOOP_GAIN)  # type: ignore[no-any-return]


def tpot_percentile(
    dep: Deployment,
    rate: np.ndarray,
    batch: np.ndarray,
    seen: np.ndarray,
    prefill_s: Any,
    traffic: Traffic,
    decode_s: np.ndarray,
    tpot: np.ndarray,
    percentile: float,
) -> np.ndarray:
    """TPOT at a percentile: a response's steps carry a Poisson number of prefill passes (mean
    λ·T_dec) and a batch that fluctuates about its mean (its average over the response has about
    2/3 of a Poisson count's variance, as for an M/G/∞ count averaged over one service time);
    both amplified by the batch's feedback (:func:`loop_gain`)."""
    steps = float(fl.decode_steps(traffic.output_tokens))
    if steps <= 0:
        return tpot
    cap = max(traffic.batch_cap, 1.0)
    slope = decode_time_on_grid(dep, traffic, minimum(seen + 1.0, cap)) - decode_time_on_grid(
        dep, traffic, seen
    )
    passes = rate * decode_s
    # A response's life grows with every prefill that interrupts it, during which more arrive: the
    # count is that of an M/D/1 busy period started by D, variance λD/(1 − a)³ = mean/(1 − a)².
    # (x * x for numpy's x ** 2 of an array, np.square: the same on a Python float.)
    left = maximum(1.0 - rate * prefill_s, 1e-9)
    growth = left * left
    variance = (
        prefill_s**2 * passes / growth + slope * slope * BATCH_AVERAGE_VARIANCE_FRACTION * batch
    ) / steps**2
    kept = 1.0 - loop_gain(dep, rate, seen, prefill_s, traffic)
    variance = variance / (kept * kept)
    floor = decode_time_on_grid(dep, traffic, 1.0 if type(rate) is float else np.ones_like(rate)) / steps
    excess_mean = maximum(tpot - floor, 0.0)
    if type(rate) is float:  # as one-entry arrays: numpy's ** on a number is the C library's pow
        excess_mean, variance = np.array([excess_mean]), np.array([variance])
    return floor + gamma_quantile(excess_mean, variance, percentile / 100.0)
