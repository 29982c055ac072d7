"""Step times of a served model: prefill, one decode step, and a whole response.

A :class:`Deployment` holds the numbers of one model replica (SI units, plain floats); the
functions broadcast over numpy arrays of batch sizes, prompt lengths and contexts, so a sweep
over a million configurations is one call.

Pipeline parallelism with p stages keeps p micro-batches of B/p sequences in flight during
decode (no bubble in steady state): one round, in which every sequence gets a token, takes
``p × stage_time(B/p)``, where a stage does 1/p of the layers on 1/t of each matrix. Prefill of
a single prompt cannot be split into micro-batches, so it crosses the stages one after another:
``p × stage_time(P tokens)`` — the same as the whole model on t accelerators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl

ArrayLike = npt.ArrayLike


@dataclass(frozen=True)
class Deployment:
    """One model replica on its accelerators: every number the physics needs, in SI."""

    params: float
    active_params: float
    embedding_params: float
    linear_params: float
    lm_head_params: float
    experts: float
    experts_per_token: float
    layers: float
    d_model: float
    attention_flops_per_key: float
    kv_bytes_per_token: float  # whole replica, KV-head replication included
    weight_bytes_per_param: float
    activation_bytes: float
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float
    memory_bytes: float
    interconnect_bytes_per_s: float
    interconnect_latency_s: float
    usd_per_hour: float  # per accelerator
    power_w: float  # per accelerator, NaN when unknown
    tensor: float
    pipeline: float
    compute_efficiency: float
    bandwidth_efficiency: float
    interconnect_efficiency: float
    memory_reserve_fraction: float
    step_overhead_s: float

    @property
    def accelerators(self) -> float:
        return self.tensor * self.pipeline

    @property
    def weight_bytes(self) -> float:
        """Bytes the weights occupy across the replica (every expert, the embedding too)."""
        return self.params * self.weight_bytes_per_param


class PhaseTerms(NamedTuple):
    """The roofline terms of one forward pass (per accelerator; arrays broadcast)."""

    flops: np.ndarray  # whole replica
    bytes: np.ndarray  # whole replica
    compute_s: np.ndarray
    memory_s: np.ndarray
    comm_s: np.ndarray
    time_s: np.ndarray

    @property
    def bound(self) -> np.ndarray:
        """Index into :data:`tokencost.model.roofline.BOUND_NAMES` of the dominant term."""
        return rl.bound_index(self.compute_s, self.memory_s, self.comm_s)


def weight_bytes_read(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    """Weight bytes one forward pass over T tokens reads (MoE: the experts they touch)."""
    read = mem.moe_weight_params_read(
        params=dep.params - dep.embedding_params,
        active_params=dep.active_params - dep.embedding_params,
        experts=dep.experts,
        experts_per_token=dep.experts_per_token,
        tokens=tokens,
    )
    return read * dep.weight_bytes_per_param


def _terms(dep: Deployment, flops: np.ndarray, bytes_moved: np.ndarray, comm_s: np.ndarray) -> PhaseTerms:
    """Per-stage roofline of work split over t·p accelerators, times p stages."""
    share = dep.tensor * dep.pipeline
    compute = dep.pipeline * rl.compute_time_s(flops / share, dep.peak_flop_per_s, dep.compute_efficiency)
    memory = dep.pipeline * rl.memory_time_s(
        bytes_moved / share, dep.bandwidth_bytes_per_s, dep.bandwidth_efficiency
    )
    time = rl.roofline_time_s(compute, memory, comm_s, dep.step_overhead_s)
    return PhaseTerms(flops, bytes_moved, compute, memory, np.asarray(comm_s, dtype=float), time)


def _comm_s(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    """Tensor-parallel all-reduces plus pipeline hops for a pass over T tokens per micro-batch."""
    common = {
        "d_model": dep.d_model,
        "activation_bytes": dep.activation_bytes,
        "link_bytes_per_s": dep.interconnect_bytes_per_s,
        "efficiency": dep.interconnect_efficiency,
        "latency_s": dep.interconnect_latency_s,
    }
    reduce = par.tensor_parallel_comm_time_s(layers=dep.layers, tokens=tokens, tensor=dep.tensor, **common)
    hops = par.pipeline_hop_time_s(tokens=tokens, pipeline=dep.pipeline, **common)
    return np.asarray(reduce + hops, dtype=float)


def prefill(dep: Deployment, prompt_tokens: ArrayLike, batch: ArrayLike = 1) -> PhaseTerms:
    """Prefill B prompts of P tokens into an empty cache: its FLOP, bytes and seconds.

    The time is the time to first token of a request that does not queue.
    """
    tokens = np.asarray(batch, dtype=float) * np.asarray(prompt_tokens, dtype=float)
    flops = fl.prefill_flops(
        linear_params=dep.linear_params,
        lm_head_params=dep.lm_head_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        prompt_tokens=prompt_tokens,
        batch=batch,
    )
    bytes_moved = mem.prefill_bytes(
        weight_bytes=weight_bytes_read(dep, tokens),
        kv_bytes_per_token=dep.kv_bytes_per_token,
        prompt_tokens=prompt_tokens,
        batch=batch,
    )
    return _terms(dep, flops, bytes_moved, _comm_s(dep, tokens))


def decode_step(dep: Deployment, batch: ArrayLike, context_tokens: ArrayLike) -> PhaseTerms:
    """One decode round: each of B sequences with c tokens cached writes one token.

    ``flops`` and ``bytes`` are per micro-batch of B/p sequences (the whole batch when p = 1);
    ``time_s`` is the round, the time per output token every sequence sees.
    """
    micro = np.asarray(batch, dtype=float) / dep.pipeline
    flops = fl.decode_step_flops(
        linear_params=dep.linear_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        context_tokens=context_tokens,
        batch=micro,
    )
    bytes_moved = mem.decode_step_bytes(
        weight_bytes=weight_bytes_read(dep, micro),
        kv_bytes_per_token=dep.kv_bytes_per_token,
        context_tokens=context_tokens,
        batch=micro,
    )
    return _terms(dep, flops, bytes_moved, _comm_s(dep, micro))


def decode_total_time_s(
    dep: Deployment, batch: ArrayLike, input_tokens: ArrayLike, output_tokens: ArrayLike
) -> np.ndarray:
    """Seconds of all decode steps of a response, integrated over the growing KV cache.

    Step ``j = 1..O−1`` runs at context ``P + j − 1``. Compute and memory time are both affine
    in the context, so the sum of their max is exact in O(1) (:func:`sum_of_affine_max`).
    """
    at_zero = decode_step(dep, batch, 0.0)
    at_one = decode_step(dep, batch, 1.0)
    steps = fl.decode_steps(output_tokens)
    slowest = rl.sum_of_affine_max(
        at_zero.compute_s,
        at_one.compute_s - at_zero.compute_s,
        at_zero.memory_s,
        at_one.memory_s - at_zero.memory_s,
        np.asarray(input_tokens, dtype=float),
        steps,
    )
    fixed = at_zero.comm_s + dep.step_overhead_s
    return slowest + steps * fixed


def mean_decode_context(input_tokens: ArrayLike, output_tokens: ArrayLike) -> np.ndarray:
    """Mean tokens cached over the decode steps: ``P + (O − 2)/2`` (P when O ≤ 1)."""
    steps = fl.decode_steps(output_tokens)
    return np.asarray(input_tokens, dtype=float) + np.maximum(steps - 1.0, 0.0) / 2.0


def kv_bytes_per_sequence(dep: Deployment, context_tokens: ArrayLike) -> np.ndarray:
    """KV cache bytes one sequence of c tokens holds across the replica."""
    return np.asarray(context_tokens, dtype=float) * dep.kv_bytes_per_token


def replica_memory_bytes(dep: Deployment) -> float:
    return dep.memory_bytes * dep.accelerators


def max_batch(dep: Deployment, context_tokens: ArrayLike) -> np.ndarray:
    """Most sequences of c tokens whose KV fits beside the weights (0: the weights don't fit)."""
    return mem.max_batch_that_fits(
        memory_bytes=replica_memory_bytes(dep),
        reserve_fraction=dep.memory_reserve_fraction,
        weight_bytes=dep.weight_bytes,
        kv_bytes_per_sequence=kv_bytes_per_sequence(dep, context_tokens),
    )
