"""A small Llama-style decoder-only transformer in numpy, with a KV cache and a meter.

It exists to check the analytic model against real arithmetic: every matrix product goes
through a :class:`~tokencost.loop.meter.Meter`, so one can run a prefill or a decode step and
compare the FLOPs and bytes it did with :mod:`tokencost.model.flops` and
:mod:`tokencost.model.memory`. It is a reference, not an engine: tiny shapes, random weights.

One layer, for hidden states ``x`` of shape (B, T, d) (Touvron et al. 2023, "Llama 2", §2.2)::

    h = RMSNorm(x)                                   Zhang & Sennrich 2019
    q, k, v = h·W_q, h·W_k, h·W_v                    h query heads, K ≤ h key/value heads
    q, k = RoPE(q), RoPE(k)                          Su et al. 2021, rotate-half form
    a = softmax(q·kᵀ/√H + causal mask)·v             query head j uses KV head j // (h/K)
    x = x + a·W_o                                    (grouped-query attention, Ainslie 2023)
    h = RMSNorm(x)
    x = x + (SiLU(h·W_gate) ⊙ h·W_up)·W_down         SwiGLU, Shazeer 2020

then a final RMSNorm and the output head ``W_out`` (d, V), or the transposed embedding table
when embeddings are tied. Weights and the KV cache are stored in the configured dtype; products
accumulate in float32 and element-wise work runs in float32, then rounds back to the storage
dtype (fp16 inference with fp32 accumulation). Element-wise FLOP conventions for the meter are
in :mod:`tokencost.loop.meter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tokencost.loop.layers import apply_rope, causal_mask, grouped_attention, rope_angles
from tokencost.loop.meter import Meter

_BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2}
_NUMPY_DTYPE: dict[str, type[np.floating]] = {"fp32": np.float32, "fp16": np.float16}
_RMSNORM_FLOP_PER_ELEMENT = 4  # square, sum, scale by 1/rms, multiply by the weight
_ROPE_FLOP_PER_ELEMENT = 3  # x·cos + rotate_half(x)·sin
_SWIGLU_FLOP_PER_ELEMENT = 5  # SiLU (negate, exp, add, divide), times the up projection


@dataclass(frozen=True, kw_only=True)
class ReferenceConfig:
    """Shape of the reference transformer. Sizes are counts; ``init_std`` is dimensionless.

    ``kv_heads = 0`` means ``heads`` (multi-head attention) and ``head_dim = 0`` means
    ``d_model // heads``; both are resolved on construction, so the attributes always hold
    the real values. ``kv_heads = 1`` is multi-query attention. ``dataclasses.replace`` keeps
    resolved values unless they are passed again (``kv_heads=0`` re-derives).
    """

    layers: int
    d_model: int
    heads: int
    kv_heads: int = 0
    head_dim: int = 0
    ffn_dim: int
    vocab: int
    dtype: Literal["fp32", "fp16"] = "fp32"
    tied_embeddings: bool = False
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        """Resolve the 0 defaults and check the shape is buildable."""
        for name in ("layers", "d_model", "heads", "ffn_dim", "vocab"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.kv_heads == 0:
            object.__setattr__(self, "kv_heads", self.heads)
        if self.head_dim == 0:
            if self.d_model % self.heads:
                raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
            object.__setattr__(self, "head_dim", self.d_model // self.heads)
        if self.kv_heads < 1 or self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads}")
        if self.head_dim < 1 or self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        if self.dtype not in _BYTES_PER_ELEMENT:
            raise ValueError(f"dtype must be one of {sorted(_BYTES_PER_ELEMENT)}, got {self.dtype!r}")
        if not self.init_std > 0.0 or not self.norm_eps > 0.0 or not self.rope_theta > 1.0:
            raise ValueError("init_std and norm_eps must be > 0 and rope_theta > 1")

    @property
    def bytes_per_element(self) -> int:
        """Bytes of one stored weight or KV element: 4 for fp32, 2 for fp16."""
        return _BYTES_PER_ELEMENT[self.dtype]

    @property
    def numpy_dtype(self) -> type[np.floating]:
        """The numpy storage type of weights and the KV cache."""
        return _NUMPY_DTYPE[self.dtype]


@dataclass(frozen=True)
class LayerWeights:
    """One decoder layer. Matrices are (in, out) so that ``x @ W`` applies them."""

    attention_norm: np.ndarray  # (d,)
    wq: np.ndarray  # (d, h·H)
    wk: np.ndarray  # (d, K·H)
    wv: np.ndarray  # (d, K·H)
    wo: np.ndarray  # (h·H, d)
    mlp_norm: np.ndarray  # (d,)
    w_gate: np.ndarray  # (d, f)
    w_up: np.ndarray  # (d, f)
    w_down: np.ndarray  # (f, d)


@dataclass(frozen=True)
class ReferenceWeights:
    """All weights: embedding (V, d), layers, final norm (d,), output head (d, V) or None."""

    embedding: np.ndarray
    layers: tuple[LayerWeights, ...]
    final_norm: np.ndarray
    output: np.ndarray | None

    @property
    def head(self) -> np.ndarray:
        """The output head (d, V): ``output``, or the embedding table transposed when tied."""
        return self.embedding.T if self.output is None else self.output


def init_weights(config: ReferenceConfig, seed: int = 0) -> ReferenceWeights:
    """Random weights: matrices ~ Normal(0, init_std²), norm weights 1, from ``seed``.

    Drawn in float32 (three times faster than float64 draws; both storage types are at most
    32-bit, so nothing is lost).
    """
    rng = np.random.default_rng(seed)
    dtype, d = config.numpy_dtype, config.d_model
    scale = np.float32(config.init_std)
    q_width, kv_width = config.heads * config.head_dim, config.kv_heads * config.head_dim

    def matrix(rows: int, columns: int) -> np.ndarray:
        return (rng.standard_normal((rows, columns), dtype=np.float32) * scale).astype(dtype, copy=False)

    def layer() -> LayerWeights:
        return LayerWeights(
            attention_norm=np.ones(d, dtype),
            wq=matrix(d, q_width),
            wk=matrix(d, kv_width),
            wv=matrix(d, kv_width),
            wo=matrix(q_width, d),
            mlp_norm=np.ones(d, dtype),
            w_gate=matrix(d, config.ffn_dim),
            w_up=matrix(d, config.ffn_dim),
            w_down=matrix(config.ffn_dim, d),
        )

    embedding = matrix(config.vocab, d)
    layers = tuple(layer() for _ in range(config.layers))
    output = None if config.tied_embeddings else matrix(d, config.vocab)
    return ReferenceWeights(embedding, layers, np.ones(d, dtype), output)


def _check_weights(config: ReferenceConfig, weights: ReferenceWeights) -> None:
    """Raise ``ValueError`` unless every weight has the shape and dtype ``config`` implies."""
    d, f, v = config.d_model, config.ffn_dim, config.vocab
    q_width, kv_width = config.heads * config.head_dim, config.kv_heads * config.head_dim
    layer_shapes = {
        "attention_norm": (d,), "wq": (d, q_width), "wk": (d, kv_width), "wv": (d, kv_width),
        "wo": (q_width, d), "mlp_norm": (d,), "w_gate": (d, f), "w_up": (d, f), "w_down": (f, d),
    }  # fmt: skip
    expected = {"embedding": (v, d), "final_norm": (d,), "head": (d, v)}
    actual = {name: getattr(weights, name) for name in expected}
    for index, layer in enumerate(weights.layers):
        expected |= {f"layers.{index}.{name}": shape for name, shape in layer_shapes.items()}
        actual |= {f"layers.{index}.{name}": getattr(layer, name) for name in layer_shapes}
    if len(weights.layers) != config.layers or (weights.output is None) != config.tied_embeddings:
        raise ValueError("weights do not match config.layers or config.tied_embeddings")
    for name, shape in expected.items():
        if actual[name].shape != shape or actual[name].dtype != config.numpy_dtype:
            raise ValueError(
                f"weight {name}: {actual[name].shape} {actual[name].dtype}, "
                f"expected {shape} {np.dtype(config.numpy_dtype)}"
            )


class _KVCache:
    """Keys and values per layer, (B, K, capacity, H) each, filled up to ``length``."""

    def __init__(self, config: ReferenceConfig, batch: int) -> None:
        self.length = 0
        self.batch = batch
        self._shape = (batch, config.kv_heads, 0, config.head_dim)
        self._dtype = config.numpy_dtype
        self._keys = [np.empty(self._shape, self._dtype) for _ in range(config.layers)]
        self._values = [np.empty(self._shape, self._dtype) for _ in range(config.layers)]

    def reserve(self, new_tokens: int) -> None:
        """Grow every layer's capacity (doubling) so ``length + new_tokens`` fit."""
        needed, capacity = self.length + new_tokens, self._keys[0].shape[2]
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity)
        for store in (self._keys, self._values):
            for index, old in enumerate(store):
                grown = np.empty((*self._shape[:2], capacity, self._shape[3]), self._dtype)
                grown[:, :, : self.length] = old[:, :, : self.length]
                store[index] = grown

    def cached(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The keys and values cached before this call, (B, K, length, H) views."""
        return self._keys[layer][:, :, : self.length], self._values[layer][:, :, : self.length]

    def write(self, layer: int, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
        """Store (B, K, T, H) new entries after ``length``; return all keys and values so far."""
        end = self.length + keys.shape[2]
        self._keys[layer][:, :, self.length : end] = keys
        self._values[layer][:, :, self.length : end] = values
        return self._keys[layer][:, :, :end], self._values[layer][:, :, :end]


class ReferenceTransformer:
    """The reference decoder: prefill, decode steps and a ``next_logits`` for generation.

    Weights come from ``init_weights(config, seed)`` unless ``weights`` is given. Each forward
    call is recorded on ``meter`` (a fresh :class:`Meter` when None) as one reading. Logits come
    back as float32 (an fp16 model's logits are fp16 values).
    """

    def __init__(
        self,
        config: ReferenceConfig,
        seed: int = 0,
        meter: Meter | None = None,
        weights: ReferenceWeights | None = None,
    ) -> None:
        self.config = config
        self.weights = weights if weights is not None else init_weights(config, seed)
        _check_weights(config, self.weights)
        self.meter = meter if meter is not None else Meter()
        self._cache: _KVCache | None = None
        self._history: list[int] | None = None
        self._history_logits: np.ndarray | None = None

    @property
    def cached_tokens(self) -> int:
        """Tokens per sequence now in the KV cache (c)."""
        return 0 if self._cache is None else self._cache.length

    def reset(self) -> None:
        """Empty the KV cache. The meter keeps its readings."""
        self._cache = None
        self._history = None
        self._history_logits = None

    def prefill(self, token_batch: np.ndarray, all_logits: bool = False) -> np.ndarray:
        """Fill a fresh KV cache with B prompts of P tokens (int array (B, P)).

        Returns the logits of the last position, (B, V) — the output head runs for that
        position only, as in serving engines — or of every position, (B, P, V), with
        ``all_logits`` (the head then runs, and is metered, for all P positions).
        """
        tokens = self._token_array(token_batch, "token_batch", 2)
        self.reset()
        self._cache = _KVCache(self.config, tokens.shape[0])
        return self._forward(tokens, "prefill", all_logits=all_logits)

    def decode_step(self, token_batch: np.ndarray) -> np.ndarray:
        """Append one token per sequence (shape (B,) or (B, 1)) and return logits (B, V)."""
        tokens = self._token_array(token_batch, "token_batch", 1).reshape(-1, 1)
        if self._cache is None or self._cache.length == 0:
            raise ValueError("decode_step needs a prefilled KV cache; call prefill first")
        if tokens.shape[0] != self._cache.batch:
            raise ValueError(f"batch {tokens.shape[0]} does not match the cache's {self._cache.batch}")
        self._history = None
        return self._forward(tokens, "decode", all_logits=False)

    def next_logits(self, tokens: list[int]) -> np.ndarray:
        """Logits (V,) after ``tokens`` for one sequence, for :func:`tokencost.loop.sampling.generate`.

        Incremental: when ``tokens`` extends the list of the previous call, only the new
        tokens run (one new token is a decode step, several an ``"extend"`` call); any other
        list resets the cache and prefills it.
        """
        history = self._history
        if history is not None and tokens[: len(history)] == history:
            new = tokens[len(history) :]
            if new:
                array = self._token_array(np.array([new]), "tokens", 2)
                kind = "decode" if len(new) == 1 else "extend"
                self._history_logits = self._forward(array, kind, all_logits=False)[0]
        else:
            self._history_logits = self.prefill(np.array([tokens]))[0]
        self._history = list(tokens)
        assert self._history_logits is not None
        return self._history_logits.copy()

    def _token_array(self, token_batch: np.ndarray, name: str, ndim: int) -> np.ndarray:
        """Check token ids: integers in [0, V), ``ndim`` axes (or (B, 1) for 1), none empty."""
        tokens = np.asarray(token_batch)
        if ndim == 1 and tokens.ndim > 1 and tokens.shape[1:] == (1,):
            tokens = tokens.reshape(tokens.shape[0])
        if tokens.ndim != ndim or tokens.size == 0 or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"{name} must be a non-empty {ndim}-D integer array, got {tokens!r}")
        if tokens.min() < 0 or tokens.max() >= self.config.vocab:
            raise ValueError(f"{name} holds ids outside [0, {self.config.vocab})")
        return tokens.astype(np.int64)

    def _forward(self, tokens: np.ndarray, kind: str, *, all_logits: bool) -> np.ndarray:
        """Run (B, T) new tokens through the model on top of the cache; meter and advance it."""
        assert self._cache is not None
        cache, weights, meter = self._cache, self.weights, self.meter
        batch, new_tokens = tokens.shape
        cached = cache.length
        x = weights.embedding[tokens]
        meter.other(bytes_moved=x.nbytes)
        angles = rope_angles(
            np.arange(cached, cached + new_tokens), self.config.head_dim, self.config.rope_theta
        )
        allowed = causal_mask(new_tokens, cached)
        cache.reserve(new_tokens)
        for index, layer in enumerate(weights.layers):
            x = self._residual(x, self._attention(x, layer, index, angles, allowed))
            x = self._residual(x, self._mlp(x, layer))
        cache.length += new_tokens
        if not all_logits:
            x = x[:, -1:]
        logits = meter.matmul(self._rms_norm(x, weights.final_norm), weights.head)
        meter.record(kind, batch=batch, new_tokens=new_tokens, cached_tokens=cached)
        result = logits.astype(np.float32)
        return result if all_logits else result[:, 0]

    def _residual(self, x: np.ndarray, update: np.ndarray) -> np.ndarray:
        """``x + update`` in float32, rounded to the storage dtype; 1 FLOP per element."""
        self.meter.other(flops=x.size)
        return (x.astype(np.float32) + update.astype(np.float32)).astype(x.dtype)

    def _rms_norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``x / sqrt(mean(x²) + ε) · w`` over the last axis (Zhang & Sennrich 2019, eq. 4)."""
        self.meter.other(flops=_RMSNORM_FLOP_PER_ELEMENT * x.size, bytes_moved=weight.nbytes)
        x32 = x.astype(np.float32)
        scale = 1.0 / np.sqrt(np.mean(x32 * x32, axis=-1, keepdims=True) + self.config.norm_eps)
        normed: np.ndarray = (x32 * scale * weight.astype(np.float32)).astype(x.dtype)
        return normed

    def _attention(
        self,
        x: np.ndarray,
        layer: LayerWeights,
        index: int,
        angles: np.ndarray,
        allowed: np.ndarray,
    ) -> np.ndarray:
        """Attention sub-block of one layer: norm, q/k/v, RoPE, cache, attention, output."""
        config, meter = self.config, self.meter
        assert self._cache is not None
        batch, tokens, _ = x.shape
        h = self._rms_norm(x, layer.attention_norm)
        q = meter.matmul(h, layer.wq).reshape(batch, tokens, config.heads, config.head_dim)
        k = meter.matmul(h, layer.wk).reshape(batch, tokens, config.kv_heads, config.head_dim)
        v = meter.matmul(h, layer.wv).reshape(batch, tokens, config.kv_heads, config.head_dim)
        meter.other(flops=_ROPE_FLOP_PER_ELEMENT * (q.size + k.size))
        q = apply_rope(q, angles).astype(x.dtype)
        k = apply_rope(k, angles).astype(x.dtype).transpose(0, 2, 1, 3)
        v = v.transpose(0, 2, 1, 3)
        meter.kv_read(*self._cache.cached(index))
        meter.kv_write(k, v)
        keys, values = self._cache.write(index, k, v)
        mixed = grouped_attention(q, keys, values, allowed).astype(x.dtype)
        meter.attention(
            batch=batch,
            heads=config.heads,
            pairs=int(np.count_nonzero(allowed)),
            qk_head_dim=config.head_dim,
            v_head_dim=config.head_dim,
        )
        return meter.matmul(mixed, layer.wo)

    def _mlp(self, x: np.ndarray, layer: LayerWeights) -> np.ndarray:
        """SwiGLU MLP sub-block: ``(SiLU(h·W_gate) ⊙ h·W_up)·W_down`` with ``h = RMSNorm(x)``."""
        meter = self.meter
        h = self._rms_norm(x, layer.mlp_norm)
        gate = meter.matmul(h, layer.w_gate).astype(np.float32)
        up = meter.matmul(h, layer.w_up).astype(np.float32)
        meter.other(flops=_SWIGLU_FLOP_PER_ELEMENT * gate.size)
        silu = gate * 0.5 * (1.0 + np.tanh(0.5 * gate))  # x·sigmoid(x), no overflow in exp
        hidden = (silu * up).astype(x.dtype)
        return meter.matmul(hidden, layer.w_down)
