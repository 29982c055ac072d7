"""The local attention layers of a Hugging Face config: sliding windows and Llama 4's chunks.

Sliding windows are read from ``layer_types`` (gpt-oss), Gemma 2's alternation (even-numbered
layers local), Gemma 3's ``sliding_window_pattern``, Qwen2's ``use_sliding_window`` and
``max_window_layers`` and Mistral's window on every layer; chunked attention from Llama 4's
``attention_chunk_size`` with ``no_rope_layers`` (1: a RoPE layer, which is the chunked kind;
transformers ``Llama4TextConfig``) or ``layer_types``.
"""

from __future__ import annotations

from typing import Any

_SLIDING, _FULL, _CHUNKED = "sliding_attention", "full_attention", "chunked_attention"
_NOPE_INTERVAL = 4  # transformers Llama4TextConfig: every 4th layer is a global NoPE layer by default


def chunked_layers(config: dict[str, Any], layers: int) -> tuple[int | None, int | None, bool]:
    """(chunk in tokens, layers that use it, understood) of Llama 4's chunked local attention: the
    RoPE layers (``no_rope_layers`` 1, or ``layer_types`` "chunked_attention"; by default all but
    every ``no_rope_layer_interval``-th), (None, None, True) without ``attention_chunk_size``."""
    chunk = config.get("attention_chunk_size")
    if not chunk:
        return None, None, True
    types, rope = config.get("layer_types"), config.get("no_rope_layers")
    if isinstance(types, list) and types:
        if not set(types) <= {_CHUNKED, _FULL}:
            return None, None, False
        return int(chunk), types.count(_CHUNKED), True
    if isinstance(rope, list) and rope:
        return int(chunk), sum(1 for flag in rope[:layers] if flag), True
    interval = int(config.get("no_rope_layer_interval") or _NOPE_INTERVAL)
    return int(chunk), layers - layers // interval, True


def sliding_layers(config: dict[str, Any], layers: int) -> tuple[int | None, int | None, bool]:
    """(window in tokens, layers that use it, understood); (None, None, True) without a window."""
    window = config.get("sliding_window")
    types = config.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or not set(types) <= {_SLIDING, _FULL}:
            return None, None, False
        count = types.count(_SLIDING)
        return (int(window), count, True) if count and window else (None, None, count == 0)
    if not window or config.get("use_sliding_window") is False:
        return None, None, True
    model_type = str(config.get("model_type", ""))
    if model_type == "gemma2":  # even-numbered layers are local (transformers Gemma2Config)
        count = (layers + 1) // 2
    elif model_type.startswith("gemma3"):  # all but every sliding_window_pattern-th layer
        pattern = int(config.get("sliding_window_pattern") or 6)
        count = layers - layers // pattern
    elif config.get("use_sliding_window") and config.get("max_window_layers") is not None:
        count = max(0, layers - int(config["max_window_layers"]))  # Qwen2: layers from there on
    else:
        count = layers  # Mistral 7B: a window on every layer
    return int(window), count, True
