"""Hugging Face ``config.json`` to a :class:`ModelSpec`, from a local file (no network).

This module and the YAML loader are where a ``config.json`` is read; the specs' validators never
touch a file. What it understands, and how it counts (one multiply-add weight = one parameter):

* **Attention** per layer: ``d·h·H + 2·d·K·H + h·H·d`` (q, k, v, o), plus ``h·H + 2·K·H + d``
  biases when ``attention_bias``. **Multi-head latent attention** (DeepSeek-V2/V3,
  ``kv_lora_rank``): ``d·r_q + r_q·h·(n + p)`` for the query (``d·h·(n + p)`` without
  ``q_lora_rank``), ``d·(r_kv + p)`` for the compressed key/value and the shared rotary key,
  ``r_kv·h·(n + v)`` to expand it, ``h·v·d`` out (n = ``qk_nope_head_dim``, p =
  ``qk_rope_head_dim``, v = ``v_head_dim``; DeepSeek-V3 technical report, arXiv 2412.19437, §2.1.1).
* **MLP**: ``m·d·f`` with m = 3 for gated MLPs (SwiGLU, GeGLU: Llama, Mistral, Qwen, Gemma,
  DeepSeek, gpt-oss) and 2 for the plain ones (GPT-2, GPT-J, NeoX, Falcon, OPT, BLOOM, StarCoder2).
  **Mixture of experts**: E routed experts of ``moe_intermediate_size`` (else
  ``intermediate_size``) with a ``d·E`` router, k used per token, plus always-on shared experts
  (``n_shared_experts``, or one of ``shared_expert_intermediate_size`` with a ``d`` gate, Qwen2-MoE).
  **Dense leading layers** (``first_k_dense_replace``, DeepSeek), dense layers listed in
  ``mlp_only_layers`` or left out by ``decoder_sparse_step``/``moe_layer_freq`` (Qwen) have a dense
  MLP of ``intermediate_size``.
* Norm weights ``2·d`` per layer and ``d`` at the end; the embedding ``V·d`` and the output head
  ``V·d`` unless ``tie_word_embeddings``. The multi-token-prediction module
  (``num_nextn_predict_layers``) is not part of the served model and is not counted (DeepSeek's
  671B figure excludes it too).
* **Sliding windows** (``sliding_window`` with ``layer_types``, Gemma 2's alternation, Gemma 3's
  ``sliding_window_pattern``, Qwen2's ``use_sliding_window``/``max_window_layers``, Mistral's
  window on every layer) are recorded in ``sliding_window`` and ``sliding_window_layers``.
* ``quantization_config`` maps to the weight precision: GPTQ/AWQ 4-bit with group g →
  ``int4-g{g}`` (``int4`` when per channel), 8-bit → ``int8``; ``fp8`` → ``fp8``; ``mxfp4`` →
  ``mxfp4``; bitsandbytes ``load_in_8bit`` → ``int8``. Modules kept unquantised
  (``modules_to_not_convert``: gpt-oss's attention and router) are not modelled: one precision
  holds for every weight.

Keys that change none of these (token ids, dropout, norm epsilons, rotary scaling, router
losses, ...) are listed in :data:`_NO_COST_KEYS`; any other key is named in one
:class:`TokenCostWarning`, since it may change the model's size.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.scenario.files import read_bounded
from tokencost.scenario.hf_attention import chunked_layers, sliding_layers
from tokencost.scenario.model import ModelSpec

# config.json key -> ModelSpec field, first match wins (Llama, Mistral, Qwen, Mixtral, DeepSeek,
# gpt-oss, GPT-2/NeoX/Falcon naming).
_KEYS: dict[str, tuple[str, ...]] = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "multi_query_group_num"),
    "head_dim": ("head_dim",),
    "vocab": ("vocab_size",),
    "max_context": ("max_position_embeddings", "n_positions", "seq_length"),
    "experts": ("n_routed_experts", "num_local_experts", "num_experts"),
    "experts_per_token": ("num_experts_per_tok", "num_experts_per_token", "experts_per_token"),
    "shared_experts": ("n_shared_experts",),
    "kv_lora_rank": ("kv_lora_rank",),
    "q_lora_rank": ("q_lora_rank",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "v_head_dim": ("v_head_dim",),
}
# Read by the functions below, beyond _KEYS.
_READ_KEYS = frozenset(
    {
        "_name_or_path",
        "intermediate_size",
        "moe_intermediate_size",
        "n_inner",
        "ffn_dim",
        "shared_expert_intermediate_size",
        "first_k_dense_replace",
        "mlp_only_layers",
        "decoder_sparse_step",
        "moe_layer_freq",
        "tie_word_embeddings",
        "hidden_act",
        "hidden_activation",
        "activation_function",
        "attention_bias",
        "mlp_bias",
        "sliding_window",
        "layer_types",
        "sliding_window_pattern",
        "use_sliding_window",
        "max_window_layers",
        "attention_chunk_size",
        "no_rope_layers",
        "no_rope_layer_interval",
        "quantization_config",
        "text_config",
        "model_type",
    }
)
# Keys that change neither the parameter count, the bytes nor the FLOPs tokencost models.
_NO_COST_KEYS = frozenset(
    {
        # identity and tooling
        "architectures",
        "auto_map",
        "transformers_version",
        "torch_dtype",  # the checkpoint's dtype; what is served is the scenario's precision
        "dtype",
        "use_cache",
        "pretraining_tp",
        "_attn_implementation_autoset",
        "cache_implementation",
        "is_decoder",
        # token ids
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        # training only
        "initializer_range",
        "attention_dropout",
        "hidden_dropout",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "dropout",
        "router_aux_loss_coef",
        "router_z_loss_coef",
        "aux_loss_alpha",
        "seq_aux",
        "output_router_logits",
        "ep_size",
        # numerics without a cost: norms, rotary embedding and its long-context scaling, logit
        # soft-capping, the attention scale, the gpt-oss SwiGLU clamp, MoE routing rules
        "rms_norm_eps",
        "layer_norm_eps",
        "layer_norm_epsilon",
        "rope_theta",
        "rope_scaling",
        "rope_parameters",
        "initial_context_length",
        "attn_logit_softcapping",
        "final_logit_softcapping",
        "query_pre_attn_scalar",
        "swiglu_limit",
        "n_group",
        "topk_group",
        "topk_method",
        "scoring_func",
        "routed_scaling_factor",
        "norm_topk_prob",
        "sliding_window_size",  # Gemma 2's older spelling of sliding_window
        # the multi-token-prediction module is not part of the served model
        "num_nextn_predict_layers",
    }
)
_PLAIN_MLP_TYPES = frozenset(
    {"gpt2", "gptj", "gpt_neox", "falcon", "opt", "bloom", "gpt_bigcode", "starcoder2"}
)
_GATED_MATRICES = 3  # gate, up, down
# Integer weight formats by bit width; 4-bit group sizes that have a precision in fields.py.
_INT_BITS = {8: "int8", 4: "int4"}
_INT4_GROUPS = (32, 64, 128)


@dataclass(frozen=True)
class HfImport:
    """What a ``config.json`` says: ModelSpec fields, the weight precision its
    ``quantization_config`` implies (None when unquantised), and the keys left unused."""

    model: dict[str, Any]
    weights_precision: str | None
    unused_keys: tuple[str, ...]


def _first(config: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return None


def _mlp_matrices(config: dict[str, Any]) -> int:
    if str(config.get("model_type", "")) in _PLAIN_MLP_TYPES:
        return 2
    if config.get("model_type"):
        return _GATED_MATRICES
    act = str(config.get("hidden_act") or config.get("activation_function") or "silu")
    return 2 if "gelu" in act and "glu" not in act.replace("gelu", "") else _GATED_MATRICES


def _dense_layer_count(config: dict[str, Any], layers: int, moe: bool) -> int:
    """Layers with a dense MLP in a mixture-of-experts model (0 for a dense model)."""
    if not moe:
        return 0
    if config.get("first_k_dense_replace") is not None:
        return min(layers, int(config["first_k_dense_replace"]))
    step = int(config.get("decoder_sparse_step") or config.get("moe_layer_freq") or 1)
    only = set(config.get("mlp_only_layers") or [])
    return sum(1 for i in range(layers) if i in only or (i + 1) % max(step, 1))


def _attention_params(fields: dict[str, Any], bias: bool) -> int:
    """Weights of one attention block (q, k, v, o; or MLA's projections), see the module doc."""
    d, h = fields["d_model"], fields["heads"]
    if fields.get("kv_lora_rank"):
        rope, nope = fields.get("qk_rope_head_dim") or 0, fields.get("qk_nope_head_dim") or 0
        value, kv_rank = fields.get("v_head_dim") or fields["head_dim"], fields["kv_lora_rank"]
        q_rank = fields.get("q_lora_rank")
        query = d * q_rank + q_rank + q_rank * h * (nope + rope) if q_rank else d * h * (nope + rope)
        return int(query + d * (kv_rank + rope) + kv_rank + kv_rank * h * (nope + value) + h * value * d)
    kv, head = fields["kv_heads"], fields["head_dim"]
    weights = 2 * d * h * head + 2 * d * kv * head
    return int(weights + (h * head + 2 * kv * head + d if bias else 0))


def _count_params(fields: dict[str, Any], config: dict[str, Any]) -> tuple[float, float]:
    """(total, active) parameters; the formulas are in the module docstring."""
    layers, d = fields["layers"], fields["d_model"]
    matrices = fields["mlp_matrices"]
    experts, chosen = fields.get("experts") or 1, fields.get("experts_per_token") or 1
    moe_layers = layers - fields["dense_layers"]
    expert = matrices * d * fields["ffn_dim"]
    dense_mlp = matrices * d * fields["dense_ffn_dim"]
    shared = (fields.get("shared_experts") or 0) * expert
    if config.get("shared_expert_intermediate_size"):
        shared = matrices * d * int(config["shared_expert_intermediate_size"]) + d
    router = experts * d if experts > 1 else 0
    attention = _attention_params(fields, bool(config.get("attention_bias")))
    common = layers * (attention + 2 * d) + d + fields["dense_layers"] * dense_mlp
    common += fields["vocab"] * d * (1 if fields["tied_embeddings"] else 2)
    common += moe_layers * (shared + router)
    return float(common + moe_layers * experts * expert), float(common + moe_layers * chosen * expert)


def _precision(quantization: Any) -> str | None:
    """The tokencost weight precision of a ``quantization_config``; None when unknown."""
    if not isinstance(quantization, dict):
        return None
    method = str(quantization.get("quant_method", "")).lower()
    bits = quantization.get("bits", quantization.get("w_bit"))
    group = quantization.get("group_size", quantization.get("q_group_size"))
    if method in ("gptq", "awq"):
        base = _INT_BITS.get(bits) if isinstance(bits, int) else None
        if base != "int4":
            return base
        return f"int4-g{group}" if group in _INT4_GROUPS else "int4" if group in (None, -1) else None
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if method == "mxfp4":
        return "mxfp4"
    if method == "bitsandbytes" and quantization.get("load_in_8bit"):
        return "int8"
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(read_bounded(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read Hugging Face config: {exc}", file=str(path)) from None
    if not isinstance(config, dict):
        raise ScenarioError("config.json must hold a JSON object", file=str(path))
    text = config.get("text_config")
    return {**text, **config} if isinstance(text, dict) else config


def _shape(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """The ModelSpec shape fields (no counts yet), with the internal keys counting needs."""
    fields: dict[str, Any] = {key: _first(config, names) for key, names in _KEYS.items()}
    fields = {key: value for key, value in fields.items() if value is not None}
    for required in ("layers", "d_model", "heads", "vocab"):
        if required not in fields:
            raise ScenarioError(
                f"config.json has no {_KEYS[required][0]!r}", file=str(path), field=f"model.{required}"
            )
    fields.setdefault("kv_heads", fields["heads"])
    if fields.get("kv_lora_rank"):
        fields["head_dim"] = fields.get("v_head_dim") or fields.get("head_dim") or 128
    fields.setdefault("head_dim", fields["d_model"] // fields["heads"])
    moe = (fields.get("experts") or 1) > 1
    dense = _first(config, ("intermediate_size", "n_inner", "ffn_dim")) or 4 * fields["d_model"]
    fields["ffn_dim"] = int(config.get("moe_intermediate_size") or dense) if moe else int(dense)
    fields["dense_ffn_dim"] = int(dense)
    fields["dense_layers"] = _dense_layer_count(config, fields["layers"], moe)
    fields["tied_embeddings"] = bool(config.get("tie_word_embeddings", False))
    fields["mlp_matrices"] = _mlp_matrices(config)
    return fields


def read_hf_config(path: str | Path) -> HfImport:
    """Read a local Hugging Face ``config.json``: the ModelSpec fields it gives, the weight
    precision of its ``quantization_config``, and one :class:`TokenCostWarning` naming the keys
    it could not use. Raises :class:`ScenarioError` for an unreadable file or a missing shape."""
    path = Path(path)
    config = _read(path)
    fields = _shape(config, path)
    unused = {key for key in config if key not in _READ_KEYS | _NO_COST_KEYS}
    unused -= {name for names in _KEYS.values() for name in names}
    total, active = _count_params(fields, config)
    chunk, chunk_layers, understood = chunked_layers(config, fields["layers"])
    if chunk is None and understood:
        window, window_layers, understood = sliding_layers(config, fields["layers"])
    else:
        window = window_layers = None
    if not understood:
        unused.add("layer_types")
    precision = _precision(config.get("quantization_config"))
    if config.get("quantization_config") is not None and precision is None:
        unused.add("quantization_config")
    dense_layers, matrices = fields.pop("dense_layers"), fields.pop("mlp_matrices")
    moe = (fields.get("experts") or 1) > 1
    fields["activation"] = "swiglu" if matrices == _GATED_MATRICES else "gelu"
    fields["moe_layers"] = fields["layers"] - dense_layers if moe else None
    if not moe or not dense_layers:
        fields.pop("dense_ffn_dim")
    stem = path.stem if path.stem != "config" else path.parent.name
    model = {
        "name": str(config.get("_name_or_path") or stem or "hf-model"),
        "params": total,
        "active_params": active,
        **fields,
        "sliding_window": window,
        "sliding_window_layers": window_layers,
        "attention_chunk": chunk,
        "chunked_layers": chunk_layers,
        "source": str(path),
    }
    if unused:
        warnings.warn(
            f"{path}: config.json keys not used (they may change the model's size or speed): "
            + ", ".join(sorted(unused)),
            TokenCostWarning,
            stacklevel=2,
        )
    model = {key: value for key, value in model.items() if value is not None}
    return HfImport(model=model, weights_precision=precision, unused_keys=tuple(sorted(unused)))


def load_hf_config(path: str | Path) -> ModelSpec:
    """Read a local Hugging Face ``config.json`` into a :class:`ModelSpec` (see
    :func:`read_hf_config`; the weight precision it implies is in ``read_hf_config(path)``)."""
    return model_spec(read_hf_config(path), path)


def model_spec(imported: HfImport, path: str | Path) -> ModelSpec:
    """The validated :class:`ModelSpec` of an import; errors name ``path``."""
    try:
        return ModelSpec.model_validate(imported.model)
    except ValidationError as exc:
        from tokencost.scenario.scenario import Scenario
        from tokencost.scenario.validation import scenario_error

        raise scenario_error(exc, file=str(path), root=Scenario) from None


def expand_hf_config(data: Any, base: Path | None = None) -> Any:
    """A scenario mapping with ``model: {hf_config: PATH, ...}`` replaced by the imported fields.

    PATH is relative to ``base`` (the scenario file's folder), else to the working directory.
    Keys written beside ``hf_config`` override the imported ones; the ``quantization_config``'s
    precision becomes ``precision.weights`` unless the scenario sets it.
    """
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        return data
    model = data["model"]
    if "hf_config" not in model:
        return data
    given = model["hf_config"]
    if not isinstance(given, str) or not given.strip():
        raise ScenarioError(f"must be the path of a config.json, got {given!r}", field="model.hf_config")
    path = Path(given).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        imported = read_hf_config(path)
    except ScenarioError as exc:
        raise ScenarioError(exc.message, file=exc.file, field="model.hf_config") from None
    rest = {key: value for key, value in model.items() if key != "hf_config"}
    expanded = {**data, "model": {**imported.model, **rest}}
    precision = data.get("precision") if isinstance(data.get("precision"), dict) else {}
    if imported.weights_precision and not (precision or {}).get("weights"):
        expanded["precision"] = {**(precision or {}), "weights": imported.weights_precision}
    return expanded
