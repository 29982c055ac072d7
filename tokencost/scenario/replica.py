"""The model's numbers of a replica from the specs: the served model's shape in SI, and its drafter.

:func:`tokencost.api.deployment` assembles a :class:`~tokencost.model.serving.Deployment` from
these and the hardware; a drafter (:mod:`tokencost.scenario.speculative`) becomes a second,
smaller Deployment on the same accelerators, built by the same :func:`model_numbers`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model.serving import Deployment, Speculation
from tokencost.scenario.fields import BYTES_PER_ELEMENT
from tokencost.scenario.model import ModelSpec
from tokencost.scenario.speculative import SpeculativeSpec

FUSE_MATRICES = 2  # EAGLE's fc and MTP's projection map [feature; embedding] (2d) to d: 2·d² weights


def model_numbers(model: ModelSpec, kv_cache: str, tensor: float) -> dict[str, Any]:
    """The fields of a Deployment that describe the served model (SI floats)."""
    if model.is_mla:
        latent = float((model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0))
        kv_elements = mem.kv_elements_per_token(
            layers=model.layers, kv_heads=1, head_dim=1, latent_dim=latent
        )
        replication = tensor  # the latent cache is not split by head: every rank keeps it
        per_key = fl.attention_flops_per_key(model.layers, model.heads, latent, model.kv_lora_rank or 0)
    else:
        kv_elements = mem.kv_elements_per_token(
            layers=model.layers, kv_heads=model.kv_heads, head_dim=model.head_dim
        )
        replication = float(par.kv_replication_factor(model.kv_heads, tensor))
        per_key = fl.attention_flops_per_key(model.layers, model.heads, model.head_dim, model.head_dim)
    moe_layers = (model.moe_layers if model.moe_layers is not None else model.layers) if model.is_moe else 0
    return {
        "params": float(model.params),
        "active_params": float(model.active_params),
        "embedding_params": model.embedding_params,
        "linear_params": model.linear_params,
        "lm_head_params": model.lm_head_params,
        "experts": float(model.experts),
        "experts_per_token": float(model.experts_per_token),
        "layers": float(model.layers),
        "d_model": float(model.d_model),
        "attention_flops_per_key": float(per_key),
        "kv_bytes_per_token": float(kv_elements) * BYTES_PER_ELEMENT[kv_cache] * replication,
        "moe_layers": float(moe_layers),
        **window_numbers(model),
    }


def window_numbers(model: ModelSpec) -> dict[str, float]:
    """The window (or chunk) of the local attention layers, their share of the layers (their
    attention FLOPs per key and KV bytes per token: the layers have one shape) and their kind;
    none without local layers."""
    chunked = model.attention_chunk is not None
    window, count = (
        (model.attention_chunk, model.chunked_layers)
        if chunked
        else (model.sliding_window, model.sliding_window_layers)
    )
    if window is None:
        return {"window_tokens": fl.NO_WINDOW_TOKENS, "window_share": 0.0, "window_chunked": 0.0}
    layers = model.layers if count is None else count
    return {
        "window_tokens": float(window),
        "window_share": layers / model.layers,
        "window_chunked": float(chunked),
    }


def _one_layer_head(target: Deployment, method: str) -> tuple[Deployment, float]:
    """An EAGLE head or an MTP module cut from the served model: one layer of it plus a 2d → d
    fusing matrix, reading the shared output head; and the weight bytes it adds to the replica.

    A layer is the model's body (``N − embedding − head``) over its layers; an MTP layer has the
    model's experts (all held, k read per token), an EAGLE layer is dense at the active size.
    DeepSeek-V3: ``(671e9 − 2·0.927e9)/61 + 2·7168² = 11.1e9`` held; the report's MTP module is
    14B with its copies of the embedding and head.
    """
    body_total = target.params - target.embedding_params - target.lm_head_params
    body_active = target.active_params - target.embedding_params - target.lm_head_params
    fuse = FUSE_MATRICES * target.d_model**2
    mtp_experts = method == "mtp" and target.experts > target.experts_per_token
    own_active = body_active / target.layers + fuse
    own_total = body_total / target.layers + fuse if mtp_experts else own_active
    head = dataclasses.replace(
        target,
        params=own_total + target.lm_head_params,
        active_params=own_active + target.lm_head_params,
        embedding_params=0.0,
        linear_params=own_active + target.lm_head_params,
        experts=target.experts if mtp_experts else 1.0,
        experts_per_token=target.experts_per_token if mtp_experts else 1.0,
        layers=1.0,
        attention_flops_per_key=target.attention_flops_per_key / target.layers,
        kv_bytes_per_token=target.kv_bytes_per_token / target.layers,
        pipeline=1.0,
        moe_layers=1.0 if mtp_experts else 0.0,
        expert=target.expert if mtp_experts else 1.0,
        speculation=None,
        window_tokens=fl.NO_WINDOW_TOKENS,  # a drafting layer attends to the whole context
        window_share=0.0,
        window_chunked=0.0,
    )
    return head, own_total * target.weight_bytes_per_param


def _draft_model(target: Deployment, draft: ModelSpec, kv_cache: str) -> tuple[Deployment, float]:
    """A separate draft model on the replica's accelerators (tensor-parallel like the target)."""
    numbers = model_numbers(draft, kv_cache, target.tensor)
    dep = dataclasses.replace(target, **numbers, pipeline=1.0, expert=1.0, speculation=None)
    return dep, dep.params * dep.weight_bytes_per_param


def with_speculation(target: Deployment, spec: SpeculativeSpec | None, kv_cache: str) -> Deployment:
    """``target`` with its drafter: the Speculation, and the drafter's KV in ``kv_bytes_per_token``."""
    if spec is None:
        return target
    drafter: Deployment | None = None
    held = 0.0
    if spec.method == "draft" or (spec.draft is not None and spec.method != "ngram"):
        assert spec.draft is not None  # the spec requires it for method draft
        drafter, held = _draft_model(target, spec.draft, kv_cache)
    elif spec.method in ("eagle", "mtp"):
        drafter, held = _one_layer_head(target, spec.method)
    speculation = Speculation(float(spec.draft_tokens), float(spec.acceptance), drafter, held)
    extra_kv = drafter.kv_bytes_per_token if drafter is not None else 0.0
    return dataclasses.replace(
        target, speculation=speculation, kv_bytes_per_token=target.kv_bytes_per_token + extra_kv
    )
