"""Chunked prefill at a load (Sarathi-Serve, Agrawal et al. 2024): the operating point of
:func:`tokencost.model.operating.solve` when the engine has a chunk budget. The physics and its
sources are in :mod:`tokencost.model.steady`; the fused pass is the one :mod:`tokencost.sim.steps`
uses.

Every iteration runs the decodes of the batch, and prompt chunks fill what is left of the token
budget, ``room = budget − B`` (oldest first). An iteration's length is that of one fused pass:
``f(x) = max(C_d + x·c, M_d + m(x)) + comm + fixed`` for x prompt tokens (compute adds; the
weights are read once), and a decode-only iteration takes ``t_d = f(0)``. Iterations are
discrete: a prompt of N tokens longer than the room fills ``⌈N/room⌉`` iterations, each as long
as the chunk it carries makes it, and the iterations between prompts are the short decode-only
ones. (A fluid view that spreads each prompt's compute over every iteration prices the mean
iteration, ``max(mean compute, mean memory)``, below the mean of the iterations,
``mean max(compute, memory)``, and a prompt's service at the mean iteration: at 8,000-token
prompts and a 2,048-token budget on an 8B model it gave TTFT 40 ms where the simulator gives
230 ms.)

* **Extra time per prompt** ``e``: the prompts that arrive during one iteration (Poisson, mean
  ``a = λτ``) are chunked together into ``⌈nN/room⌉`` iterations; ``e = E[g(nN)]/E[n]`` with
  ``g(X)`` the time those iterations take beyond decode-only ones. A lone prompt (a → 0) costs
  ``g(N)``; many short ones at a time pack into full iterations.
* **TPOT**: decodes advance one token per iteration, so ``τ = t_d/(1 − λe)``; by Little's law
  ``B = λ·(O − 1)·τ``, solved by fixed-point iteration with ``e``.
* **TTFT**: prompts that fill the room alone (``room < 2N``) queue for the chunk iterations as an
  M/G/1 queue with vacations (service ``S`` = the iterations holding its tokens, decode-only
  iterations between; :func:`tokencost.model.queueing.vacation_wait`), ``TTFT = S + wait``.
  Shorter prompts ride in the next iteration with the others that arrived meanwhile: the residual
  of the current iteration, then that iteration (and, past the room, half the overflow ahead).
* **TPOT percentile**: a response's steps carry the stalls ``e`` of a Poisson number of prompts, as
  without chunking (:func:`tokencost.model.lives.tpot_percentile`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from tokencost.model import flops as fl
from tokencost.model import mixes, serving, slots
from tokencost.model.lives import tpot_percentile
from tokencost.model.queueing import gamma_cdf, gamma_quantile, poisson_pmf, support, vacation_wait
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

SHARED_ITERATION = 2.0  # prompts that fit at least this many to the room ride in one iteration
STALL_GUARD = 1e-9  # keeps 1 − λe and 1 − λS finite at saturation
SETTLED = 1e-12  # the fixed point's batch moving by less than this share of itself: solved


def chunked(dep: Deployment, rate: np.ndarray, traffic: Traffic, percentile: float) -> OperatingPoint:
    """The operating point under chunked prefill at ``rate`` requests/s per replica (see module)."""
    rate = np.atleast_1d(np.asarray(rate, dtype=float))
    steps = max(float(fl.decode_steps(traffic.output_tokens)), 1.0)
    cap = max(traffic.batch_cap, 1.0)
    batch = np.zeros_like(rate)
    shared = _fixed(dep, traffic)
    tau = _pass(dep, traffic, np.ones_like(rate), shared)[1]  # the decode-only iteration of one sequence
    for _ in range(CHUNKED_ITERATIONS):  # until the batch holds still (or CHUNKED_ITERATIONS)
        fused, decode_only, room = _pass(dep, traffic, np.minimum(1.0 + batch, cap), shared)
        extra = _extra_per_prompt(fused, decode_only, room, new_tokens(traffic), rate * tau)
        tau = decode_only / np.maximum(1.0 - rate * extra, STALL_GUARD)
        batch, before = np.minimum(rate * steps * tau, cap), batch
        if np.all(np.abs(batch - before) <= SETTLED * np.maximum(batch, 1.0)):
            break
    seen = np.minimum(1.0 + batch, cap)
    fused, decode_only, room = _pass(dep, traffic, seen, shared)
    extra = _extra_per_prompt(fused, decode_only, room, new_tokens(traffic), rate * tau)
    decode_s = tau * steps
    ttft, wait, ttft_p, busy, held = _ttft(fused, decode_only, room, rate, tau, decode_s, traffic, percentile)
    capacity = capacity_requests_per_s(dep, traffic.batch_cap, traffic._replace(chunk_tokens=None))
    token_load = rate * tau * new_tokens(traffic) / room
    saturated = (
        (token_load >= 1.0)
        | (rate * extra >= 1.0 - STALL_GUARD)
        | (rate * held >= 1.0 - STALL_GUARD)
        | (rate >= capacity)
        | (batch >= cap - 1e-9) & (rate * tau * steps > cap)
    )
    tpot_p = tpot_percentile(dep, rate, batch, seen, extra, traffic, decode_s, tau, percentile)
    ttft, wait, ttft_p = slots.with_slot_wait(
        dep, rate, batch, extra, traffic, float(capacity), (ttft, wait, ttft_p), percentile
    )
    prefill_busy = np.minimum(rate * extra, 1.0)
    return OperatingPoint(
        rate, batch, tau, decode_s, ttft, wait, ttft_p, tpot_p, busy, prefill_busy, saturated, capacity, seen
    )


Fused = Callable[[np.ndarray], np.ndarray]


class _Fixed(NamedTuple):
    """What every fused pass of a traffic shares, whatever its batch."""

    context_tokens: float  # the decodes' mean context
    prompt_compute_s_per_token: float  # a prompt's FLOP time over its computed tokens
    weights_memory_s: float  # an empty prefill's memory time: the weights, read once by the decode


def _fixed(dep: Deployment, traffic: Traffic) -> _Fixed:
    return _Fixed(
        float(serving.mean_decode_context(decode_prompt(traffic), traffic.output_tokens)),
        float(prompt_prefill(dep, traffic).compute_s) / new_tokens(traffic),
        float(serving.prefill(dep, 0.0).memory_s),
    )


def _pass(
    dep: Deployment, traffic: Traffic, seen: np.ndarray, shared: _Fixed
) -> tuple[Fused, np.ndarray, np.ndarray]:
    """The fused pass ``f(x)`` of the decodes of ``seen`` sequences with x prompt tokens (x > 0;
    ``x`` broadcasts against ``seen[..., None]`` when it has one more axis), the decode-only
    iteration ``t_d`` and the room the budget leaves the chunks, per rate."""
    step = serving.decode_step(dep, seen, shared.context_tokens)
    fixed = serving.decode_fixed_s(dep, seen)  # the decode step's: a speculation round's once
    compute, memory = np.asarray(step.compute_s, dtype=float), np.asarray(step.memory_s, dtype=float)
    comm, fixed = np.asarray(step.comm_s, dtype=float), np.asarray(fixed, dtype=float)
    prompt_compute, empty = shared.prompt_compute_s_per_token, shared.weights_memory_s

    def fused_s(tokens: np.ndarray) -> np.ndarray:
        grown = tokens.ndim > compute.ndim
        terms = [value[..., None] if grown else value for value in (compute, memory, comm, fixed)]
        chunk = serving.prefill(dep, tokens)
        chunk_compute = terms[0] + tokens * prompt_compute
        chunk_memory = terms[1] + np.asarray(chunk.memory_s, dtype=float) - empty
        return np.maximum(chunk_compute, chunk_memory) + terms[2] + np.asarray(chunk.comm_s) + terms[3]  # type: ignore[no-any-return]

    decode_only = np.maximum(compute, memory) + comm + fixed
    room = np.maximum(float(traffic.chunk_tokens or 0.0) - seen, 1.0)
    full = fused_s(room)  # a full chunk's pass, asked for most: computed once

    def fused(tokens: np.ndarray) -> np.ndarray:
        return full if tokens is room else fused_s(tokens)

    return fused, decode_only * np.ones_like(seen), room


def _iterations_s(fused: Fused, room: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and count of the iterations that compute ``tokens`` prompt tokens: full chunks of
    ``room`` tokens, then the rest (``tokens`` one more axis than ``room`` or the same)."""
    grown = tokens.ndim > room.ndim
    whole = fused(room)
    room, whole = (room[..., None], whole[..., None]) if grown else (room, whole)
    full = np.floor(tokens / room)
    rest = tokens - full * room
    last = np.where(rest > 0, fused(np.maximum(rest, 1e-9)), 0.0)
    return full * whole + last, full + (rest > 0)


def _extra_per_prompt(
    fused: Fused, decode_only: np.ndarray, room: np.ndarray, new: float, arrivals: np.ndarray
) -> np.ndarray:
    """``e = E[g(nN)]/E[n] = Σ P_{n−1}(a)·g(nN)/n``: seconds the chunks of a prompt add beyond
    decode-only iterations, the prompts arriving in one iteration (Poisson, mean ``a``) chunked
    together."""
    count = support(arrivals)
    n = np.arange(1.0, count + 1.0)
    weight = poisson_pmf(arrivals, count) / n  # P(n)/a = P_{n−1}(a)/n, n ≥ 1: finite as a → 0
    seconds, iterations = _iterations_s(fused, room, np.broadcast_to(n * new, (*room.shape, count)))
    added = seconds - iterations * decode_only[..., None]
    # Σ P(n−1) over the support: all but ~1e-9 of the mass, less where the arrivals outgrow it
    # (saturation); that rest arrives in full iterations, room tokens a pass.
    left = np.maximum(1.0 - (weight * n).sum(axis=-1), 0.0)
    full = new / room * (fused(room) - decode_only)
    return (weight * added).sum(axis=-1) + left * full  # type: ignore[no-any-return]


def _ttft(
    fused: Fused,
    decode_only: np.ndarray,
    room: np.ndarray,
    rate: np.ndarray,
    tau: np.ndarray,
    decode_s: np.ndarray,
    traffic: Traffic,
    percentile: float,
) -> tuple[np.ndarray, ...]:
    """Mean TTFT, its wait, its percentile, the busy fraction and the seconds a prompt holds the
    chunk iterations for (see module: its queue is stable below one prompt per that)."""
    new, kingman = new_tokens(traffic), traffic.arrival_cv**2
    alone = room < SHARED_ITERATION * new
    lone = _iterations_s(fused, room, np.full_like(room, new))[0]  # a prompt's own iterations
    group = new * (1.0 + rate * tau)  # with those that arrived in the same iteration
    first = fused(np.minimum(group, room))
    overflow = _iterations_s(fused, room, np.maximum(group - room, 0.0) / 2.0)[0]
    service = np.where(alone, lone, first + overflow)
    busy = busy_fraction(rate * (decode_s + service))
    packed = new / room * fused(room)  # a busy queue's prompt: its tokens in full iterations
    queued = np.where(alone, packed, service)  # what a prompt holds the chunk iterations for
    prompts = mixes.classes(traffic)
    held = queued if prompts is None else queued[..., None] * prompts / new  # a mix: by its classes
    mg1, mg1_variance = vacation_wait(rate, held, decode_only, kingman)
    load = np.minimum(rate * service, 1.0 - STALL_GUARD)
    queue = (kingman / 2.0) * load * service / (1.0 - load)  # the shared iterations' token queue
    wait_busy = np.where(alone, mg1, tau / 2.0 + queue)
    variance = np.where(alone, mg1_variance, tau**2 / 12.0 + queue**2)
    conditional = 1.0 - (1.0 - percentile / 100.0) / np.maximum(busy, 1e-12)
    excess = np.where(conditional > 0, gamma_quantile(wait_busy, variance, np.clip(conditional, 0, 1)), 0.0)
    wait = busy * wait_busy
    if prompts is not None:  # a length mix: each class's own iterations (tokencost.model.mixes)
        tokens = np.broadcast_to(prompts, (*room.shape, prompts.size))
        others = (group - new)[..., None]
        own = np.where(
            alone[..., None],
            _iterations_s(fused, room, tokens)[0],
            fused(np.minimum(tokens + others, room[..., None])) + overflow[..., None],
        )
        cdf = lambda x: gamma_cdf(wait_busy[..., None], variance[..., None], x)  # noqa: E731
        return (
            service + wait,
            wait,
            mixes.own_quantile(cdf, own, busy, percentile, own.max() + excess),
            busy,
            queued,
        )
    return service + wait, wait, service + excess, busy, queued
