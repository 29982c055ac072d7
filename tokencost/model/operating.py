"""The operating point: what a replica does at the load it is given (see
:mod:`tokencost.model.steady` for the physics and its sources).

:func:`solve` dispatches on the batching mode: continuous batching
(:mod:`tokencost.model.continuous`, with chunked prefill when a budget is set) or static
batching (below); :func:`fixed_batch` holds a replica at a given batch (a benchmark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.model.chunked import chunked
from tokencost.model.continuous import continuous
from tokencost.model.memo import as_result
from tokencost.model.serving import Deployment
from tokencost.model.steady import (
    CHUNKED_ITERATIONS,
    OperatingPoint,
    Traffic,
    capacity_requests_per_s,
    capacity_tpot_s,
    decode_prompt,
    decode_time_on_grid,
    pooled,
    prompt_prefill,
    scalar,
)

ArrayLike = npt.ArrayLike

__all__ = [
    "OperatingPoint",
    "Traffic",
    "capacity_requests_per_s",
    "capacity_tpot_s",
    "continuous",
    "decode_prompt",
    "fixed_batch",
    "fixed_batch_floats",
    "pooled",
    "prompt_prefill",
    "solve",
    "static",
]


def static(dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float) -> OperatingPoint:
    """Static batching: the requests waiting when a batch ends form the next (at most the cap),
    are prefilled together (TTFT holds the whole batch's prefill) and decode without
    interruption. The batch solves ``B = λ·C(B)`` with ``C(B) = T_prefill(B) + D(B)`` the cycle."""
    rate = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    prompt, out = decode_prompt(traffic), traffic.output_tokens  # the decode's context
    cap = max(traffic.batch_cap, 1.0)
    steps = float(fl.decode_steps(out))
    capacity = capacity_requests_per_s(dep, cap, traffic)
    saturated = rate >= capacity * (1.0 - 1e-9)
    batch = np.ones_like(rate)
    for _ in range(CHUNKED_ITERATIONS):
        cycle = prompt_prefill(dep, traffic, batch).time_s + decode_time_on_grid(dep, traffic, batch)
        batch = np.clip(rate * cycle, 1.0, cap)
    pass_s = np.asarray(prompt_prefill(dep, traffic, batch).time_s, dtype=float)
    decode_s = decode_time_on_grid(dep, traffic, batch)
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
        rate,
        in_decode,
        tpot,
        decode_s,
        pass_s + wait,
        wait,
        ttft_p,
        tpot,
        busy,
        prefill_busy,
        saturated,
        capacity,
        batch,  # a static batch decodes together: each request's steps run at B
    )


def fixed_batch(dep: Deployment, batch: float, traffic: Traffic) -> OperatingPoint:
    """A replica held at exactly B sequences (a benchmark at fixed batch or concurrency with no
    think time): throughput is the capacity at B, TTFT the prefill pass of one request (or of
    the whole batch under static batching), no queue."""
    capacity, batch, tpot, decode_s, ttft, prefill_busy = _held(dep, batch, traffic)
    if _is_number(capacity) and _is_number(prefill_busy) and _is_number(batch):
        # One configuration: every field's one entry from one array (x·1.0 is x, as below).
        rows = np.array(
            [capacity, batch, tpot, decode_s, ttft, 0.0, ttft, tpot, 1.0, prefill_busy, capacity, batch]
        )
        rows = rows.reshape(-1, 1)
        return OperatingPoint._make([*rows[:10], np.zeros(1, dtype=bool), *rows[10:]])
    one = np.ones(1)
    column = type(batch) is np.ndarray and batch.ndim == 1 and batch.dtype == np.float64
    seen: Any = batch if column else batch * one  # B·1 is B: the batch itself, whose steps are remembered
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
        seen,  # held at B: every step runs the whole batch
    )


def fixed_batch_floats(
    dep: Deployment, batch: float, traffic: Traffic, capacity: float | None = None
) -> OperatingPoint:
    """:func:`fixed_batch` of one configuration with each field the Python float (``saturated``
    the bool) its one-entry array holds, the same numbers without building arrays that the caller
    reads back (an evaluation of one scenario); ``capacity``: the replica's
    :func:`capacity_requests_per_s` at B, when the caller has it."""
    held, batch, tpot, decode_s, ttft, prefill_busy = _held(dep, batch, traffic, capacity)
    fields = (held, batch, tpot, decode_s, ttft, 0.0, ttft, tpot, 1.0, prefill_busy, False, held, batch)
    return OperatingPoint._make([value if type(value) is bool else float(value) for value in fields])


def _held(dep: Deployment, batch: float, traffic: Traffic, capacity: Any = None) -> tuple[Any, ...]:
    """Capacity, batch, TPOT, decode seconds, TTFT and prefill's busy share of a replica held at B."""
    if capacity is None:
        capacity = capacity_requests_per_s(dep, batch, traffic)
    tpot = capacity_tpot_s(dep, batch, traffic)
    single = prompt_prefill(dep, traffic).time_s  # one prompt's pass
    static = traffic.batching == "static"
    ttft = as_result(prompt_prefill(dep, traffic, batch).time_s if static else single)
    steps = scalar(fl.decode_steps(traffic.output_tokens))
    decode_s = tpot * steps
    prefill_busy = capacity * scalar(single)
    if static:
        prefill_busy = ttft / (ttft + decode_time_on_grid(dep, traffic, np.asarray(batch, dtype=float)))
    return capacity, batch, tpot, decode_s, ttft, prefill_busy


def _is_number(value: ArrayLike) -> bool:
    """``np.ndim(value) == 0``, a Python number answered without numpy."""
    return isinstance(value, (int, float)) or np.ndim(value) == 0


def solve(
    dep: Deployment, rate_per_s: ArrayLike, traffic: Traffic, percentile: float = 99.0
) -> OperatingPoint:
    """The operating point at ``rate_per_s`` requests/s per replica, by batching mode."""
    if traffic.batching == "static":
        return static(dep, rate_per_s, traffic, percentile)
    if traffic.chunk_tokens is not None:
        return chunked(dep, np.atleast_1d(np.asarray(rate_per_s, dtype=float)), traffic, percentile)
    return continuous(dep, rate_per_s, traffic, percentile)
