"""How a replica's next iteration admits requests: whole prompts (vLLM's default scheduler, FCFS
under a token budget), prompt chunks fused with the decodes (Sarathi-Serve's chunked prefill), or
a whole static batch into an empty replica.

Each function takes the :class:`~tokencost.sim.scheduler.Replica`, moves what it admits from the
queue into the running batch (or into ``prefilling``, for chunks), and returns the duration of the
iteration's first pass and the time its first tokens are out; the pass times are the model's
(:mod:`tokencost.sim.steps`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokencost.sim.scheduler import Replica


@dataclass
class Prefilling:
    """A sequence admitted under chunked prefill whose prompt is not yet fully processed."""

    request: int
    done: int
    target: int
    blocks: int
    saved: int = 0  # blocks of its cached prefix


def admit_whole(replica: Replica, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
    """Admit whole prompts (FCFS) up to the token budget; prefill pass, then decode step."""
    config, table, queue, cache, slots = (
        replica.config,
        replica.requests,
        replica.queue,
        replica.cache,
        replica.batch.slots,
    )
    decode_s = replica.steps.decode_time_s(decoding, mean_context) if decoding else 0.0
    if not queue or decoding >= config.max_batch:
        return decode_s, now_s  # no prefill pass: 0 s of it, as prefill_pass_s([]) gives
    inputs, generated = table.input_list, table.generated
    prompts: list[int] = []
    cached: list[int] = []
    computed_sum = 0  # Σ (prompt − cached) of the admitted: vLLM's budget counts these only
    if cache is None:
        prompts = admit_uncached(replica, queue, config.max_prefill_tokens)
        # nothing found in a cache: min(0, tokens − 1) cached tokens for each (0 for any prompt)
        cached = [0] * len(prompts) if not prompts or min(prompts) > 0 else [min(0, t - 1) for t in prompts]
    while cache is not None and queue and len(slots) < config.max_batch:
        request = queue[0]
        tokens = inputs[request] + generated[request]
        computed = tokens - min(cache.found(table, request), tokens - 1)
        if prompts and computed_sum + computed > config.max_prefill_tokens:
            break
        need, hit, saved = replica._acquire(request)
        if not replica._fits(need, replica._free()):
            cache.release(request)
            break
        queue.popleft()
        replica._place(request, need, saved)
        replica.blocks_used += need
        prompts.append(tokens)
        cached.append(min(hit, tokens - 1))
        computed_sum += tokens - cached[-1]
    prefill_s = replica.steps.prefill_pass_s(prompts, cached)
    replica.prefill_busy_s += prefill_s
    return prefill_s + decode_s, now_s + prefill_s


def admit_uncached(replica: Replica, queue: deque[int], budget_tokens: int) -> list[int]:
    """:func:`admit_whole`'s loop without a prefix cache; the admitted prompts.

    :meth:`Replica._need_blocks`, :meth:`Replica._fits` and :meth:`Replica._place` are written out
    here (the same checks in the same order: token budget, then blocks): a second copy, kept for
    speed. On ``benchmarks/bench_sim.py`` (callgrind, 10^4 requests) admit_whole's general loop,
    which calls them and the cache's, costs 4.9 % more instructions per request, and calling the
    three from this loop 2.7 %. ``tests/test_sim.py`` checks that both loops give the same run
    (an empty cache takes the general one)."""
    config, table, batch = replica.config, replica.requests, replica.batch
    inputs, outputs, generated, windows = (
        table.input_list,
        table.output_list,
        table.generated,
        table.window_list,
    )
    block, preemption, slots = config.block_tokens, config.preemption, batch.slots
    prompts: list[int] = []
    computed_sum = 0
    while queue and len(slots) < config.max_batch:
        request = queue[0]
        emitted = generated[request]
        tokens = inputs[request] + emitted
        if prompts and computed_sum + tokens > budget_tokens:
            break
        need = -(-(tokens if preemption else inputs[request] + outputs[request]) // block) + windows[request]
        free = config.kv_blocks - replica.blocks_used
        if need > free - (config.watermark_blocks if (slots or replica.prefilling) else 0):
            break
        queue.popleft()
        batch.add(request, tokens, outputs[request] - emitted, 0, need, windows[request])  # _place, no cache
        replica.blocks_used += need
        prompts.append(tokens)
        computed_sum += tokens
    return prompts


def admit_static(replica: Replica, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
    """Static batching: only an empty replica admits, up to max_batch prompts in one pass."""
    if decoding:
        return replica.steps.decode_time_s(decoding, mean_context), now_s
    config, table = replica.config, replica.requests
    prompts: list[int] = []
    while replica.queue and len(replica.batch.slots) < config.max_batch:
        request = replica.queue[0]
        need = replica._need_blocks(request)
        if not replica._fits(need, config.kv_blocks - replica.blocks_used):
            break
        replica.queue.popleft()
        replica._place(request, need)
        replica.blocks_used += need
        prompts.append(table.input_list[request] + table.generated[request])
    prefill_s = replica.steps.prefill_pass_s(prompts)
    replica.prefill_busy_s += prefill_s
    return prefill_s, now_s + prefill_s


def admit_chunks(replica: Replica, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
    """Sarathi-Serve: decodes first, then prompt chunks (oldest first) fill the token budget."""
    config, table = replica.config, replica.requests
    budget = (config.chunk_tokens or 0) - decoding
    chunks: list[tuple[Prefilling, int]] = []
    for entry in replica.prefilling:
        if budget <= 0:
            break
        size = min(entry.target - entry.done, budget)
        chunks.append((entry, size))
        budget -= size
    while budget > 0 and replica.queue and replica.in_batch < config.max_batch:
        request = replica.queue[0]
        need, hit, saved = replica._acquire(request)
        if not replica._fits(need, replica._free()):
            if replica.cache is not None:
                replica.cache.release(request)
            break
        replica.queue.popleft()
        target = table.input_list[request] + table.generated[request]
        entry = Prefilling(request, min(hit, target - 1), target, need, saved)
        replica.prefilling.append(entry)
        replica.blocks_used += need
        size = min(target - entry.done, budget)  # the cached tokens are not computed again
        chunks.append((entry, size))
        budget -= size
    decode_only_s = replica.steps.decode_time_s(decoding, mean_context) if decoding else 0.0
    if not chunks:
        return decode_only_s, now_s
    duration = replica.steps.fused_pass_s(decoding, mean_context, [(e.done, size) for e, size in chunks])
    replica.prefill_busy_s += max(duration - decode_only_s, 0.0)
    for entry, size in chunks:
        entry.done += size
    for entry in [e for e, _ in chunks if e.done == e.target]:
        replica.prefilling.remove(entry)
        replica._place(entry.request, entry.blocks, entry.saved)
    return duration, now_s + duration
