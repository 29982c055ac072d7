"""Bytes moved and bytes held: weights, KV cache, and what fits in accelerator memory.

Conventions (shared with the reference transformer's meter, ``tokencost.loop.reference``):

* Every linear weight is read from memory once per forward pass, however many tokens the pass
  processes — that is what makes batching pay (kipply 2022, "Transformer Inference
  Arithmetic", section "flops vs memory boundedness").
* The KV cache holds, per token, a key and a value vector per layer and KV head:
  ``2·L·K·H`` elements (GQA/MQA shrink K; Ainslie et al. 2023). Multi-head latent attention
  caches one compressed vector of ``kv_lora_rank + rope_dim`` per layer instead.
* A decode step at context c reads the c cached entries of each sequence and writes one.
  A prefill into an empty cache writes P entries and reads none (the prompt's keys and values
  are produced in the same pass).
* Activations are not counted. Each token's matrix-product inputs and outputs are
  ``O(L·(d + f))`` bytes — about 0.04 % of the weights per token for Llama-2-7B — so they grow
  to a few percent of the weights at batch 64–256 in decode, where the KV cache (counted)
  usually dwarfs them; a known underestimate, measured by the reference transformer's meter.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import as_float, as_floats, is_scalar, maximum

ArrayLike = npt.ArrayLike


def kv_elements_per_token(
    *,
    layers: ArrayLike,
    kv_heads: ArrayLike,
    head_dim: ArrayLike,
    latent_dim: ArrayLike | None = None,
) -> np.ndarray:
    """Elements of KV cache one token occupies: ``2·L·K·H``, or ``L·latent`` for MLA.

    Llama-3-70B (L=80, K=8, H=128): 163,840 elements, 327,680 bytes in bf16 — the
    "How to Scale Your Model" book, part 8, quotes 2·8·128·80 = 160 kB per token at int8.
    """
    if latent_dim is not None:
        return as_float(layers) * as_float(latent_dim)  # type: ignore[no-any-return]
    return 2.0 * as_float(layers) * as_float(kv_heads) * as_float(head_dim)  # type: ignore[no-any-return]


def prefill_bytes(
    *,
    weight_bytes: ArrayLike,
    kv_bytes_per_token: ArrayLike,
    prompt_tokens: ArrayLike,
    batch: ArrayLike = 1.0,
) -> np.ndarray:
    """Bytes moved to prefill B prompts of P tokens: ``W + B·P·kv``."""
    count, prompt, weights = as_floats((batch, prompt_tokens, weight_bytes))
    return weights + count * prompt * kv_bytes_per_token  # type: ignore[no-any-return]


def decode_step_bytes(
    *,
    weight_bytes: ArrayLike,
    kv_bytes_per_token: ArrayLike,
    context_tokens: ArrayLike,
    batch: ArrayLike = 1.0,
) -> np.ndarray:
    """Bytes moved by one decode step: ``W + B·(c + 1)·kv`` (read c cached, write 1).

    Llama-2-7B fp16, B=1, c=576: ``13.2e9 + 577·524,288 = 13.5e9`` bytes.
    """
    context, count, kv_bytes, weights = context_tokens, batch, kv_bytes_per_token, weight_bytes
    if not (type(context) is type(count) is type(kv_bytes) is type(weights) is float):  # else no call
        context, count, kv_bytes, weights = as_floats((context, count, kv_bytes, weights))
    return weights + count * (context + 1.0) * kv_bytes  # type: ignore[no-any-return]


def expected_distinct_experts(
    experts: ArrayLike, experts_per_token: ArrayLike, tokens: ArrayLike
) -> np.ndarray:
    """Expected number of distinct experts T tokens route to in one MoE layer.

    With each token choosing k of E experts uniformly, an expert is missed by one token with
    probability ``1 − k/E``, so ``E·(1 − (1 − k/E)^T)`` are touched. T=1 gives k; T→∞ gives E.
    Real routers are not uniform, which touches fewer experts: this is an upper bound.
    The power is numpy's on floats too: Python's ``**`` (the C library's pow) differs from it by
    an ulp now and then, and the columns of :mod:`tokencost.vectorised` take numpy's.
    """
    experts_ = as_float(experts)  # Python floats stay floats (the scalar path), else arrays
    miss = 1.0 - as_float(experts_per_token) / experts_
    power = np.power(miss, as_float(tokens))
    return experts_ * (1.0 - (float(power) if type(miss) is float and np.ndim(power) == 0 else power))


def moe_weight_params_read(
    *,
    params: ArrayLike,
    active_params: ArrayLike,
    experts: ArrayLike,
    experts_per_token: ArrayLike,
    tokens: ArrayLike,
) -> np.ndarray:
    """Parameters read by a forward pass over T tokens of a mixture-of-experts model.

    Total ``N = S + E·e`` and active ``N_a = S + k·e`` (S shared: attention, embeddings, shared
    experts; e one routed expert summed over MoE layers) give ``e = (N − N_a)/(E − k)`` and
    ``S = N − E·e``; the pass reads ``S + distinct(T)·e``. A dense model (E = k) reads N.
    Plain numbers take :func:`_moe_weight_params_read_scalar` (the same operations on floats).
    """
    if is_scalar(params, active_params, experts, experts_per_token, tokens):
        numbers = [float(value) for value in (params, active_params, experts, experts_per_token, tokens)]  # type: ignore[arg-type]
        return _moe_weight_params_read_scalar(*numbers)  # type: ignore[return-value]
    return moe_params_read(moe_split(params, active_params, experts, experts_per_token), tokens)


class MoeSplit(NamedTuple):
    """The terms of :func:`moe_weight_params_read` that do not depend on the tokens (arrays)."""

    shared: np.ndarray  # S: parameters every pass reads
    per_expert: np.ndarray  # e: one routed expert's parameters (0 where dense)
    routed: np.ndarray  # the entries with routed experts (E > k), as a mask
    rows: np.ndarray | None  # their index when some entries are dense (None: all or none routed)
    experts: np.ndarray  # E
    chosen: np.ndarray  # k


def moe_split(
    params: ArrayLike, active_params: ArrayLike, experts: ArrayLike, experts_per_token: ArrayLike
) -> MoeSplit:
    """``S`` and ``e`` of :func:`moe_weight_params_read` on arrays, and which entries route."""
    total = as_float(params)
    active = as_float(active_params)
    experts_ = as_float(experts)
    chosen = as_float(experts_per_token)
    spare = np.maximum(experts_ - chosen, 1.0)
    per_expert = np.where(experts_ > chosen, (total - active) / spare, 0.0)
    shared = total - experts_ * per_expert
    routed = np.asarray(experts_ > chosen)
    mixed = routed.ndim > 0 and routed.any() and not routed.all()
    return MoeSplit(shared, per_expert, routed, np.flatnonzero(routed) if mixed else None, experts_, chosen)


def moe_params_read(split: MoeSplit, tokens: ArrayLike) -> np.ndarray:
    """``S + distinct(T)·e`` of a :func:`moe_split` (the array form of
    :func:`moe_weight_params_read`): the distinct experts where they are routed, else 0 (as
    ``np.where`` keeps them; the power on the routed entries alone when some are dense)."""
    experts, chosen = split.experts, split.chosen
    shape = np.broadcast_shapes(split.routed.shape, np.shape(tokens))
    if split.rows is None or shape != split.routed.shape:  # not a column of entries, some dense
        distinct = np.where(split.routed, expected_distinct_experts(experts, chosen, tokens), 0.0)
        return split.shared + distinct * split.per_expert  # type: ignore[no-any-return]
    rows = split.rows
    picked = [np.broadcast_to(value, shape).take(rows) for value in (experts, chosen, as_float(tokens))]
    found = np.zeros(shape)
    found[rows] = expected_distinct_experts(*picked)
    return split.shared + found * split.per_expert  # type: ignore[no-any-return]


def _moe_weight_params_read_scalar(
    total: float, active: float, experts: float, chosen: float, tokens: float
) -> float:
    """:func:`moe_weight_params_read` on Python floats: each numpy operation of the array form in
    the same order (``np.maximum`` and ``np.where`` as choices; the distinct experts only where
    they are chosen, as ``np.where`` keeps them), so the result is bit for bit the same."""
    spare = experts - chosen
    spare = spare if spare > 1.0 or spare != spare else 1.0
    routed = experts > chosen
    per_expert = (total - active) / spare if routed else 0.0
    shared = total - experts * per_expert
    distinct = float(expected_distinct_experts(experts, chosen, tokens)) if routed else 0.0
    return shared + distinct * per_expert


def max_batch_that_fits(
    *,
    memory_bytes: ArrayLike,
    reserve_fraction: ArrayLike,
    weight_bytes: ArrayLike,
    kv_bytes_per_sequence: ArrayLike,
) -> np.ndarray:
    """Largest number of concurrent sequences whose KV cache fits beside the weights.

    ``floor((M·(1 − r) − W) / kv_seq)``, 0 when the weights alone do not fit. ``r`` is the
    reserve for activations, CUDA context and allocator fragmentation (vLLM reserves 10 %:
    its default ``gpu_memory_utilization`` is 0.9).
    """
    usable = as_float(memory_bytes) * (1.0 - as_float(reserve_fraction))
    free = usable - as_float(weight_bytes)
    per_sequence = maximum(as_float(kv_bytes_per_sequence), 1.0)
    fitting = free / per_sequence
    if type(fitting) is float and math.isfinite(fitting):  # np.floor of a finite float, exactly
        return maximum(float(math.floor(fitting)), 0.0)  # type: ignore[no-any-return]
    return np.maximum(np.floor(fitting), 0.0)
