"""Splitting a model over accelerators: tensor, pipeline and expert parallelism.

Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", section 3) splits every weight matrix
over t accelerators: each does 1/t of the FLOP and reads 1/t of the weights and KV cache, and
two all-reduces per layer (after attention and after the MLP) sum the partial activations.
Pipeline parallelism (Huang et al. 2019, "GPipe") gives each of p stages L/p layers and sends
the activations from stage to stage. Expert parallelism (Lepikhin et al. 2020, "GShard",
section 2.2; DeepSeek-V3 technical report, arXiv 2412.19437, section 3.4) places whole experts of
a mixture-of-experts layer on different ranks: each of E ranks holds experts/E of them, and two
all-to-alls per MoE layer send every token's activations to the ranks of its k experts (dispatch)
and bring the results back (combine). Routing is uneven, so the busiest rank gets more than the
mean share of tokens and the layer waits for it: a load-imbalance ratio (busiest / mean).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import all_float, as_float, as_floats, is_scalar

ArrayLike = npt.ArrayLike

ALL_REDUCES_PER_LAYER = 2  # Megatron-LM: one after the attention block, one after the MLP.


ALL_REDUCE_ALGORITHMS = ("ring", "tree", "one_shot", "two_shot", "auto")


def all_reduce_hops(ranks: float, algorithm: str = "ring") -> float:
    """Link traversals on the critical path of one all-reduce over ``n`` ranks (0 for one rank).

    ``ring`` 2(n−1) (reduce-scatter then all-gather, one step per neighbour; NCCL's tuning model,
    src/graph/tuning.cc, ``nsteps = 2·(nRanks−1)``; inside one node NCCL's tree is a chain with the
    same 2(n−1) steps); ``tree`` 2·⌈log2 n⌉ (a binary tree up and down, NCCL's tree across nodes);
    ``one_shot`` 1 and ``two_shot`` 2 (the custom all-reduce kernels of vLLM, SGLang and
    TensorRT-LLM on NVSwitch or a full xGMI mesh: every rank reaches every peer in one hop, so the
    count does not grow with n).
    """
    if ranks <= 1.0:
        return 0.0
    if algorithm == "ring":
        return 2.0 * (ranks - 1.0)
    if algorithm == "tree":
        return 2.0 * math.ceil(math.log2(ranks) - 1e-9)
    if algorithm == "one_shot":
        return 1.0
    if algorithm == "two_shot":
        return 2.0
    raise ValueError(f"unknown all-reduce algorithm {algorithm!r}; allowed: {ALL_REDUCE_ALGORITHMS}")


def _volume_factor(ranks: float, algorithm: str) -> float:
    """Bytes each rank moves per byte of message: 2(n−1)/n, except one-shot's (n−1) (it reads
    every peer's whole buffer; Patarasuk and Yuan 2009 for the bandwidth-optimal 2(n−1)/n)."""
    return ranks - 1.0 if algorithm == "one_shot" else 2.0 * (ranks - 1.0) / ranks


def all_reduce_alpha_beta_s(latency: Any, hops: Any, hop: Any, transfer_s: Any) -> Any:
    """``α₀ + h·α_hop + f·S/(β·η)``, the one formula of every algorithm (:func:`all_reduce_time_s`):
    the start-up ``α(n)`` (:func:`all_reduce_startup_s`) and ``transfer_s``, the bytes' time
    (:func:`all_reduce_transfer_s`). Floats give a float, arrays broadcast."""
    return all_reduce_startup_s(latency, hops, hop) + transfer_s


def all_reduce_startup_s(latency: Any, hops: Any, hop: Any) -> Any:
    """``α(n) = α₀ + h·α_hop``: the start-up ``latency`` and ``hops`` link hops of ``hop`` seconds
    each, whatever the message (so kept per link: :func:`_startups`)."""
    return latency + hops * hop


def all_reduce_transfer_s(volume: Any, message: Any, rate: Any) -> Any:
    """``f·S/(β·η)``: ``volume`` bytes per byte of an ``S``-byte message over links of ``rate``
    (``β·η``) bytes per second (:func:`_volume_factor`); shared by the algorithms of one ``f``."""
    return volume * message / rate


_AUTO = ("ring", "one_shot", "two_shot")


@functools.lru_cache(maxsize=256)
def _factors(ranks: float, algorithm: str) -> tuple[tuple[float, float], ...]:
    """``(h(n), f(n))`` of each algorithm ``algorithm`` stands for over n > 1 ranks (``auto``:
    ring, one-shot and two-shot): :func:`all_reduce_hops` and :func:`_volume_factor`, the same
    for every message (kept: a pass asks for them at every step)."""
    names = _AUTO if algorithm == "auto" else (algorithm,)
    return tuple((all_reduce_hops(ranks, name), _volume_factor(ranks, name)) for name in names)


@functools.lru_cache(maxsize=256)
def _startups(ranks: float, algorithm: str, latency: float, hop: float) -> tuple[tuple[float, float], ...]:
    """``(α(n), f(n))`` of each algorithm ``algorithm`` stands for (:func:`_factors`) on a link of
    start-up ``latency`` and ``hop`` seconds per hop: :func:`all_reduce_startup_s`, the same for
    every message (kept: a replica's passes ask for it at every token count)."""
    return tuple(
        (all_reduce_startup_s(latency, hops, hop), volume) for hops, volume in _factors(ranks, algorithm)
    )


def _one_all_reduce_s(
    message: float, ranks: float, rate: float, latency: float, hop: float, algorithm: str
) -> float:
    """:func:`all_reduce_time_s` on plain floats (no numpy: called per step); ``auto`` the least
    of its algorithms' times (as ``min``: the first of the least)."""
    if ranks <= 1.0:
        return 0.0
    startups = _startups(ranks, algorithm, latency, hop)
    startup, volume = startups[0]
    best: float = startup + all_reduce_transfer_s(volume, message, rate)  # all_reduce_alpha_beta_s
    for startup, volume in startups[1:]:
        time = startup + all_reduce_transfer_s(volume, message, rate)
        if time < best:
            best = time
    return best


def all_reduce_time_s(
    message_bytes: ArrayLike,
    ranks: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
    hop_latency_s: ArrayLike = 0.0,
    algorithm: str = "ring",
) -> np.ndarray | float:
    """Seconds for one all-reduce of ``S`` bytes over ``n`` ranks: ``α(n) + f(n)·S/(β·η)``
    (:func:`all_reduce_alpha_beta_s`, for every algorithm and every shape of argument).

    ``α(n) = α₀ + h(n)·α_hop``: a fixed start-up ``α₀`` (``latency_s``: launch and
    synchronisation) plus ``h(n)`` link hops of ``α_hop`` each (:func:`all_reduce_hops`). NCCL's
    own cost model has this form (src/graph/tuning.cc: a base latency per algorithm and protocol,
    plus ``nsteps`` times a per-hop latency per link type). ``f(n)`` bytes per byte of message
    (:func:`_volume_factor`): ``2(n−1)/n`` for ring and two-shot (NCCL's bus-bandwidth factor).
    ``auto`` takes the quickest of ring, one-shot and two-shot, as engines on NVSwitch do
    (vLLM's custom all-reduce: one-shot for small messages, two-shot for medium, NCCL beyond);
    use ``ring`` where they cannot (vLLM disables its kernel on more than two PCIe-only GPUs).
    Small messages cost ``α(n)``, large ones ``f·S/(β·η)``. One rank needs no communication: 0 s.
    Scalars in, a float out (no numpy); arrays broadcast.
    """
    if is_scalar(message_bytes, ranks, link_bytes_per_s, efficiency, latency_s, hop_latency_s):
        rate = float(link_bytes_per_s) * float(efficiency)  # type: ignore[arg-type]
        args = (float(latency_s), float(hop_latency_s))  # type: ignore[arg-type]
        return _one_all_reduce_s(float(message_bytes), float(ranks), rate, *args, algorithm)  # type: ignore[arg-type]
    message = np.asarray(message_bytes, dtype=float)
    link = (link_bytes_per_s, efficiency, latency_s, hop_latency_s)
    if is_scalar(ranks) and ranks > 1.0 and algorithm != "tree":  # type: ignore[operator]
        return _one_rank_count_s(message, float(ranks), algorithm, *link)  # type: ignore[arg-type]
    return all_reduce_of_factors_s(message, all_reduce_factors(ranks, link, algorithm))


def all_reduce_factors(ranks: ArrayLike, link: tuple[Any, ...], algorithm: str) -> tuple[Any, ...]:
    """What :func:`all_reduce_time_s` on arrays computes whatever the message, over ``link`` (β, η,
    α₀, α_hop): ``β·η``, whether n > 1, then each algorithm's ``α(n)`` and ``f(n)``, in one tuple."""
    ranks_ = np.asarray(ranks, dtype=float)
    rate = np.asarray(link[0], dtype=float) * np.asarray(link[1], dtype=float)
    latency, hop = np.asarray(link[2], dtype=float), np.asarray(link[3], dtype=float)
    found: list[Any] = [rate, ranks_ > 1.0]
    for name in _AUTO if algorithm == "auto" else (algorithm,):
        found += [all_reduce_startup_s(latency, _hops_array(ranks_, name), hop), _volume_array(ranks_, name)]
    return tuple(found)


def all_reduce_of_factors_s(message: ArrayLike, factors: tuple[Any, ...]) -> np.ndarray:
    """:func:`all_reduce_time_s` of ``message`` bytes from its :func:`all_reduce_factors`: the least
    ``α(n) + f(n)·S/(β·η)`` of the algorithms (:func:`all_reduce_alpha_beta_s`), 0 s for one rank."""
    rate, several, *pairs = factors  # then α(n), f(n) of each algorithm
    times = [pairs[k] + all_reduce_transfer_s(pairs[k + 1], message, rate) for k in range(0, len(pairs), 2)]
    return np.where(several, functools.reduce(np.minimum, times), 0.0)


def _one_rank_count_s(message: np.ndarray, ranks: float, algorithm: str, *link: float) -> np.ndarray:
    """:func:`all_reduce_time_s` of arrays of messages over one rank count (> 1) and a scalar
    link: each algorithm's factors as the floats that _hops_array and _volume_array hold for it
    (:func:`_factors`), the link as Python floats (the same IEEE operations as on 0-d arrays),
    and the bytes' term once per distinct factor (ring and two-shot share theirs)."""
    link_bytes_per_s, efficiency, latency_s, hop_latency_s = link
    rate = float(link_bytes_per_s) * float(efficiency)
    latency, hop = float(latency_s), float(hop_latency_s)
    spread: dict[float, Any] = {}
    times = []
    for startup, volume in _startups(ranks, algorithm, latency, hop):
        if volume not in spread:
            spread[volume] = all_reduce_transfer_s(volume, message, rate)
        times.append(startup + spread[volume])  # all_reduce_alpha_beta_s
    return np.asarray(functools.reduce(np.minimum, times), dtype=float)


def _hops_array(ranks: np.ndarray, algorithm: str) -> np.ndarray:
    """:func:`all_reduce_hops` over an array of rank counts (ranks ≥ 1)."""
    if algorithm == "ring":
        return 2.0 * (ranks - 1.0)
    if algorithm == "tree":
        return 2.0 * np.ceil(np.log2(np.maximum(ranks, 1.0)) - 1e-9)
    return np.full_like(ranks, all_reduce_hops(2.0, algorithm))


def _volume_array(ranks: np.ndarray, algorithm: str) -> np.ndarray:
    safe = np.maximum(ranks, 1.0)
    return safe - 1.0 if algorithm == "one_shot" else 2.0 * (safe - 1.0) / safe


def ring_all_reduce_time_s(
    message_bytes: ArrayLike,
    ranks: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
    hop_latency_s: ArrayLike = 0.0,
) -> np.ndarray | float:
    """Seconds for one ring all-reduce of ``S`` bytes over ``t`` ranks.

    ``α₀ + 2(t−1)·α_hop + 2·(t−1)/t · S / (β·η)``: each rank sends and receives ``2·(t−1)/t·S``
    bytes (reduce-scatter then all-gather; Patarasuk and Yuan 2009; NCCL's "bus bandwidth" uses
    the same factor) in ``2(t−1)`` steps. One rank needs no communication: 0 s. See
    :func:`all_reduce_time_s`.
    """
    return all_reduce_time_s(
        message_bytes, ranks, link_bytes_per_s, efficiency, latency_s, hop_latency_s, "ring"
    )


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
    hop_latency_s: ArrayLike = 0.0,
    algorithm: str = "ring",
) -> np.ndarray | float:
    """All-reduce seconds of one forward pass over T tokens (batch × tokens per sequence).

    ``2·L`` all-reduces of ``T·d`` activations each (Megatron-LM); kipply 2022 works the same
    count for a 13B model on A100s. Each costs :func:`all_reduce_time_s` with ``algorithm``.
    """
    link = (link_bytes_per_s, efficiency, latency_s, hop_latency_s)
    numbers = (layers, tokens, d_model, activation_bytes, tensor, *link)
    plain = all_float(numbers)  # a deployment's floats: no conversion
    if plain or is_scalar(*numbers):
        floats: Any = numbers if plain else [float(value) for value in numbers]  # type: ignore[arg-type]
        count, count_tokens, width, element, ranks, bandwidth, share, latency, hop = floats
        message = activation_message_bytes(count_tokens, width, element)
        return tensor_parallel_of_message_s(
            count, message, ranks, (bandwidth, share, latency, hop), algorithm
        )  # type: ignore[no-any-return]
    volume = activation_message_bytes(
        np.asarray(tokens, dtype=float), np.asarray(d_model), np.asarray(activation_bytes)
    )
    per_reduce = all_reduce_time_s(volume, tensor, *link, algorithm)
    return ALL_REDUCES_PER_LAYER * np.asarray(layers, dtype=float) * per_reduce


def activation_message_bytes(tokens: Any, d_model: Any, activation_bytes: Any) -> Any:
    """``T·d·a``: bytes of the activations of T tokens (the message of an all-reduce and of a
    pipeline hop). Floats give a float, arrays broadcast."""
    return tokens * d_model * activation_bytes


def tensor_parallel_of_message_s(
    layers: Any, message: Any, ranks: float, link: tuple[float, float, float, float], algorithm: str
) -> Any:
    """:func:`tensor_parallel_comm_time_s` of ``message`` bytes (:func:`activation_message_bytes`:
    a Python float, or an array of them), over one rank count and a ``link`` of Python floats
    (bandwidth, efficiency, latency, hop latency): ``2·L`` all-reduces, a float on the floats'
    path (:func:`_one_all_reduce_s`), an array by :func:`all_reduce_time_s`."""
    bandwidth, share, latency, hop = link
    if type(message) is float:
        one: Any = _one_all_reduce_s(message, ranks, bandwidth * share, latency, hop, algorithm)
    else:
        one = all_reduce_time_s(message, ranks, bandwidth, share, latency, hop, algorithm)
    return ALL_REDUCES_PER_LAYER * layers * one


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
    """Seconds to pass ``T·d`` activations through ``p − 1`` stage boundaries (:func:`pipeline_hops_s`)."""
    numbers = (tokens, d_model, activation_bytes, pipeline, link_bytes_per_s, efficiency, latency_s)
    count, width, element, stages, link, share, latency = as_floats(numbers)
    return pipeline_hops_s(stages, activation_message_bytes(count, width, element), link * share, latency)  # type: ignore[no-any-return]


def pipeline_hops_s(stages: Any, message: Any, rate: Any, latency: Any) -> Any:
    """``(p − 1)·(α + S/(β·η))``: ``message`` bytes through the ``stages − 1`` boundaries, each a
    start-up ``latency`` and the bytes over links of ``rate`` (``β·η``) bytes/s. One stage (a
    deployment's float p = 1) has none: 0.0 for any message, without an array of zeros (``0·x``
    is 0.0 for every finite, positive x this formula gives)."""
    if type(stages) is float and stages == 1.0:
        return 0.0
    return pipeline_boundaries_s(stages - 1.0, message, rate, latency)


def pipeline_boundaries_s(boundaries: Any, message: Any, rate: Any, latency: Any) -> Any:
    """``b·(α + S/(β·η))``: :func:`pipeline_hops_s` through ``boundaries`` (p − 1) stage boundaries."""
    return boundaries * (latency + message / rate)


def kv_replication_factor(kv_heads: ArrayLike, tensor: ArrayLike) -> np.ndarray:
    """How many copies of each KV head a tensor-parallel group keeps: ``max(1, t/K)``.

    With fewer KV heads than ranks (Llama-3-70B has 8, on 16 GPUs) each head is replicated so
    that every rank has one (vLLM and TensorRT-LLM do this).
    """
    ratio = as_float(tensor) / as_float(kv_heads)
    if type(ratio) is float:  # np.maximum(1.0, x) as a choice (x when 1.0 < x or x is NaN)
        return ratio if 1.0 < ratio or ratio != ratio else 1.0  # type: ignore[return-value]
    return np.maximum(1.0, ratio)


def all_to_all_time_s(
    message_bytes: ArrayLike,
    ranks: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
) -> np.ndarray:
    """Seconds for one all-to-all in which each of E ranks holds ``S`` bytes for all ranks.

    ``α + (E−1)/E · S / (β·η)``: a rank keeps the 1/E meant for itself and sends the rest (each
    rank's link carries its own share; NCCL's all-to-all "bus bandwidth" uses the same (E−1)/E).
    One rank needs no communication: 0 s.
    """
    ranks_ = np.asarray(ranks, dtype=float)
    volume = (ranks_ - 1.0) / ranks_ * np.asarray(message_bytes, dtype=float)
    rate = np.asarray(link_bytes_per_s, dtype=float) * np.asarray(efficiency, dtype=float)
    time = np.asarray(latency_s, dtype=float) + volume / rate
    return np.where(ranks_ > 1.0, time, 0.0)


ALL_TO_ALLS_PER_MOE_LAYER = 2  # dispatch to the experts' ranks, combine back (GShard, section 2.2)


def expert_parallel_comm_time_s(
    *,
    moe_layers: ArrayLike,
    tokens: ArrayLike,
    experts_per_token: ArrayLike,
    d_model: ArrayLike,
    activation_bytes: ArrayLike,
    expert: ArrayLike,
    imbalance_ratio: ArrayLike,
    link_bytes_per_s: ArrayLike,
    efficiency: ArrayLike,
    latency_s: ArrayLike,
) -> np.ndarray:
    """All-to-all seconds of one forward pass over T tokens, experts spread over E ranks.

    ``2·L_moe·[α + (E−1)/E · f·(T·k/E)·d·b / (β·η)]``: each rank owns T/E of the tokens and sends
    each to its k experts (``T·k/E`` hidden vectors of d values of b bytes); the busiest rank
    receives f times the mean (``f``: the load-imbalance ratio) and the layer waits for it.
    DeepSeek-V3, T = 256 decode tokens, E = 8, k = 8, d = 7168, bf16: ``S = 256·8/8·7168·2 =
    3.67 MB`` per rank per all-to-all, 3.21 MB of it off the rank.
    """
    ranks = np.asarray(expert, dtype=float)
    per_rank = (
        np.asarray(tokens, dtype=float)
        * np.asarray(experts_per_token, dtype=float)
        / ranks
        * np.asarray(d_model, dtype=float)
        * np.asarray(activation_bytes, dtype=float)
    )
    busiest = np.asarray(imbalance_ratio, dtype=float) * per_rank
    one = all_to_all_time_s(busiest, ranks, link_bytes_per_s, efficiency, latency_s)
    return ALL_TO_ALLS_PER_MOE_LAYER * np.asarray(moe_layers, dtype=float) * one


def routed_expert_params_per_token(
    params: ArrayLike, active_params: ArrayLike, experts: ArrayLike, experts_per_token: ArrayLike
) -> np.ndarray:
    """Parameters of the k routed experts one token uses, summed over the MoE layers: ``k·e``.

    ``e = (N − N_a)/(E − k)`` (one routed expert over all MoE layers; see
    :func:`tokencost.model.memory.moe_weight_params_read`). A dense model (E = k) has none.
    Mixtral-8x7B (N = 46.7e9, N_a = 12.9e9, E = 8, k = 2): ``2·33.8e9/6 = 11.3e9``.
    Plain numbers give a float by the same operations (``np.maximum``, ``np.where`` as choices).
    """
    if is_scalar(params, active_params, experts, experts_per_token):
        total_, active_ = float(params), float(active_params)  # type: ignore[arg-type]
        count, chosen_ = float(experts), float(experts_per_token)  # type: ignore[arg-type]
        spare_ = count - chosen_
        spare_ = spare_ if spare_ > 1.0 or spare_ != spare_ else 1.0
        return chosen_ * (total_ - active_) / spare_ if count > chosen_ else 0.0  # type: ignore[return-value]
    experts_ = np.asarray(experts, dtype=float)
    chosen = np.asarray(experts_per_token, dtype=float)
    spare = np.maximum(experts_ - chosen, 1.0)
    total, active = np.asarray(params, dtype=float), np.asarray(active_params, dtype=float)
    return np.where(experts_ > chosen, chosen * (total - active) / spare, 0.0)


def expert_imbalance_extra_flops(
    routed_flops: ArrayLike, expert: ArrayLike, imbalance_ratio: ArrayLike
) -> np.ndarray:
    """FLOP the busiest rank's wait adds to a pass, counted as if spread: ``(f − 1)·F_routed``.

    With E > 1 ranks each holding whole experts, the routed-expert matrix products finish when
    the rank with f times the mean tokens does; tensor parallelism alone (E = 1) splits every
    expert over all ranks and has no such wait. Only the routed experts (not attention, not the
    shared experts) are uneven.
    """
    if is_scalar(routed_flops, expert, imbalance_ratio):
        extra_ = (float(imbalance_ratio) - 1.0) * float(routed_flops)  # type: ignore[arg-type]
        return extra_ if float(expert) > 1.0 else 0.0  # type: ignore[arg-type,return-value]
    extra = (np.asarray(imbalance_ratio, dtype=float) - 1.0) * np.asarray(routed_flops, dtype=float)
    return np.where(np.asarray(expert, dtype=float) > 1.0, extra, 0.0)
