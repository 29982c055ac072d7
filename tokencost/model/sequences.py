"""The per-sequence cost of a decode step: work each step does once per sequence in the batch.

Beside the matrix products and memory traffic of the roofline, a serving engine does per step a
share of work for every sequence it decodes: sampling its next token (logits processing over the
vocabulary), appending it and detokenizing, updating its KV block table, and preparing its inputs
for the next step. vLLM's maintainers profiled this host-side work (vLLM v0.6.0 release blog,
2024-09-05, https://blog.vllm.ai/2024/09/05/perf-update.html: on Llama 3 8B and one H100, 33 % of
the time in the HTTP API server and 29 % in scheduling, i.e. gathering the last step's results,
scheduling the next step's requests and preparing them); SGLang (v0.4 blog, 2024-12-04,
https://lmsys.org/blog/2024-12-04-sglang-v0-4/) and TensorRT-LLM (overlap scheduler, on by default,
https://nvidia.github.io/TensorRT-LLM/latest/features/overlap-scheduler.html) hide it behind the
GPU's work of the next step. Done once per sequence, its time grows with the batch (the ROCm/vllm
README's MI300X decode steps grow by 0.11 ms per sequence at 70B and 0.26 ms at 405B from batch 1:
tokencost/data/MEASUREMENTS.md), so it is an additive term of the step, outside the roofline's
``max(compute, memory)``.

:func:`decode_fixed_s` is the fixed seconds per output token of a decode step that
:mod:`tokencost.model.serving` adds to the roofline (and re-exports): the step overhead
(:func:`decode_overhead_s`) plus this per-sequence term (:func:`sequence_fixed_s`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tokencost.model import speculative as spec
from tokencost.model.deployment import Deployment


def sequence_overhead_s(batch: ArrayLike, per_sequence_s: ArrayLike) -> np.ndarray:
    """Seconds a decode step spends on per-sequence work beyond the first sequence:
    ``(B − 1)·s`` for B sequences in the step and ``s`` seconds per sequence (0 at B ≤ 1).

    The first sequence's share is in the per-step overhead measured at batch 1
    (``efficiency.step_overhead_s``), so the term adds only what grows with the batch.
    """
    extra = np.maximum(np.asarray(batch, dtype=float) - 1.0, 0.0)
    return extra * np.asarray(per_sequence_s, dtype=float)


def decode_overhead_s(dep: Deployment) -> float:
    """Fixed seconds per output token of a decode step: the step overhead, or with speculation the
    round's launches (verify + each draft step) over the tokens the round yields."""
    speculation = dep.speculation
    if speculation is None:
        overhead = dep.step_overhead_s
        return overhead if isinstance(overhead, np.ndarray) else float(overhead)  # type: ignore[return-value]
    round_s = spec.round_overhead_s(
        dep.step_overhead_s, speculation.draft_tokens, speculation.draft is not None
    )
    return float(spec.per_output_token(round_s, speculation.tokens_per_pass))


def sequence_fixed_s(dep: Deployment, batch: ArrayLike) -> Any:
    """The per-sequence cost of a decode step of B sequences per output token: ``(B − 1)·s``
    (:func:`tokencost.model.sequences.sequence_overhead_s`, s = ``dep.sequence_overhead_s``).
    With speculation the round pays it once — the engine schedules, samples into and updates each
    sequence once per round: one scheduling iteration, the drafter's forward passes run inside it
    (vLLM's draft worker "invoke[s] the underlying model multiple times in a single scheduling
    iteration", https://github.com/vllm-project/vllm/pull/2424, read 2026-12-02) — so per output
    token it is divided by the tokens a round yields. B is the whole batch: with p pipeline stages
    the round's p micro-batches hold B sequences. 0.0 at s = 0 (no array is built). A decode step
    (:func:`decode_fixed_s`) and a chunked iteration's fused pass both pay it."""
    per_sequence = dep.sequence_overhead_s
    if not _nonzero(per_sequence):
        return 0.0
    extra = sequence_overhead_s(batch, per_sequence)
    if dep.speculation is not None:
        extra = spec.per_output_token(extra, dep.speculation.tokens_per_pass)
    return extra


def _nonzero(per_sequence: Any) -> bool:
    """Whether a per-sequence cost (a float, or a column of them) is charged anywhere: a float
    tested as one (np.any on a float costs microseconds)."""
    return bool(np.any(per_sequence)) if isinstance(per_sequence, np.ndarray) else bool(per_sequence)


def decode_fixed_s(dep: Deployment, batch: ArrayLike) -> Any:
    """Fixed seconds per output token of a decode step of B sequences: :func:`decode_overhead_s`
    plus :func:`sequence_fixed_s`. At s = 0 this is :func:`decode_overhead_s` itself."""
    overhead = dep.step_overhead_s if dep.speculation is None else None  # a float: no call
    if type(overhead) is not float:
        overhead = decode_overhead_s(dep)
    per_sequence = dep.sequence_overhead_s
    if (per_sequence == 0.0) if type(per_sequence) is float else not _nonzero(per_sequence):
        return overhead
    return overhead + sequence_fixed_s(dep, batch)
