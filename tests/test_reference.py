"""Tests of the reference transformer's arithmetic: against a naive loop, KV cache, GQA, RoPE."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokencost.loop.layers import apply_rope, rope_angles
from tokencost.loop.reference import ReferenceConfig, ReferenceTransformer, ReferenceWeights, init_weights

# init_std 0.2 (not 0.02) makes attention peaked, so a wrong mask or position would show.
GQA = ReferenceConfig(layers=2, d_model=64, heads=4, kv_heads=2, ffn_dim=96, vocab=50, init_std=0.2)
MHA_TIED = ReferenceConfig(
    layers=2, d_model=48, heads=3, head_dim=8, ffn_dim=80, vocab=40, init_std=0.2, tied_embeddings=True
)
FP16 = dataclasses.replace(GQA, dtype="fp16")


def naive_logits(config: ReferenceConfig, weights: ReferenceWeights, tokens: list[int]) -> np.ndarray:
    """Logits (T, V) by explicit loops over positions and heads, in float64.

    RoPE written as complex rotation of the pairs (i, i + H/2) by ``pos·θ^(−2i/H)``; query head
    j reads KV head ``j // (h/K)``; pre-norm residual blocks, SwiGLU, final norm, head.
    """
    head_dim, half = config.head_dim, config.head_dim // 2
    group = config.heads // config.kv_heads
    frequencies = config.rope_theta ** (-2.0 * np.arange(half) / head_dim)

    def f64(array: np.ndarray) -> np.ndarray:
        return array.astype(np.float64)

    def rms(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.mean(x * x) + config.norm_eps) * f64(weight)

    def rope(vector: np.ndarray, position: int) -> np.ndarray:
        turned = (vector[:half] + 1j * vector[half:]) * np.exp(1j * position * frequencies)
        return np.concatenate([turned.real, turned.imag])

    states = [f64(weights.embedding[t]) for t in tokens]
    for layer in weights.layers:
        normed = [rms(x, layer.attention_norm) for x in states]
        q = [(h @ f64(layer.wq)).reshape(config.heads, head_dim) for h in normed]
        k = [(h @ f64(layer.wk)).reshape(config.kv_heads, head_dim) for h in normed]
        v = [(h @ f64(layer.wv)).reshape(config.kv_heads, head_dim) for h in normed]
        q = [np.array([rope(row, p) for row in q[p]]) for p in range(len(tokens))]
        k = [np.array([rope(row, p) for row in k[p]]) for p in range(len(tokens))]
        updated = []
        for p, x in enumerate(states):
            heads_out = []
            for j in range(config.heads):
                scores = np.array([q[p][j] @ k[s][j // group] for s in range(p + 1)]) / np.sqrt(head_dim)
                weights_ = np.exp(scores - scores.max()) / np.sum(np.exp(scores - scores.max()))
                heads_out.append(sum(weights_[s] * v[s][j // group] for s in range(p + 1)))
            x = x + np.concatenate(heads_out) @ f64(layer.wo)
            h = rms(x, layer.mlp_norm)
            gate = h @ f64(layer.w_gate)
            x = x + (gate / (1.0 + np.exp(-gate)) * (h @ f64(layer.w_up))) @ f64(layer.w_down)
            updated.append(x)
        states = updated
    return np.array([rms(x, weights.final_norm) @ f64(weights.head) for x in states])


def random_tokens(config: ReferenceConfig, batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, config.vocab, size=(batch, length))


@pytest.mark.parametrize("config", [GQA, MHA_TIED], ids=["gqa", "mha-tied"])
def test_prefill_matches_a_naive_loop_implementation(config: ReferenceConfig) -> None:
    reference = ReferenceTransformer(config, seed=3)
    sequence = random_tokens(config, 1, 9)
    logits = reference.prefill(sequence, all_logits=True)[0]
    expected = naive_logits(config, reference.weights, [int(t) for t in sequence[0]])
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(reference.prefill(sequence)[0], expected[-1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("config", "tolerance"), [(GQA, 1e-4), (MHA_TIED, 1e-4), (FP16, 5e-2)])
def test_incremental_decode_equals_prefill_of_the_full_sequence(
    config: ReferenceConfig, tolerance: float
) -> None:
    reference = ReferenceTransformer(config, seed=1)
    sequence = random_tokens(config, 3, 12)
    full = reference.prefill(sequence, all_logits=True)
    assert np.std(full) > 0.5  # logits spread enough for the comparison to mean something
    reference.prefill(sequence[:, :5])
    for position in range(5, 12):
        step = reference.decode_step(sequence[:, position])
        np.testing.assert_allclose(step, full[:, position], rtol=tolerance, atol=tolerance)
    assert reference.cached_tokens == 12


def test_prefill_is_causal() -> None:
    reference = ReferenceTransformer(GQA, seed=2)
    sequence = random_tokens(GQA, 2, 8)
    full = reference.prefill(sequence, all_logits=True)
    for length in (1, 4, 7):
        prefix = reference.prefill(sequence[:, :length])
        np.testing.assert_allclose(prefix, full[:, length - 1], rtol=1e-5, atol=1e-5)


def test_sequences_in_a_batch_do_not_interact() -> None:
    reference = ReferenceTransformer(GQA, seed=4)
    batch = random_tokens(GQA, 3, 6)
    together = reference.prefill(batch)
    for row in range(3):
        np.testing.assert_allclose(reference.prefill(batch[row : row + 1])[0], together[row], atol=1e-5)


def test_gqa_equals_mha_whose_kv_heads_repeat_the_groups() -> None:
    """Query head j of a GQA model reads KV head j // (h/K); an MHA model whose key and value
    projections repeat each KV head h/K times must give the same logits."""
    gqa = ReferenceTransformer(GQA, seed=5)
    group = GQA.heads // GQA.kv_heads

    def repeat(weight: np.ndarray) -> np.ndarray:
        per_head = weight.reshape(GQA.d_model, GQA.kv_heads, GQA.head_dim)
        return np.repeat(per_head, group, axis=1).reshape(GQA.d_model, GQA.heads * GQA.head_dim)

    mha_config = dataclasses.replace(GQA, kv_heads=GQA.heads)
    layers = tuple(dataclasses.replace(w, wk=repeat(w.wk), wv=repeat(w.wv)) for w in gqa.weights.layers)
    mha = ReferenceTransformer(mha_config, weights=dataclasses.replace(gqa.weights, layers=layers))
    sequence = random_tokens(GQA, 2, 7)
    np.testing.assert_allclose(
        mha.prefill(sequence, all_logits=True), gqa.prefill(sequence, all_logits=True), atol=1e-5
    )
    # Without the repetition (each query head its own, different KV head) the logits differ.
    assert dataclasses.replace(GQA, kv_heads=0).kv_heads == GQA.heads
    other = ReferenceTransformer(mha_config, seed=5)
    assert not np.allclose(other.prefill(sequence), gqa.prefill(sequence), atol=1e-3)


@given(
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=500),
)
def test_rope_dot_products_depend_only_on_relative_position(m: int, n: int, shift: int) -> None:
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 1, 1, 16)), rng.normal(size=(1, 1, 1, 16))

    def rotated(x: np.ndarray, position: int) -> np.ndarray:
        return apply_rope(x, rope_angles(np.array([position]), 16, 10_000.0)).astype(np.float64)

    dot = float(np.sum(rotated(q, m) * rotated(k, n)))
    shifted = float(np.sum(rotated(q, m + shift) * rotated(k, n + shift)))
    assert abs(dot - shifted) < 1e-4
    np.testing.assert_allclose(np.linalg.norm(rotated(q, m)), np.linalg.norm(q), rtol=1e-5)


def test_rope_is_identity_at_position_zero_and_makes_order_matter() -> None:
    x = np.random.default_rng(1).normal(size=(2, 1, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(apply_rope(x, rope_angles(np.array([0]), 8, 10_000.0)), x)
    # Without position information attention is order-blind; with RoPE swapping two tokens
    # changes the next-token logits.
    reference = ReferenceTransformer(GQA, seed=6)
    assert not np.allclose(reference.prefill(np.array([[5, 9, 2]])), reference.prefill(np.array([[9, 5, 2]])))


def test_next_logits_reuses_the_cache_only_for_extensions() -> None:
    reference = ReferenceTransformer(MHA_TIED, seed=8)

    def fresh(tokens: list[int]) -> np.ndarray:
        return ReferenceTransformer(MHA_TIED, seed=8).prefill(np.array([tokens]))[0]

    for tokens in ([1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6], [7, 2], [7, 2, 1]):
        np.testing.assert_allclose(reference.next_logits(tokens), fresh(tokens), atol=1e-5)
    kinds = [c.kind for c in reference.meter.calls]
    assert kinds == ["prefill", "decode", "extend", "prefill", "decode"]


def test_weights_come_from_the_seed_and_tied_heads_share_the_embedding() -> None:
    first, again, other = init_weights(GQA, 0), init_weights(GQA, 0), init_weights(GQA, 1)
    np.testing.assert_array_equal(first.layers[1].w_down, again.layers[1].w_down)
    assert not np.array_equal(first.layers[1].w_down, other.layers[1].w_down)
    tied = init_weights(MHA_TIED, 0)
    assert tied.output is None
    assert np.shares_memory(tied.head, tied.embedding)
    assert np.std(first.layers[0].wq) == pytest.approx(GQA.init_std, rel=0.05)
    assert init_weights(FP16).embedding.dtype == np.float16


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"heads": 4, "kv_heads": 3}, "multiple of kv_heads"),
        ({"heads": 4, "head_dim": 7}, "even"),
        ({"d_model": 66, "heads": 4}, "divisible"),
        ({"layers": 0}, "layers"),
        ({"dtype": "bf16"}, "dtype"),
    ],
)
def test_config_rejects_unbuildable_shapes(changes: dict[str, object], message: str) -> None:
    fields = {"layers": 1, "d_model": 64, "heads": 4, "ffn_dim": 32, "vocab": 10} | changes
    with pytest.raises(ValueError, match=message):
        ReferenceConfig(**fields)  # type: ignore[arg-type]


def test_misuse_raises() -> None:
    reference = ReferenceTransformer(GQA)
    with pytest.raises(ValueError, match="prefill first"):
        reference.decode_step(np.array([1]))
    reference.prefill(random_tokens(GQA, 2, 3))
    with pytest.raises(ValueError, match="does not match"):
        reference.decode_step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="outside"):
        reference.prefill(np.array([[0, GQA.vocab]]))
    with pytest.raises(ValueError, match="integer"):
        reference.prefill(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="wq"):
        ReferenceTransformer(GQA, weights=init_weights(dataclasses.replace(GQA, kv_heads=1, heads=2)))
