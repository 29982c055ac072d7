"""The served LLM: :class:`ModelSpec` (architecture and parameter counts, preset or explicit)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.scenario.fields import _FROZEN, MAX_PARAMS, Count, Integer, _merge_preset, _positive
from tokencost.units import parse_quantity


class ModelSpec(BaseModel):
    """The served LLM: size and architecture. A ``preset`` fills what is not given."""

    model_config = _FROZEN

    preset: str | None = Field(None, description="Catalog name (see `tokencost models list`).")
    name: str | None = Field(None, description="Display name.")
    params: Count = Field(..., gt=0, le=MAX_PARAMS, description="Total parameters N (count; '70B' accepted).")
    active_params: Count = Field(
        ..., gt=0, le=MAX_PARAMS, description="Parameters used per token (MoE); default: params."
    )
    layers: Integer = Field(..., gt=0, description="Transformer layers L.")
    d_model: Integer = Field(..., gt=0, description="Hidden size d.")
    heads: Integer = Field(..., gt=0, description="Query heads h.")
    kv_heads: Integer = Field(..., gt=0, description="Key/value heads K (GQA/MQA).")
    head_dim: Integer = Field(..., gt=0, description="Per-head dimension H; default d/h.")
    ffn_dim: Integer = Field(..., gt=0, description="MLP hidden size f (per expert for MoE).")
    vocab: Integer = Field(..., gt=0, description="Vocabulary size V.")
    experts: Integer = Field(1, gt=0, description="Routed experts per MoE layer (1: dense).")
    experts_per_token: Integer = Field(1, gt=0, description="Routed experts each token uses.")
    max_context: Integer | None = Field(None, gt=0, description="Longest context trained for (tokens).")
    tied_embeddings: bool = Field(False, description="Output head shares the embedding table.")
    activation: Literal["swiglu", "gelu"] = Field("swiglu", description="MLP type (3 or 2 matrices).")
    shared_experts: Integer = Field(0, ge=0, description="Always-on experts (DeepSeek).")
    moe_layers: Integer | None = Field(None, ge=0, description="Layers that are MoE.")
    dense_ffn_dim: Integer | None = Field(None, gt=0, description="MLP size of dense layers.")
    kv_lora_rank: Integer | None = Field(None, gt=0, description="MLA compressed KV width.")
    q_lora_rank: Integer | None = Field(None, gt=0, description="MLA compressed query width.")
    qk_rope_head_dim: Integer | None = Field(None, ge=0, description="MLA rotary key width.")
    qk_nope_head_dim: Integer | None = Field(None, ge=0, description="MLA non-rotary q/k width.")
    v_head_dim: Integer | None = Field(None, gt=0, description="MLA value head width.")
    sliding_window: Integer | None = Field(
        None,
        ge=2,
        description="Keys a sliding-window (local) attention layer attends to (tokens): those layers "
        "keep only their last sliding_window KV entries and attend to them alone.",
    )
    sliding_window_layers: Integer | None = Field(
        None,
        ge=0,
        description="Layers that use the sliding window (count; default: every layer when "
        "sliding_window is set, as Mistral 7B).",
    )
    attention_chunk: Integer | None = Field(
        None,
        ge=1024,
        description="Tokens of a chunk of the chunked local attention layers (Llama 4's "
        "attention_chunk_size): those layers attend to the keys of their own chunk only and keep "
        "at most one chunk of KV entries.",
    )
    chunked_layers: Integer | None = Field(
        None,
        ge=0,
        description="Layers that use chunked local attention (count; default: every layer when "
        "attention_chunk is set).",
    )
    source: str | None = Field(None, description="Model card, paper or config URL.")
    as_of: str | None = Field(None, description="Date of the source.")

    @model_validator(mode="before")
    @classmethod
    def _preset_and_shape(cls, data: Any) -> Any:
        data = _merge_preset("models", data, "model")
        if isinstance(data, dict):
            data = {key: str(value) if key == "as_of" and value else value for key, value in data.items()}
            params = _positive(data.get("params"), "count")
            if params is not None and data.get("layers") is None:
                data = _assume_standard_shape(data)
            if data.get("active_params") is None and data.get("params") is not None:
                data["active_params"] = data["params"]
            d_model, heads = _positive(data.get("d_model"), "count"), _positive(data.get("heads"), "count")
            if data.get("head_dim") is None and d_model and heads:
                data["head_dim"] = int(d_model // heads)
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) exceeds experts ({self.experts})")
        if self.active_params is not None and self.active_params > self.params:
            raise ValueError(f"active_params ({self.active_params:.4g}) exceeds params ({self.params:.4g})")
        if self.linear_params <= 0:
            raise ScenarioError(
                field="model.active_params" if self.active_params != self.params else "model.params",
                message=f"{self.active_params:.4g} parameters do not exceed the embedding table "
                f"vocab × d_model ({self.embedding_params:.4g}): none would be left for the layers",
            )
        if self.sliding_window_layers is not None and self.sliding_window_layers > self.layers:
            raise ValueError(
                f"sliding_window_layers ({self.sliding_window_layers}) exceeds layers ({self.layers})"
            )
        if self.sliding_window_layers and self.sliding_window is None:
            raise ValueError("sliding_window_layers needs sliding_window (the window in tokens)")
        if self.chunked_layers is not None and self.chunked_layers > self.layers:
            raise ValueError(f"chunked_layers ({self.chunked_layers}) exceeds layers ({self.layers})")
        if self.chunked_layers and self.attention_chunk is None:
            raise ValueError("chunked_layers needs attention_chunk (the chunk in tokens)")
        if self.attention_chunk is not None and self.sliding_window is not None:
            raise ValueError(
                "attention_chunk and sliding_window are exclusive (one kind of local attention per model)"
            )
        if self.kv_heads > self.heads or self.heads % self.kv_heads:
            raise ValueError(
                f"kv_heads ({self.kv_heads}) must divide heads ({self.heads}) "
                "(grouped-query attention shares each KV head among heads/kv_heads query heads)"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.preset or f"{self.params / 1e9:.3g}B dense model"

    @property
    def is_moe(self) -> bool:
        return self.experts > self.experts_per_token

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def embedding_params(self) -> float:
        """Input embedding table, a look-up not a matrix product (0 extra when tied)."""
        return 0.0 if self.tied_embeddings else float(self.vocab * self.d_model)

    @property
    def lm_head_params(self) -> float:
        """Output head ``d·V``."""
        return float(self.vocab * self.d_model)

    @property
    def linear_params(self) -> float:
        """Parameters in matrix products per token: ``N_active − embedding``."""
        return float(self.active_params) - self.embedding_params

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.activation == "swiglu" else 2


def _assume_standard_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Fill a Llama-like shape for a model given only by its parameter count, with a warning.

    A dense SwiGLU decoder has about ``12·L·d²`` parameters (4·d² attention, 8·d² MLP with
    f = 8d/3). Llama-2-7B, GPT-3 and Llama-3-8B keep ``d ≈ 128·L`` (4096/32, 12288/96), so
    ``L ≈ (N / (12·128²))^(1/3)``; d is rounded to a multiple of 1024 (heads of 128, a multiple
    of 8 of them, so tensor degrees 1–8 divide them) and L re-derived as ``N / (12·d²)``. Full
    multi-head attention (the largest KV cache: conservative), vocabulary 32,000, context 4,096.
    """
    params = parse_quantity(data["params"], "count")
    first_guess = (params / (12 * 128**2)) ** (1 / 3)
    d_model = max(1024, round(128 * first_guess / 1024) * 1024)
    layers = max(1, round(params / (12 * d_model**2)))
    ffn_dim = math.ceil(8 * d_model / 3 / 256) * 256
    shape = {
        "layers": layers,
        "d_model": d_model,
        "heads": d_model // 128,
        "kv_heads": d_model // 128,
        "head_dim": 128,
        "ffn_dim": ffn_dim,
        "vocab": 32000,
        "max_context": 4096,
    }
    filled = {key: value for key, value in shape.items() if data.get(key) is None}
    warnings.warn(
        f"model has only params ({params:.3g}): assuming a standard Llama-like shape "
        + ", ".join(f"{key}={value}" for key, value in filled.items()),
        TokenCostWarning,
        stacklevel=2,
    )
    return {**filled, **{key: value for key, value in data.items() if value is not None}}
