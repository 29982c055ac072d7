"""One replica doing continuous batching (Orca, vLLM): FCFS admission, paged KV, preemption.

Every iteration runs one decode step for each running sequence plus the prefill of what it
admits (whole prompts, or chunks under a token budget with chunked prefill); the step times are
the model's (:mod:`tokencost.sim.steps`). Sequences that have produced their last token leave at
the end of the iteration, freeing their slot and KV blocks.

Speed. Between two changes of the batch (an admission, a completion, a preemption) the
iterations differ only by one token of context each, so the replica plans a *segment*: the first
iteration (which may admit and prefill) and then a run of pure decode steps up to the next
completion, timed in one vectorised call. The engine wakes the replica at the end of the segment,
or earlier — at the first iteration boundary after an arrival that could be admitted. Work per
segment is O(running sequences); per-sequence state lives in numpy arrays kept in admission order
(the newest last, which is the one preemption evicts).

KV memory. With ``preemption`` a sequence holds ``ceil(context / block)`` blocks, allocated as it
grows; when an iteration would need more blocks than are free, the newest sequences are
preempted and requeued at the front, to be recomputed later (a prefill of prompt + tokens already
generated, as vLLM's recompute mode does). Without it, admission reserves the blocks of the whole
prompt + output, so nothing is ever preempted and requests wait in the queue instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tokencost.sim import kv
from tokencost.sim.prefix import PrefixCache
from tokencost.sim.requests import RequestTable
from tokencost.sim.steps import StepTimes

SEGMENT_MAX_STEPS = 4096


@dataclass(frozen=True)
class ReplicaConfig:
    """Limits of one replica (counts, tokens and blocks)."""

    max_batch: int
    kv_blocks: int
    block_tokens: int
    max_prefill_tokens: int
    chunk_tokens: int | None
    preemption: bool
    watermark_blocks: int
    max_queue: int | None
    static: bool = False  # static batching: admit only into an empty replica, the whole batch at once


@dataclass
class _Prefilling:
    """A sequence admitted under chunked prefill whose prompt is not yet fully processed."""

    request: int
    done: int
    target: int
    blocks: int
    saved: int = 0  # blocks of its cached prefix


@dataclass
class _Segment:
    start_s: float
    ends_s: np.ndarray
    durations_s: np.ndarray
    decoding: int  # slots [0, decoding) decode in the first iteration
    admitted: int  # slots [decoding, decoding + admitted) finish their prefill in it
    first_token_s: float
    wake_index: int = field(default=-1)


class Replica:
    """A replica's queue, running batch and KV blocks, advanced segment by segment."""

    def __init__(
        self,
        steps: StepTimes,
        config: ReplicaConfig,
        requests: RequestTable,
        cache: PrefixCache | None = None,
    ) -> None:
        self.steps, self.config, self.requests, self.cache = steps, config, requests, cache
        size = config.max_batch
        self.saved = np.zeros(size, np.int64)  # blocks of its prefix the cache holds for it
        self.slot_request = np.zeros(size, np.int64)
        self.context = np.zeros(size, np.int64)  # tokens in the KV cache
        self.remaining = np.zeros(size, np.int64)  # tokens still to emit
        self.blocks = np.zeros(size, np.int64)  # blocks held
        self.running = 0
        self.queue: deque[int] = deque()
        self.prefilling: list[_Prefilling] = []
        self.blocks_used = 0
        self.segment: _Segment | None = None
        self.busy_s = 0.0
        self.prefill_busy_s = 0.0  # share of busy_s spent on prefill work
        self.output_tokens = 0
        self.preemptions = 0
        self.gap_durations_s: list[np.ndarray] = []
        self.gap_weights: list[np.ndarray] = []

    # state the engine reads -------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Requests queued, prefilling or running."""
        return len(self.queue) + len(self.prefilling) + self.running

    @property
    def in_batch(self) -> int:
        return self.running + len(self.prefilling)

    def _need_blocks(self, request: int) -> int:
        table = self.requests
        if self.config.preemption:
            tokens = table.input_tokens[request] + table.generated[request]
        else:
            tokens = table.input_tokens[request] + table.output_tokens[request]
        return kv.blocks_for(int(tokens), self.config.block_tokens)

    def _fits(self, need: int, free: int) -> bool:
        """Admission check; the watermark applies only when something else holds the cache."""
        busy = self.running or self.prefilling
        return need <= free - (self.config.watermark_blocks if busy else 0)

    def could_admit_soon(self, request: int) -> bool:
        """Whether an arrival could join at the next iteration boundary (used to cut a segment)."""
        if self.in_batch >= self.config.max_batch or (self.config.static and self.in_batch):
            return False
        return self.config.preemption or self._fits(self._need_blocks(request), self._free())

    def _free(self, evictable: bool = True) -> int:
        """KV blocks not held by sequences nor by the cache (its idle entries count as free)."""
        held = 0 if self.cache is None else (self.cache.pinned_blocks if evictable else self.cache.blocks)
        return self.config.kv_blocks - self.blocks_used - held

    def _acquire(self, request: int) -> tuple[int, int, int]:
        """(own blocks needed, cached tokens, blocks the cache holds for it), idle entries
        evicted to make room; the cache's pins are undone when it does not fit."""
        need = self._need_blocks(request)
        if self.cache is None:
            return need, 0, 0
        table = self.requests
        hit, saved = self.cache.acquire(
            request, int(table.shared[request]), int(table.session[request]), int(table.history[request])
        )
        need -= saved
        self.cache.evict(need - self._free(evictable=False))
        table.cached[request] = hit
        return need, hit, saved

    # planning -----------------------------------------------------------------------------
    def start(self, now_s: float) -> float | None:
        """Plan the next segment from ``now_s``; return when to wake, or None if idle."""
        if not (self.running or self.queue or self.prefilling):
            return None
        self._make_room()
        decoding = self.running
        mean_context = float(self.context[:decoding].sum()) / decoding if decoding else 0.0
        if self.config.static:
            first_duration_s, first_token_s = self._admit_static(now_s, decoding, mean_context)
        elif self.config.chunk_tokens is None:
            first_duration_s, first_token_s = self._admit_whole(now_s, decoding, mean_context)
        else:
            first_duration_s, first_token_s = self._admit_chunks(now_s, decoding, mean_context)
        admitted = self.running - decoding
        if decoding == 0 and admitted == 0 and first_duration_s == 0.0:
            return None
        return self._plan_run(now_s, decoding, admitted, first_duration_s, first_token_s)

    def _make_room(self) -> None:
        """Allocate the blocks the next decode step needs, preempting the newest sequences until
        they fit."""
        if not self.config.preemption:
            return
        block = self.config.block_tokens
        growth = int(np.count_nonzero(self.context[: self.running] % block == 0))
        if self.cache is not None:
            self.cache.evict(growth - self._free(evictable=False))
        while self.running and growth > self._free(evictable=False):
            slot = self.running - 1
            request = int(self.slot_request[slot])
            growth -= int(self.context[slot] % block == 0)
            table = self.requests
            table.generated[request] = table.output_tokens[request] - self.remaining[slot]
            table.preemptions[request] += 1
            self.preemptions += 1
            self.blocks_used -= int(self.blocks[slot])
            self.running -= 1
            self.queue.appendleft(request)
            if self.cache is not None:
                self.cache.release(request)
        self.blocks_used += growth

    def _place(self, request: int, blocks: int, saved: int = 0) -> None:
        """Put a sequence whose prefill ends in this iteration into the next free slot (a shared
        prompt it computed goes to the cache)."""
        table, slot = self.requests, self.running
        if self.cache is not None:
            moved = self.cache.insert_shared(request, int(table.shared[request]))
            blocks, saved, self.blocks_used = blocks - moved, saved + moved, self.blocks_used - moved
        self.saved[slot] = saved
        emitted = int(table.generated[request])
        self.slot_request[slot] = request
        self.context[slot] = int(table.input_tokens[request]) + emitted
        self.remaining[slot] = int(table.output_tokens[request]) - emitted
        self.blocks[slot] = blocks
        self.running += 1

    def _admit_whole(self, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
        """Admit whole prompts (FCFS) up to the token budget; prefill pass, then decode step."""
        config, table = self.config, self.requests
        prompts: list[int] = []
        cached: list[int] = []
        while self.queue and self.running < config.max_batch:
            request = self.queue[0]
            tokens = int(table.input_tokens[request] + table.generated[request])
            if prompts and sum(prompts) - sum(cached) + tokens > config.max_prefill_tokens:
                break
            need, hit, saved = self._acquire(request)
            if not self._fits(need, self._free()):
                if self.cache is not None:
                    self.cache.release(request)
                break
            self.queue.popleft()
            self._place(request, need, saved)
            self.blocks_used += need
            prompts.append(tokens)
            cached.append(min(hit, tokens - 1))
        prefill_s = self.steps.prefill_pass_s(prompts, cached)
        decode_s = self.steps.decode_time_s(decoding, mean_context) if decoding else 0.0
        self.prefill_busy_s += prefill_s
        return prefill_s + decode_s, now_s + prefill_s

    def _admit_static(self, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
        """Static batching: only an empty replica admits, up to max_batch prompts in one pass."""
        if decoding:
            return self.steps.decode_time_s(decoding, mean_context), now_s
        config, table = self.config, self.requests
        prompts: list[int] = []
        while self.queue and self.running < config.max_batch:
            request = self.queue[0]
            need = self._need_blocks(request)
            if not self._fits(need, config.kv_blocks - self.blocks_used):
                break
            self.queue.popleft()
            self._place(request, need)
            self.blocks_used += need
            prompts.append(int(table.input_tokens[request] + table.generated[request]))
        prefill_s = self.steps.prefill_pass_s(prompts)
        self.prefill_busy_s += prefill_s
        return prefill_s, now_s + prefill_s

    def _admit_chunks(self, now_s: float, decoding: int, mean_context: float) -> tuple[float, float]:
        """Sarathi-Serve: decodes first, then prompt chunks (oldest first) fill the token budget."""
        config, table = self.config, self.requests
        budget = (config.chunk_tokens or 0) - decoding
        chunks: list[tuple[_Prefilling, int]] = []
        for entry in self.prefilling:
            if budget <= 0:
                break
            size = min(entry.target - entry.done, budget)
            chunks.append((entry, size))
            budget -= size
        while budget > 0 and self.queue and self.in_batch < config.max_batch:
            request = self.queue[0]
            need, hit, saved = self._acquire(request)
            if not self._fits(need, self._free()):
                if self.cache is not None:
                    self.cache.release(request)
                break
            self.queue.popleft()
            target = int(table.input_tokens[request] + table.generated[request])
            entry = _Prefilling(request, min(hit, target - 1), target, need, saved)
            self.prefilling.append(entry)
            self.blocks_used += need
            size = min(target, budget)
            chunks.append((entry, size))
            budget -= size
        decode_only_s = self.steps.decode_time_s(decoding, mean_context) if decoding else 0.0
        if not chunks:
            return decode_only_s, now_s
        duration = self.steps.fused_pass_s(decoding, mean_context, [(e.done, size) for e, size in chunks])
        self.prefill_busy_s += max(duration - decode_only_s, 0.0)
        for entry, size in chunks:
            entry.done += size
        for entry in [e for e, _ in chunks if e.done == e.target]:
            self.prefilling.remove(entry)
            self._place(entry.request, entry.blocks, entry.saved)
        return duration, now_s + duration

    def _plan_run(
        self, now_s: float, decoding: int, admitted: int, first_duration_s: float, first_token_s: float
    ) -> float:
        """The first iteration, then pure decode steps until the next completion (or a limit)."""
        config = self.config
        batch = self.running
        steps = int(self.remaining[:batch].min()) if batch else 1
        if self.prefilling or (self.queue and not self.config.static and self._head_admissible_next()):
            steps = 1
        steps = max(1, min(steps, SEGMENT_MAX_STEPS))
        durations = np.empty(steps)
        durations[0] = first_duration_s
        if steps > 1:
            after_first = self.context[:batch].copy()
            after_first[:decoding] += 1
            if config.preemption:
                room = config.kv_blocks - sum(entry.blocks for entry in self.prefilling)
                room += int(self.saved[:batch].sum()) - (self.cache.pinned_blocks if self.cache else 0)
                fit = kv.steps_that_fit(after_first, config.block_tokens, room, steps - 1)
                if fit < steps - 1:
                    steps = fit + 1
                    durations = durations[:steps]
            if steps > 1:
                mean_context = float(after_first.sum()) / batch
                durations[1:] = self.steps.decode_run_s(batch, mean_context, steps - 1)
        ends = now_s + np.cumsum(durations)
        self.segment = _Segment(now_s, ends, durations, decoding, admitted, first_token_s, steps - 1)
        return float(ends[-1])

    def _head_admissible_next(self) -> bool:
        if self.in_batch >= self.config.max_batch:
            return False
        return self._fits(self._need_blocks(self.queue[0]), self._free())

    # advancing ----------------------------------------------------------------------------
    def cut(self, now_s: float) -> float | None:
        """Wake at the first iteration boundary at or after ``now_s`` instead; the new time, or None."""
        segment = self.segment
        if segment is None:
            return None
        index = int(np.searchsorted(segment.ends_s, now_s, side="left"))
        if index >= segment.wake_index:
            return None
        segment.wake_index = index
        return float(segment.ends_s[index])

    def wake(self, now_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Apply the iterations of the segment that ended at ``now_s``; return the requests that
        completed and their completion times."""
        segment = self.segment
        assert segment is not None
        self.segment = None
        done_steps = segment.wake_index + 1
        decoding, batch = segment.decoding, segment.decoding + segment.admitted
        self.busy_s += float(segment.ends_s[segment.wake_index]) - segment.start_s
        self._record_gaps(segment, done_steps)
        self.output_tokens += batch * done_steps
        self.remaining[:batch] -= done_steps
        self.context[:decoding] += done_steps
        self.context[decoding:batch] += done_steps - 1
        table = self.requests
        if segment.admitted:
            newcomers = self.slot_request[decoding:batch]
            fresh = newcomers[table.generated[newcomers] == 0]
            table.first_token_s[fresh] = segment.first_token_s
        finished = self.remaining[:batch] == 0
        finished_requests = self.slot_request[:batch][finished].copy()
        times = np.full(len(finished_requests), now_s)
        if done_steps == 1 and segment.admitted:
            times[np.flatnonzero(finished) >= decoding] = segment.first_token_s
        if len(finished_requests):
            if self.cache is not None:
                self._keep_histories(finished_requests)
            keep = ~finished
            count = int(keep.sum())
            for array in (self.slot_request, self.context, self.remaining, self.blocks, self.saved):
                array[:count] = array[:batch][keep]
            self.running = count
        if self.config.preemption:
            self.blocks[: self.running] = (
                kv.blocks_held(self.context[: self.running], self.config.block_tokens)
                - self.saved[: self.running]
            )
        self.blocks_used = int(self.blocks[: self.running].sum()) + sum(e.blocks for e in self.prefilling)
        return finished_requests, times

    def _keep_histories(self, finished: np.ndarray) -> None:
        """Finished turns release their prefixes; a task's history is kept for its next turn."""
        assert self.cache is not None
        table = self.requests
        for request in finished.tolist():
            kept = int(table.input_tokens[request] + table.output_tokens[request] - table.shared[request])
            self.cache.finish(request, int(table.session[request]), kept, bool(table.keep[request]))

    def _record_gaps(self, segment: _Segment, done_steps: int) -> None:
        """Inter-token gaps: each iteration's duration, once per sequence that decoded in it."""
        durations = segment.durations_s[:done_steps]
        weights = np.full(done_steps, segment.decoding + segment.admitted, np.int64)
        weights[0] = segment.decoding
        self.gap_durations_s.append(durations)
        self.gap_weights.append(weights)
