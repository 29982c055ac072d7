"""Hugging Face ``config.json`` to a :class:`ModelSpec`, from a local file (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokencost.errors import ScenarioError
from tokencost.model.flops import linear_params
from tokencost.scenario.model import ModelSpec

# config.json key -> ModelSpec field, first match wins (Llama, Mistral, Qwen, Mixtral, DeepSeek,
# GPT-2/NeoX/Falcon naming).
_KEYS: dict[str, tuple[str, ...]] = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "multi_query_group_num"),
    "head_dim": ("head_dim",),
    "ffn_dim": ("moe_intermediate_size", "intermediate_size", "n_inner", "ffn_dim"),
    "vocab": ("vocab_size",),
    "max_context": ("max_position_embeddings", "n_positions", "seq_length"),
    "experts": ("n_routed_experts", "num_local_experts", "num_experts"),
    "experts_per_token": ("num_experts_per_tok", "num_experts_per_token", "top_k"),
    "shared_experts": ("n_shared_experts",),
    "kv_lora_rank": ("kv_lora_rank",),
    "q_lora_rank": ("q_lora_rank",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "v_head_dim": ("v_head_dim",),
}


def _first(config: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return None


def _count_params(fields: dict[str, Any], config: dict[str, Any]) -> tuple[float, float]:
    """(total, active) parameters from the architecture (dense or uniform MoE).

    Per layer: attention ``d·h·H + 2·d·K·H + h·H·d``, MLP ``m·d·f`` per expert; plus the
    embedding (and output head unless tied). Norm weights (2·d per layer) are included.
    """
    matrices = (
        2
        if "gelu" in str(config.get("hidden_act", "silu")) and "glu" not in str(config.get("hidden_act"))
        else 3
    )
    experts, chosen = fields.get("experts") or 1, fields.get("experts_per_token") or 1
    shared = fields.get("shared_experts") or 0
    dense = linear_params(
        layers=fields["layers"],
        d_model=fields["d_model"],
        heads=fields["heads"],
        kv_heads=fields["kv_heads"],
        head_dim=fields["head_dim"],
        ffn_dim=0,
        vocab=0,
    )
    expert = matrices * fields["d_model"] * fields["ffn_dim"] * fields["layers"]
    embeddings = fields["vocab"] * fields["d_model"] * (1 if fields["tied_embeddings"] else 2)
    norms = 2 * fields["d_model"] * fields["layers"]
    common = dense + embeddings + norms + shared * expert
    return float(common + experts * expert), float(common + chosen * expert)


def load_hf_config(path: str | Path) -> ModelSpec:
    """Read a local Hugging Face ``config.json`` into a :class:`ModelSpec`.

    Parameter counts are computed from the architecture (uniform MoE layers assumed; for models
    with dense leading layers or latent attention, prefer the catalog preset's published counts).
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read Hugging Face config: {exc}", file=str(path)) from None
    if not isinstance(config, dict):
        raise ScenarioError("config.json must hold a JSON object", file=str(path))
    config = {**config.get("text_config", {}), **config}
    fields: dict[str, Any] = {key: _first(config, names) for key, names in _KEYS.items()}
    fields = {key: value for key, value in fields.items() if value is not None}
    for required in ("layers", "d_model", "heads", "vocab"):
        if required not in fields:
            raise ScenarioError(
                f"config.json has no {_KEYS[required][0]!r}", file=str(path), field=f"model.{required}"
            )
    fields.setdefault("kv_heads", fields["heads"])
    fields.setdefault("head_dim", fields["d_model"] // fields["heads"])
    fields.setdefault("ffn_dim", 4 * fields["d_model"])
    fields["tied_embeddings"] = bool(config.get("tie_word_embeddings", False))
    total, active = _count_params(fields, config)
    name = str(config.get("_name_or_path") or path.parent.name or "hf-model")
    try:
        return ModelSpec(name=name, params=total, active_params=active, source=str(path), **fields)
    except ValidationError as exc:
        from tokencost.scenario.scenario import Scenario
        from tokencost.scenario.validation import scenario_error

        raise scenario_error(exc, file=str(path), root=Scenario) from None
