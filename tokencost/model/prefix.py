"""Prefix caching: prompts whose first tokens are already in the KV cache, and conversations.

A cached prefix of C of a prompt's P tokens skips their forward pass: prefill runs only over the
S = P − C new tokens, whose queries still attend to every key, the C cached ones included (vLLM's
automatic prefix caching; SGLang's RadixAttention, Zheng et al. 2024 §3). Its FLOP are those of a
chunk of S tokens after C done, as in chunked prefill (Sarathi-Serve):

    F(P, C) = F(P) − F(C) + F(0) = 2·(N_lin − dV)·S + 2·dV + a·(P(P+1) − C(C+1))/2

with F the prefill FLOP of :func:`tokencost.model.flops.prefill_flops` (F(0) = 2·dV, the output
head, once per prompt). Its bytes are those of a pass over S tokens (weights read once, S tokens
of KV written) plus the C cached tokens' keys and values read once: ``W(S) + S·kv + C·kv``.
Compute and memory time are linear in FLOP and bytes, so the terms are the model's own
(:func:`tokencost.model.serving.prefill`) combined by the roofline; with C = 0 this is prefill.

A shared system prompt is held once per replica, not once per sequence: its blocks are
referenced by every sequence that starts with it (Kwon et al. 2023 §4.4, "shared prefix").

A conversation (a chat, or an agent calling tools) of T turns: turn k's prompt is the first
prompt I plus the k − 1 earlier outputs O and added messages U (user text, tool results),
``P_k = I + (k − 1)(O + U)``. Kept between turns, its KV makes all but the newest U tokens a
cached prefix, ``C_k = P_k − U`` (k ≥ 2): the prompt tokens computed over a task are
``I + (T − 1)·U``, linear in T, where without a cache they are ``Σ P_k = T·I + (O + U)·T(T − 1)/2``,
quadratic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tokencost.model import memory as mem
from tokencost.model import roofline as rl
from tokencost.model import serving, windows
from tokencost.model.memo import as_float, as_result, is_scalar, maximum, remembered
from tokencost.model.serving import Deployment, PhaseTerms

ArrayLike = npt.ArrayLike


def prefill_cached(
    dep: Deployment, prompt_tokens: ArrayLike, cached_tokens: ArrayLike = 0.0, batch: ArrayLike = 1.0
) -> PhaseTerms:
    """Prefill B prompts of P tokens whose first C are cached: FLOP, bytes and seconds (module
    docstring). ``cached_tokens = 0`` gives :func:`tokencost.model.serving.prefill`."""
    return remembered(dep, "prefill_cached", _prefill_cached, prompt_tokens, cached_tokens, batch)


def _prefill_cached(
    dep: Deployment, prompt_tokens: ArrayLike, cached_tokens: ArrayLike, batch: ArrayLike
) -> PhaseTerms:
    if isinstance(prompt_tokens, (int, float)) and isinstance(cached_tokens, (int, float)):
        prompt: ArrayLike = float(prompt_tokens)  # floats: each pass below from the memo
        cached: ArrayLike = min(float(cached_tokens), prompt)
    elif isinstance(cached_tokens, (int, float)) and cached_tokens == 0:
        # Columns with nothing cached: the new tokens are the prompt itself (P − 0 = P exactly),
        # so the suffix pass and the cached one are the full and head passes, from the memo.
        prompt, cached = np.asarray(prompt_tokens, dtype=float), 0.0
    else:
        prompt = np.asarray(prompt_tokens, dtype=float)
        cached = np.minimum(np.asarray(cached_tokens, dtype=float), prompt)
    if isinstance(prompt, float):
        new = prompt - cached
    else:
        new = prompt if isinstance(cached, float) and cached == 0.0 else np.subtract(prompt, cached)
    full = serving.prefill(dep, prompt, batch)
    done = serving.prefill(dep, cached, batch)
    head = serving.prefill(dep, 0.0, batch)
    suffix = serving.prefill(dep, new, batch)
    flops = full.flops - done.flops + head.flops
    compute = full.compute_s - done.compute_s + head.compute_s
    kept = windows.kept_entries(dep, cached)  # the cached keys the chunk reads (the window's, in its layers)
    read = as_float(batch) * kept * dep.kv_bytes_per_token
    bytes_moved = suffix.bytes + read
    memory = suffix.memory_s + cached_read_s(dep, read)
    time = rl.roofline_time_s(compute, memory, suffix.comm_s, dep.step_overhead_s)
    return PhaseTerms(flops, bytes_moved, compute, memory, suffix.comm_s, time)


def cached_read_s(dep: Deployment, kv_bytes: ArrayLike) -> np.ndarray:
    """Seconds to read ``kv_bytes`` of cached keys and values, spread over the replica's t·p
    accelerators and crossing its p stages: ``p · (bytes/(t·p)) / (bandwidth · efficiency)``."""
    share = dep.tensor * dep.pipeline
    per_stage = rl.memory_time_s(
        as_float(kv_bytes) / share, dep.bandwidth_bytes_per_s, dep.bandwidth_efficiency
    )
    return as_result(dep.pipeline * per_stage)  # type: ignore[no-any-return]


def max_batch_shared(dep: Deployment, context_tokens: ArrayLike, shared_tokens: ArrayLike) -> np.ndarray:
    """Most sequences of c tokens that fit when their first ``shared_tokens`` are one shared
    prefix held once: the prefix's KV joins the weights, each sequence holds ``c − shared``."""
    shared = as_float(shared_tokens)
    own = maximum(as_float(context_tokens) - shared, 1.0)  # floats: a float (np.maximum's choice)
    if dep.windowed:  # the window layers: the prefix's last w entries once, each sequence its own last w
        held, each = windows.shared_kv_bytes(dep, as_float(context_tokens), shared, own)
    else:
        held, each = shared * dep.kv_bytes_per_token, own * dep.kv_bytes_per_token
    return mem.max_batch_that_fits(
        memory_bytes=serving.replica_memory_bytes(dep),
        reserve_fraction=dep.memory_reserve_fraction,
        weight_bytes=dep.weight_bytes + held,
        kv_bytes_per_sequence=each,
    )


def turn_prompt_tokens(
    first_tokens: ArrayLike, output_tokens: ArrayLike, added_tokens: ArrayLike, turns: int
) -> np.ndarray:
    """``P_k = I + (k − 1)(O + U)`` for k = 1..T (tokens, one value per turn). One turn of plain
    numbers: the same operations on floats (``I + 0·(O + U)``, k − 1 = 0.0), into one array."""
    if turns == 1 and is_scalar(first_tokens, output_tokens, added_tokens):
        growth_ = float(output_tokens) + float(added_tokens)  # type: ignore[arg-type]
        return np.array([float(first_tokens) + (1.0 - 1.0) * growth_])  # type: ignore[arg-type]
    k = np.arange(1, turns + 1, dtype=float)
    growth = np.asarray(output_tokens, dtype=float) + np.asarray(added_tokens, dtype=float)
    return np.asarray(first_tokens, dtype=float) + (k - 1.0) * growth


def turn_cached_tokens(
    prompt_tokens: np.ndarray, added_tokens: float, shared_tokens: float, keep_kv: bool, hit_fraction: float
) -> np.ndarray:
    """Cached tokens of each turn: the shared prefix on every turn; with the conversation's KV
    kept, also its history, ``P_k − U`` from the second turn on; both scaled by the share of the
    cacheable tokens the cache still holds (``hit_fraction``). The last prompt token is always
    computed (its logits give the first output token), as vLLM does on a full hit."""
    prompt = np.asarray(prompt_tokens, dtype=float)
    if prompt.shape == (1,):  # one turn: the shared prefix alone, np.minimum as a choice
        scaled, last = float(shared_tokens) * hit_fraction, float(prompt[0]) - 1.0
        return np.array([scaled if scaled < last or scaled != scaled else last])
    cacheable = np.full_like(prompt, float(shared_tokens))
    if keep_kv and len(prompt) > 1:
        cacheable[1:] = np.maximum(prompt[1:] - added_tokens, shared_tokens)
    return np.minimum(cacheable * hit_fraction, prompt - 1.0)  # the last token is always computed
