"""Floating-point operations of a decoder-only transformer forward pass.

Conventions (shared with the reference transformer's meter, ``tokencost.loop.reference``):

* A multiply-add counts as 2 FLOP, so a ``(m, k) @ (k, n)`` product costs ``2·m·k·n``.
* *Linear parameters* are the weights that take part in a matrix product for every token:
  the attention projections (q, k, v, o), the MLP (3 matrices for SwiGLU, 2 for GELU), the
  MoE router and the output head. The input embedding is a table look-up and costs no FLOP.
  A token therefore costs ``2·N_linear`` FLOP in the matrix products (Kaplan et al. 2020,
  "Scaling Laws for Neural Language Models", table 1: ``C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn``).
* Attention adds, per layer, per query and per key it attends to, ``2·d_qk`` FLOP for the score
  ``q·k`` and ``2·d_v`` FLOP for the weighted sum of values, for each query head.
* Prefill computes the output head for the last prompt token only, as serving engines do (vLLM
  and TensorRT-LLM gather the last hidden state before the LM head); decode computes it for
  every new token.
* Decode at *context c* means ``c`` tokens are already in the KV cache; the new token attends to
  ``c + 1`` keys (itself included).
* Sliding-window (local) attention layers attend to the last ``w`` keys only (Beltagy et al.
  2020, "Longformer"; Mistral 7B, Jiang et al. 2023, section 2): a model whose layers with a
  window hold a share ``s`` of its attention FLOPs per key and of its KV cache attends, over its
  layers, to ``k − s·max(k − w, 0)`` of ``k`` keys (:func:`attended_keys`); without a window
  ``s`` is 0 and ``w`` is :data:`NO_WINDOW_TOKENS`.
* Norms, rotary embeddings, SwiGLU and residual adds (``O(L·d)`` per token) and the softmax
  (``O(L·h·c)``) are left out: about 0.1 % of the matrix products for Llama-2-7B at c = 4,096,
  0.3 % at c = 32k (the reference transformer's meter counts them as "other" FLOP).

Letters in formulas: B batch, P prompt tokens, c context, L layers, d d_model, h query heads,
K kv_heads, H head_dim, f ffn_dim, V vocab, N_lin linear parameters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import as_float, as_floats, maximum

ArrayLike = npt.ArrayLike
NO_WINDOW_TOKENS = float(2**53)  # the window of a model without one: above every context, exact in a double


def linear_params(
    *,
    layers: int,
    d_model: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    ffn_dim: int,
    vocab: int,
    mlp_matrices: int = 3,
) -> int:
    """Linear (matrix-product) parameters of a dense decoder, output head included.

    ``N_lin = L·(d·h·H + 2·d·K·H + h·H·d + m·d·f) + d·V`` with ``m`` = 3 (SwiGLU) or 2 (GELU).

    Llama-2-7B (L=32, d=4096, h=K=32, H=128, f=11008, V=32000): 6.61e9, i.e. its 6.74e9
    parameters less the 0.131e9 input embedding table (Touvron et al. 2023, table 1).
    """
    attention = d_model * heads * head_dim + 2 * d_model * kv_heads * head_dim
    attention += heads * head_dim * d_model
    mlp = mlp_matrices * d_model * ffn_dim
    return int(layers * (attention + mlp) + d_model * vocab)


def attention_flops_per_key(
    layers: ArrayLike, heads: ArrayLike, qk_head_dim: ArrayLike, v_head_dim: ArrayLike
) -> np.ndarray:
    """FLOP spent on one (query, key) pair, summed over layers: ``2·L·h·(d_qk + d_v)``.

    For standard multi-head or grouped-query attention ``d_qk = d_v = H``, giving ``4·L·h·H``:
    Hoffmann et al. 2022 ("Chinchilla"), appendix F, count ``2·c·d_attn`` for the scores and as
    much for the weighted values (Kaplan et al. 2020, table 1, list only the first). For
    multi-head latent attention with the up-projections absorbed (DeepSeek-V3 technical
    report, section 2.1.1) pass
    ``d_qk = kv_lora_rank + rope_dim`` and ``d_v = kv_lora_rank``.
    """
    layers_, heads_ = as_float(layers), as_float(heads)  # ints: their floats, the same products
    return 2.0 * layers_ * heads_ * (as_float(qk_head_dim) + as_float(v_head_dim))  # type: ignore[no-any-return]


def causal_key_count(prompt_tokens: ArrayLike) -> np.ndarray:
    """(query, key) pairs in causal self-attention over P tokens: ``P·(P+1)/2``.

    Query ``i`` (1-based) attends to keys ``1..i``. Kernels such as FlashAttention skip the
    masked upper triangle, so this — not ``P²`` — is the work done.
    """
    prompt = as_float(prompt_tokens)
    return prompt * (prompt + 1.0) / 2.0


def attended_keys(keys: ArrayLike, window: ArrayLike, share: ArrayLike) -> np.ndarray:
    """Keys a query attends to, summed over layers as a share of all of them: ``k − s·max(k − w, 0)``.

    ``k`` keys in the cache (the query's own included), layers holding a share ``s`` of the
    attention work and KV cache with a window of ``w`` keys. It is also the entries a sequence of
    ``k`` tokens keeps cached (a window layer keeps its last ``w``: vLLM's hybrid KV cache manager,
    TensorRT-LLM's cyclic KV cache). gpt-oss (half its layers with w = 128) at k = 8,192 attends to
    ``8192 − 0.5·8064 = 4160``. ``s = 0`` gives ``k``, exactly.
    """
    if type(keys) is float and type(window) is float and type(share) is float:
        return keys - share * (keys - window if keys > window else 0.0)  # type: ignore[return-value]
    count = as_float(keys)
    return count - as_float(share) * np.maximum(count - as_float(window), 0.0)  # type: ignore[no-any-return]


def chunked_attended_keys(keys: ArrayLike, chunk: ArrayLike, share: ArrayLike) -> np.ndarray:
    """Keys a query attends to when a share ``s`` of the layers attend within chunks of C tokens
    (Llama 4's chunked local attention, ``attention_chunk_size``): the query at 1-based position
    k sees the ``((k − 1) mod C) + 1`` keys of its own chunk there, so over the layers
    ``k − s·C·floor((k − 1)/C)``. Llama 4 Scout (s = 36/48, C = 8,192) at k = 10,000:
    ``10000 − 0.75·8192 = 3856``."""
    count = as_float(keys)
    return count - as_float(share) * as_float(chunk) * np.floor((count - 1.0) / as_float(chunk))  # type: ignore[no-any-return]


def chunked_causal_key_count(prompt_tokens: ArrayLike, chunk: ArrayLike, share: ArrayLike) -> np.ndarray:
    """:func:`causal_key_count` with a share ``s`` of the layers attending within chunks of C:
    ``P·(P+1)/2 − s·C·Σ_{j<P} floor(j/C) = P·(P+1)/2 − s·C·(C·q·(q−1)/2 + q·r)`` with
    ``q = floor(P/C)``, ``r = P − q·C``."""
    prompt, size = as_float(prompt_tokens), as_float(chunk)
    whole = np.floor(prompt / size)
    rest = prompt - whole * size
    return causal_key_count(prompt) - as_float(share) * size * (
        size * whole * (whole - 1.0) / 2.0 + whole * rest
    )  # type: ignore[no-any-return]


def windowed_causal_key_count(prompt_tokens: ArrayLike, window: ArrayLike, share: ArrayLike) -> np.ndarray:
    """:func:`causal_key_count` with a share ``s`` of the layers windowed to ``w`` keys:
    ``Σ_{i=1..P} attended_keys(i) = P·(P+1)/2 − s·m·(m+1)/2`` with ``m = max(P − w, 0)``
    (query i past the window attends to w keys instead of i)."""
    prompt = as_float(prompt_tokens)
    beyond = np.maximum(prompt - as_float(window), 0.0)
    return causal_key_count(prompt) - as_float(share) * beyond * (beyond + 1.0) / 2.0  # type: ignore[no-any-return]


def prefill_flops(
    *,
    linear_params: ArrayLike,
    lm_head_params: ArrayLike,
    attention_flops_per_key: ArrayLike,
    prompt_tokens: ArrayLike,
    batch: ArrayLike = 1.0,
    key_pairs: ArrayLike | None = None,
) -> np.ndarray:
    """FLOP to prefill B prompts of P tokens each into an empty KV cache.

    ``B·[2·(N_lin − d·V)·P + 2·d·V + a·P·(P+1)/2]`` where ``a`` is
    :func:`attention_flops_per_key` and ``d·V = lm_head_params`` is computed once per prompt;
    ``key_pairs`` replaces ``P·(P+1)/2`` where local layers attend to fewer keys
    (:func:`windowed_causal_key_count`, :func:`chunked_causal_key_count`).

    Llama-2-7B, P=512: ``2·6.48e9·512 + 2·0.131e9 + 4·32·32·128·131328 = 6.70e12`` FLOP.
    """
    numbers = (linear_params, lm_head_params, attention_flops_per_key, prompt_tokens, batch)
    linear, head, per_key, prompt, count = as_floats(numbers)
    per_prompt = 2.0 * (linear - head) * prompt + 2.0 * head  # type: ignore[operator]
    pairs = causal_key_count(prompt) if key_pairs is None else key_pairs
    per_prompt = per_prompt + per_key * pairs  # type: ignore[operator]
    return count * per_prompt  # type: ignore[no-any-return,operator]


def decode_step_flops(
    *,
    linear_params: ArrayLike,
    attention_flops_per_key: ArrayLike,
    context_tokens: ArrayLike,
    batch: ArrayLike = 1.0,
) -> np.ndarray:
    """FLOP of one decode step: B sequences each with c tokens cached write one token.

    ``B·[2·N_lin + a·(c + 1)]`` — the forward pass of one token, whose query attends to the c
    cached keys and its own (kipply 2022, "Transformer Inference Arithmetic": 2·N per token).
    """
    linear, per_key, context, count = linear_params, attention_flops_per_key, context_tokens, batch
    if not (type(linear) is type(per_key) is type(context) is type(count) is float):  # else no call
        linear, per_key, context, count = as_floats((linear, per_key, context, count))
    per_token = 2.0 * linear + per_key * (context + 1.0)  # type: ignore[operator]
    return count * per_token  # type: ignore[no-any-return,operator]


def decode_steps(output_tokens: ArrayLike) -> np.ndarray:
    """Decode steps to write O output tokens: ``O − 1``, floored at 0.

    Prefill produces the first output token (its logits come from the last prompt position);
    each later token is one decode step. TTFT therefore holds prefill, and TPOT the steps.
    """
    count = output_tokens if type(output_tokens) is float else as_float(output_tokens)  # a float: no call
    return maximum(count - 1.0, 0.0)  # type: ignore[no-any-return]


def decode_key_count(input_tokens: ArrayLike, output_tokens: ArrayLike) -> np.ndarray:
    """(query, key) pairs over a whole response's decode steps, per sequence.

    Step ``j = 1..O−1`` runs with ``c = P + j − 1`` tokens cached and attends to ``P + j`` keys:
    ``Σ_j (P + j) = (O−1)·P + (O−1)·O/2``.
    """
    steps = decode_steps(output_tokens)
    return steps * np.asarray(input_tokens, dtype=float) + steps * (steps + 1.0) / 2.0
