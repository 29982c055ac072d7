"""Sliding-window (local) attention layers in the step times: the context a step is priced at,
a response's decode sum, and the KV a sequence keeps.

A share ``s`` of the layers (of their attention FLOPs per key and KV bytes per token: window and
global layers of gpt-oss, Gemma 2/3 and Mistral 7B have the same shapes) attends to the last
``w`` keys only (:func:`tokencost.model.flops.attended_keys`). Every function here is the plain
one when the deployment has no window (:attr:`~tokencost.model.deployment.Deployment.windowed`
is False); :mod:`tokencost.model.serving` calls them only when it has one.

Engines keep only the window's entries for those layers: vLLM's hybrid KV cache manager ("sliding
window layers: reserve slots only for the most recent sliding_window_size tokens",
https://docs.vllm.ai/en/latest/design/hybrid_kv_cache_manager/, read 2026-12-04; with it disabled
the window layers are allocated as full attention) and TensorRT-LLM's pool per attention window
size (https://nvidia.github.io/TensorRT-LLM/1.3.0rc27/features/kvcache.html, read 2026-12-04).
Hugging Face's gpt-oss write-up measures the effect: the cache of a model with every layer
windowed (Mistral 7B) stops growing at the window, gpt-oss's is halved at long context
(huggingface/blog "faster-transformers", 2025-09).
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import roofline as rl
from tokencost.model.deployment import Deployment
from tokencost.model.memo import maximum, minimum

ArrayLike = npt.ArrayLike


def kv_bytes_held(dep: Deployment, context: Any) -> Any:
    """KV bytes of a sequence of c tokens: the served model's window layers keep their last w
    entries, its other layers (and a drafter) all c."""
    kept = fl.attended_keys(context, dep.window_tokens, dep.window_share)
    draft = dep.kv_bytes_per_token - dep.target_kv_bytes_per_token
    return kept * dep.target_kv_bytes_per_token + context * draft


def kept_entries(dep: Deployment, context: Any) -> Any:
    """Cache entries of c tokens the layers keep, as tokens of all layers (c without a window)."""
    if not dep.windowed:
        return context
    return fl.attended_keys(context, dep.window_tokens, dep.window_share)


def shared_kv_bytes(dep: Deployment, context: Any, shared: Any, own: Any) -> tuple[Any, Any]:
    """(bytes held once, bytes each sequence holds) of sequences of c tokens whose first
    ``shared`` are one cached prefix, ``own = max(c − shared, 1)`` their own: the other layers as
    without a window, the window layers the prefix's last w entries once and each sequence
    its last ``min(c, w)`` (past the window a sequence's window is its own tokens)."""
    kv, share, window = dep.target_kv_bytes_per_token, dep.window_share, dep.window_tokens
    draft = dep.kv_bytes_per_token - kv
    once = ((1.0 - share) * shared + share * minimum(shared, window)) * kv + shared * draft
    each = ((1.0 - share) * own + share * minimum(context, window)) * kv + own * draft
    return once, each


def sum_of_steps(dep: Deployment, terms: tuple[Any, ...], prompt: Any, steps: Any) -> Any:
    """The max-of-affine sum of :func:`decode_total_time_s` with window layers: affine in the
    attended context ``e(c) = attended_keys(c + 1) − 1`` (the step tables at c = 0 and 1 are
    those of ``e``, which is c below the window), which is c for the steps whose keys fit in the
    window (``c ≤ w − 1``: the first ``min(max(w − P, 0), O − 1)``) and ``(1 − s)·c + s·(w − 1)``
    after: two arithmetic series, the second with its offsets moved and its slopes scaled."""
    compute0, compute1, memory0, memory1 = terms
    window, share = dep.window_tokens, dep.window_share
    inside = minimum(maximum(window - prompt, 0.0), steps)
    shift, keep = share * (window - 1.0), 1.0 - share
    below = rl.sum_of_affine_max(compute0, compute1, memory0, memory1, prompt, inside)
    beyond = rl.sum_of_affine_max(
        compute0 + compute1 * shift,
        compute1 * keep,
        memory0 + memory1 * shift,
        memory1 * keep,
        prompt + inside,
        steps - inside,
    )
    return below + beyond


def attended_context(dep: Deployment, context_tokens: ArrayLike) -> Any:
    """The context a decode step at c is priced at through the window layers: the keys it
    attends to (:func:`tokencost.model.flops.attended_keys` of ``c + 1``) less its own; c
    without a window, and below it."""
    if not dep.windowed:
        return context_tokens
    return fl.attended_keys(context_tokens + 1.0, dep.window_tokens, dep.window_share) - 1.0  # type: ignore[operator]
