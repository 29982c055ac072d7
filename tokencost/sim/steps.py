"""Iteration times for the simulator, taken from the analytic model and tabulated once.

The simulator never does its own physics: every number here comes from
:func:`tokencost.model.serving.decode_step` and :func:`tokencost.model.serving.prefill`, called
once on arrays when the table is built, and combined only with the model's own roofline
(:func:`tokencost.model.roofline.roofline_time_s`, or its bit-identical scalar twin
:func:`~tokencost.model.roofline.roofline_time_scalar_s` for one value).

Decode. For a batch of B sequences, compute and memory time of a step are affine in the context c
(FLOP and KV bytes grow linearly in c; the model's :func:`~tokencost.model.serving.decode_total_time_s`
relies on the same fact). Two vectorised calls, at c = 0 and c = 1, give per batch size the offset
and slope of both, so the step time at any mean context is exact — a table over B, not a grid over
c. Because FLOP and bytes are sums over sequences, a batch of sequences with different contexts
takes the time of B sequences at their mean context. The table is checked against the model when
built.

Prefill. ``prefill(P)`` for every P up to a bound is tabulated in one call.

Combining passes (documented choices; all terms are the model's):

* A prefill pass over several prompts P₁..P_k (no chunking) is one forward pass: its FLOP are the
  sum of the prompts' (attention stays within each prompt), its bytes and all-reduces are those
  of one pass over ΣP tokens (weights read once, every prompt's KV written):
  ``t = roofline(Σ compute(P_i), memory(ΣP), comm(ΣP))``. One prompt gives ``prefill(P).time_s``.
* Without chunked prefill an iteration that admits prompts runs the prefill pass and then the
  decode step of the sequences already running, one after the other (vLLM's default scheduler runs
  prefill and decode iterations separately): ``t = t_prefill + t_decode``. This is the assumption
  of the analytic model too — a request holds the replica alone for its prefill
  (:mod:`tokencost.model.cost`) — which is why the two agree at saturation.
* With chunked prefill (Sarathi-Serve) decodes and prompt chunks are fused into one pass: FLOP add
  (a chunk of C tokens after D done costs ``compute(D + C) − compute(D)``, its attention to the
  earlier keys included, and the first chunk also ``compute(0)``, the once-per-prompt output head,
  so that the chunks of a prompt add up to ``compute(P)``), the weights are read once
  (``memory = memory_decode + memory_prefill(ΣC) − memory_prefill(0)``, exact for dense models, an
  upper bound for mixtures of experts) and all-reduces add.
* A decode step, alone or fused, pays the per-sequence cost ``(B − 1)·s`` of its B decoding
  sequences (:func:`tokencost.model.serving.decode_fixed_s`); a prefill pass alone pays none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from tokencost.model import prefix, serving, windows
from tokencost.model import roofline as rl
from tokencost.model.serving import Deployment

MAX_PREFILL_TABLE_TOKENS = 1 << 17
SCALAR_RUN_STEPS = 32  # decode runs up to this many steps are timed in Python floats, longer in numpy
CHECK_RELATIVE_TOLERANCE = 1e-9
Context = TypeVar("Context", float, np.ndarray)


class StepTimes:
    """The model's pass times for one replica, as tables and small scalar functions (seconds)."""

    def __init__(self, dep: Deployment, max_batch: int, prefill_tokens: int) -> None:
        self.dep = dep
        # local layers: (window or chunk, share, chunked) — the tables are in attended contexts (batch.py)
        self.window = (
            (float(dep.window_tokens), float(dep.window_share), bool(dep.window_chunked))
            if dep.windowed
            else None
        )
        self.overhead_s = float(dep.step_overhead_s)
        batch = np.arange(max_batch + 1, dtype=float)
        batch[0] = 1.0  # row 0 unused; keeps the model's formulas away from B = 0
        # fixed seconds by batch: the overhead plus the per-sequence cost (B − 1)·s, the model's own
        decode_fixed = np.asarray(serving.decode_fixed_s(dep, batch), dtype=float)
        self._decode_fixed: list[float] = np.broadcast_to(decode_fixed, batch.shape).tolist()
        # a fused pass pays its decode step's fixed seconds (a speculation round's launches once,
        # per output token), one of prompt chunks alone (no decodes, row 0) a pass's overhead
        self._fused_fixed: list[float] = [self.overhead_s, *self._decode_fixed[1:]]
        at_zero = serving.decode_step(dep, batch, 0.0)
        at_one = serving.decode_step(dep, batch, 1.0)
        compute_s = np.asarray(at_zero.compute_s, dtype=float)
        memory_s = np.asarray(at_zero.memory_s, dtype=float)
        # per batch size: (compute, compute per token, memory, memory per token, comm) seconds
        self._decode_rows: list[tuple[float, float, float, float, float]] = list(
            zip(
                compute_s.tolist(),
                (np.asarray(at_one.compute_s, dtype=float) - compute_s).tolist(),
                memory_s.tolist(),
                (np.asarray(at_one.memory_s, dtype=float) - memory_s).tolist(),
                np.broadcast_to(np.asarray(at_zero.comm_s, dtype=float), batch.shape).tolist(),
                strict=True,
            )
        )
        self.table_tokens = int(min(max(prefill_tokens, 1), MAX_PREFILL_TABLE_TOKENS))
        tokens = np.arange(self.table_tokens + 1, dtype=float)
        pre = serving.prefill(dep, tokens)
        prefill_comm_s = np.broadcast_to(np.asarray(pre.comm_s, dtype=float), tokens.shape)
        # one whole prompt alone: the model's pass time, tabulated with the same roofline
        self._prefill_time_list: list[float] = rl.roofline_time_s(
            pre.compute_s, pre.memory_s, prefill_comm_s, self.overhead_s
        ).tolist()
        self._prefill_lists: tuple[list[float], list[float], list[float]] = (
            np.asarray(pre.compute_s, dtype=float).tolist(),
            np.asarray(pre.memory_s, dtype=float).tolist(),
            prefill_comm_s.tolist(),
        )
        self._beyond: dict[int, tuple[float, float, float]] = {}
        self.cached_read_s_per_token = float(prefix.cached_read_s(dep, dep.kv_bytes_per_token))
        self._check_decode(max_batch)

    def _check_decode(self, max_batch: int) -> None:
        """The affine decomposition must reproduce the model (it would not if the model changed)."""
        batch, context = float(max_batch), 4096.0 + 0.5
        expected = float(serving.decode_step(self.dep, batch, context).time_s)
        attended = float(serving.attended_context(self.dep, context))  # the tables' context (window layers)
        assert abs(self.decode_time_s(max_batch, attended) - expected) <= CHECK_RELATIVE_TOLERANCE * expected

    # decode ---------------------------------------------------------------------------------
    def decode_terms(self, batch: int, mean_context: Context) -> tuple[Context, Context, float]:
        """(compute, memory, comm) seconds of one decode step of ``batch`` sequences at a mean
        context of ``mean_context`` tokens (a float, or an array of them for a run of steps)."""
        compute_s, compute_per_token_s, memory_s, memory_per_token_s, comm_s = self._decode_rows[batch]
        compute = compute_s + compute_per_token_s * mean_context
        return compute, memory_s + memory_per_token_s * mean_context, comm_s

    def decode_time_s(self, batch: int, mean_context: float) -> float:
        """``serving.decode_step(dep, batch, mean_context).time_s``."""
        compute, memory, comm = self.decode_terms(batch, mean_context)
        return rl.roofline_time_scalar_s(compute, memory, comm, self._decode_fixed[batch])

    def decode_run_s(self, batch: int, first_mean_context: float, steps: int) -> list[float]:
        """Durations of ``steps`` decode steps of ``batch`` sequences whose mean context starts at
        ``first_mean_context`` and grows by one token a step (the same operations either way: a
        short run in Python floats, a long one in numpy, where that is faster)."""
        if steps <= SCALAR_RUN_STEPS:
            step_s = self.decode_time_s
            return [step_s(batch, first_mean_context + step) for step in range(steps)]
        return self.decode_run_at_s(batch, first_mean_context + np.arange(steps, dtype=float))

    def decode_run_at_s(self, batch: int, mean_contexts: np.ndarray) -> list[float]:
        """Durations of decode steps of ``batch`` sequences at each of ``mean_contexts`` (in numpy;
        a run whose mean context does not grow by one a step: local attention layers)."""
        compute, memory, comm = self.decode_terms(batch, mean_contexts)
        return list(rl.roofline_time_s(compute, memory, comm, self._decode_fixed[batch]).tolist())

    # prefill --------------------------------------------------------------------------------
    def prefill_terms(self, tokens: int) -> tuple[float, float, float]:
        """(compute, memory, comm) seconds of ``serving.prefill(dep, tokens)``."""
        if tokens <= self.table_tokens:
            compute_s, memory_s, comm_s = self._prefill_lists
            return compute_s[tokens], memory_s[tokens], comm_s[tokens]
        terms = self._beyond.get(tokens)
        if terms is None:
            pre = serving.prefill(self.dep, float(tokens))
            terms = (float(pre.compute_s), float(pre.memory_s), float(pre.comm_s))
            self._beyond[tokens] = terms
        return terms

    def prefill_pass_s(self, prompts: Sequence[int], cached: Sequence[int] = ()) -> float:
        """One forward pass prefilling whole prompts: FLOP add, weights read once (see module).
        With ``cached`` tokens of each prompt found in the prefix cache, each costs the compute of
        a chunk after them, and their KV is read once (:func:`tokencost.model.prefix.prefill_cached`)."""
        if not prompts:
            return 0.0
        if len(prompts) == 1 and not any(cached) and prompts[0] <= self.table_tokens:
            return self._prefill_time_list[int(prompts[0])]
        if not any(cached):
            compute = sum(self.prefill_terms(int(tokens))[0] for tokens in prompts)
            _, memory, comm = self.prefill_terms(int(sum(prompts)))
            return rl.roofline_time_scalar_s(compute, memory, comm, self.overhead_s)
        head = self.prefill_terms(0)[0]
        compute = sum(
            self.prefill_terms(int(tokens))[0] - self.prefill_terms(int(done))[0] + head
            for tokens, done in zip(prompts, cached, strict=True)
        )
        reused = int(sum(cached))
        _, memory, comm = self.prefill_terms(int(sum(prompts)) - reused)
        read = (
            reused
            if self.window is None
            else float(sum(windows.kept_entries(self.dep, float(c)) for c in cached))
        )
        memory += read * self.cached_read_s_per_token  # the keys kept: a window layer's last w
        return rl.roofline_time_scalar_s(compute, memory, comm, self.overhead_s)

    def fused_pass_s(
        self, decode_batch: int, mean_context: float, chunks: Sequence[tuple[int, int]]
    ) -> float:
        """Decode of ``decode_batch`` sequences fused with prompt chunks ``(done, size)``."""
        compute = memory = comm = 0.0
        if decode_batch:
            compute, memory, comm = self.decode_terms(decode_batch, mean_context)
        chunk_tokens = sum(size for _, size in chunks)
        if chunk_tokens:
            for done, size in chunks:
                compute += self.prefill_terms(done + size)[0] - self.prefill_terms(done)[0]
                if done == 0:  # the per-prompt term (the output head), charged once, to the first chunk
                    compute += self.prefill_terms(0)[0]
            _, chunk_memory, chunk_comm = self.prefill_terms(chunk_tokens)
            weights_s = self.prefill_terms(0)[1] if decode_batch else 0.0
            memory += chunk_memory - weights_s
            comm += chunk_comm
        return rl.roofline_time_scalar_s(compute, memory, comm, self._fused_fixed[decode_batch])
