"""Local attention layers in the step times: the context a step is priced at, a prompt's
attention pairs, a response's decode sum, and the KV a sequence keeps.

A share ``s`` of the layers (of their attention FLOPs per key and KV bytes per token: local and
global layers of gpt-oss, Gemma 2/3, Mistral 7B and Llama 4 have the same shapes) attends either
to the last ``w`` keys (a sliding window: :func:`tokencost.model.flops.attended_keys`) or to the
keys of its own chunk of ``w`` tokens (Llama 4's chunked attention, ``window_chunked`` 1.0:
:func:`tokencost.model.flops.chunked_attended_keys`). Every function here is the plain one when
the deployment has no local layers (:attr:`~tokencost.model.deployment.Deployment.windowed` is
False); :mod:`tokencost.model.serving` calls them only when it has some. A chunked layer holds at
most ``min(c, w)`` entries (its current chunk: vLLM's hybrid manager frees the chunks before),
which is what the memory functions count for both kinds (the peak a sequence reaches by c).

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

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import roofline as rl
from tokencost.model.deployment import Deployment
from tokencost.model.memo import maximum, minimum

ArrayLike = npt.ArrayLike
CHUNKS_PER_CALL = 256  # chunks summed per numpy call in a chunked decode sum (bounds its memory)


def kv_bytes_held(dep: Deployment, context: Any) -> Any:
    """KV bytes of a sequence of c tokens: the served model's window layers keep their last w
    entries, its other layers (and a drafter) all c."""
    draft = dep.kv_bytes_per_token - dep.target_kv_bytes_per_token
    return kept_entries(dep, context) * dep.target_kv_bytes_per_token + context * draft


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
    each = ((1.0 - share) * own + share * minimum(context, window)) * kv + own * (dep.kv_bytes_per_token - kv)
    return kv_bytes_held(dep, shared), each


def sum_of_steps(dep: Deployment, terms: tuple[Any, ...], prompt: Any, steps: Any) -> Any:
    """The max-of-affine sum of :func:`tokencost.model.serving.decode_total_time_s` with local
    layers: the steps' terms are affine in the attended context ``e(c) = keys(c + 1) − 1`` (the
    step tables at c = 0 and 1 are those of ``e``, which is c there), and ``e`` is affine in c
    piece by piece: :func:`_sliding_sum` and :func:`_chunked_sum` (a struct of arrays mixing both
    kinds: each entry its own)."""
    chunked = dep.window_chunked
    if type(chunked) is float:
        return (_chunked_sum if chunked else _sliding_sum)(dep, terms, prompt, steps)
    if not np.any(chunked > 0.0):
        return _sliding_sum(dep, terms, prompt, steps)
    sizes = np.where(
        chunked > 0.0, dep.window_tokens, fl.NO_WINDOW_TOKENS
    )  # the sliding entries: one chunk each
    chunks = _chunked_sum(dep, terms, prompt, steps, sizes)
    return np.where(chunked > 0.0, chunks, _sliding_sum(dep, terms, prompt, steps))


def _sliding_sum(dep: Deployment, terms: tuple[Any, ...], prompt: Any, steps: Any) -> Any:
    """Sliding windows: ``e`` is c for the steps whose keys fit in the window (``c ≤ w − 1``: the
    first ``min(max(w − P, 0), O − 1)``) and ``(1 − s)·c + s·(w − 1)`` after: two arithmetic
    series, the second with its offsets moved and its slopes scaled."""
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


def _chunked_sum(dep: Deployment, terms: tuple[Any, ...], prompt: Any, steps: Any, sizes: Any = None) -> Any:
    """Chunks of C: in chunk k (contexts kC … kC + C − 1) ``e = c − s·C·k``, slope 1 with its
    offset moved: one arithmetic series per chunk the response's steps cross, summed over the
    chunks as an axis (blocks of :data:`CHUNKS_PER_CALL`, so a long response stays bounded).
    ``sizes``: the chunks, default the deployment's window."""
    compute0, compute1, memory0, memory1 = (_column(term) for term in terms)
    size = _column(dep.window_tokens if sizes is None else sizes)
    share = _column(dep.window_share)
    low, count = _column(prompt), np.maximum(_column(steps), 0.0)
    high = low + count - 1.0
    first = np.floor(low / size)
    chunks = int(np.max(np.floor(np.maximum(high, low) / size) - first)) + 1
    total: Any = 0.0
    for start in range(0, chunks, CHUNKS_PER_CALL):
        index = first + np.arange(start, min(start + CHUNKS_PER_CALL, chunks), dtype=float)
        lo = np.maximum(low, index * size)
        span = np.maximum(np.minimum(high, (index + 1.0) * size - 1.0) - lo + 1.0, 0.0)
        shift = share * size * index
        series = rl.sum_of_affine_max(
            compute0 - compute1 * shift, compute1, memory0 - memory1 * shift, memory1, lo, span
        )
        total = total + np.sum(np.where(span > 0.0, series, 0.0), axis=-1)
    return total[()] if np.ndim(total) == 0 else total


def _column(value: Any) -> np.ndarray:
    """``value`` as a float array with a trailing axis (the chunks of :func:`_chunked_sum`)."""
    return np.asarray(value, dtype=float)[..., None]


def attended_keys(dep: Deployment, keys: Any) -> Any:
    """Keys a query at ``keys`` (1-based position) attends to over the layers (its own included):
    :func:`tokencost.model.flops.attended_keys` (sliding) or ``chunked_attended_keys``."""
    return _by_kind(dep, fl.attended_keys, fl.chunked_attended_keys, keys)


def causal_pairs(dep: Deployment, prompt: Any) -> Any:
    """(query, key) pairs of a prompt's prefill over the layers, local layers included."""
    return _by_kind(dep, fl.windowed_causal_key_count, fl.chunked_causal_key_count, prompt)


def _by_kind(dep: Deployment, sliding: Any, chunked: Any, value: Any) -> Any:
    """``sliding(value, w, s)`` or ``chunked(value, w, s)`` by the deployment's kind of local
    layers (a struct of arrays mixing both: entry by entry)."""
    kind, window, share = dep.window_chunked, dep.window_tokens, dep.window_share
    if type(kind) is float:
        return (chunked if kind else sliding)(value, window, share)
    plain = sliding(value, window, share)
    if not np.any(kind > 0.0):
        return plain
    return np.where(kind > 0.0, chunked(value, window, share), plain)


def attended_context(dep: Deployment, context_tokens: ArrayLike) -> Any:
    """The context a decode step at c is priced at through the window layers: the keys it
    attends to (:func:`tokencost.model.flops.attended_keys` of ``c + 1``) less its own; c
    without a window, and below it."""
    if not dep.windowed:
        return context_tokens
    return attended_keys(dep, context_tokens + 1.0) - 1.0  # type: ignore[operator]
