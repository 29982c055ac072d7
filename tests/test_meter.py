"""The metered FLOPs and bytes of the reference transformer equal the analytic model's.

``tokencost.model.flops`` and ``tokencost.model.memory`` predict the work of a forward pass
from the architecture; ``tokencost.loop.reference`` does the arithmetic and counts it. The linear
and attention FLOPs and the weight and KV bytes must agree exactly, for every architecture,
batch and context; the element-wise ("other") terms the analytic model leaves out are checked
against their documented per-element counts and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tokencost.loop.meter import Meter, MeterReading
from tokencost.loop.reference import ReferenceConfig, ReferenceTransformer
from tokencost.loop.sampling import generate
from tokencost.model import flops as fl
from tokencost.model import memory as mem

ARCHITECTURES = {
    "mha-fp32-untied": ReferenceConfig(layers=2, d_model=64, heads=4, ffn_dim=172, vocab=96),
    # head_dim 16 with 8 heads: h·H = 128 differs from d_model = 64.
    "gqa-fp16-tied": ReferenceConfig(
        layers=3, d_model=64, heads=8, kv_heads=2, head_dim=16, ffn_dim=160, vocab=128, dtype="fp16",
        tied_embeddings=True,
    ),
    "mqa-fp16-untied": ReferenceConfig(
        layers=1, d_model=128, heads=4, kv_heads=1, ffn_dim=256, vocab=200, dtype="fp16"
    ),
    "gqa-fp32-tied": ReferenceConfig(
        layers=2, d_model=96, heads=6, kv_heads=3, ffn_dim=200, vocab=64, tied_embeddings=True
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Analytic:
    """The analytic model's inputs for one reference architecture."""

    linear_params: int
    lm_head_params: int
    attention_flops_per_key: float
    weight_bytes: float
    kv_bytes_per_token: float


def analytic(config: ReferenceConfig) -> Analytic:
    linear = fl.linear_params(
        layers=config.layers,
        d_model=config.d_model,
        heads=config.heads,
        kv_heads=config.kv_heads,
        head_dim=config.head_dim,
        ffn_dim=config.ffn_dim,
        vocab=config.vocab,
    )
    kv_elements = mem.kv_elements_per_token(
        layers=config.layers, kv_heads=config.kv_heads, head_dim=config.head_dim
    )
    return Analytic(
        linear_params=linear,
        lm_head_params=config.d_model * config.vocab,
        attention_flops_per_key=float(
            fl.attention_flops_per_key(config.layers, config.heads, config.head_dim, config.head_dim)
        ),
        weight_bytes=float(linear * config.bytes_per_element),
        kv_bytes_per_token=float(kv_elements * config.bytes_per_element),
    )


def tokens(config: ReferenceConfig, batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, config.vocab, size=(batch, length))


def check_prefill(reading: MeterReading, config: ReferenceConfig, batch: int, prompt: int) -> None:
    model = analytic(config)
    assert (reading.kind, reading.batch, reading.new_tokens, reading.cached_tokens) == (
        "prefill",
        batch,
        prompt,
        0,
    )
    flops = fl.prefill_flops(
        linear_params=model.linear_params,
        lm_head_params=model.lm_head_params,
        attention_flops_per_key=model.attention_flops_per_key,
        prompt_tokens=prompt,
        batch=batch,
    )
    linear_only = fl.prefill_flops(
        linear_params=model.linear_params,
        lm_head_params=model.lm_head_params,
        attention_flops_per_key=0.0,
        prompt_tokens=prompt,
        batch=batch,
    )
    moved = mem.prefill_bytes(
        weight_bytes=model.weight_bytes,
        kv_bytes_per_token=model.kv_bytes_per_token,
        prompt_tokens=prompt,
        batch=batch,
    )
    assert reading.model_flops == flops
    assert reading.linear_flops == linear_only
    assert reading.weight_bytes == model.weight_bytes
    assert reading.model_bytes == moved
    assert reading.kv_read_bytes == 0


def check_decode(reading: MeterReading, config: ReferenceConfig, batch: int, context: int) -> None:
    model = analytic(config)
    assert (reading.kind, reading.batch, reading.new_tokens, reading.cached_tokens) == (
        "decode",
        batch,
        1,
        context,
    )
    flops = fl.decode_step_flops(
        linear_params=model.linear_params,
        attention_flops_per_key=model.attention_flops_per_key,
        context_tokens=context,
        batch=batch,
    )
    moved = mem.decode_step_bytes(
        weight_bytes=model.weight_bytes,
        kv_bytes_per_token=model.kv_bytes_per_token,
        context_tokens=context,
        batch=batch,
    )
    assert reading.model_flops == flops
    assert reading.linear_flops == 2 * batch * model.linear_params
    assert reading.model_bytes == moved
    assert reading.kv_read_bytes == batch * context * model.kv_bytes_per_token
    assert reading.kv_write_bytes == batch * model.kv_bytes_per_token


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("prompt", [1, 6, 17])
def test_metered_prefill_and_decode_equal_the_formulas(name: str, batch: int, prompt: int) -> None:
    config = ARCHITECTURES[name]
    reference = ReferenceTransformer(config, seed=batch)
    reference.prefill(tokens(config, batch, prompt))
    check_prefill(reference.meter.last, config, batch, prompt)
    for step in range(3):
        reference.decode_step(tokens(config, batch, 1, seed=step)[:, 0])
        check_decode(reference.meter.last, config, batch, prompt + step)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_all_logits_prefill_adds_the_head_for_every_position(name: str) -> None:
    config, batch, prompt = ARCHITECTURES[name], 2, 9
    reference = ReferenceTransformer(config)
    logits = reference.prefill(tokens(config, batch, prompt), all_logits=True)
    assert logits.shape == (batch, prompt, config.vocab)
    model, reading = analytic(config), reference.meter.last
    last_only = fl.prefill_flops(
        linear_params=model.linear_params,
        lm_head_params=model.lm_head_params,
        attention_flops_per_key=model.attention_flops_per_key,
        prompt_tokens=prompt,
        batch=batch,
    )
    # The head (d·V multiply-adds) now runs for P positions instead of one.
    assert reading.model_flops == last_only + 2 * model.lm_head_params * batch * (prompt - 1)
    assert reading.weight_bytes == model.weight_bytes


def test_extending_a_cache_costs_the_difference_of_two_prefills() -> None:
    """Attention of T new tokens on c cached: ``a·[T·c + T(T+1)/2] = a·[(c+T)(c+T+1)/2 − c(c+1)/2]``."""
    config = ARCHITECTURES["gqa-fp16-tied"]
    model = analytic(config)
    reference = ReferenceTransformer(config)
    prompt = [int(t) for t in tokens(config, 1, 12)[0]]
    reference.next_logits(prompt[:5])
    reference.next_logits(prompt)
    reading = reference.meter.last
    assert (reading.kind, reading.new_tokens, reading.cached_tokens) == ("extend", 7, 5)
    pairs = float(fl.causal_key_count(12) - fl.causal_key_count(5))
    assert reading.attention_flops == model.attention_flops_per_key * pairs
    assert reading.kv_read_bytes == 5 * model.kv_bytes_per_token
    assert reading.kv_write_bytes == 7 * model.kv_bytes_per_token
    assert reading.weight_bytes == model.weight_bytes


def test_other_flops_follow_the_documented_per_element_counts() -> None:
    """Decode, per layer: RMSNorm 4·2d, RoPE 3·(h+K)·H, softmax 3·h·(c+1), SwiGLU 5·f, residual 2d.

    Plus the final RMSNorm, 4·d; all times the batch. Other bytes: B·d embedding elements
    gathered and (2L + 1)·d norm weights.
    """
    config = ARCHITECTURES["gqa-fp32-tied"]
    batch, context = 3, 10
    reference = ReferenceTransformer(config)
    reference.prefill(tokens(config, batch, context))
    reference.decode_step(tokens(config, batch, 1)[:, 0])
    d, f, h, k, head = config.d_model, config.ffn_dim, config.heads, config.kv_heads, config.head_dim
    per_layer = 4 * 2 * d + 3 * (h + k) * head + 3 * h * (context + 1) + 5 * f + 2 * d
    reading = reference.meter.last
    assert reading.other_flops == batch * (config.layers * per_layer + 4 * d)
    norm_elements = (2 * config.layers + 1) * d
    assert reading.other_bytes == (batch * d + norm_elements) * config.bytes_per_element


@pytest.mark.parametrize("batch", [1, 2])
def test_other_terms_are_under_one_percent_for_a_non_toy_shape(batch: int) -> None:
    """Bound: other FLOPs and other bytes each under 1 % of the analytic model's, at d = 256.

    Element-wise FLOPs are O(d + f) per token against O(d² + d·f) in the products, so their
    share falls as 1/d: about 0.5 % here, 0.03 % for Llama-2-7B. Other bytes are the gathered
    embedding rows, B·T·d elements, against roughly 12·L·d² + d·V weight elements: under 1 %
    while B·T ≲ 60 tokens for this shape (B·T = 64 gives 1.01 %), and for Llama-2-7B while
    B·T ≲ 1.6e4.
    """
    config = ReferenceConfig(
        layers=2, d_model=256, heads=4, kv_heads=2, ffn_dim=688, vocab=1024, dtype="fp16"
    )
    reference = ReferenceTransformer(config)
    reference.prefill(tokens(config, batch, 16))
    reference.decode_step(tokens(config, batch, 1)[:, 0])
    for reading in reference.meter.calls:
        assert 0 < reading.other_flops < 0.01 * reading.model_flops
        assert 0 < reading.other_bytes < 0.01 * reading.model_bytes


def test_weight_bytes_do_not_grow_with_batch_but_activations_do() -> None:
    config = ARCHITECTURES["mqa-fp16-untied"]
    readings = {}
    for batch in (1, 8):
        reference = ReferenceTransformer(config)
        reference.prefill(tokens(config, batch, 4))
        reference.decode_step(tokens(config, batch, 1)[:, 0])
        readings[batch] = reference.meter.last
    assert readings[1].weight_bytes == readings[8].weight_bytes
    assert readings[8].activation_bytes == 8 * readings[1].activation_bytes
    assert readings[8].linear_flops == 8 * readings[1].linear_flops


def test_meter_records_one_reading_per_call_and_sums_them() -> None:
    meter = Meter()
    config = ARCHITECTURES["mha-fp32-untied"]
    reference = ReferenceTransformer(config, meter=meter)
    reference.prefill(tokens(config, 2, 5))
    reference.decode_step(np.array([[1], [2]]))
    reference.decode_step(np.array([3, 4]))
    assert [c.kind for c in meter.calls] == ["prefill", "decode", "decode"]
    total = meter.total()
    assert total.kind == "total"
    assert total.new_tokens == 2 * 5 + 2 + 2
    assert total.linear_flops == sum(c.linear_flops for c in meter.calls)
    assert total.total_bytes == sum(c.total_bytes for c in meter.calls)
    meter.reset()
    assert meter.calls == []
    assert meter.total().total_flops == 0


def test_meter_matmul_counts_two_flops_per_multiply_add() -> None:
    # (2·3 rows, 4) @ (4, 5): 6·4·5 = 120 multiply-adds = 240 FLOP; weight 4·5·4 bytes.
    meter = Meter()
    x = np.ones((2, 3, 4), np.float32)
    result = meter.matmul(x, np.full((4, 5), 0.5, np.float32))
    np.testing.assert_array_equal(result, np.full((2, 3, 5), 2.0))
    reading = meter.record("prefill", batch=2, new_tokens=3, cached_tokens=0)
    assert (reading.linear_flops, reading.weight_bytes) == (240, 80)
    assert reading.activation_bytes == x.nbytes + result.nbytes
    with pytest.raises(ValueError, match="cannot multiply"):
        meter.matmul(x, np.ones((5, 4), np.float32))


def test_generate_with_the_reference_model() -> None:
    """Greedy generation is deterministic; it costs one prefill then one decode per token."""
    config = ARCHITECTURES["gqa-fp32-tied"]
    prompt = [3, 14, 15, 9, 2]
    first = ReferenceTransformer(config, seed=7)
    run = generate(first.next_logits, prompt, 8, temperature=0.0)
    assert run == generate(ReferenceTransformer(config, seed=7).next_logits, prompt, 8, temperature=0.0)
    assert [c.kind for c in first.meter.calls] == ["prefill"] + ["decode"] * 7
    for step, reading in enumerate(first.meter.calls[1:]):
        check_decode(reading, config, 1, len(prompt) + step)

    def fresh_prefill(history: list[int]) -> np.ndarray:
        return ReferenceTransformer(config, seed=7).prefill(np.array([history]))[0]

    # The incremental KV-cache path chooses the same tokens as prefilling from scratch.
    assert generate(fresh_prefill, prompt, 8, temperature=0.0).tokens == run.tokens
