"""Splitting a model over accelerators: tensor and pipeline parallelism.

Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", section 3) splits every weight matrix
over t accelerators: each does 1/t of the FLOP and reads 1/t of the weights and KV cache, and
two all-reduces per layer (after attention and after the MLP) sum the partial activations.
Pipeline parallelism (Huang et al. 2019, "GPipe") gives each of p stages L/p layers and sends
the activations from stage to stage.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike

ALL_REDUCES_PER_LAYER = 2  # Megatron-LM: one after the attention block, one after the MLP.


def ring_all_reduce_time_s(
    message_bytes: ArrayLike,
    ranks: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
) -> np.ndarray:
    """Seconds for one ring all-reduce of ``S`` bytes over ``t`` ranks.

    ``α + 2·(t−1)/t · S / (β·η)``: each rank sends and receives ``2·(t−1)/t·S`` bytes
    (reduce-scatter then all-gather; Patarasuk and Yuan 2009; NCCL's "bus bandwidth" uses the
    same factor). One rank needs no communication: 0 s.
    """
    ranks_ = np.asarray(ranks, dtype=float)
    volume = 2.0 * (ranks_ - 1.0) / ranks_ * np.asarray(message_bytes, dtype=float)
    rate = np.asarray(link_bytes_per_s, dtype=float) * np.asarray(efficiency, dtype=float)
    time = np.asarray(latency_s, dtype=float) + volume / rate
    return np.where(ranks_ > 1.0, time, 0.0)


def tensor_parallel_comm_time_s(
    *,
    layers: ArrayLike,
    tokens: ArrayLike,
    d_model: ArrayLike,
    activation_bytes: ArrayLike,
    tensor: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
) -> np.ndarray:
    """All-reduce seconds of one forward pass over T tokens (batch × tokens per sequence).

    ``2·L`` all-reduces of ``T·d`` activations each (Megatron-LM); kipply 2022 works the same
    count for a 13B model on A100s.
    """
    message = np.asarray(tokens, dtype=float) * np.asarray(d_model) * np.asarray(activation_bytes)
    per_reduce = ring_all_reduce_time_s(message, tensor, link_bytes_per_s, efficiency, latency_s)
    return ALL_REDUCES_PER_LAYER * np.asarray(layers, dtype=float) * per_reduce


def pipeline_hop_time_s(
    *,
    tokens: ArrayLike,
    d_model: ArrayLike,
    activation_bytes: ArrayLike,
    pipeline: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
) -> np.ndarray:
    """Seconds to pass ``T·d`` activations through ``p − 1`` stage boundaries."""
    message = np.asarray(tokens, dtype=float) * np.asarray(d_model) * np.asarray(activation_bytes)
    rate = np.asarray(link_bytes_per_s, dtype=float) * np.asarray(efficiency, dtype=float)
    hops = np.asarray(pipeline, dtype=float) - 1.0
    return hops * (np.asarray(latency_s, dtype=float) + message / rate)


def kv_replication_factor(kv_heads: ArrayLike, tensor: ArrayLike) -> np.ndarray:
    """How many copies of each KV head a tensor-parallel group keeps: ``max(1, t/K)``.

    With fewer KV heads than ranks (Llama-3-70B has 8, on 16 GPUs) each head is replicated so
    that every rank has one (vLLM and TensorRT-LLM do this).
    """
    return np.maximum(1.0, np.asarray(tensor, dtype=float) / np.asarray(kv_heads, dtype=float))
