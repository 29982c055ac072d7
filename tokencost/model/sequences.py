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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def sequence_overhead_s(batch: ArrayLike, per_sequence_s: ArrayLike) -> np.ndarray:
    """Seconds a decode step spends on per-sequence work beyond the first sequence:
    ``(B − 1)·s`` for B sequences in the step and ``s`` seconds per sequence (0 at B ≤ 1).

    The first sequence's share is in the per-step overhead measured at batch 1
    (``efficiency.step_overhead_s``), so the term adds only what grows with the batch.
    """
    extra = np.maximum(np.asarray(batch, dtype=float) - 1.0, 0.0)
    return extra * np.asarray(per_sequence_s, dtype=float)
