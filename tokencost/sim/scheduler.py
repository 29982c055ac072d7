"""One replica doing continuous batching (Orca, vLLM): FCFS admission, paged KV, preemption.

Every iteration runs one decode step for each running sequence plus the prefill of what it
admits (whole prompts, or chunks under a token budget with chunked prefill); the step times are
the model's (:mod:`tokencost.sim.steps`). Sequences that have produced their last token leave at
the end of the iteration, freeing their slot and KV blocks.

Speed. Between two changes of the batch (an admission, a completion, a preemption) the
iterations differ only by one token of context each, so the replica plans a *segment*: the first
iteration (which may admit and prefill) and then a run of pure decode steps up to the next
completion, timed in one vectorised call. The engine wakes the replica at the end of the segment,
or earlier — at the first iteration boundary after an arrival that could be admitted. The running
sequences are kept in admission order (the newest last, which is the one preemption evicts) as
running totals (:mod:`tokencost.sim.batch`), so that work per segment is O(sequences admitted or
finished), not O(batch).

KV memory. With ``preemption`` a sequence holds ``ceil(context / block)`` blocks, allocated as it
grows; when an iteration would need more blocks than are free, the newest sequences are
preempted and requeued at the front, to be recomputed later (a prefill of prompt + tokens already
generated, as vLLM's recompute mode does). Without it, admission reserves the blocks of the whole
prompt + output, so nothing is ever preempted and requests wait in the queue instead.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from tokencost.sim import admission, kv
from tokencost.sim.admission import Prefilling
from tokencost.sim.batch import RunningBatch
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


@dataclass(slots=True)
class _Segment:
    start_s: float
    ends_s: list[float]
    durations_s: list[float]
    decoding: int  # the first `decoding` slots decode in the first iteration
    admitted: int  # the next `admitted` slots finish their prefill in it
    first_token_s: float
    first_admitted: int  # admission number of the first of those
    wake_index: int  # the iteration at whose end the replica wakes


class Replica:
    """A replica's queue, running batch and KV blocks, advanced segment by segment.

    The running sequences are kept in admission order (the newest last, which is the one
    preemption evicts). What a segment needs of them is kept as running totals in the frame of
    the replica's tick, so that a wake-up costs O(sequences that finish), not O(batch): the sum of
    contexts, a heap of finish ticks and, for paged KV, ``Σ ceil(context / block)`` with a count
    of sequences by ``context mod block`` (which ones open a block at a given tick).
    """

    __slots__ = (
        "_admit",
        "_gap_durations_s",
        "_gap_weights",
        "batch",
        "blocks_used",
        "busy_s",
        "cache",
        "config",
        "output_tokens",
        "preemptions",
        "prefill_busy_s",
        "prefilling",
        "queue",
        "requests",
        "segment",
        "steps",
    )

    def __init__(
        self,
        steps: StepTimes,
        config: ReplicaConfig,
        requests: RequestTable,
        cache: PrefixCache | None = None,
    ) -> None:
        self.steps, self.config, self.requests, self.cache = steps, config, requests, cache
        self.batch = RunningBatch(config.block_tokens, paged=config.preemption)
        if config.static:  # how the first iteration of a segment admits (sim/admission.py)
            self._admit = admission.admit_static
        elif config.chunk_tokens is None:
            self._admit = admission.admit_whole
        else:
            self._admit = admission.admit_chunks
        self.queue: deque[int] = deque()
        self.prefilling: list[Prefilling] = []
        self.blocks_used = 0
        self.segment: _Segment | None = None
        self.busy_s = 0.0
        self.prefill_busy_s = 0.0  # share of busy_s spent on prefill work
        self.output_tokens = 0
        self.preemptions = 0
        self._gap_durations_s: list[float] = []
        self._gap_weights: list[int] = []

    # state the engine reads -------------------------------------------------------------
    @property
    def running(self) -> int:
        """Sequences decoding (their prefill done)."""
        return len(self.batch.slots)

    @property
    def outstanding(self) -> int:
        """Requests queued, prefilling or running."""
        return len(self.queue) + len(self.prefilling) + len(self.batch.slots)

    @property
    def in_batch(self) -> int:
        return len(self.batch.slots) + len(self.prefilling)

    @property
    def gap_durations_s(self) -> list[np.ndarray]:
        """Inter-token gaps (s): every iteration's duration (one array)."""
        return [np.array(self._gap_durations_s, dtype=float)]

    @property
    def gap_weights(self) -> list[np.ndarray]:
        """How many sequences saw each gap of :attr:`gap_durations_s`."""
        return [np.array(self._gap_weights, dtype=np.int64)]

    def _need_blocks(self, request: int) -> int:
        table = self.requests
        if self.config.preemption:
            tokens = table.input_list[request] + table.generated[request]
        else:
            tokens = table.input_list[request] + table.output_list[request]
        return kv.blocks_for(tokens, self.config.block_tokens) + table.window_list[request]

    def _fits(self, need: int, free: int) -> bool:
        """Admission check; the watermark applies only when something else holds the cache."""
        busy = self.batch.slots or self.prefilling
        return need <= free - (self.config.watermark_blocks if busy else 0)

    def could_admit_soon(self, request: int) -> bool:
        """Whether an arrival could join at the next iteration boundary (used to cut a segment)."""
        in_batch = len(self.batch.slots) + len(self.prefilling)
        if in_batch >= self.config.max_batch or (self.config.static and in_batch):
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
        batch = self.batch
        if not (batch.slots or self.queue or self.prefilling):
            return None
        if self.config.preemption:
            self._make_room()
        decoding = len(batch.slots)
        mean_context = float(batch.offset_sum + decoding * batch.tick) / decoding if decoding else 0.0
        if decoding and self.steps.window is not None:
            mean_context = float(batch.attended_contexts(batch.tick, 1, *self.steps.window)[0])
        first_duration_s, first_token_s = self._admit(self, now_s, decoding, mean_context)
        admitted = len(self.batch.slots) - decoding
        if decoding == 0 and admitted == 0 and first_duration_s == 0.0:
            return None
        return self._plan_run(now_s, decoding, admitted, first_duration_s, first_token_s)

    def _make_room(self) -> None:
        """Allocate the blocks the next decode step needs, preempting the newest sequences until
        they fit (with preemption on: :meth:`start` calls it only then)."""
        block, tick, table = self.config.block_tokens, self.batch.tick, self.requests
        growth = self.batch.phase[-tick % block]
        if self.cache is None and growth <= self.config.kv_blocks - self.blocks_used:
            self.blocks_used += growth  # the common case: the blocks are free, nobody is preempted
            return
        if self.cache is not None:
            self.cache.evict(growth - self._free(evictable=False))
        while self.batch.slots and growth > self._free(evictable=False):
            sequence = self.batch.slots[-1]
            request, context = sequence.request, sequence.offset + tick
            growth -= int(context % block == 0)
            table.generated[request] = table.output_list[request] - (sequence.finish - tick)
            table.preemptions[request] += 1
            self.preemptions += 1
            self.blocks_used -= -(-context // block) - sequence.saved + sequence.window
            self.batch.remove(sequence)
            self.queue.appendleft(request)
            if self.cache is not None:
                self.cache.release(request)
        self.blocks_used += growth

    def _place(self, request: int, blocks: int, saved: int = 0) -> None:
        """Put a sequence whose prefill ends in this iteration into the next free slot (a shared
        prompt it computed goes to the cache)."""
        table = self.requests
        if self.cache is not None:
            moved = self.cache.insert_shared(request, int(table.shared[request]))
            blocks, saved, self.blocks_used = blocks - moved, saved + moved, self.blocks_used - moved
        emitted = table.generated[request]
        context = table.input_list[request] + emitted
        self.batch.add(
            request, context, table.output_list[request] - emitted, saved, blocks, table.window_list[request]
        )

    def _plan_run(
        self, now_s: float, decoding: int, admitted: int, first_duration_s: float, first_token_s: float
    ) -> float:
        """The first iteration, then pure decode steps until the next completion (or a limit)."""
        config, state, prefilling = self.config, self.batch, self.prefilling
        batch = len(state.slots)
        if prefilling or (self.queue and not config.static and self._head_admissible_next()):
            steps = 1
        elif batch:
            steps = state.min_remaining()
            if steps > SEGMENT_MAX_STEPS:
                steps = SEGMENT_MAX_STEPS
            elif steps < 1:
                steps = 1
        else:
            steps = 1
        if steps > 1 and config.preemption:
            room = config.kv_blocks - (sum(entry.blocks for entry in prefilling) if prefilling else 0)
            room += state.saved_sum - (self.cache.pinned_blocks if self.cache else 0)
            steps = state.steps_that_fit(room, steps - 1) + 1
        if steps == 1:
            durations, ends = [first_duration_s], [now_s + first_duration_s]
        else:
            mean_context = float(state.offset_sum + batch * (state.tick + 1)) / batch
            if self.steps.window is not None:
                attended = state.attended_contexts(state.tick + 1, steps - 1, *self.steps.window)
                durations = [first_duration_s, *self.steps.decode_run_at_s(batch, attended)]
            elif steps - 1 == 1:  # one step: the same terms and roofline as a run of one
                durations = [first_duration_s, self.steps.decode_time_s(batch, mean_context)]
            else:
                durations = [first_duration_s, *self.steps.decode_run_s(batch, mean_context, steps - 1)]
            ends = [now_s + elapsed for elapsed in accumulate(durations)]  # a running sum, as cumsum adds
        self.segment = _Segment(
            now_s, ends, durations, decoding, admitted, first_token_s, state.admissions - admitted, steps - 1
        )
        return ends[-1]

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
        index = bisect.bisect_left(segment.ends_s, now_s)
        if index >= segment.wake_index:
            return None
        segment.wake_index = index
        return segment.ends_s[index]

    def wake(self, now_s: float) -> tuple[list[int], list[float]]:
        """Apply the iterations of the segment that ended at ``now_s``; return the requests that
        completed and their completion times (lists: most wake-ups complete none or one)."""
        segment, batch_state = self.segment, self.batch
        assert segment is not None
        self.segment = None
        wake_index, decoding, admitted = segment.wake_index, segment.decoding, segment.admitted
        done_steps = wake_index + 1
        batch = decoding + admitted
        self.busy_s += segment.ends_s[wake_index] - segment.start_s
        # _record_gaps, inlined: each iteration's duration, once per sequence that decoded in it
        durations = segment.durations_s
        self._gap_durations_s.extend(durations if done_steps == len(durations) else durations[:done_steps])
        self._gap_weights.append(decoding)
        if done_steps > 1:
            self._gap_weights.extend([batch] * wake_index)
        self.output_tokens += batch * done_steps
        if admitted:
            table = self.requests
            generated, first_token_s = table.generated, table.first_token_s
            for sequence in batch_state.slots[decoding:batch]:
                if generated[sequence.request] == 0:
                    first_token_s[sequence.request] = segment.first_token_s
        paged = self.config.preemption
        if paged:
            batch_state.held_sum += batch_state.growth(batch_state.tick, done_steps)
        batch_state.tick += done_steps
        done = batch_state.pop_finished()
        if not done:
            requests: list[int] = []
            times: list[float] = []
        else:
            requests = [sequence.request for sequence in done]
            if done_steps == 1 and admitted:
                first = segment.first_admitted
                times = [segment.first_token_s if s.order >= first else now_s for s in done]
            else:
                times = [now_s] * len(done)
            if self.cache is not None:
                self._keep_histories(requests)
        held = batch_state.held_sum - (batch_state.saved_sum if paged else 0)
        self.blocks_used = held + (sum(entry.blocks for entry in self.prefilling) if self.prefilling else 0)
        return requests, times

    def _keep_histories(self, finished: list[int]) -> None:
        """Finished turns release their prefixes; a task's history is kept for its next turn."""
        assert self.cache is not None
        table = self.requests
        for request in finished:
            kept = table.input_list[request] + table.output_list[request] - int(table.shared[request])
            self.cache.finish(request, int(table.session[request]), kept, bool(table.keep[request]))
