"""Chunked prefill at a load (Sarathi-Serve): the operating point of
:func:`tokencost.model.continuous.continuous` when the engine has a chunk budget. The physics and
its sources are in :mod:`tokencost.model.steady`; the fused pass is the one :mod:`tokencost.sim.steps`
uses."""

from __future__ import annotations

import numpy as np

from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.model.queueing import gamma_quantile
from tokencost.model.serving import Deployment
from tokencost.model.steady import (
    CHUNKED_ITERATIONS,
    OperatingPoint,
    Traffic,
    busy_fraction,
    capacity_requests_per_s,
    decode_prompt,
    new_tokens,
    prompt_prefill,
)


def chunked(dep: Deployment, rate: np.ndarray, traffic: Traffic, percentile: float) -> OperatingPoint:
    """Chunked prefill (Sarathi-Serve): each iteration is one fused pass of the decode step and
    ``λ·τ·P`` prompt tokens, the same combination :mod:`tokencost.sim.steps` uses. Fixed point in
    (B, τ) by iteration; saturated when the chunks outgrow the budget left by the decodes."""
    prompt, out = decode_prompt(traffic), traffic.output_tokens  # the decode's context
    budget = float(traffic.chunk_tokens or 0.0)
    cap = max(traffic.batch_cap, 1.0)
    steps = float(fl.decode_steps(out))
    pre = prompt_prefill(dep, traffic)
    new = new_tokens(traffic)  # the prompt tokens computed: the cached prefix is skipped
    empty = serving.prefill(dep, 0.0)
    context = float(serving.mean_decode_context(prompt, out))
    batch = np.zeros_like(rate)
    iteration = np.full_like(rate, float(serving.decode_step(dep, 1.0, context).time_s))
    for _ in range(CHUNKED_ITERATIONS):
        seen = np.minimum(1.0 + batch, cap)
        step = serving.decode_step(dep, seen, context)
        tokens = np.minimum(rate * iteration * new, np.maximum(budget - seen, 1.0))
        chunk = serving.prefill(dep, tokens)
        compute = step.compute_s + rate * iteration * pre.compute_s
        memory = step.memory_s + chunk.memory_s - empty.memory_s
        comm = step.comm_s + chunk.comm_s
        fixed = serving.decode_fixed_s(dep, seen)  # the decode step's: a speculation round's once
        iteration = np.maximum(compute, memory) + comm + fixed
        batch = np.minimum(rate * iteration * max(steps, 1.0), cap)
    seen = np.minimum(1.0 + batch, cap)
    room = np.maximum(budget - seen, 1.0)
    token_load = rate * iteration * new / room
    capacity = capacity_requests_per_s(dep, traffic.batch_cap, traffic._replace(chunk_tokens=None))
    saturated = (
        (token_load >= 1.0)
        | (rate >= capacity)
        | (batch >= cap - 1e-9) & (rate * iteration * max(steps, 1) > cap)
    )
    decode_s = iteration * steps
    tpot = iteration
    prefill_busy = np.minimum(rate * iteration * pre.compute_s / np.maximum(iteration, 1e-30), 1.0)
    busy = busy_fraction(rate * (decode_s + iteration))
    service = iteration * np.maximum(new / room, 1.0)
    load = np.minimum(rate * service, 1.0 - 1e-9)
    queue = (traffic.arrival_cv**2 / 2.0) * load * service / (1.0 - load)
    wait = busy * (iteration / 2.0 + queue)
    ttft = wait + service
    variance = iteration**2 / 12.0 + queue**2
    conditional = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
    ttft_p = service + np.where(
        conditional > 0, gamma_quantile(wait / np.maximum(busy, 1e-12), variance, conditional), 0.0
    )
    tpot_p = tpot * (1.0 + 0.0 * rate)
    return OperatingPoint(
        rate, batch, tpot, decode_s, ttft, wait, ttft_p, tpot_p, busy, prefill_busy, saturated, capacity, seen
    )
