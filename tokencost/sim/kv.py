"""Paged KV-cache accounting: blocks of a fixed number of tokens (vLLM's PagedAttention).

A replica's cache holds ``(M·n·(1 − r) − W) / (block_tokens · kv_bytes_per_token)`` blocks: the
memory of its n accelerators less the reserve and the weights, in blocks (Kwon et al. 2023,
"Efficient Memory Management for Large Language Model Serving with PagedAttention", section 4.2).
A sequence of c tokens holds ``ceil(c / block_tokens)`` blocks.
"""

from __future__ import annotations

import math

import numpy as np

from tokencost.model import serving
from tokencost.model.serving import Deployment


def kv_budget_blocks(dep: Deployment, block_tokens: int) -> int:
    """Blocks of ``block_tokens`` tokens that fit beside the weights on one replica (0: none)."""
    usable = serving.replica_memory_bytes(dep) * (1.0 - dep.memory_reserve_fraction)
    free = usable - dep.weight_bytes
    block_bytes = block_tokens * dep.kv_bytes_per_token
    return max(math.floor(free / block_bytes), 0) if block_bytes > 0 else 0


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
