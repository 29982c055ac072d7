"""The reference transformer's numpy operations: rotary embedding, causal mask, grouped-query attention."""

from __future__ import annotations

import numpy as np


def rope_angles(positions: np.ndarray, head_dim: int, theta: float) -> np.ndarray:
    """Rotation angles in radians, shape (T, H): ``pos·θ^(−2i/H)`` for i < H/2, repeated.

    Su et al. 2021, "RoFormer", eq. 15, in the rotate-half layout of Hugging Face Llama: the
    pair (i, i + H/2) rotates by the i-th frequency.
    """
    inverse_frequency = theta ** (-np.arange(0, head_dim, 2, dtype=float) / head_dim)
    angles = np.asarray(positions, dtype=float)[:, np.newaxis] * inverse_frequency
    return np.concatenate([angles, angles], axis=-1)


def apply_rope(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate query or key vectors ``x`` (B, T, heads, H) by ``angles`` (T, H), in float32.

    ``x·cos + rotate_half(x)·sin`` with ``rotate_half([x₁, x₂]) = [−x₂, x₁]``. Dot products of
    rotated vectors depend only on the difference of their positions.
    """
    cos = np.cos(angles)[:, np.newaxis, :].astype(np.float32)
    sin = np.sin(angles)[:, np.newaxis, :].astype(np.float32)
    x32 = x.astype(np.float32)
    first, second = np.split(x32, 2, axis=-1)
    rotated: np.ndarray = x32 * cos + np.concatenate([-second, first], axis=-1) * sin
    return rotated


def causal_mask(new_tokens: int, cached_tokens: int) -> np.ndarray:
    """Which keys each new query may see, (T, c + T) booleans: key s for query i iff s ≤ c + i."""
    keys = np.arange(cached_tokens + new_tokens)
    return keys[np.newaxis, :] <= cached_tokens + np.arange(new_tokens)[:, np.newaxis]


def grouped_attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Masked softmax attention with query heads sharing KV heads, in float32.

    ``q`` (B, T, h, H), ``keys`` and ``values`` (B, K, S, H), ``allowed`` (T, S). Query head j
    reads KV head ``j // (h/K)``. Returns (B, T, h·H). Every query must see at least one key.
    """
    batch, tokens, heads, head_dim = q.shape
    kv_heads, span = keys.shape[1], keys.shape[2]
    group = heads // kv_heads
    scale = np.float32(1.0 / np.sqrt(head_dim))  # a float32 scale keeps the scores float32
    grouped = q.astype(np.float32, copy=False).reshape(batch, tokens, kv_heads, group, head_dim)
    grouped = grouped.transpose(0, 2, 3, 1, 4).reshape(batch, kv_heads, group * tokens, head_dim)
    scores = grouped @ keys.astype(np.float32, copy=False).transpose(0, 1, 3, 2) * scale
    scores = scores.reshape(batch, kv_heads, group, tokens, span)
    scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    weights /= np.sum(weights, axis=-1, keepdims=True)
    mixed = weights.reshape(batch, kv_heads, group * tokens, span) @ values.astype(np.float32, copy=False)
    mixed = mixed.reshape(batch, kv_heads, group, tokens, head_dim).transpose(0, 3, 1, 2, 4)
    result: np.ndarray = mixed.reshape(batch, tokens, heads * head_dim)
    return result
