"""The per-sequence cost of a decode step: work each step does once per sequence in the batch.

Beside the matrix products and memory traffic of the roofline, a serving engine does per step a
share of work for every sequence it decodes: sampling its next token (logits processing over the
vocabulary), appending it and detokenizing, updating its KV block table, and preparing its inputs
for the next step. vLLM's maintainers measured this host-side work at most of the step for small
models (vLLM v0.6.0 release blog, 2024-09-05,
https://blog.vllm.ai/2024/09/05/perf-update.html: on Llama 3 8B, one H100, only 38 % of the time
was GPU execution; the rest was the API server, scheduling and input preparation, and per-step
detokenization and sampling); SGLang hides it behind the GPU with an overlapped scheduler
(SGLang v0.4 blog, 2024-12-04, https://lmsys.org/blog/2024-12-04-sglang-v0-4/). Its time grows
with the sequences in the batch, so it is an additive term of the step, outside the roofline's
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
