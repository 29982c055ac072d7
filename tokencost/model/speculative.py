"""Speculative decoding: a cheap drafter proposes k tokens, the served model checks them in one pass.

Leviathan, Kalman and Matias 2023, "Fast Inference from Transformers via Speculative Decoding"
(ICML, arXiv 2211.17192), section 3: with each drafted token accepted with probability ``a``
(independently, the paper's simplifying assumption), one verification pass over the k drafted
tokens yields ``(1 − a^(k+1)) / (1 − a)`` tokens — the accepted prefix plus the one token the
target model samples itself at the first rejection (or after the k-th acceptance). The same
pass costs more than a plain decode step: it runs the target model over ``k + 1`` positions
per sequence (FLOP and KV writes grow ``k + 1``-fold; the weights and each cached entry are
read once), and k sequential draft steps come before it. So a round of speculation is

``t_round = k·t_draft(B, c) + t_verify(B·(k+1) tokens, c)``,  ``TPOT = t_round / n(a, k)``

and the speed-up ``t_decode / TPOT`` is largest at batch 1 (decode memory-bound: the extra
positions ride along with weights read anyway) and shrinks as the batch grows and the verify
pass turns compute-bound (Leviathan et al., section 3.4, "the cost of extra arithmetic").

The functions here are the scalar algebra; :mod:`tokencost.model.serving` applies them to its
roofline terms, so the analytic operating point and the simulator see one speculative step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import as_float

ArrayLike = npt.ArrayLike


def expected_tokens_per_pass(acceptance_rate: ArrayLike, draft_tokens: ArrayLike) -> np.ndarray:
    """Tokens one verification pass yields: ``(1 − a^(k+1)) / (1 − a)``; ``k + 1`` when a = 1.

    Leviathan et al. 2023, equation (1). a = 0.8, k = 4: ``(1 − 0.8⁵)/0.2 = 3.3616``.
    a = 0 (nothing accepted) gives 1, a plain decode step's worth.
    """
    rate = np.asarray(acceptance_rate, dtype=float)
    tokens = np.asarray(draft_tokens, dtype=float)
    safe = np.where(rate < 1.0, rate, 0.5)  # keep the division away from 0/0 at a = 1
    geometric = (1.0 - safe ** (tokens + 1.0)) / (1.0 - safe)
    return np.where(rate < 1.0, geometric, tokens + 1.0)


def verify_positions(draft_tokens: ArrayLike) -> np.ndarray:
    """Positions per sequence the verification pass runs the target model over: ``k + 1``.

    The k drafted tokens and the last accepted one, whose logits give the bonus token.
    """
    return as_float(draft_tokens) + 1.0  # type: ignore[no-any-return]


def verify_mean_context_offset(draft_tokens: ArrayLike) -> np.ndarray:
    """Mean extra keys a verified position attends to beyond the cache: ``k/2``.

    Position ``i = 0..k`` of the pass attends to the c cached keys and ``i + 1`` of the pass's
    own; a decode step at context ``c + k/2`` charges each of the ``k + 1`` positions the mean.
    """
    return as_float(draft_tokens) / 2.0  # type: ignore[no-any-return]


def per_output_token(round_value: ArrayLike, tokens_per_pass: ArrayLike) -> np.ndarray:
    """A cost of one speculation round spread over the tokens it yields: ``x_round / n``."""
    return np.asarray(round_value, dtype=float) / np.asarray(tokens_per_pass, dtype=float)


def round_overhead_s(step_overhead_s: ArrayLike, draft_steps: ArrayLike, draft_cost: ArrayLike) -> np.ndarray:
    """Fixed seconds of one round: the verify pass's launch cost plus one per draft step that runs.

    ``(1 + k·[draft costs anything])·t_fixed`` — an n-gram (prompt-lookup) drafter is a table
    search on the host, with no forward pass to launch.
    """
    runs = np.asarray(draft_steps, dtype=float) * (np.asarray(draft_cost, dtype=float) > 0.0)
    return (1.0 + runs) * np.asarray(step_overhead_s, dtype=float)
