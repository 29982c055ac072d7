"""The running batch of a replica, kept as totals in a frame of ticks (iterations run so far).

A sequence admitted at tick T with context c and r tokens still to emit gets an offset
``o = c − T − 1`` and a finish tick ``f = T + r``: at any later tick t its context is ``o + t`` and
``f − t`` tokens remain (the iteration that admits it ends its prefill and emits a token without
growing its context; every later one adds a token). So a segment of decode steps changes nothing
per sequence, and what planning needs comes from running totals, exactly, in integers:

* the sum of contexts: ``Σ o_i + n · t``;
* the fewest tokens left: the top of a heap of finish ticks (preempted sequences are skipped);
* with paged KV (vLLM's PagedAttention: a sequence of c tokens holds ``ceil(c / block)`` blocks)
  ``H(t) = Σ ceil((o_i + t) / block)``: a context crosses into a new block at tick t when
  ``(o_i + t) mod block = 0``, so with the count of sequences by ``o_i mod block``,
  ``H(t + 1) − H(t)`` is the count at ``−t mod block``. :func:`tokencost.sim.kv.steps_that_fit`
  follows on these counts in O(block) instead of a bisection over the contexts.

Work per wake-up is O(block + finished sequences), not O(batch). A model with sliding-window
layers also needs the mean context its steps attend to (:meth:`RunningBatch.attended_contexts`),
which is not a running total: O(batch · log batch) per wake-up for those models alone.
"""

from __future__ import annotations

import heapq

import numpy as np


class _Sequence:
    """A running sequence in its replica's frame of ticks (iterations run so far): its context is
    ``offset + tick`` tokens and ``finish - tick`` tokens remain to be emitted."""

    __slots__ = ("alive", "finish", "offset", "order", "request", "reserved", "saved", "window")

    def __init__(
        self, request: int, offset: int, finish: int, saved: int, reserved: int, order: int, window: int
    ) -> None:
        self.request, self.offset, self.finish = request, offset, finish
        self.saved = saved  # blocks of its prefix the cache holds for it
        self.reserved = reserved  # blocks it was given at admission (its window's included)
        self.order = order  # admission number: slots are kept in this order
        self.window = window  # blocks its sliding-window layers hold (paged: beside its context's)
        self.alive = True


class RunningBatch:
    """The running sequences of one replica, in admission order (the newest last), and their totals."""

    __slots__ = (
        "_finishes",
        "admissions",
        "block_tokens",
        "held_sum",
        "offset_sum",
        "paged",
        "phase",
        "saved_sum",
        "slots",
        "tick",
    )

    def __init__(self, block_tokens: int, paged: bool) -> None:
        self.block_tokens = block_tokens
        self.paged = paged  # blocks follow the context (preemption); else reserved at admission
        self.tick = 0  # iterations run
        self.slots: list[_Sequence] = []  # running sequences, in admission order
        self._finishes: list[tuple[int, int, _Sequence]] = []  # heap of (finish, order, sequence)
        self.admissions = 0
        self.offset_sum = 0  # Σ offset: the sum of contexts is offset_sum + len(slots) · tick
        self.saved_sum = 0
        self.held_sum = 0  # paged: Σ ceil(context / block) at tick; else Σ reserved blocks
        self.phase = [0] * block_tokens  # sequences by offset mod block

    def add(
        self, request: int, context: int, remaining: int, saved: int, reserved: int, window: int = 0
    ) -> None:
        """A sequence whose prefill ends in the iteration starting at this tick: after it, its
        context is ``context`` and ``remaining − 1`` tokens remain; ``window``: the blocks its
        sliding-window layers hold (in ``reserved`` too)."""
        tick, block = self.tick, self.block_tokens
        offset = context - tick - 1
        sequence = _Sequence(request, offset, tick + remaining, saved, reserved, self.admissions, window)
        self.admissions += 1
        self.slots.append(sequence)
        heapq.heappush(self._finishes, (sequence.finish, sequence.order, sequence))
        self.offset_sum += offset
        self.saved_sum += saved
        if self.paged:
            self.held_sum += -(-(offset + tick) // block) + window
            self.phase[offset % block] += 1
        else:
            self.held_sum += reserved

    def remove(self, sequence: _Sequence) -> None:
        """Take a sequence out of ``slots`` and the totals."""
        self.slots.remove(sequence)
        sequence.alive = False
        block = self.block_tokens
        self.offset_sum -= sequence.offset
        self.saved_sum -= sequence.saved
        if self.paged:
            self.held_sum -= -(-(sequence.offset + self.tick) // block) + sequence.window
            self.phase[sequence.offset % block] -= 1
        else:
            self.held_sum -= sequence.reserved

    def growth(self, first_tick: int, steps: int) -> int:
        """Blocks the running sequences open in ``steps`` decode steps from ``first_tick`` (one
        each time a context crosses a multiple of the block)."""
        block, phase = self.block_tokens, self.phase
        if steps == 1:
            return phase[-first_tick % block]
        full, part = divmod(steps, block)
        growth = full * len(self.slots)
        if not part:
            return growth
        # ticks first..first+part−1 read phase[−tick mod block]: indices top, top−1, … (wrapping)
        top = -first_tick % block
        low = top - part + 1
        if low >= 0:
            return growth + sum(phase[low : top + 1])
        return growth + sum(phase[: top + 1]) + sum(phase[block + low :])

    def steps_that_fit(self, room: int, most: int) -> int:
        """Largest m ≤ ``most`` such that after the first iteration and m more, the running
        sequences hold at most ``room`` blocks: ``Σ ceil((c_i + 1 + m) / block) ≤ room`` (0 if
        none; :func:`tokencost.sim.kv.steps_that_fit` on the totals)."""
        budget = room - self.held_sum
        if budget >= self.growth(self.tick, most + 1):
            return most
        if budget < 0:
            return 0
        block, count, phase = self.block_tokens, len(self.slots), self.phase
        full, left = divmod(budget, count)
        part = 0  # the largest part < block with growth over `part` steps ≤ left
        while part < block - 1 and phase[-(self.tick + part) % block] <= left:
            left -= phase[-(self.tick + part) % block]
            part += 1
        return max(full * block + part - 1, 0)

    def attended_contexts(
        self, first_tick: int, steps: int, window: float, share: float, chunked: bool = False
    ) -> np.ndarray:
        """Mean attended context of the running sequences at ticks ``first_tick …`` (``steps``
        of them): ``mean_i e(o_i + t)``, the context at which a step's affine terms price the
        local layers (:func:`tokencost.model.serving.attended_context` of each sequence,
        averaged: FLOP and bytes add over sequences). A sliding window takes
        ``s · Σ_i max(o_i + t + 1 − w, 0)`` off the sum of contexts: over sorted offsets, those
        above ``w − t − 1``, with a suffix sum. Chunks of C take ``s·C · Σ_i floor((o_i + t)/C)``:
        at ``t = t₀ + d`` each term is its value at t₀ plus ``floor((r_i + d)/C)`` with
        ``r_i = (o_i + t₀) mod C``, which is ``floor(d/C)`` plus one where ``r_i ≥ C − (d mod C)``."""
        offsets = np.sort(np.fromiter((sequence.offset for sequence in self.slots), dtype=float))
        count = float(len(offsets))
        ticks = first_tick + np.arange(steps, dtype=float)
        mean = (float(self.offset_sum) + count * ticks) / count
        if chunked:
            contexts = offsets + float(first_tick)
            whole = np.floor(contexts / window)
            residues = np.sort(contexts - whole * window)
            later = ticks - float(first_tick)
            laps = np.floor(later / window)
            over = count - np.searchsorted(residues, window - (later - laps * window), side="left")
            return mean - share * window * (float(whole.sum()) + count * laps + over) / count
        above = np.concatenate([np.cumsum(offsets[::-1])[::-1], [0.0]])  # Σ of offsets from index i on
        threshold = window - ticks - 1.0
        first = np.searchsorted(offsets, threshold, side="right")
        excess = above[first] - (count - first) * threshold
        return mean - share * excess / count

    def min_remaining(self) -> int:
        heap = self._finishes
        while not heap[0][2].alive:
            heapq.heappop(heap)
        return heap[0][0] - self.tick

    def pop_finished(self) -> list[_Sequence]:
        """Take the running sequences with nothing left to emit at this tick out of the batch;
        they are returned in slot order."""
        heap, tick, done = self._finishes, self.tick, []
        while heap and heap[0][0] <= tick:
            sequence = heapq.heappop(heap)[2]
            if sequence.alive:
                done.append(sequence)
                self.remove(sequence)
        if len(done) > 1:
            done.sort(key=lambda sequence: sequence.order)
        return done
