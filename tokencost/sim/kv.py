"""Paged KV-cache accounting: blocks of a fixed number of tokens (vLLM's PagedAttention).

A replica's cache holds ``(M·n·(1 − r) − W) / (block_tokens · kv_bytes_per_token)`` blocks: the
memory of its n accelerators less the reserve and the weights, in blocks (Kwon et al. 2023,
"Efficient Memory Management for Large Language Model Serving with PagedAttention", section 4.2).
A sequence of c tokens holds ``ceil(c / block_tokens)`` blocks. With sliding-window layers on a
share of the layers the blocks are those of the other layers (their KV grows with the context),
and each request also holds, from admission, the blocks of its window layers' last w entries
(:func:`window_blocks`), as vLLM's hybrid KV cache manager gives those layers blocks for the
window alone.
"""

from __future__ import annotations

import math

import numpy as np

from tokencost.model import serving
from tokencost.model.serving import Deployment


def growing_kv_bytes_per_token(dep: Deployment) -> float:
    """KV bytes per token of the layers whose cache grows with the context: all of them, or,
    with sliding-window layers on a share s < 1 of them, the others (and a drafter's)."""
    if not _windowed_memory(dep):
        return float(dep.kv_bytes_per_token)
    return float(dep.kv_bytes_per_token - dep.window_share * dep.target_kv_bytes_per_token)


def _windowed_memory(dep: Deployment) -> bool:
    """Blocks model the window layers apart: some layers have a window, not all of them (every
    layer windowed, as Mistral 7B, leaves nothing that grows: those keep full-attention blocks)."""
    return bool(dep.windowed) and float(dep.window_share) < 1.0


def kv_budget_blocks(dep: Deployment, block_tokens: int) -> int:
    """Blocks of ``block_tokens`` tokens (of the growing layers: :func:`growing_kv_bytes_per_token`)
    that fit beside the weights on one replica (0: none)."""
    usable = serving.replica_memory_bytes(dep) * (1.0 - dep.memory_reserve_fraction)
    free = usable - dep.weight_bytes
    block_bytes = block_tokens * growing_kv_bytes_per_token(dep)
    return max(math.floor(free / block_bytes), 0) if block_bytes > 0 else 0


def window_blocks(dep: Deployment, block_tokens: int, tokens: np.ndarray) -> list[int]:
    """Blocks each request's window layers hold, reserved at admission for its whole life: their
    ``s · kv · min(P + O, w)`` bytes (the window layers keep their last w entries:
    :mod:`tokencost.model.windows`) in blocks of the growing layers, rounded up; 0 without a window."""
    if not _windowed_memory(dep):
        return [0] * len(tokens)
    per_token = float(dep.window_share * dep.target_kv_bytes_per_token)
    kept = np.minimum(np.asarray(tokens, dtype=float), float(dep.window_tokens))
    blocks = np.ceil(per_token * kept / (block_tokens * growing_kv_bytes_per_token(dep)))
    return blocks.astype(np.int64).tolist()  # type: ignore[no-any-return]


def blocks_for(tokens: int, block_tokens: int) -> int:
    """Blocks that hold ``tokens`` tokens: ``ceil(tokens / block_tokens)``."""
    return -(-tokens // block_tokens)


def blocks_held(context_tokens: np.ndarray, block_tokens: int) -> np.ndarray:
    """Blocks each sequence of ``context_tokens`` holds (vectorised ``ceil``)."""
    return -(-context_tokens // block_tokens)


def steps_that_fit(
    context_tokens: np.ndarray, block_tokens: int, free_total_blocks: int, most_steps: int
) -> int:
    """Largest m ≤ ``most_steps`` such that after m more tokens per sequence all sequences fit:
    ``Σ ceil((c_i + m)/block) ≤ free_total_blocks``. Blocks grow with m, so bisect (O(n log m))."""

    def fits(steps: int) -> bool:
        return int(blocks_held(context_tokens + steps, block_tokens).sum()) <= free_total_blocks

    if fits(most_steps):
        return most_steps
    low, high = 0, most_steps  # fits(low) holds (the caller guarantees the current state fits)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low
